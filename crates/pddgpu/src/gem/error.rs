//! Errors of the GEM layer.

use crate::device;
use crate::uapi::{Errno, UapiError};

/// `Result` with the GEM [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why a GEM operation failed. Every variant maps to one Linux errno through
/// [`File::errno`](super::File::errno), the only place the numbers appear.
///
/// A failed operation leaves the file's handle table, the objects and the device as
/// they were.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was malformed (the uapi's own errno: `EINVAL`, `ENOENT` for handle
    /// 0, `ENOTTY` for a non-DRM request code).
    #[error(transparent)]
    Uapi(#[from] UapiError),
    /// The handle names no object in this file: never created here, closed (stale), or
    /// created by another file. `ENOENT`.
    #[error("handle {handle} names no GEM object in this file")]
    NoEntry {
        /// The raw handle.
        handle: u32,
    },
    /// The mmap offset or range names no object mapped through `GEM_MMAP` in this file,
    /// or leaves the object. `EINVAL`.
    #[error("mmap offset {offset:#x} (+{length:#x}) names no object of this file")]
    BadMmapRange {
        /// The offset asked for.
        offset: u64,
        /// The length asked for.
        length: u64,
    },
    /// A CPU access leaves the mapping. `EINVAL`.
    #[error("access of {len} bytes at {offset:#x} leaves the {size}-byte mapping")]
    OutOfBounds {
        /// Offset in the mapping.
        offset: u64,
        /// Bytes asked for.
        len: usize,
        /// Size of the mapping.
        size: u64,
    },
    /// `GEM_OP` `UNPIN` on an object this client never pinned. `EINVAL`.
    #[error("object is not pinned by GEM_OP")]
    NotPinned,
    /// An export token of another device. `EINVAL`.
    #[error("the exported object belongs to another device")]
    ForeignDevice,
    /// The file has handed out every handle value (2^32 − 1). `ENOSPC`, as `idr_alloc`.
    #[error("no handle values left in this file")]
    HandlesExhausted,
    /// The argument buffer of [`File::ioctl`](super::File::ioctl) is shorter than the
    /// request code declares. `EFAULT`, as a short user copy.
    #[error("argument of {len} bytes, the request declares {declared}")]
    ShortArgument {
        /// Bytes given.
        len: usize,
        /// Bytes the request code declares.
        declared: usize,
    },
    /// The object could not be kept in CPU-reachable memory: concurrent pins keep
    /// moving it. `EBUSY`.
    #[error("object could not be made CPU accessible and held there")]
    MapContended,
    /// The device or a buffer object refused (its errno; a final no-space is `ENOMEM`
    /// for user space unless the device propagates `ENOSPC`, and an object larger than
    /// its domains is `EINVAL`).
    #[error(transparent)]
    Device(#[from] device::Error),
}

impl Error {
    /// The errno of this error on a device that does (`propagate_enospc`) or does not
    /// report a failed placement as `ENOSPC` (see
    /// [`DeviceConfig::propagate_enospc`](crate::device::DeviceConfig::propagate_enospc));
    /// [`File::errno`](super::File::errno) passes its device's setting.
    #[must_use]
    pub fn errno_with(&self, propagate_enospc: bool) -> Errno {
        match self {
            Self::Uapi(e) => e.errno(),
            Self::NoEntry { .. } => Errno::NOENT,
            Self::BadMmapRange { .. }
            | Self::OutOfBounds { .. }
            | Self::NotPinned
            | Self::ForeignDevice => Errno::INVAL,
            Self::HandlesExhausted => Errno::NOSPC,
            Self::ShortArgument { .. } => Errno::FAULT,
            Self::MapContended => Errno::BUSY,
            Self::Device(device::Error::TooLarge { .. }) => Errno::INVAL,
            Self::Device(device::Error::NoSpace(_)) if !propagate_enospc => Errno::NOMEM,
            Self::Device(e) => Errno::from_raw_os_error(e.errno()),
        }
    }
}
