//! The GTT manager as a TTM resource manager (upstream `amdgpu_gtt_mgr_func`).

use core::fmt;

use pddgpu_ttm::{BoInfo, CheckError, ManagerCtx, Place, Resource, ResourceManager};

use super::{GttManager, GttResource};
use crate::mgr_common::{place_from_ttm, request_from_ttm};

/// TTM glue: the [`GttResource`] is the TTM resource's private data and its `start` the
/// resource's `start` (GART page, or [`super::INVALID_OFFSET`]). TTM places a resource
/// before it populates the TT, so no pages are bound here: the driver binds them with
/// [`GttManager::bind`] once the TT is populated (upstream `amdgpu_ttm_backend_bind`).
/// Register with `use_tt = true` and the usage limit in bytes, and build the manager with
/// [`crate::mgr_common::RetryPolicy::NONE`]: under TTM a no-space answer makes TTM evict.
/// To give the BO's pages to the GART, take the [`GttResource`] out of the TTM resource
/// (`take_private`), call [`GttManager::bind`], and put it back (`set_private`).
impl ResourceManager for GttManager {
    fn alloc(
        &self,
        _ctx: &ManagerCtx<'_>,
        bo: &BoInfo,
        place: &Place,
        res: &mut Resource,
    ) -> pddgpu_ttm::Result<()> {
        let gres = GttManager::alloc(self, &request_from_ttm(bo, place, res.size()), None)?;
        res.set_start(gres.start());
        res.set_private(gres);
        Ok(())
    }

    fn free(&self, _ctx: &ManagerCtx<'_>, res: &mut Resource) {
        if let Some(gres) = res.take_private::<GttResource>() {
            if let Err(e) = GttManager::free(self, gres) {
                tracing::error!("GTT free of TTM resource {}: {e}", res.id());
            }
        }
    }

    fn intersects(&self, res: &Resource, place: &Place, _size: u64) -> bool {
        res.private::<GttResource>().map_or(true, |g| {
            GttManager::intersects(self, g, &place_from_ttm(place))
        })
    }

    fn compatible(&self, res: &Resource, place: &Place, _size: u64) -> bool {
        res.private::<GttResource>()
            .is_some_and(|g| GttManager::compatible(self, g, &place_from_ttm(place)))
    }

    fn debug(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut out = out;
        GttManager::debug(self, &mut out)
    }

    fn check(&self) -> Result<(), CheckError> {
        GttManager::check(self).map_err(|e| CheckError(e.to_string()))
    }
}
