//! The GTT resource.

use crate::mgr_common::{AllocId, PlaceFlags};

/// `start` of a GTT resource without a GART address: TTM's
/// [`pddgpu_ttm::Resource::INVALID_OFFSET`] (upstream `AMDGPU_BO_INVALID_OFFSET`, which is
/// `LONG_MAX` there).
pub const INVALID_OFFSET: u64 = pddgpu_ttm::Resource::INVALID_OFFSET;

/// A GTT allocation (upstream `ttm_range_mgr_node` with one `drm_mm_node`).
///
/// Give it back with [`super::GttManager::free`]; a resource that is dropped instead is a
/// leak, reported by [`super::GttManager::fini`].
#[must_use = "a GTT resource must be given back with GttManager::free"]
#[derive(Debug, PartialEq, Eq)]
pub struct GttResource {
    pub(super) mgr: u64,
    pub(super) id: AllocId,
    pub(super) size: u64,
    pub(super) num_pages: u64,
    pub(super) start: u64,
    pub(super) placement: PlaceFlags,
    pub(super) bound: bool,
}

impl GttResource {
    /// Its id in the manager.
    #[must_use]
    pub fn id(&self) -> AllocId {
        self.id
    }

    /// Size in bytes (the BO size).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Pages (`PFN_UP(size)`).
    #[must_use]
    pub fn num_pages(&self) -> u64 {
        self.num_pages
    }

    /// First GART page, or [`INVALID_OFFSET`] without a GART address.
    #[must_use]
    pub fn start(&self) -> u64 {
        self.start
    }

    /// True if the resource occupies GART space (upstream `amdgpu_gtt_mgr_has_gart_addr`).
    #[must_use]
    pub fn has_gart_addr(&self) -> bool {
        self.start != INVALID_OFFSET
    }

    /// True if system pages are bound at the GART address.
    #[must_use]
    pub fn is_bound(&self) -> bool {
        self.bound
    }

    /// The place flags it was allocated with (TTM `res->placement`).
    #[must_use]
    pub fn placement(&self) -> PlaceFlags {
        self.placement
    }
}
