//! Typed GEM domains and create flags.
//!
//! The bit values are the C constants of [`super::abi`] (`PDDGPU_GEM_DOMAIN_*`,
//! `PDDGPU_GEM_CREATE_*`). Raw values from C become these types only through
//! [`Domains::from_raw`] and [`CreateFlags::from_raw`], which reject unknown bits with
//! `EINVAL`; nothing truncates.

use bitflags::bitflags;

use super::abi::{
    PDDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED, PDDGPU_GEM_CREATE_NO_CPU_ACCESS,
    PDDGPU_GEM_CREATE_TOPDOWN, PDDGPU_GEM_CREATE_VRAM_CLEARED, PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS,
    PDDGPU_GEM_CREATE_VRAM_WIPE_ON_RELEASE, PDDGPU_GEM_DOMAIN_CPU, PDDGPU_GEM_DOMAIN_GTT,
    PDDGPU_GEM_DOMAIN_VRAM,
};
use super::error::{Result, UapiError};

bitflags! {
    /// A set of GEM domains: where an object may live (`PDDGPU_GEM_DOMAIN_*`).
    ///
    /// A request names one or more; the object is placed in the first that has room,
    /// in the order VRAM, GTT, CPU (as amdgpu's `amdgpu_bo_placement_from_domain`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Domains: u32 {
        /// System memory that the device cannot reach (TTM `SYSTEM`). Always CPU
        /// accessible; the object must move to GTT or VRAM before the device uses it.
        const CPU = PDDGPU_GEM_DOMAIN_CPU;
        /// System pages bound into the GART (TTM `TT`): reachable by the device and the
        /// CPU.
        const GTT = PDDGPU_GEM_DOMAIN_GTT;
        /// Device memory (TTM `VRAM`). The CPU reaches only the visible window.
        const VRAM = PDDGPU_GEM_DOMAIN_VRAM;
    }
}

impl Domains {
    /// Converts a C domain mask, rejecting what no request may carry.
    ///
    /// # Errors
    /// - [`UapiError::UnknownDomain`] if `raw` has a bit outside `PDDGPU_GEM_DOMAIN_*`
    ///   (checked first: an unknown bit is reported even when no known bit is set);
    /// - [`UapiError::EmptyDomain`] if `raw` is 0.
    ///
    /// Both map to `EINVAL`.
    ///
    /// # Examples
    /// ```
    /// use pddgpu::uapi::{Domains, UapiError};
    /// assert_eq!(Domains::from_raw(0x6)?, Domains::VRAM | Domains::GTT);
    /// assert_eq!(Domains::from_raw(0x8), Err(UapiError::UnknownDomain { bits: 0x8 }));
    /// assert_eq!(Domains::from_raw(0), Err(UapiError::EmptyDomain));
    /// # Ok::<(), UapiError>(())
    /// ```
    pub fn from_raw(raw: u64) -> Result<Self> {
        let unknown = raw & !u64::from(Self::all().bits());
        if unknown != 0 {
            return Err(UapiError::UnknownDomain { bits: unknown });
        }
        // Every bit of `raw` is now inside the 32-bit mask, so this cannot fail.
        let bits = u32::try_from(raw).map_err(|_| UapiError::UnknownDomain { bits: raw })?;
        match Self::from_bits(bits) {
            Some(domains) if !domains.is_empty() => Ok(domains),
            Some(_) => Err(UapiError::EmptyDomain),
            None => Err(UapiError::UnknownDomain { bits: raw }),
        }
    }
}

bitflags! {
    /// GEM create flags (`PDDGPU_GEM_CREATE_*`): orthogonal modifiers of a
    /// `GEM_CREATE`.
    ///
    /// The VRAM flags are hints for the VRAM placement and have no effect when the object
    /// lands in GTT or CPU. `CPU_ACCESS_REQUIRED` and `NO_CPU_ACCESS` exclude each other
    /// ([`CreateFlags::from_raw`] rejects both together).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct CreateFlags: u64 {
        /// The CPU will map the object: VRAM placements are limited to the CPU-visible
        /// window. Mapping an object without it still works; it migrates first.
        const CPU_ACCESS_REQUIRED = PDDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED;
        /// The CPU will never map the object: it may use invisible VRAM, and the GEM
        /// layer refuses to map it (amdgpu's `GEM_MMAP` answers `EPERM`).
        const NO_CPU_ACCESS = PDDGPU_GEM_CREATE_NO_CPU_ACCESS;
        /// Zero the VRAM before first use. Allocation prefers blocks the buddy allocator
        /// knows are clear (buddy `CLEAR`) and falls back to dirty blocks, which are then
        /// zeroed.
        const VRAM_CLEARED = PDDGPU_GEM_CREATE_VRAM_CLEARED;
        /// Allocate VRAM from the top of the heap (buddy `TOPDOWN`), keeping the bottom,
        /// which holds the CPU-visible window, for objects the CPU maps.
        const TOPDOWN = PDDGPU_GEM_CREATE_TOPDOWN;
        /// VRAM in one physically contiguous range (buddy `CONTIGUOUS`). A hint: when no
        /// contiguous range is free, allocation is retried without it.
        const VRAM_CONTIGUOUS = PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS;
        /// Zero the VRAM when the object is released and return its blocks to the buddy
        /// allocator as cleared, so the next owner never sees the data.
        const VRAM_WIPE_ON_RELEASE = PDDGPU_GEM_CREATE_VRAM_WIPE_ON_RELEASE;
    }
}

impl CreateFlags {
    /// Converts C create flags, rejecting unknown bits and contradictions.
    ///
    /// # Errors
    /// - [`UapiError::UnknownFlags`] if `raw` has a bit outside `PDDGPU_GEM_CREATE_*`;
    /// - [`UapiError::ConflictingFlags`] if `CPU_ACCESS_REQUIRED` and `NO_CPU_ACCESS`
    ///   are both set.
    ///
    /// Both map to `EINVAL`.
    ///
    /// # Examples
    /// ```
    /// use pddgpu::uapi::{CreateFlags, UapiError};
    /// assert_eq!(CreateFlags::from_raw(0x20)?, CreateFlags::VRAM_CONTIGUOUS);
    /// assert_eq!(CreateFlags::from_raw(0x24), Err(UapiError::UnknownFlags { bits: 0x4 }));
    /// # Ok::<(), UapiError>(())
    /// ```
    pub fn from_raw(raw: u64) -> Result<Self> {
        let Some(flags) = Self::from_bits(raw) else {
            return Err(UapiError::UnknownFlags {
                bits: raw & !Self::all().bits(),
            });
        };
        if flags.contains(Self::CPU_ACCESS_REQUIRED | Self::NO_CPU_ACCESS) {
            return Err(UapiError::ConflictingFlags);
        }
        Ok(flags)
    }
}
