//! The driver error and the explanation of a no-space failure.

use core::fmt;

/// Linux errno values used by [`Error::errno`] (positive, as in `errno`; the ioctl layer
/// negates or stores them as its ABI requires).
mod errno {
    pub(super) const ENOENT: i32 = 2;
    pub(super) const EIO: i32 = 5;
    pub(super) const ENOMEM: i32 = 12;
    pub(super) const EBUSY: i32 = 16;
    pub(super) const ENODEV: i32 = 19;
    pub(super) const EINVAL: i32 = 22;
    pub(super) const ENOSPC: i32 = 28;
}

/// The memory domain a manager serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// Device memory (`TTM_PL_VRAM`), buddy allocator.
    Vram,
    /// GART-mapped system memory (`TTM_PL_TT`), range allocator.
    Gtt,
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Vram => "VRAM",
            Self::Gtt => "GTT",
        })
    }
}

/// `Result` with the driver [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Errors of the PDDGPU memory managers.
///
/// Every variant maps to one Linux errno ([`Error::errno`]). A failed operation leaves the
/// manager exactly as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input (`EINVAL`); the text names what was wrong.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// No space for the request (`ENOSPC`; TTM evicts on it). The box explains why.
    #[error("{0}")]
    NoSpace(Box<NoSpaceInfo>),
    /// The device or the manager is shut down, initialising or in error (`ENODEV`).
    #[error("{domain} manager unavailable: {reason}")]
    NoDevice {
        /// Which manager refused.
        domain: Domain,
        /// Why (device shut down, manager state).
        reason: &'static str,
    },
    /// Allocating metadata failed (`ENOMEM`).
    #[error("out of memory for manager metadata")]
    OutOfMemory,
    /// The range is known but not settled yet, e.g. a reservation still pending (`EBUSY`).
    #[error("busy: {0}")]
    Busy(&'static str),
    /// Nothing known at that address or id (`ENOENT`).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The simulated hardware refused (its own errno, e.g. `EINVAL` for a GART range).
    #[error("hardware: {0}")]
    Hw(#[from] crate::hw::HwError),
    /// A structural check failed and could not be repaired (`EIO`).
    #[error("{domain} manager inconsistent: {detail}")]
    Corrupted {
        /// Which manager.
        domain: Domain,
        /// The first violation found.
        detail: String,
    },
}

impl Error {
    /// The Linux errno of this error (positive).
    #[must_use]
    pub fn errno(&self) -> i32 {
        match self {
            Self::InvalidArgument(_) => errno::EINVAL,
            Self::NoSpace(_) => errno::ENOSPC,
            Self::NoDevice { .. } => errno::ENODEV,
            Self::OutOfMemory => errno::ENOMEM,
            Self::Busy(_) => errno::EBUSY,
            Self::NotFound(_) => errno::ENOENT,
            Self::Hw(e) => e.errno(),
            Self::Corrupted { .. } => errno::EIO,
        }
    }

    /// True for [`Error::NoSpace`], the error that makes TTM evict.
    #[must_use]
    pub fn is_no_space(&self) -> bool {
        matches!(self, Self::NoSpace(_))
    }

    /// The explanation of a no-space error.
    #[must_use]
    pub fn no_space_info(&self) -> Option<&NoSpaceInfo> {
        match self {
            Self::NoSpace(info) => Some(info),
            _ => None,
        }
    }
}

impl From<pddgpu_buddy::Error> for Error {
    /// Maps a buddy error onto the driver error of the same errno. A bare no-space
    /// becomes [`Error::NoSpace`] with an explanation that only names the domain; the VRAM
    /// manager builds full explanations itself.
    fn from(e: pddgpu_buddy::Error) -> Self {
        match e {
            pddgpu_buddy::Error::InvalidArgument => {
                Self::InvalidArgument("buddy allocator rejected the request")
            }
            pddgpu_buddy::Error::NoSpace => {
                Self::NoSpace(Box::new(NoSpaceInfo::bare(Domain::Vram)))
            }
            pddgpu_buddy::Error::OutOfMemory => Self::OutOfMemory,
        }
    }
}

impl From<pddgpu_mm::Error> for Error {
    /// Maps a range-allocator error onto the driver error of the same errno. A bare
    /// no-space becomes [`Error::NoSpace`] with an explanation that only names the domain;
    /// the GTT manager builds full explanations itself.
    fn from(e: pddgpu_mm::Error) -> Self {
        match e {
            pddgpu_mm::Error::InvalidArgument => {
                Self::InvalidArgument("range allocator rejected the request")
            }
            pddgpu_mm::Error::NoSpace => Self::NoSpace(Box::new(NoSpaceInfo::bare(Domain::Gtt))),
            pddgpu_mm::Error::Busy => Self::Busy("range allocator scan in progress"),
            pddgpu_mm::Error::OutOfMemory => Self::OutOfMemory,
        }
    }
}

/// Why a request found no space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoSpaceCause {
    /// The domain's usage (including this BO) would exceed its size: the allocator was not
    /// even asked (amdgpu "bail out quickly").
    UsageLimit,
    /// Fewer free bytes than requested: the domain is full.
    Exhausted,
    /// Enough free bytes, but no free block or hole satisfies the size and the constraints
    /// (range, contiguity, alignment): fragmentation or too narrow a placement.
    Fragmented,
}

impl fmt::Display for NoSpaceCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UsageLimit => "usage limit reached",
            Self::Exhausted => "exhausted",
            Self::Fragmented => "fragmented or over-constrained",
        })
    }
}

/// The explanation carried by [`Error::NoSpace`].
///
/// All sizes are bytes. The allocator figures (`free`, `largest_free`) are taken under the
/// manager lock at the moment of the last failed attempt. `pinned_bos` and `busy_bos` are
/// left `None` by the managers and filled in by the TTM glue, which knows the BOs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoSpaceInfo {
    /// Which domain.
    pub domain: Domain,
    /// The verdict.
    pub cause: NoSpaceCause,
    /// Requested bytes.
    pub requested: u64,
    /// Byte range the request was restricted to, if narrower than the domain.
    pub range: Option<(u64, u64)>,
    /// A contiguous block was required.
    pub contiguous: bool,
    /// Required alignment (VRAM: minimum block size; GTT: page alignment in bytes).
    pub alignment: u64,
    /// Free bytes in the allocator.
    pub free: u64,
    /// Largest free block (VRAM) or hole (GTT), bytes.
    pub largest_free: u64,
    /// Usage of the domain in bytes, including this request where it was charged.
    pub usage: u64,
    /// Size of the domain (usage limit) in bytes.
    pub limit: u64,
    /// Attempts made (1 + retries).
    pub attempts: u32,
    /// Pinned BOs in the domain (TTM glue).
    pub pinned_bos: Option<u64>,
    /// Busy BOs that could not be evicted (TTM glue).
    pub busy_bos: Option<u64>,
}

impl NoSpaceInfo {
    /// An explanation that knows only the domain (all figures 0).
    #[must_use]
    pub fn bare(domain: Domain) -> Self {
        Self {
            domain,
            cause: NoSpaceCause::Fragmented,
            requested: 0,
            range: None,
            contiguous: false,
            alignment: 0,
            free: 0,
            largest_free: 0,
            usage: 0,
            limit: 0,
            attempts: 1,
            pinned_bos: None,
            busy_bos: None,
        }
    }
}

impl fmt::Display for NoSpaceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: no space for {} bytes", self.domain, self.requested)?;
        if let Some((start, end)) = self.range {
            write!(f, " in [{start:#x}, {end:#x})")?;
        }
        if self.contiguous {
            f.write_str(" contiguous")?;
        }
        write!(f, " aligned {}", self.alignment)?;
        write!(
            f,
            ": {}; {} bytes free, largest free {} {} bytes, usage {} of {}",
            self.cause,
            self.free,
            match self.domain {
                Domain::Vram => "block",
                Domain::Gtt => "hole",
            },
            self.largest_free,
            self.usage,
            self.limit
        )?;
        if let Some(n) = self.pinned_bos {
            write!(f, ", {n} pinned BOs")?;
        }
        if let Some(n) = self.busy_bos {
            write!(f, ", {n} busy BOs")?;
        }
        write!(f, " ({} attempts)", self.attempts)
    }
}

/// Live allocations found by a manager's `fini`: a leak report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MgrLeak {
    /// Which manager.
    pub domain: Domain,
    /// One `(id, start, size)` per leaked allocation: start is the first byte in the domain
    /// (VRAM offset of the first block; GTT: GART byte address, or `None` without one).
    pub allocations: Vec<(super::AllocId, Option<u64>, u64)>,
    /// Bytes still held by leaked allocations.
    pub bytes: u64,
}

impl fmt::Display for MgrLeak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} allocations leaked ({} bytes)",
            self.domain,
            self.allocations.len(),
            self.bytes
        )?;
        for (id, start, size) in &self.allocations {
            match start {
                Some(s) => writeln!(f, "  {id}: {s:#018x} {size} bytes")?,
                None => writeln!(f, "  {id}: no address, {size} bytes")?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for MgrLeak {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos() {
        assert_eq!(Error::InvalidArgument("x").errno(), 22);
        assert_eq!(Error::OutOfMemory.errno(), 12);
        assert_eq!(Error::Busy("x").errno(), 16);
        assert_eq!(Error::NotFound("x").errno(), 2);
        assert_eq!(
            Error::NoDevice {
                domain: Domain::Vram,
                reason: "x"
            }
            .errno(),
            19
        );
        assert_eq!(
            Error::Corrupted {
                domain: Domain::Gtt,
                detail: String::new()
            }
            .errno(),
            5
        );
    }

    #[test]
    fn no_space_text_names_every_number() {
        let info = NoSpaceInfo {
            domain: Domain::Vram,
            cause: NoSpaceCause::Fragmented,
            requested: 4194304,
            range: Some((0, 0x100_0000)),
            contiguous: true,
            alignment: 4096,
            free: 8388608,
            largest_free: 2097152,
            usage: 12582912,
            limit: 16777216,
            attempts: 3,
            pinned_bos: Some(2),
            busy_bos: None,
        };
        let e = Error::NoSpace(Box::new(info));
        assert_eq!(e.errno(), 28);
        assert_eq!(
            e.to_string(),
            "VRAM: no space for 4194304 bytes in [0x0, 0x1000000) contiguous aligned 4096: \
             fragmented or over-constrained; 8388608 bytes free, largest free block 2097152 bytes, \
             usage 12582912 of 16777216, 2 pinned BOs (3 attempts)"
        );
    }
}
