//! The GTT manager as a TTM resource manager (upstream `amdgpu_gtt_mgr_func`).

use core::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use pddgpu_ttm::{BoInfo, CheckError, ManagerCtx, Place, Resource, ResourceManager, Tt};

use super::no_space;
use crate::gtt_mgr::{GttManager, GttResource};
use crate::hw::DmaAddr;
use crate::mgr_common::{place_from_ttm, request_from_ttm, AllocId, PAGE_SIZE};

/// The private data of a TTM GTT resource: the manager's resource.
///
/// TTM places a resource before it populates the BO's pages and hands the driver's
/// `move` only a shared reference, so the binding (the one field that changes after
/// `alloc`) sits behind a small mutex.
#[derive(Debug)]
pub struct GttBacking {
    res: Mutex<GttResource>,
}

impl GttBacking {
    /// The allocation's id in the GTT manager.
    #[must_use]
    pub fn id(&self) -> AllocId {
        self.res.lock().id()
    }

    /// GART page of the resource, or [`crate::gtt_mgr::INVALID_OFFSET`] without one.
    #[must_use]
    pub fn start(&self) -> u64 {
        self.res.lock().start()
    }

    /// True if the resource owns GART pages (upstream `amdgpu_gtt_mgr_has_gart_addr`).
    #[must_use]
    pub fn has_gart_addr(&self) -> bool {
        self.res.lock().has_gart_addr()
    }

    /// True once the BO's pages are bound at the resource's GART address.
    #[must_use]
    pub fn is_bound(&self) -> bool {
        self.res.lock().is_bound()
    }

    /// GART byte address of the resource, if it has one.
    #[must_use]
    pub fn gart_addr(&self) -> Option<u64> {
        let res = self.res.lock();
        res.has_gart_addr().then(|| res.start() * PAGE_SIZE)
    }
}

/// The TTM adapter of the GTT manager (`amdgpu_gtt_mgr_func`): `alloc` is
/// `amdgpu_gtt_mgr_new` → [`GttManager::alloc`] → `Mm::insert_in_range` when the place
/// asks for a GART address (`lpfn != 0`). Pages are bound by the driver's move once the
/// TT is populated ([`GttTtm::bind`], upstream `amdgpu_ttm_backend_bind`). Register with
/// `use_tt = true` and the usage limit in bytes.
#[derive(Debug)]
pub struct GttTtm {
    mgr: Arc<GttManager>,
}

impl GttTtm {
    /// An adapter over `mgr`.
    #[must_use]
    pub fn new(mgr: Arc<GttManager>) -> Self {
        Self { mgr }
    }

    /// The manager core.
    #[must_use]
    pub fn manager(&self) -> &Arc<GttManager> {
        &self.mgr
    }

    /// Binds the system pages of `tt` (one per BO page) at the GART address of `res`,
    /// if it has one and is not bound yet; the manager records them so
    /// [`GttManager::recover`] can re-bind after a reset. The page addresses are read
    /// only when binding (reading them makes the pool clear the pages on release).
    ///
    /// # Errors
    /// The manager's error (wrong page count, GART refused).
    pub fn bind(&self, res: &Resource, tt: &Tt) -> crate::mgr_common::Result<()> {
        let Some(backing) = res.private::<GttBacking>() else {
            return Ok(());
        };
        let mut g = backing.res.lock();
        if !g.has_gart_addr() || g.is_bound() {
            return Ok(());
        }
        let dma: Vec<DmaAddr> = tt.pages().iter().copied().map(DmaAddr::new).collect();
        self.mgr.bind(&mut g, &dma)
    }
}

impl ResourceManager for GttTtm {
    fn alloc(
        &self,
        _ctx: &ManagerCtx<'_>,
        bo: &BoInfo,
        place: &Place,
        res: &mut Resource,
    ) -> pddgpu_ttm::Result<()> {
        let gres = self
            .mgr
            .alloc(&request_from_ttm(bo, place, res.size()), None)
            .map_err(|e| {
                no_space::record(&e);
                pddgpu_ttm::Error::from(e)
            })?;
        res.set_start(gres.start());
        res.set_private(GttBacking {
            res: Mutex::new(gres),
        });
        Ok(())
    }

    fn free(&self, _ctx: &ManagerCtx<'_>, res: &mut Resource) {
        if let Some(backing) = res.take_private::<GttBacking>() {
            if let Err(e) = self.mgr.free(backing.res.into_inner()) {
                tracing::error!("GTT free of TTM resource {}: {e}", res.id());
            }
        }
    }

    fn intersects(&self, res: &Resource, place: &Place, _size: u64) -> bool {
        res.private::<GttBacking>().map_or(true, |b| {
            self.mgr.intersects(&b.res.lock(), &place_from_ttm(place))
        })
    }

    fn compatible(&self, res: &Resource, place: &Place, _size: u64) -> bool {
        res.private::<GttBacking>()
            .is_some_and(|b| self.mgr.compatible(&b.res.lock(), &place_from_ttm(place)))
    }

    fn debug(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut out = out;
        self.mgr.debug(&mut out)
    }

    fn check(&self) -> Result<(), CheckError> {
        self.mgr.check().map_err(|e| CheckError(e.to_string()))
    }
}
