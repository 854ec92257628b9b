//! Ioctl request codes: their encoding, the table of PDDGPU ioctls, and decoding a
//! request code the way the DRM core does.
//!
//! The DRM core definitions (`DRM_IOCTL_BASE` `'d'`, `DRM_COMMAND_BASE` 0x40,
//! `DRM_COMMAND_END` 0xa0, `struct drm_gem_close`) come from `drm-sys`, and the `_IOC`
//! encoding (`_IOW`, `_IOWR`) from `rustix::ioctl::opcode`, which knows each
//! architecture's layout; this module only composes them. Every request code's size
//! field is checked against its structure at compile time.

use core::mem::size_of;

use rustix::ioctl::{opcode, Direction, Opcode};

use super::abi::{
    drm_gem_close, drm_pddgpu_gem_create, drm_pddgpu_gem_info, drm_pddgpu_gem_mmap,
    drm_pddgpu_gem_op, drm_pddgpu_info, DRM_PDDGPU_GEM_CREATE, DRM_PDDGPU_GEM_INFO,
    DRM_PDDGPU_GEM_MMAP, DRM_PDDGPU_GEM_OP, DRM_PDDGPU_INFO, DRM_PDDGPU_NUM_IOCTLS,
};
use super::error::{Result, UapiError};

/// `DRM_COMMAND_BASE`: the first driver ioctl number, 0x40 (from `drm-sys`).
pub use drm_sys::DRM_COMMAND_BASE;
/// `DRM_COMMAND_END`: one past the last driver ioctl number, 0xa0 (from `drm-sys`).
pub use drm_sys::DRM_COMMAND_END;
/// `DRM_IOCTL_BASE`: the `_IOC` type byte of every DRM request, `'d'` (from `drm-sys`).
pub use drm_sys::DRM_IOCTL_BASE;

/// The DRM core ioctl number of `GEM_CLOSE` (`DRM_IOCTL_GEM_CLOSE` in `drm.h`).
const DRM_GEM_CLOSE_NR: u32 = 0x09;

// ---------------------------------------------------------------------------------
// Encoding.

/// A request code as the kernel's `ioctl` handler receives it (`unsigned int cmd`).
///
/// rustix's `Opcode` is `c_uint` on the raw Linux backend and `c_ulong` on glibc's; every
/// `_IOC` value fits 32 bits, which the assertion proves for each constant at compile
/// time.
const fn to_cmd(op: Opcode) -> u32 {
    // `Opcode` is 32 or 64 bits depending on the backend; the assertion makes the
    // conversion checked, and it runs at compile time for every constant.
    #[allow(clippy::unnecessary_cast)] // a no-op only where `Opcode` is `u32`
    let cmd = op as u32;
    #[allow(clippy::unnecessary_cast)]
    let back = cmd as Opcode;
    assert!(back == op, "ioctl request code does not fit 32 bits");
    cmd
}

/// The `_IOC` number byte of a DRM ioctl number, checked to fit.
const fn nr_byte(nr: u32) -> u8 {
    assert!(nr <= 0xff, "ioctl number does not fit its byte");
    // Checked just above.
    nr as u8
}

/// `DRM_IOW(nr, T)`: a DRM request that copies `T` in.
pub const fn drm_iow<T>(nr: u32) -> u32 {
    to_cmd(opcode::write::<T>(DRM_IOCTL_BASE, nr_byte(nr)))
}

/// `DRM_IOWR(nr, T)`: a DRM request that copies `T` in and back out.
pub const fn drm_iowr<T>(nr: u32) -> u32 {
    to_cmd(opcode::read_write::<T>(DRM_IOCTL_BASE, nr_byte(nr)))
}

/// `DRM_IOCTL_GEM_CLOSE`: `DRM_IOW(0x09, struct drm_gem_close)`, 0x40086409.
pub const DRM_IOCTL_GEM_CLOSE: u32 = drm_iow::<drm_gem_close>(DRM_GEM_CLOSE_NR);
/// `DRM_IOCTL_PDDGPU_GEM_CREATE`:
/// `DRM_IOWR(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_CREATE, struct drm_pddgpu_gem_create)`.
pub const DRM_IOCTL_PDDGPU_GEM_CREATE: u32 =
    drm_iowr::<drm_pddgpu_gem_create>(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_CREATE);
/// `DRM_IOCTL_PDDGPU_GEM_MMAP`:
/// `DRM_IOWR(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_MMAP, struct drm_pddgpu_gem_mmap)`.
pub const DRM_IOCTL_PDDGPU_GEM_MMAP: u32 =
    drm_iowr::<drm_pddgpu_gem_mmap>(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_MMAP);
/// `DRM_IOCTL_PDDGPU_GEM_INFO`:
/// `DRM_IOWR(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_INFO, struct drm_pddgpu_gem_info)`.
pub const DRM_IOCTL_PDDGPU_GEM_INFO: u32 =
    drm_iowr::<drm_pddgpu_gem_info>(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_INFO);
/// `DRM_IOCTL_PDDGPU_GEM_OP`:
/// `DRM_IOWR(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_OP, struct drm_pddgpu_gem_op)`.
pub const DRM_IOCTL_PDDGPU_GEM_OP: u32 =
    drm_iowr::<drm_pddgpu_gem_op>(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_OP);
/// `DRM_IOCTL_PDDGPU_INFO`:
/// `DRM_IOWR(DRM_COMMAND_BASE + DRM_PDDGPU_INFO, struct drm_pddgpu_info)`.
pub const DRM_IOCTL_PDDGPU_INFO: u32 =
    drm_iowr::<drm_pddgpu_info>(DRM_COMMAND_BASE + DRM_PDDGPU_INFO);

// ---------------------------------------------------------------------------------
// Decoding. The field layout is read back from the encoder rather than restated, so it
// is right on every architecture rustix supports.

/// The direction bits of a request without data (non-zero on some architectures).
const IOC_NONE: u32 = to_cmd(opcode::from_components(Direction::None, 0, 0, 0));
/// `IOC_IN`: the caller's structure is copied in (`_IOW`).
const IOC_IN: u32 = to_cmd(opcode::from_components(Direction::Write, 0, 0, 0));
/// `IOC_OUT`: the structure is copied back out (`_IOR`).
const IOC_OUT: u32 = to_cmd(opcode::from_components(Direction::Read, 0, 0, 0));
/// The number field in place (`_IOC_NRMASK << _IOC_NRSHIFT`).
const IOC_NR_FIELD: u32 = to_cmd(opcode::from_components(Direction::None, 0, 0xff, 0)) & !IOC_NONE;
/// The type field in place.
const IOC_TYPE_FIELD: u32 =
    to_cmd(opcode::from_components(Direction::None, 0xff, 0, 0)) & !IOC_NONE;
/// The size field in place: the largest size, masked by the encoder.
const IOC_SIZE_FIELD: u32 =
    to_cmd(opcode::from_components(Direction::None, 0, 0, 0xffff_ffff)) & !IOC_NONE;

/// `_IOC_NR(cmd)`.
const fn ioc_nr(cmd: u32) -> u32 {
    (cmd & IOC_NR_FIELD) >> IOC_NR_FIELD.trailing_zeros()
}

/// `_IOC_TYPE(cmd)`.
const fn ioc_type(cmd: u32) -> u32 {
    (cmd & IOC_TYPE_FIELD) >> IOC_TYPE_FIELD.trailing_zeros()
}

/// `_IOC_SIZE(cmd)`: the size of the argument the caller declares.
pub const fn ioc_size(cmd: u32) -> u32 {
    (cmd & IOC_SIZE_FIELD) >> IOC_SIZE_FIELD.trailing_zeros()
}

/// One PDDGPU ioctl, or the DRM core ioctl PDDGPU implements (`GEM_CLOSE`).
///
/// Each names its request code ([`Ioctl::cmd`]), its argument structure
/// ([`Ioctl::arg_size`]) and its C name ([`Ioctl::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ioctl {
    /// `DRM_IOCTL_GEM_CLOSE` (DRM core): drop a handle. [`drm_gem_close`].
    GemClose,
    /// `DRM_IOCTL_PDDGPU_GEM_CREATE`: create an object. [`drm_pddgpu_gem_create`].
    GemCreate,
    /// `DRM_IOCTL_PDDGPU_GEM_MMAP`: the fake mmap offset. [`drm_pddgpu_gem_mmap`].
    GemMmap,
    /// `DRM_IOCTL_PDDGPU_GEM_INFO`: describe an object. [`drm_pddgpu_gem_info`].
    GemInfo,
    /// `DRM_IOCTL_PDDGPU_GEM_OP`: preferred domain, pin, unpin. [`drm_pddgpu_gem_op`].
    GemOp,
    /// `DRM_IOCTL_PDDGPU_INFO`: device queries. [`drm_pddgpu_info`].
    Info,
}

/// What [`Ioctl::decode`] found in a request code: the ioctl and how many bytes of the
/// caller's argument to copy in and back out.
///
/// The copy protocol is `drm_ioctl()`'s:
/// 1. Start from an all-zero argument structure.
/// 2. Copy the first `copy_in` bytes of the caller's buffer into it. A caller built
///    against an older, shorter structure thus gets zeros for the fields it does not
///    know; one built against a longer structure has its extra bytes ignored.
/// 3. Run the ioctl.
/// 4. On success, copy the first `copy_out` bytes back to the caller's buffer.
///
/// # Upstream
/// When the caller's size exceeds the structure and the request has no `IOC_IN` bit,
/// `drm_ioctl()` writes zeros over the caller's extra bytes; here they are left as they
/// were (`copy_out` never exceeds the structure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoctlCmd {
    /// The ioctl the request code names.
    pub ioctl: Ioctl,
    /// Bytes to copy in: the declared size if both the request and the ioctl copy in,
    /// else 0; at most [`Ioctl::arg_size`].
    pub copy_in: usize,
    /// Bytes to copy back out: the declared size if both the request and the ioctl
    /// copy out, else 0; at most [`Ioctl::arg_size`].
    pub copy_out: usize,
}

impl Ioctl {
    /// Every ioctl, the DRM core one first, then the driver's in number order.
    pub const ALL: [Ioctl; 6] = [
        Ioctl::GemClose,
        Ioctl::GemCreate,
        Ioctl::GemMmap,
        Ioctl::GemInfo,
        Ioctl::GemOp,
        Ioctl::Info,
    ];

    /// The driver ioctls indexed by number relative to `DRM_COMMAND_BASE`.
    const DRIVER: [Ioctl; 5] = [
        Ioctl::GemCreate,
        Ioctl::GemMmap,
        Ioctl::GemInfo,
        Ioctl::GemOp,
        Ioctl::Info,
    ];

    /// The full request code (`DRM_IOCTL_*`).
    ///
    /// # Examples
    /// ```
    /// use pddgpu::uapi::Ioctl;
    /// assert_eq!(Ioctl::GemClose.cmd(), 0x4008_6409);
    /// assert_eq!(Ioctl::GemCreate.cmd(), 0xc020_6440);
    /// ```
    pub const fn cmd(self) -> u32 {
        match self {
            Ioctl::GemClose => DRM_IOCTL_GEM_CLOSE,
            Ioctl::GemCreate => DRM_IOCTL_PDDGPU_GEM_CREATE,
            Ioctl::GemMmap => DRM_IOCTL_PDDGPU_GEM_MMAP,
            Ioctl::GemInfo => DRM_IOCTL_PDDGPU_GEM_INFO,
            Ioctl::GemOp => DRM_IOCTL_PDDGPU_GEM_OP,
            Ioctl::Info => DRM_IOCTL_PDDGPU_INFO,
        }
    }

    /// The DRM ioctl number (`_IOC_NR`): 0x09 for `GEM_CLOSE`, `DRM_COMMAND_BASE + n`
    /// for the driver's.
    pub const fn nr(self) -> u32 {
        match self {
            Ioctl::GemClose => DRM_GEM_CLOSE_NR,
            Ioctl::GemCreate => DRM_COMMAND_BASE + DRM_PDDGPU_GEM_CREATE,
            Ioctl::GemMmap => DRM_COMMAND_BASE + DRM_PDDGPU_GEM_MMAP,
            Ioctl::GemInfo => DRM_COMMAND_BASE + DRM_PDDGPU_GEM_INFO,
            Ioctl::GemOp => DRM_COMMAND_BASE + DRM_PDDGPU_GEM_OP,
            Ioctl::Info => DRM_COMMAND_BASE + DRM_PDDGPU_INFO,
        }
    }

    /// The size in bytes of the argument structure.
    pub const fn arg_size(self) -> usize {
        match self {
            Ioctl::GemClose => size_of::<drm_gem_close>(),
            Ioctl::GemCreate => size_of::<drm_pddgpu_gem_create>(),
            Ioctl::GemMmap => size_of::<drm_pddgpu_gem_mmap>(),
            Ioctl::GemInfo => size_of::<drm_pddgpu_gem_info>(),
            Ioctl::GemOp => size_of::<drm_pddgpu_gem_op>(),
            Ioctl::Info => size_of::<drm_pddgpu_info>(),
        }
    }

    /// The C name of the request code.
    pub const fn name(self) -> &'static str {
        match self {
            Ioctl::GemClose => "DRM_IOCTL_GEM_CLOSE",
            Ioctl::GemCreate => "DRM_IOCTL_PDDGPU_GEM_CREATE",
            Ioctl::GemMmap => "DRM_IOCTL_PDDGPU_GEM_MMAP",
            Ioctl::GemInfo => "DRM_IOCTL_PDDGPU_GEM_INFO",
            Ioctl::GemOp => "DRM_IOCTL_PDDGPU_GEM_OP",
            Ioctl::Info => "DRM_IOCTL_PDDGPU_INFO",
        }
    }

    /// Decodes a request code as `drm_ioctl()` does: by its number, then the copy sizes
    /// from the direction and size the caller declares (see [`IoctlCmd`]).
    ///
    /// The kernel's `ioctl` handler takes `unsigned int cmd`: a caller holding libdrm's
    /// `unsigned long request` passes its low 32 bits, as the system call does.
    ///
    /// # Errors
    /// - [`UapiError::NotDrmIoctl`] (`ENOTTY`) if the type byte is not
    ///   [`DRM_IOCTL_BASE`];
    /// - [`UapiError::UnknownIoctl`] (`EINVAL`) if the number is neither a PDDGPU ioctl
    ///   (`DRM_COMMAND_BASE..DRM_COMMAND_BASE + DRM_PDDGPU_NUM_IOCTLS`) nor
    ///   `GEM_CLOSE`.
    ///
    /// # Upstream
    /// `drm_ioctl()` does not look at the type byte; a request of another type is
    /// refused here with `ENOTTY`, the answer of a file without that ioctl, so that a
    /// stray non-DRM request is never taken for a DRM one. DRM core ioctls other than
    /// `GEM_CLOSE` are not implemented and answer `EINVAL`, as upstream answers numbers
    /// beyond its tables.
    ///
    /// # Complexity
    /// O(1).
    ///
    /// # Examples
    /// ```
    /// use pddgpu::uapi::{Ioctl, IoctlCmd, UapiError};
    /// let cmd = Ioctl::decode(0xc020_6440)?;
    /// assert_eq!(cmd, IoctlCmd { ioctl: Ioctl::GemCreate, copy_in: 32, copy_out: 32 });
    /// // An older caller with a 24-byte structure: the rest reads as zero.
    /// let old = Ioctl::decode(0xc018_6440)?;
    /// assert_eq!((old.copy_in, old.copy_out), (24, 24));
    /// assert_eq!(Ioctl::decode(0xc020_6445), Err(UapiError::UnknownIoctl { cmd: 0xc020_6445 }));
    /// # Ok::<(), UapiError>(())
    /// ```
    pub fn decode(cmd: u32) -> Result<IoctlCmd> {
        if ioc_type(cmd) != u32::from(DRM_IOCTL_BASE) {
            return Err(UapiError::NotDrmIoctl { cmd });
        }
        let nr = ioc_nr(cmd);
        let ioctl = if nr == DRM_GEM_CLOSE_NR {
            Ioctl::GemClose
        } else {
            nr.checked_sub(DRM_COMMAND_BASE)
                .filter(|&index| index < DRM_PDDGPU_NUM_IOCTLS)
                .and_then(|index| usize::try_from(index).ok())
                .and_then(|index| Self::DRIVER.get(index).copied())
                .ok_or(UapiError::UnknownIoctl { cmd })?
        };
        let declared =
            usize::try_from(ioc_size(cmd)).map_err(|_| UapiError::UnknownIoctl { cmd })?;
        let copy = declared.min(ioctl.arg_size());
        let both = cmd & ioctl.cmd();
        Ok(IoctlCmd {
            ioctl,
            copy_in: if both & IOC_IN != 0 { copy } else { 0 },
            copy_out: if both & IOC_OUT != 0 { copy } else { 0 },
        })
    }
}

// ---------------------------------------------------------------------------------
// Compile-time checks: each request code encodes its own structure's size, the DRM
// type byte, its number and its direction, and the driver table matches the numbers.

const _: () = {
    let mut i = 0;
    while i < Ioctl::ALL.len() {
        let ioctl = Ioctl::ALL[i];
        let cmd = ioctl.cmd();
        assert!(
            ioc_size(cmd) as usize == ioctl.arg_size(),
            "size field != struct size"
        );
        assert!(
            ioc_type(cmd) == DRM_IOCTL_BASE as u32,
            "type byte is not 'd'"
        );
        assert!(ioc_nr(cmd) == ioctl.nr(), "number field");
        assert!(cmd & IOC_IN != 0, "every ioctl copies its argument in");
        let out = !matches!(ioctl, Ioctl::GemClose);
        assert!((cmd & IOC_OUT != 0) == out, "only GEM_CLOSE is write-only");
        i += 1;
    }
    let mut n = 0;
    while n < Ioctl::DRIVER.len() {
        assert!(
            Ioctl::DRIVER[n].nr() == DRM_COMMAND_BASE + n as u32,
            "driver table order"
        );
        n += 1;
    }
    assert!(Ioctl::DRIVER.len() == DRM_PDDGPU_NUM_IOCTLS as usize);
    assert!(DRM_COMMAND_BASE + DRM_PDDGPU_NUM_IOCTLS <= DRM_COMMAND_END);
};
