//! The VRAM manager as a TTM resource manager (upstream `amdgpu_vram_mgr_func`).

use core::fmt;

use pddgpu_ttm::{BoInfo, CheckError, ManagerCtx, Place, PlaceFlags, Resource, ResourceManager};

use super::{VramManager, VramResource};
use crate::mgr_common::{place_from_ttm, request_from_ttm};

/// TTM glue: the [`VramResource`] is the TTM resource's private data; its virtual start
/// is the resource's `start`, and a physically contiguous allocation sets `CONTIGUOUS`
/// in the resource's placement. The BO's `driver_flags` are the uapi `GEM_CREATE` flags
/// (`VRAM_CONTIGUOUS`, `VRAM_CLEARED`). Register with `use_tt = false` and the VRAM
/// size in bytes, and build the manager with [`crate::mgr_common::RetryPolicy::NONE`]:
/// under TTM a no-space answer makes TTM evict, and waiting first only delays that.
///
/// Usage: the manager compares its own count (live resources, reserved ranges and this
/// BO) with the VRAM size; TTM's usage of the type does not include reserved ranges.
impl ResourceManager for VramManager {
    fn alloc(
        &self,
        _ctx: &ManagerCtx<'_>,
        bo: &BoInfo,
        place: &Place,
        res: &mut Resource,
    ) -> pddgpu_ttm::Result<()> {
        let vres = VramManager::alloc(self, &request_from_ttm(bo, place, res.size()))?;
        res.set_start(vres.start());
        if vres.is_contiguous() {
            res.placement_mut().insert(PlaceFlags::CONTIGUOUS);
        }
        res.set_private(vres);
        Ok(())
    }

    fn free(&self, _ctx: &ManagerCtx<'_>, res: &mut Resource) {
        if let Some(vres) = res.take_private::<VramResource>() {
            if let Err(e) = VramManager::free(self, vres) {
                tracing::error!("VRAM free of TTM resource {}: {e}", res.id());
            }
        }
    }

    fn intersects(&self, res: &Resource, place: &Place, _size: u64) -> bool {
        res.private::<VramResource>()
            .map_or(true, |v| v.intersects(&place_from_ttm(place)))
    }

    fn compatible(&self, res: &Resource, place: &Place, _size: u64) -> bool {
        res.private::<VramResource>()
            .is_some_and(|v| v.compatible(&place_from_ttm(place)))
    }

    fn debug(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut out = out;
        VramManager::debug(self, &mut out)
    }

    fn check(&self) -> Result<(), CheckError> {
        VramManager::check(self).map_err(|e| CheckError(e.to_string()))
    }
}
