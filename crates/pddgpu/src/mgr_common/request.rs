//! What TTM hands a manager: the place and the facts about the BO.

use bitflags::bitflags;

bitflags! {
    /// Flags of a TTM place (`TTM_PL_FLAG_*`, same bit values as upstream and `pddgpu-ttm`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct PlaceFlags: u32 {
        /// The resource must be physically contiguous. The VRAM manager then never falls
        /// back to a non-contiguous allocation.
        const CONTIGUOUS = 1 << 0;
        /// Allocate from the top of the domain (VRAM: buddy TOPDOWN; GTT: ignored, as
        /// upstream).
        const TOPDOWN = 1 << 1;
        /// A bounce placement of a multihop move. GTT: bypasses the usage limit.
        const TEMPORARY = 1 << 2;
        /// Never used while evicting (TTM only; managers ignore it).
        const DESIRED = 1 << 3;
        /// Only used while evicting (TTM only; managers ignore it).
        const FALLBACK = 1 << 4;
    }
}

/// A TTM place as a manager sees it: a page range and flags.
///
/// `fpfn` is the first page, `lpfn` the page *after* the last one; `lpfn == 0` means no
/// upper limit (the whole domain). For GTT, `lpfn != 0` also means "needs a GART address".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Place {
    /// First allowed page.
    pub fpfn: u64,
    /// End of the allowed pages (exclusive); 0 = no limit.
    pub lpfn: u64,
    /// Place flags.
    pub flags: PlaceFlags,
}

impl Place {
    /// The whole domain, no flags.
    pub const ANY: Self = Self {
        fpfn: 0,
        lpfn: 0,
        flags: PlaceFlags::empty(),
    };

    /// Pages `[fpfn, lpfn)`, no flags.
    #[must_use]
    pub const fn range(fpfn: u64, lpfn: u64) -> Self {
        Self {
            fpfn,
            lpfn,
            flags: PlaceFlags::empty(),
        }
    }

    /// This place with `flags` added.
    #[must_use]
    pub const fn with(self, flags: PlaceFlags) -> Self {
        Self {
            flags: self.flags.union(flags),
            ..self
        }
    }
}

bitflags! {
    /// The BO creation flags a manager looks at (the subset of the uapi `GEM_CREATE` flags
    /// that change placement; the driver maps the uapi flags onto these).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct BoFlags: u32 {
        /// `VRAM_CONTIGUOUS`: ask for physically contiguous VRAM. Only a hint: retried
        /// non-contiguous on no-space unless the place itself demands CONTIGUOUS.
        const VRAM_CONTIGUOUS = 1 << 0;
        /// `VRAM_CLEARED`: prefer VRAM known to be zero (buddy CLEAR); falls back to dirty
        /// memory, so the caller still checks each block's clear bit.
        const VRAM_CLEARED = 1 << 1;
    }
}

/// Who owns the BO (upstream `ttm_bo_type`): kernel BOs may use VRAM that user BOs may not
/// (see `VramConfig::user_reserved`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BoKind {
    /// A user-space BO (`ttm_bo_type_device`).
    #[default]
    User,
    /// A kernel-internal BO (`ttm_bo_type_kernel`).
    Kernel,
}

/// The facts about a BO that placement depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BoDesc {
    /// Size in bytes; a non-zero multiple of the page size.
    pub size: u64,
    /// Alignment in pages (`bo->page_alignment`); 0 means one page. VRAM needs a power of
    /// two; GTT accepts any value (absolute alignment of the GART page index).
    pub page_alignment: u64,
    /// Creation flags.
    pub flags: BoFlags,
    /// Kernel or user BO.
    pub kind: BoKind,
}

impl BoDesc {
    /// A user BO of `size` bytes, page aligned, no flags.
    #[must_use]
    pub const fn new(size: u64) -> Self {
        Self {
            size,
            page_alignment: 0,
            flags: BoFlags::empty(),
            kind: BoKind::User,
        }
    }
}

/// One allocation request: place + BO + the TTM usage of the manager.
///
/// `usage` is the TTM usage of this manager in bytes *already including this BO* (upstream
/// charges `ttm_resource_init` before calling the manager). `None` lets the manager charge
/// the BO against its own count of live bytes, which is the same number when every
/// resource of the domain goes through the manager.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AllocRequest {
    /// Where.
    pub place: Place,
    /// What.
    pub bo: BoDesc,
    /// TTM usage including this BO, if TTM keeps it.
    pub usage: Option<u64>,
}

impl AllocRequest {
    /// A request for `bo` at `place`, with the manager keeping usage.
    #[must_use]
    pub const fn new(place: Place, bo: BoDesc) -> Self {
        Self {
            place,
            bo,
            usage: None,
        }
    }
}
