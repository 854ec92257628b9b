//! The crate's error type and its mapping to Linux errno values.

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Errors reported by TTM, resource managers and drivers.
///
/// Each variant maps to one Linux errno ([`Error::errno`]). The one place where
/// upstream TTM changes an errno on the way to user space, the final `-ENOSPC` of
/// `ttm_bo_validate()`, is [`Error::user_errno`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// Bad argument, or an operation the object's state forbids (moving a pinned BO).
    #[error("invalid argument")]
    InvalidArgument,
    /// A manager cannot fit the request; inside TTM this is the signal to evict or to
    /// try the next place.
    #[error("no space left in the memory domain")]
    NoSpace,
    /// Real memory exhaustion (metadata, pages from the driver's page source).
    #[error("out of memory")]
    OutOfMemory,
    /// A BO is busy or contended, or nothing could be evicted to make room.
    #[error("resource busy")]
    Busy,
    /// The device or the manager is not available (shut down, not ready).
    #[error("no such device")]
    NoDevice,
    /// The object does not exist (an empty LRU in `evict_first`).
    #[error("not found")]
    NotFound,
    /// A driver copy failed.
    #[error("I/O error")]
    Io,
}

/// Linux errno values used by [`Error::errno`].
pub mod errno {
    /// `ENOENT`.
    pub const ENOENT: i32 = 2;
    /// `EIO`.
    pub const EIO: i32 = 5;
    /// `ENOMEM`.
    pub const ENOMEM: i32 = 12;
    /// `EBUSY`.
    pub const EBUSY: i32 = 16;
    /// `ENODEV`.
    pub const ENODEV: i32 = 19;
    /// `EINVAL`.
    pub const EINVAL: i32 = 22;
    /// `ENOSPC`.
    pub const ENOSPC: i32 = 28;
}

impl Error {
    /// The positive Linux errno of this error, as the kernel-internal code would
    /// return it negated (`NoSpace` → `ENOSPC`).
    #[must_use]
    pub const fn errno(self) -> i32 {
        match self {
            Error::InvalidArgument => errno::EINVAL,
            Error::NoSpace => errno::ENOSPC,
            Error::OutOfMemory => errno::ENOMEM,
            Error::Busy => errno::EBUSY,
            Error::NoDevice => errno::ENODEV,
            Error::NotFound => errno::ENOENT,
            Error::Io => errno::EIO,
        }
    }

    /// The errno user space sees for a failed validation.
    ///
    /// Upstream `ttm_bo_validate()` turns its final `-ENOSPC` into `-ENOMEM` "for
    /// backward compatibility with userspace", unless the device was initialised with
    /// `TTM_ALLOCATION_PROPAGATE_ENOSPC` ([`AllocationFlags::PROPAGATE_ENOSPC`]).
    /// pddgpu returns [`Error::NoSpace`] from validation and lets the ioctl layer apply
    /// this mapping; every other error maps as [`Error::errno`].
    ///
    /// [`AllocationFlags::PROPAGATE_ENOSPC`]: crate::AllocationFlags::PROPAGATE_ENOSPC
    #[must_use]
    pub const fn user_errno(self, propagate_enospc: bool) -> i32 {
        match self {
            Error::NoSpace if !propagate_enospc => errno::ENOMEM,
            e => e.errno(),
        }
    }
}

/// An invariant violation found by a `check()`: a description of what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invariant violated: {0}")]
pub struct CheckError(pub String);
