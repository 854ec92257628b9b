//! The VRAM manager as a TTM resource manager (upstream `amdgpu_vram_mgr_func`).

use core::fmt;
use std::sync::Arc;

use pddgpu_ttm::{BoInfo, CheckError, ManagerCtx, Place, PlaceFlags, Resource, ResourceManager};

use super::no_space;
use crate::hw::{DevAddr, SimHw};
use crate::mgr_common::{place_from_ttm, request_from_ttm};
use crate::uapi::CreateFlags;
use crate::vram_mgr::{VramBlock, VramManager, VramResource};

/// The private data of a TTM VRAM resource: the manager's resource and whether its
/// contents must be wiped when it is freed.
#[derive(Debug)]
pub struct VramBacking {
    res: VramResource,
    wipe_on_release: bool,
}

impl VramBacking {
    /// The manager's resource (blocks, visibility, clear bits).
    pub fn resource(&self) -> &VramResource {
        &self.res
    }

    /// The blocks in BO order: BO byte 0 is the first byte of the first block.
    #[must_use]
    pub fn blocks(&self) -> &[VramBlock] {
        self.res.blocks()
    }
}

/// The TTM adapter of the VRAM manager (`amdgpu_vram_mgr_func`): `alloc` is
/// `amdgpu_vram_mgr_new` → [`VramManager::alloc`] → `BuddyAllocator::alloc_blocks`.
///
/// The BO's `driver_flags` are the uapi create flags: `VRAM_CONTIGUOUS` and
/// `VRAM_CLEARED` shape the request, `VRAM_WIPE_ON_RELEASE` makes `free` zero the
/// blocks with the copy engine and return them to the buddy as cleared. Register with
/// `use_tt = false` and the VRAM size in bytes.
#[derive(Debug)]
pub struct VramTtm {
    mgr: Arc<VramManager>,
    hw: Arc<SimHw>,
}

impl VramTtm {
    /// An adapter over `mgr`, wiping through the copy engine of `hw`.
    #[must_use]
    pub fn new(mgr: Arc<VramManager>, hw: Arc<SimHw>) -> Self {
        Self { mgr, hw }
    }

    /// The manager core.
    #[must_use]
    pub fn manager(&self) -> &Arc<VramManager> {
        &self.mgr
    }
}

/// Zeroes every block with fill jobs.
pub(super) fn wipe(hw: &SimHw, blocks: &[VramBlock]) -> crate::hw::Result<()> {
    for b in blocks {
        hw.fill(DevAddr::Vram(b.offset), b.size, 0)?;
    }
    Ok(())
}

impl ResourceManager for VramTtm {
    fn alloc(
        &self,
        _ctx: &ManagerCtx<'_>,
        bo: &BoInfo,
        place: &Place,
        res: &mut Resource,
    ) -> pddgpu_ttm::Result<()> {
        let vres = self
            .mgr
            .alloc(&request_from_ttm(bo, place, res.size()))
            .map_err(|e| {
                no_space::record(&e);
                pddgpu_ttm::Error::from(e)
            })?;
        res.set_start(vres.start());
        if vres.is_contiguous() {
            res.placement_mut().insert(PlaceFlags::CONTIGUOUS);
        }
        let wipe_on_release = bo.driver_flags & CreateFlags::VRAM_WIPE_ON_RELEASE.bits() != 0;
        res.set_private(VramBacking {
            res: vres,
            wipe_on_release,
        });
        Ok(())
    }

    fn free(&self, _ctx: &ManagerCtx<'_>, res: &mut Resource) {
        let Some(mut backing) = res.take_private::<VramBacking>() else {
            return;
        };
        // Wiped memory goes back as CLEARED, so the next CLEAR allocation skips zeroing.
        // A failed wipe frees the blocks dirty: the next owner zeroes them itself.
        if backing.wipe_on_release {
            match wipe(&self.hw, backing.res.blocks()) {
                Ok(()) => backing.res.set_cleared(),
                Err(e) => tracing::error!("VRAM wipe on release failed: {e}"),
            }
        }
        if let Err(e) = self.mgr.free(backing.res) {
            tracing::error!("VRAM free of TTM resource {}: {e}", res.id());
        }
    }

    fn intersects(&self, res: &Resource, place: &Place, _size: u64) -> bool {
        res.private::<VramBacking>()
            .map_or(true, |b| b.res.intersects(&place_from_ttm(place)))
    }

    fn compatible(&self, res: &Resource, place: &Place, _size: u64) -> bool {
        res.private::<VramBacking>()
            .is_some_and(|b| b.res.compatible(&place_from_ttm(place)))
    }

    fn debug(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut out = out;
        self.mgr.debug(&mut out)
    }

    fn check(&self) -> Result<(), CheckError> {
        self.mgr.check().map_err(|e| CheckError(e.to_string()))
    }
}
