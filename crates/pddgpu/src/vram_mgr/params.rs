//! Translating a request into buddy parameters (the prologue of upstream
//! `amdgpu_vram_mgr_new`).

use pddgpu_buddy::AllocFlags;

use super::{VramConfig, DEFAULT_PAGES_PER_BLOCK};
use crate::mgr_common::{AllocRequest, BoFlags, Error, PlaceFlags, Result, PAGE_SIZE};

/// Buddy parameters derived from a request (upstream `amdgpu_vram_mgr_new` prologue).
#[derive(Debug)]
pub(super) struct Params {
    /// Buddy window start in bytes (`fpfn << PAGE_SHIFT`).
    pub(super) start: u64,
    /// Buddy window end in bytes (`lpfn << PAGE_SHIFT`, or the VRAM size).
    pub(super) end: u64,
    /// Minimum block size of the first attempt.
    pub(super) min_block_size: u64,
    /// `min_block_size` after a contiguous hint fell back.
    pub(super) fallback_min_block_size: u64,
    /// Buddy flags of the first attempt.
    pub(super) flags: AllocFlags,
    /// The place demands contiguity: no non-contiguous fallback.
    pub(super) place_contiguous: bool,
}

impl Params {
    /// The parameters for `req`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a size that is 0 or not page aligned, an `fpfn`
    /// or page alignment that overflows, or a page alignment that is not a power of two.
    pub(super) fn new(req: &AllocRequest, config: &VramConfig) -> Result<Self> {
        let size = req.bo.size;
        if size == 0 || size % PAGE_SIZE != 0 {
            return Err(Error::InvalidArgument(
                "BO size must be a non-zero multiple of the page size",
            ));
        }
        let vram = config.size;
        let end = match req.place.lpfn.checked_mul(PAGE_SIZE) {
            Some(0) | None => vram,
            Some(e) => e.min(vram),
        };
        let start = req
            .place
            .fpfn
            .checked_mul(PAGE_SIZE)
            .ok_or(Error::InvalidArgument("fpfn overflows"))?;
        let page_alignment = req.bo.page_alignment;
        let align_bytes = if page_alignment == 0 {
            PAGE_SIZE
        } else {
            page_alignment
                .checked_mul(PAGE_SIZE)
                .ok_or(Error::InvalidArgument("page alignment overflows"))?
        };
        if !align_bytes.is_power_of_two() {
            return Err(Error::InvalidArgument(
                "page alignment must be a power of two",
            ));
        }
        let place_contiguous = req.place.flags.contains(PlaceFlags::CONTIGUOUS);
        let contiguous = req.bo.flags.contains(BoFlags::VRAM_CONTIGUOUS) || place_contiguous;
        let mut flags = AllocFlags::empty();
        if req.place.flags.contains(PlaceFlags::TOPDOWN) {
            flags |= AllocFlags::TOPDOWN;
        }
        if contiguous {
            flags |= AllocFlags::CONTIGUOUS;
        }
        if req.bo.flags.contains(BoFlags::VRAM_CLEARED) {
            flags |= AllocFlags::CLEAR;
        }
        if start != 0 || end != vram {
            flags |= AllocFlags::RANGE;
        }
        // Pages per block: unlimited for contiguous, else 2 MiB or the page alignment.
        let ppb_bytes = DEFAULT_PAGES_PER_BLOCK
            .max(page_alignment)
            .saturating_mul(PAGE_SIZE);
        let min_for = |ppb: Option<u64>| match ppb {
            Some(b) if size >= b && size % b == 0 => b,
            _ => align_bytes,
        };
        let min_block_size = min_for(if contiguous { None } else { Some(ppb_bytes) });
        let fallback_min_block_size = min_for(Some(ppb_bytes));
        Ok(Self {
            start,
            end,
            min_block_size,
            fallback_min_block_size,
            flags,
            place_contiguous,
        })
    }
}
