//! The built-in SYSTEM manager (upstream `ttm_sys_manager.c`): `use_tt`, size 0,
//! every allocation succeeds with start 0 — the pages live in the BO's TT.

use crate::error::Result;
use crate::manager::{BoInfo, ManagerCtx, ResourceManager};
use crate::placement::Place;
use crate::resource::Resource;

/// The SYSTEM memory-type manager; installed by [`Device::new`](crate::Device::new).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemManager;

impl ResourceManager for SystemManager {
    fn alloc(
        &self,
        _ctx: &ManagerCtx<'_>,
        _bo: &BoInfo,
        _place: &Place,
        res: &mut Resource,
    ) -> Result<()> {
        res.set_start(0);
        Ok(())
    }

    fn free(&self, _ctx: &ManagerCtx<'_>, _res: &mut Resource) {}
}
