//! Eviction (upstream `ttm_bo_evict_alloc`, `ttm_lru_walk_for_evict`,
//! `ttm_bo_evict_cb`, `ttm_bo_evict`, `ttm_resource_manager_evict_all`) and delayed
//! deletion of BOs released while busy.
//!
//! # The eviction walk
//! 1. Visit the manager's LRU: priority 0 → 3, least recently used first. The LRU
//!    lock is held only to fetch the next entry.
//! 2. Try-lock the entry's BO; skip it if contended (that includes the evicting BO
//!    itself), gone, no longer in this memory type, pinned, or not
//!    `eviction_valuable` for the place.
//! 3. A deleted BO is reclaimed: wait for idle, free its memory. Any other BO is
//!    evicted to the driver's `evict_flags` placement (a full two-pass allocation
//!    that may recursively evict from the target) or, for an empty placement, purged.
//!    A victim that cannot be moved (no space, busy) is skipped.
//! 4. After every single eviction retry the evictor's allocation; stop on success.
//! 5. At the end of the LRU report "nothing evictable" ([`Error::Busy`]): validation
//!    then moves on to the next place.
//!
//! Walkers only try-lock, so the walk cannot deadlock against owners or other
//! walkers; nesting is bounded by [`MAX_EVICT_DEPTH`].

use std::sync::Arc;

use crate::bo::{BoCore, ReservedBo};
use crate::device::Device;
use crate::device::LruWalk;
use crate::error::{Error, Result};
use crate::manager::ManagerSlot;
use crate::placement::{MemType, Place};
use crate::resource::Resource;
use crate::validate::OperationCtx;

/// Deepest nesting of evictions (an eviction whose target needs eviction, ...).
pub const MAX_EVICT_DEPTH: u32 = 8;

impl ReservedBo<'_> {
    /// Makes room in `slot`'s manager for this BO at `place` and allocates it.
    pub(crate) fn evict_alloc(
        &mut self,
        slot: &Arc<ManagerSlot>,
        place: &Place,
        ctx: &mut OperationCtx,
    ) -> Result<Resource> {
        if ctx.depth >= MAX_EVICT_DEPTH {
            return Err(Error::Busy);
        }
        ctx.depth += 1;
        let r = self.evict_walk(slot, place, ctx);
        ctx.depth -= 1;
        r
    }

    fn evict_walk(
        &mut self,
        slot: &Arc<ManagerSlot>,
        place: &Place,
        ctx: &mut OperationCtx,
    ) -> Result<Resource> {
        let dev = Arc::clone(&self.core.dev);
        let walk = dev.lru_walk(slot.mem_type)?;
        loop {
            // The LRU lock is taken only inside `next`: released before anything else.
            let Some(item) = walk.next() else {
                return Err(Error::Busy);
            };
            let Some(victim) = item.bo.upgrade() else {
                continue;
            };
            if Arc::ptr_eq(&victim, self.core) {
                continue;
            }
            let evicted = {
                let Some(state) = victim.state.try_lock() else {
                    continue;
                };
                let mut vbo = ReservedBo {
                    core: &victim,
                    state,
                    bump: false,
                };
                vbo.evict_one(slot.mem_type, place, ctx)
            };
            match evicted {
                Ok(true) => {}
                Ok(false) | Err(Error::Busy | Error::NoSpace) => continue,
                Err(e) => return Err(e),
            }
            match self.resource_alloc(place, slot) {
                Ok(res) => return Ok(res),
                Err(Error::NoSpace) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The per-victim step of the walk (`ttm_bo_evict_cb`). `Ok(false)` = skipped.
    fn evict_one(
        &mut self,
        mem_type: MemType,
        place: &Place,
        ctx: &mut OperationCtx,
    ) -> Result<bool> {
        // The BO may have moved since the LRU entry was read.
        let Some(res) = self.state.resource.as_ref() else {
            return Ok(false);
        };
        if res.mem_type() != mem_type || self.state.pin_count > 0 {
            return Ok(false);
        }
        let info = self.info();
        if !self.core.dev.funcs.eviction_valuable(&info, res, place) {
            return Ok(false);
        }
        if self.core.is_deleted() {
            self.core.wait_idle(ctx.no_wait_gpu)?;
            self.core.cleanup_memtype_use(&mut self.state);
            self.core.dev.forget_zombie(self.core);
            return Ok(true);
        }
        self.evict(ctx)?;
        Ok(true)
    }

    /// Evicts the BO to its driver-chosen placement (`ttm_bo_evict`); a BO without
    /// resource is left alone.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a pinned BO; otherwise as
    /// [`ReservedBo::validate`]. The BO keeps its resource on error.
    pub fn evict(&mut self, ctx: &mut OperationCtx) -> Result<()> {
        if self.state.pin_count > 0 {
            return Err(Error::InvalidArgument);
        }
        let info = self.info();
        let Some(res) = self.state.resource.as_ref() else {
            return Ok(());
        };
        let placement = self.core.dev.funcs.evict_flags(&info, res);
        if placement.is_empty() {
            return self.pipeline_gutting(ctx);
        }
        let new = match self.mem_space(&placement, ctx) {
            Ok(new) => new,
            Err(e) => {
                let mut dump = String::new();
                // Formatting into a String cannot fail.
                let _ = self.core.dev.mem_space_debug(&placement, &mut dump);
                tracing::debug!(bo = info.id, error = %e, "Failed to find memory space for buffer eviction\n{dump}");
                return Err(e);
            }
        };
        self.move_with_bounce(new, true, ctx)
    }
}

impl Device {
    /// Evicts every evictable BO of `mem_type` (`ttm_resource_manager_evict_all`),
    /// used by shutdown and suspend. Deleted BOs are waited for and freed. Pinned BOs
    /// stay, and so do resources a caller of [`ReservedBo::mem_space`] holds without
    /// having assigned them.
    ///
    /// # Errors
    /// [`Error::NotFound`] if no manager is installed; otherwise the first eviction
    /// error (e.g. [`Error::NoSpace`] when the eviction target is full), with the
    /// BOs evicted so far staying evicted.
    ///
    /// # Locking
    /// Blocks on reservations: call without holding any.
    pub fn evict_all(self: &Arc<Self>, mem_type: MemType) -> Result<()> {
        if self.slot(mem_type).is_none() {
            return Err(Error::NotFound);
        }
        let mut ctx = OperationCtx::new();
        // A resource that could not be processed (its BO is being dropped, or it is
        // held outside its BO by a caller of `mem_space`) is passed over, so the loop
        // always ends; evicted resources leave this LRU.
        let walk = self.lru_walk(mem_type)?;
        loop {
            match self.evict_first(&walk, &mut ctx) {
                Ok(()) => {}
                Err(Error::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Evicts the least recently used BO of the walk's memory type after its position
    /// (`ttm_bo_evict_first`).
    fn evict_first(&self, walk: &LruWalk<'_>, ctx: &mut OperationCtx) -> Result<()> {
        let item = walk.next().ok_or(Error::NotFound)?;
        let Some(core) = item.bo.upgrade() else {
            return Ok(());
        };
        let state = core.state.lock();
        let mut bo = ReservedBo {
            core: &core,
            state,
            bump: false,
        };
        // Moved or pinned since the LRU entry was read: pass over it.
        if bo.state.resource.as_ref().map(Resource::id) != Some(item.res_id)
            || bo.state.pin_count > 0
        {
            return Ok(());
        }
        if core.is_deleted() {
            core.wait_idle(ctx.no_wait_gpu)?;
            core.cleanup_memtype_use(&mut bo.state);
            drop(bo);
            self.forget_zombie(&core);
            return Ok(());
        }
        bo.evict(ctx)
    }

    /// Shuts a memory type down (upstream manager `fini`): stops new placements,
    /// evicts everything, reclaims deleted BOs and uninstalls the manager.
    ///
    /// # Errors
    /// [`Error::NotFound`] if no manager is installed; the eviction error, or
    /// [`Error::Busy`] while resources remain (pinned BOs, BOs still busy); the
    /// manager then stays installed but unused.
    ///
    /// # Locking
    /// Blocks on reservations: call without holding any.
    pub fn fini_manager(
        self: &Arc<Self>,
        mem_type: MemType,
    ) -> Result<Arc<dyn crate::ResourceManager>> {
        self.set_use_type(mem_type, false)?;
        self.evict_all(mem_type)?;
        self.delayed_delete(false);
        self.take_manager(mem_type)
    }

    /// Removes a reclaimed BO from the deleted list.
    pub(crate) fn forget_zombie(&self, core: &Arc<BoCore>) {
        let removed: Vec<Arc<BoCore>> = {
            let mut zombies = self.zombies.lock();
            let (gone, keep) = core::mem::take(&mut *zombies)
                .into_iter()
                .partition(|z| Arc::ptr_eq(z, core));
            *zombies = keep;
            gone
        };
        // Dropped outside the lock: it may be the last reference.
        drop(removed);
    }

    /// Frees the memory of deleted BOs that are idle (upstream's delayed-delete work
    /// item). With `no_wait` busy ones are kept for later; otherwise each is waited
    /// for up to the device's wait timeout. Returns how many were reclaimed.
    ///
    /// # Locking
    /// Blocks on reservations: call without holding any.
    pub fn delayed_delete(&self, no_wait: bool) -> usize {
        let zombies = core::mem::take(&mut *self.zombies.lock());
        let mut keep = Vec::new();
        let mut reclaimed = 0;
        for core in zombies {
            if core.wait_idle(no_wait).is_err() {
                keep.push(core);
                continue;
            }
            {
                let mut state = core.state.lock();
                core.cleanup_memtype_use(&mut state);
            }
            reclaimed += 1;
        }
        self.zombies.lock().extend(keep);
        reclaimed
    }
}
