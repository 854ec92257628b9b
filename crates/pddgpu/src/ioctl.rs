//! The ioctl dispatcher: raw DRM request codes and argument bytes to the GEM layer.
//!
//! # Overview
//!
//! [`File::ioctl`] is what the kernel's `drm_ioctl()` plus the driver's ioctl table
//! are: it decodes the request code ([`Ioctl::decode`]), copies the caller's argument in
//! with the DRM copy rules (a shorter, older structure reads as zero-extended; a longer
//! one has its tail ignored), checks it into a typed request (`TryFrom`), runs the GEM
//! operation on the [`File`], and on success copies the reply back out. It is the one
//! place where errors become errno values ([`File::errno`]).
//!
//! | request | argument | GEM call |
//! |---|---|---|
//! | `DRM_IOCTL_PDDGPU_GEM_CREATE` | `drm_pddgpu_gem_create` | [`File::gem_create`] → `handle` |
//! | `DRM_IOCTL_PDDGPU_GEM_MMAP` | `drm_pddgpu_gem_mmap` | [`File::gem_mmap`] → `offset` |
//! | `DRM_IOCTL_PDDGPU_GEM_INFO` | `drm_pddgpu_gem_info` | [`File::gem_info`] → output fields |
//! | `DRM_IOCTL_PDDGPU_GEM_OP` | `drm_pddgpu_gem_op` | [`File::gem_op`] |
//! | `DRM_IOCTL_PDDGPU_INFO` | `drm_pddgpu_info` | [`File::info`] → `memory` |
//! | `DRM_IOCTL_GEM_CLOSE` | `drm_gem_close` | [`File::gem_close`] |
//!
//! On error nothing is copied back: the caller's buffer is as it was.
//!
//! # Costs
//! Two copies of at most the structure size (≤ 104 bytes) around the GEM call.

use crate::gem::{Error, File, Result};
use crate::uapi::abi::{
    drm_gem_close, drm_pddgpu_gem_create, drm_pddgpu_gem_info, drm_pddgpu_gem_mmap,
    drm_pddgpu_gem_op, drm_pddgpu_info,
};
use crate::uapi::{
    AbiBytes, Errno, GemClose, GemCreate, GemInfo, GemMmap, GemOp, InfoQuery, Ioctl,
};

/// The request code as the kernel's handler sees it: the low 32 bits of libdrm's
/// `unsigned long request` (an `int` request sign-extended by a C caller still decodes).
fn request_code(request: u64) -> u32 {
    let low = request & u64::from(u32::MAX);
    u32::try_from(low).unwrap_or(u32::MAX)
}

/// Reads an argument structure, runs `f` on it, writes it back on success.
fn with_arg<T: AbiBytes>(
    arg: &mut [u8],
    copy_in: usize,
    copy_out: usize,
    f: impl FnOnce(&mut T) -> Result<()>,
) -> Result<()> {
    let mut raw = T::read_prefix(&arg[..copy_in]);
    f(&mut raw)?;
    raw.write_prefix(&mut arg[..copy_out]);
    Ok(())
}

impl File {
    /// Runs a DRM ioctl: `request` is the request code (`DRM_IOCTL_*`), `arg` the
    /// caller's argument structure as bytes, at least as long as the size the request
    /// code declares. See the [module documentation](self).
    ///
    /// # Errors
    /// The errno of the failure ([`File::errno`]): `ENOTTY` for a non-DRM request,
    /// `EINVAL` for an unknown ioctl or any malformed argument, `EFAULT` if `arg` is
    /// shorter than declared, `ENOENT` for an unknown handle, and the GEM operation's
    /// errors. `arg` is unchanged on error.
    ///
    /// # Examples
    /// ```
    /// use pddgpu::gem::OpenFile;
    /// use pddgpu::uapi::abi::{drm_pddgpu_gem_create, PDDGPU_GEM_DOMAIN_GTT};
    /// use pddgpu::uapi::{ioctl::DRM_IOCTL_PDDGPU_GEM_CREATE, AbiBytes, Errno};
    /// use pddgpu::{Device, DeviceConfig};
    ///
    /// let file = Device::new(DeviceConfig::default())?.open()?;
    /// let create = drm_pddgpu_gem_create {
    ///     size: 1 << 20, domain: PDDGPU_GEM_DOMAIN_GTT, ..Default::default()
    /// };
    /// let mut arg = [0u8; 32];
    /// create.write_prefix(&mut arg);
    /// file.ioctl(DRM_IOCTL_PDDGPU_GEM_CREATE.into(), &mut arg).expect("create");
    /// assert_eq!(drm_pddgpu_gem_create::read_prefix(&arg).handle, 1);
    ///
    /// let zero = drm_pddgpu_gem_create { size: 0, ..create };
    /// zero.write_prefix(&mut arg);
    /// assert_eq!(file.ioctl(DRM_IOCTL_PDDGPU_GEM_CREATE.into(), &mut arg), Err(Errno::INVAL));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ioctl(&self, request: u64, arg: &mut [u8]) -> core::result::Result<(), Errno> {
        self.dispatch(request, arg).map_err(|e| {
            tracing::debug!("ioctl {request:#x}: {e}");
            self.errno(&e)
        })
    }

    /// [`File::ioctl`] with the typed error.
    ///
    /// # Errors
    /// As [`File::ioctl`], before the errno mapping.
    pub fn dispatch(&self, request: u64, arg: &mut [u8]) -> Result<()> {
        let cmd = Ioctl::decode(request_code(request))?;
        let declared = cmd.copy_in.max(cmd.copy_out);
        if arg.len() < declared {
            return Err(Error::ShortArgument {
                len: arg.len(),
                declared,
            });
        }
        let (cin, cout) = (cmd.copy_in, cmd.copy_out);
        match cmd.ioctl {
            Ioctl::GemCreate => with_arg(arg, cin, cout, |raw: &mut drm_pddgpu_gem_create| {
                let req = GemCreate::try_from(&*raw)?;
                raw.handle = self.gem_create(&req)?.get();
                Ok(())
            }),
            Ioctl::GemMmap => with_arg(arg, cin, cout, |raw: &mut drm_pddgpu_gem_mmap| {
                let req = GemMmap::try_from(&*raw)?;
                raw.offset = self.gem_mmap(req.handle)?;
                Ok(())
            }),
            Ioctl::GemInfo => with_arg(arg, cin, cout, |raw: &mut drm_pddgpu_gem_info| {
                let req = GemInfo::try_from(&*raw)?;
                self.gem_info(req.handle)?.write_to(raw);
                Ok(())
            }),
            Ioctl::GemOp => with_arg(arg, cin, cout, |raw: &mut drm_pddgpu_gem_op| {
                let req = GemOp::try_from(&*raw)?;
                self.gem_op(&req)
            }),
            Ioctl::Info => with_arg(arg, cin, cout, |raw: &mut drm_pddgpu_info| {
                let query = InfoQuery::try_from(&*raw)?;
                self.info(query)?.write_to(raw);
                Ok(())
            }),
            Ioctl::GemClose => with_arg(arg, cin, cout, |raw: &mut drm_gem_close| {
                let req = GemClose::try_from(&*raw)?;
                self.gem_close(req.handle)
            }),
        }
    }
}
