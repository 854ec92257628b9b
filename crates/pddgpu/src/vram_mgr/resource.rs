//! The VRAM resource: what an allocation hands back to TTM.

use crate::mgr_common::{AllocId, Place, PlaceFlags, PAGE_SHIFT, PAGE_SIZE};

/// One buddy block of a [`VramResource`]: a naturally aligned power-of-two span of VRAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VramBlock {
    /// Byte offset in VRAM (device address).
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// The contents were known to be zero when the block was handed out, so the driver
    /// may skip clearing it.
    pub clear: bool,
}

impl VramBlock {
    /// First page of the block.
    #[must_use]
    pub const fn fpfn(&self) -> u64 {
        self.offset >> PAGE_SHIFT
    }

    /// Page after the block.
    #[must_use]
    pub const fn lpfn(&self) -> u64 {
        (self.offset + self.size) >> PAGE_SHIFT
    }

    /// Bytes of the block below `visible` (upstream `amdgpu_vram_mgr_vis_size`).
    #[must_use]
    pub fn visible_bytes(&self, visible: u64) -> u64 {
        if self.offset >= visible {
            0
        } else {
            (self.offset + self.size).min(visible) - self.offset
        }
    }
}

/// A VRAM allocation (upstream `amdgpu_vram_mgr_resource`): the BO's blocks in allocation
/// order, its TTM facts and the flags it will be freed with.
///
/// The buddy tokens themselves stay inside the manager (so that `recover()` can rebuild
/// the allocator under live resources); the resource holds a copy of their geometry and
/// its [`AllocId`]. Give it back with [`super::VramManager::free`]; a resource that is
/// dropped instead is a leak, reported by [`super::VramManager::fini`].
#[must_use = "a VRAM resource must be given back with VramManager::free"]
#[derive(Debug, PartialEq, Eq)]
pub struct VramResource {
    pub(super) mgr: u64,
    pub(super) id: AllocId,
    pub(super) size: u64,
    pub(super) start: u64,
    pub(super) blocks: Vec<VramBlock>,
    pub(super) placement: PlaceFlags,
    pub(super) visible: u64,
    pub(super) cleared: bool,
}

impl VramResource {
    /// Its id in the manager.
    #[must_use]
    pub fn id(&self) -> AllocId {
        self.id
    }

    /// Size in bytes (the BO size; TTM `res->size`).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The "virtual start" in pages (TTM `res->start`): the end page of the highest block
    /// minus the resource's page count, at least 0. For a contiguous resource it is its
    /// first page; otherwise a quick upper bound used for CPU-visibility tests.
    #[must_use]
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The blocks, in the order the allocator returned them.
    #[must_use]
    pub fn blocks(&self) -> &[VramBlock] {
        &self.blocks
    }

    /// True when the blocks, in list order, each start where the previous one ends
    /// (upstream `amdgpu_is_vram_mgr_blocks_contiguous`).
    #[must_use]
    pub fn is_contiguous(&self) -> bool {
        self.placement.contains(PlaceFlags::CONTIGUOUS)
    }

    /// The place flags of the resource (TTM `res->placement`): the place's flags, with
    /// `CONTIGUOUS` added when the blocks are physically contiguous.
    #[must_use]
    pub fn placement(&self) -> PlaceFlags {
        self.placement
    }

    /// Bytes of the resource in CPU-visible VRAM.
    #[must_use]
    pub fn visible_size(&self) -> u64 {
        self.visible
    }

    /// True when every block is in CPU-visible VRAM.
    #[must_use]
    pub fn is_fully_visible(&self) -> bool {
        self.visible == self.blocks.iter().map(|b| b.size).sum::<u64>()
    }

    /// Marks the contents as wiped (upstream `amdgpu_vram_mgr_set_cleared`): the blocks go
    /// back to the allocator as clear when freed.
    pub fn set_cleared(&mut self) {
        self.cleared = true;
    }

    /// True once [`VramResource::set_cleared`] was called.
    #[must_use]
    pub fn is_cleared(&self) -> bool {
        self.cleared
    }

    /// Would evicting this resource help an allocation at `place`? True if any block
    /// overlaps the place's page range (upstream `amdgpu_vram_mgr_intersects`).
    #[must_use]
    pub fn intersects(&self, place: &Place) -> bool {
        self.blocks
            .iter()
            .any(|b| place.fpfn < b.lpfn() && (place.lpfn == 0 || place.lpfn > b.fpfn()))
    }

    /// May this resource stay where it is for `place`? False if any block lies outside the
    /// place's page range (upstream `amdgpu_vram_mgr_compatible`).
    #[must_use]
    pub fn compatible(&self, place: &Place) -> bool {
        !self
            .blocks
            .iter()
            .any(|b| b.fpfn() < place.fpfn || (place.lpfn != 0 && b.lpfn() > place.lpfn))
    }
}

/// Physically contiguous in list order; an empty list is not.
pub(super) fn blocks_contiguous(blocks: &[VramBlock]) -> bool {
    !blocks.is_empty()
        && blocks
            .windows(2)
            .all(|w| w[0].offset + w[0].size == w[1].offset)
}

/// The virtual start in pages (see [`VramResource::start`]).
pub(super) fn virtual_start(blocks: &[VramBlock], size: u64) -> u64 {
    let total: u64 = blocks.iter().map(|b| b.size).sum();
    let pages = total.max(size).div_ceil(PAGE_SIZE);
    let end = blocks.iter().map(VramBlock::lpfn).max().unwrap_or(0);
    end.saturating_sub(pages)
}
