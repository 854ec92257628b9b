//! Errors of the uapi boundary and their Linux errno values.
//!
//! Every way a request can be malformed has its own [`UapiError`] variant, so the code
//! that rejects it says *why*; [`UapiError::errno`] is the only place that turns a
//! variant into the number a C caller sees.

use thiserror::Error;

/// A Linux errno value, as returned by an ioctl (`-1` and `errno`) at the C boundary.
///
/// This is [`rustix::io::Errno`]: its constants carry the Linux names without the `E`
/// (`Errno::INVAL` is `EINVAL`, 22 on every Linux architecture) and
/// [`Errno::raw_os_error`] gives the number.
pub use rustix::io::Errno;

/// Why a uapi request was rejected before it reached the GEM layer.
///
/// Each variant documents the errno it maps to through [`UapiError::errno`]. The fields
/// carry the offending raw value, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UapiError {
    /// The request code is not a DRM request (its type byte is not `'d'`). `ENOTTY`,
    /// the answer of a file that does not implement the ioctl.
    #[error("request {cmd:#010x} is not a DRM ioctl")]
    NotDrmIoctl {
        /// The raw request code.
        cmd: u32,
    },
    /// A DRM request whose number is neither a PDDGPU ioctl nor a supported core ioctl.
    /// `EINVAL`, as `drm_ioctl()` answers a number outside its tables.
    #[error("unknown DRM ioctl {cmd:#010x}")]
    UnknownIoctl {
        /// The raw request code.
        cmd: u32,
    },
    /// `flags` has bits outside the `PDDGPU_GEM_CREATE_*` set. `EINVAL`.
    #[error("unknown GEM create flag bits {bits:#x}")]
    UnknownFlags {
        /// The unknown bits only.
        bits: u64,
    },
    /// `PDDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED` and `PDDGPU_GEM_CREATE_NO_CPU_ACCESS`
    /// together. `EINVAL`.
    #[error("CPU_ACCESS_REQUIRED and NO_CPU_ACCESS are mutually exclusive")]
    ConflictingFlags,
    /// A domain mask with bits outside `PDDGPU_GEM_DOMAIN_*`. `EINVAL`.
    #[error("unknown GEM domain bits {bits:#x}")]
    UnknownDomain {
        /// The unknown bits only.
        bits: u64,
    },
    /// A domain mask with no domain. `EINVAL`.
    #[error("empty GEM domain mask")]
    EmptyDomain,
    /// A buffer size of zero. `EINVAL`.
    #[error("GEM object size is zero")]
    ZeroSize,
    /// A buffer size that overflows when rounded up to whole pages. `EINVAL`.
    #[error("GEM object size {size:#x} overflows when rounded up to pages")]
    SizeOverflow {
        /// The size as requested.
        size: u64,
    },
    /// A buffer size larger than every requested domain. `EINVAL`.
    #[error("GEM object size {size:#x} is larger than the requested domains ({limit:#x})")]
    TooLarge {
        /// The page-rounded size.
        size: u64,
        /// The largest capacity among the requested domains.
        limit: u64,
    },
    /// An alignment that is neither 0 nor a power of two. `EINVAL`.
    #[error("alignment {alignment:#x} is not a power of two")]
    BadAlignment {
        /// The alignment as requested.
        alignment: u64,
    },
    /// A padding or reserved field that is not zero. `EINVAL`, so that the field can be
    /// given a meaning later without old binaries passing garbage.
    #[error("reserved field `{field}` is {value:#x}, must be 0")]
    NonZeroPadding {
        /// The C name of the field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// Handle 0, which never names an object (handles start at 1). `ENOENT`, as a lookup
    /// of any unknown handle.
    #[error("handle 0 names no GEM object")]
    NullHandle,
    /// A `GEM_OP` operation code that is not a `PDDGPU_GEM_OP_*`. `EINVAL`.
    #[error("unknown GEM op {op}")]
    UnknownOp {
        /// The raw operation code.
        op: u32,
    },
    /// A `GEM_OP` value that the operation does not accept (bits above the domain mask's
    /// 32, or a non-zero value for `UNPIN`). `EINVAL`.
    #[error("value {value:#x} is invalid for GEM op {op}")]
    BadOpValue {
        /// The raw operation code.
        op: u32,
        /// The raw value.
        value: u64,
    },
    /// An `INFO` query code that is not a `PDDGPU_INFO_*`. `EINVAL`.
    #[error("unknown INFO query {query}")]
    UnknownQuery {
        /// The raw query code.
        query: u32,
    },
}

impl UapiError {
    /// The Linux errno a C caller sees for this error.
    ///
    /// `ENOTTY` for [`UapiError::NotDrmIoctl`], `ENOENT` for [`UapiError::NullHandle`],
    /// `EINVAL` for every other variant.
    ///
    /// # Examples
    /// ```
    /// use pddgpu::uapi::{Errno, UapiError};
    /// assert_eq!(UapiError::ZeroSize.errno(), Errno::INVAL);
    /// assert_eq!(UapiError::NullHandle.errno().raw_os_error(), 2); // ENOENT
    /// ```
    pub const fn errno(&self) -> Errno {
        match self {
            Self::NotDrmIoctl { .. } => Errno::NOTTY,
            Self::NullHandle => Errno::NOENT,
            Self::UnknownIoctl { .. }
            | Self::UnknownFlags { .. }
            | Self::ConflictingFlags
            | Self::UnknownDomain { .. }
            | Self::EmptyDomain
            | Self::ZeroSize
            | Self::SizeOverflow { .. }
            | Self::TooLarge { .. }
            | Self::BadAlignment { .. }
            | Self::NonZeroPadding { .. }
            | Self::UnknownOp { .. }
            | Self::BadOpValue { .. }
            | Self::UnknownQuery { .. } => Errno::INVAL,
        }
    }
}

/// Result of uapi validation.
pub type Result<T, E = UapiError> = core::result::Result<T, E>;
