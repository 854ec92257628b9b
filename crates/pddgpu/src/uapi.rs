//! The PDDGPU uapi: ioctl numbers, argument structures, domains and flags, and the
//! typed requests they are checked into.
//!
//! # Overview
//!
//! This module is the boundary between a client and the GEM layer, the Rust counterpart
//! of amdgpu's `include/uapi/drm/amdgpu_drm.h` plus the argument checks at the top of
//! each amdgpu ioctl. It defines, in three layers:
//!
//! 1. **The C ABI** ([`abi`]): `#[repr(C)]` structures under their C names
//!    (`drm_pddgpu_gem_create`, ...) and the C constants (`PDDGPU_GEM_DOMAIN_VRAM`,
//!    ...), byte for byte what `crates/ffi/include/pddgpu_drm.h` declares, with their
//!    byte images ([`AbiBytes`]). Sizes, alignments and offsets are asserted at compile
//!    time, and the test suite compiles C programs against the header to compare them
//!    with the C compiler's.
//! 2. **Request codes** ([`ioctl`]): `DRM_IOCTL_*` numbers with the DRM encoding
//!    (`DRM_IOWR(DRM_COMMAND_BASE + nr, type)`), the [`Ioctl`] table, and
//!    [`Ioctl::decode`], which turns a request code into an ioctl and copy sizes as the
//!    DRM core's `drm_ioctl()` does. Each code's size field is checked against its
//!    structure at compile time.
//! 3. **Typed requests**: [`GemCreate`], [`GemMmap`], [`GemInfo`],
//!    [`GemOp`], [`InfoQuery`], [`GemClose`], built from the raw structures by `TryFrom`
//!    and only that way, and the replies ([`GemInfoReply`], [`MemoryInfo`]) the GEM layer
//!    writes back. Flags and domains are [`CreateFlags`] and [`Domains`].
//!
//! Every malformed input is a [`UapiError`] naming what is wrong; [`UapiError::errno`]
//! gives the Linux [`Errno`] only at the boundary: `EINVAL` for unknown flag or domain
//! bits, an empty domain, a zero size, a size that overflows when rounded to pages, an
//! alignment that is not a power of two, a non-zero pad, an unknown op, query or ioctl
//! number; `ENOENT` for handle 0; `ENOTTY` for a request code that is not a DRM one.
//! Checks never panic and have no side effects.
//!
//! What needs the device is not checked here: whether a handle names an object
//! (`ENOENT` from the GEM layer's lookup) and whether a size fits its domains (the
//! [`GemCreate::check_limits`] hook, called by the GEM layer with the device's
//! [`DomainLimits`]).
//!
//! # Costs
//! Decoding and checking are O(1) and allocate nothing.
//!
//! # Locking
//! None: everything here is plain data and pure functions.
//!
//! # Dependencies
//! The DRM core definitions (`struct drm_gem_close`, `DRM_IOCTL_BASE`,
//! `DRM_COMMAND_BASE`) come from `drm-sys` (pregenerated bindings, no `bindgen` or
//! system headers at build time), the `_IOC` encoding and the errno values from `rustix`.
//!
//! # Examples
//! ```
//! use pddgpu::uapi::{abi, CreateFlags, Domains, GemCreate, Ioctl};
//!
//! // What the seed's user-space snippet sends.
//! let raw = abi::drm_pddgpu_gem_create {
//!     size: 1024 * 1024,
//!     domain: abi::PDDGPU_GEM_DOMAIN_VRAM,
//!     flags: abi::PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS,
//!     ..Default::default()
//! };
//! let cmd = Ioctl::decode(pddgpu::uapi::ioctl::DRM_IOCTL_PDDGPU_GEM_CREATE)?;
//! assert_eq!(cmd.ioctl, Ioctl::GemCreate);
//! let req = GemCreate::try_from(&raw)?;
//! assert_eq!(req.size(), 1 << 20);
//! assert_eq!(req.domains(), Domains::VRAM);
//! assert_eq!(req.flags(), CreateFlags::VRAM_CONTIGUOUS);
//!
//! // A flag bit nobody defined is EINVAL.
//! let bad = abi::drm_pddgpu_gem_create { flags: 1 << 40, ..raw };
//! assert_eq!(GemCreate::try_from(&bad).unwrap_err().errno().raw_os_error(), 22);
//! # Ok::<(), pddgpu::uapi::UapiError>(())
//! ```

pub mod abi;
mod error;
mod flags;
pub mod ioctl;
mod request;

pub use abi::AbiBytes;
pub use error::{Errno, Result, UapiError};
pub use flags::{CreateFlags, Domains};
pub use ioctl::{Ioctl, IoctlCmd};
pub use request::{
    DomainLimits, GemClose, GemCreate, GemInfo, GemInfoReply, GemMmap, GemOp, GemOpKind, Handle,
    HeapInfo, InfoQuery, MemoryInfo,
};

#[cfg(test)]
mod tests;
