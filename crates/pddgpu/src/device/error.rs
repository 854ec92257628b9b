//! The device-level error and the explanation of a failed placement.

use core::fmt;

use crate::hw::HwError;
use crate::mgr_common::{self, Domain, NoSpaceInfo};
use crate::uapi::{CreateFlags, Domains};

/// Linux errno values used by [`Error::errno`] (positive; the ioctl layer negates them).
mod errno {
    pub(super) const EPERM: i32 = 1;
    pub(super) const ENOENT: i32 = 2;
    pub(super) const EIO: i32 = 5;
    pub(super) const ENOMEM: i32 = 12;
    pub(super) const EFAULT: i32 = 14;
    pub(super) const EBUSY: i32 = 16;
    pub(super) const ENODEV: i32 = 19;
    pub(super) const EINVAL: i32 = 22;
    pub(super) const ENOSPC: i32 = 28;
}

/// `Result` with the device [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Errors of the PDDGPU device and its buffer objects.
///
/// Every variant maps to one Linux errno ([`Error::errno`]). A failed operation leaves
/// the device and the BO as they were: nothing allocated, nothing charged, contents
/// intact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input (`EINVAL`); the text names what was wrong.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The operation is not allowed for this BO, e.g. CPU access to a BO created with
    /// `NO_CPU_ACCESS` (`EPERM`, as amdgpu's `GEM_MMAP`).
    #[error("operation not permitted: {0}")]
    PermissionDenied(&'static str),
    /// The BO is larger than every domain it may live in (`ENOMEM`, upstream
    /// `amdgpu_bo_validate_size`).
    #[error("BO size {size} exceeds the {domain} domain of {limit} bytes")]
    TooLarge {
        /// Requested bytes (page aligned).
        size: u64,
        /// The domain that was checked.
        domain: Domain,
        /// Its size in bytes.
        limit: u64,
    },
    /// No placement could be satisfied, even with eviction (`ENOSPC`; user space sees
    /// `ENOMEM` unless the device propagates `ENOSPC`, see
    /// [`Device::user_errno`](crate::device::Device::user_errno)). The report says why.
    #[error("{0}")]
    NoSpace(Box<NoSpaceReport>),
    /// The device is shut down or a manager is not READY (`ENODEV`).
    #[error("device unavailable: {0}")]
    NoDevice(&'static str),
    /// The BO is busy or contended and the caller asked not to wait (`EBUSY`).
    #[error("busy: {0}")]
    Busy(&'static str),
    /// Metadata or system pages could not be allocated (`ENOMEM`).
    #[error("out of memory")]
    OutOfMemory,
    /// The bytes asked for are not reachable that way: CPU access outside the visible
    /// window, device access to a BO without a device address (`EFAULT`).
    #[error("bad address: {0}")]
    Fault(&'static str),
    /// Nothing known by that name (`ENOENT`).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The copy engine failed a move or a clear (`EIO`); the BO kept its old placement.
    #[error("I/O error: {0}")]
    Io(&'static str),
    /// A memory manager refused (its own errno).
    #[error(transparent)]
    Mgr(mgr_common::Error),
    /// The simulated hardware refused (its own errno).
    #[error("hardware: {0}")]
    Hw(#[from] HwError),
}

impl Error {
    /// The Linux errno of this error (positive).
    #[must_use]
    pub fn errno(&self) -> i32 {
        match self {
            Self::InvalidArgument(_) => errno::EINVAL,
            Self::PermissionDenied(_) => errno::EPERM,
            Self::TooLarge { .. } | Self::OutOfMemory => errno::ENOMEM,
            Self::NoSpace(_) => errno::ENOSPC,
            Self::NoDevice(_) => errno::ENODEV,
            Self::Busy(_) => errno::EBUSY,
            Self::Fault(_) => errno::EFAULT,
            Self::NotFound(_) => errno::ENOENT,
            Self::Io(_) => errno::EIO,
            Self::Mgr(e) => e.errno(),
            Self::Hw(e) => e.errno(),
        }
    }

    /// The explanation of a no-space error.
    #[must_use]
    pub fn no_space(&self) -> Option<&NoSpaceReport> {
        match self {
            Self::NoSpace(r) => Some(r),
            _ => None,
        }
    }
}

impl From<mgr_common::Error> for Error {
    /// Manager errors keep their payload, except the ones the device has its own
    /// variant for.
    fn from(e: mgr_common::Error) -> Self {
        match e {
            mgr_common::Error::NoDevice { reason, .. } => Self::NoDevice(reason),
            mgr_common::Error::OutOfMemory => Self::OutOfMemory,
            mgr_common::Error::Hw(h) => Self::Hw(h),
            other => Self::Mgr(other),
        }
    }
}

impl From<pddgpu_ttm::Error> for Error {
    /// TTM errors carry no payload; a TTM no-space becomes a bare report here and is
    /// explained by the BO code, which knows the request.
    fn from(e: pddgpu_ttm::Error) -> Self {
        match e {
            pddgpu_ttm::Error::InvalidArgument => Self::InvalidArgument("rejected by TTM"),
            pddgpu_ttm::Error::NoSpace => Self::NoSpace(Box::default()),
            pddgpu_ttm::Error::OutOfMemory => Self::OutOfMemory,
            pddgpu_ttm::Error::Busy => Self::Busy("BO busy or contended"),
            pddgpu_ttm::Error::NoDevice => Self::NoDevice("a memory manager refused"),
            pddgpu_ttm::Error::NotFound => Self::NotFound("no such object"),
            pddgpu_ttm::Error::Io => Self::Io("copy engine failure during a move"),
        }
    }
}

/// Why a BO could not be placed: the request, and for each domain that was tried the
/// manager's explanation with the pinned and busy BO counts filled in by the device.
///
/// With it a user can tell fragmentation (plenty free, no block large enough) from
/// exhaustion (little free, everything pinned or busy) from a usage limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoSpaceReport {
    /// BO size in bytes.
    pub size: u64,
    /// The domains asked for.
    pub domains: Option<Domains>,
    /// The create flags (constraints such as `VRAM_CONTIGUOUS`, `CPU_ACCESS_REQUIRED`).
    pub flags: Option<CreateFlags>,
    /// Per VRAM/GTT domain involved: the manager's last explanation (free bytes, largest
    /// free block or hole, usage, limit, attempts) with `pinned_bos`/`busy_bos` set.
    pub domain_info: Vec<NoSpaceInfo>,
}

impl fmt::Display for NoSpaceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no space for a BO of {} bytes", self.size)?;
        if let Some(d) = self.domains {
            write!(f, " in domains {d:?}")?;
        }
        if let Some(fl) = self.flags {
            if !fl.is_empty() {
                write!(f, " with flags {fl:?}")?;
            }
        }
        for info in &self.domain_info {
            write!(f, "; {info}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgr_common::NoSpaceCause;

    #[test]
    fn errnos() {
        assert_eq!(Error::InvalidArgument("x").errno(), 22);
        assert_eq!(Error::PermissionDenied("x").errno(), 1);
        assert_eq!(Error::NoSpace(Box::default()).errno(), 28);
        assert_eq!(Error::NoDevice("x").errno(), 19);
        assert_eq!(Error::Busy("x").errno(), 16);
        assert_eq!(Error::Fault("x").errno(), 14);
        assert_eq!(Error::Io("x").errno(), 5);
        assert_eq!(
            Error::TooLarge {
                size: 1,
                domain: Domain::Vram,
                limit: 0
            }
            .errno(),
            12
        );
        assert_eq!(Error::from(pddgpu_ttm::Error::NoDevice).errno(), 19);
        assert_eq!(Error::from(pddgpu_ttm::Error::Io).errno(), 5);
    }

    #[test]
    fn report_text_names_request_and_domains() {
        let info = NoSpaceInfo {
            domain: Domain::Vram,
            cause: NoSpaceCause::Exhausted,
            requested: 8192,
            range: None,
            contiguous: false,
            alignment: 4096,
            free: 4096,
            largest_free: 4096,
            usage: 1 << 20,
            limit: 1 << 20,
            attempts: 1,
            pinned_bos: Some(3),
            busy_bos: Some(0),
        };
        let r = NoSpaceReport {
            size: 8192,
            domains: Some(Domains::VRAM),
            flags: Some(CreateFlags::empty()),
            domain_info: vec![info],
        };
        assert_eq!(
            r.to_string(),
            "no space for a BO of 8192 bytes in domains Domains(VRAM); VRAM: no space for 8192 \
             bytes aligned 4096: exhausted; 4096 bytes free, largest free block 4096 bytes, usage \
             1048576 of 1048576, 3 pinned BOs, 0 busy BOs (1 attempts)"
        );
    }
}
