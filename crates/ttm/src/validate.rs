//! Validation: placing a reserved BO (upstream `ttm_bo_validate`, `ttm_bo_mem_space`,
//! `ttm_bo_alloc_resource`, `ttm_bo_handle_move_mem`, `ttm_bo_bounce_temp_buffer`).
//!
//! The algorithm, exactly as upstream 7.1:
//!
//! 1. An empty placement purges the BO (drops its resource, keeps an unpopulated TT),
//!    even if it is pinned.
//! 2. If the current resource is compatible with the placement
//!    ([`resource_compatible`]) nothing happens: 0 bytes moved.
//! 3. A pinned BO that is not compatible fails with [`Error::InvalidArgument`].
//! 4. Pass 1 tries every place in order *without* eviction, skipping FALLBACK places.
//! 5. If pass 1 found no space, the compatibility check is repeated in eviction mode
//!    (DESIRED places ignored) and pass 2 tries every place again *with* eviction
//!    (never for SYSTEM), skipping DESIRED places. When eviction cannot make room in
//!    one manager ("nothing evictable", [`Error::Busy`] internally) the next place is
//!    tried. A manager error other than [`Error::NoSpace`] aborts at once.
//! 6. The BO is moved into the new resource by the driver. If the driver asks for a
//!    multihop, the BO first moves into a resource at the driver's TEMPORARY place and
//!    the final move is retried; every move adds the BO size to
//!    [`OperationCtx::bytes_moved`].
//! 7. After both passes fail the result is [`Error::NoSpace`]; user space sees
//!    `ENOMEM` unless the device has `PROPAGATE_ENOSPC` ([`Error::user_errno`]).
//! 8. A BO left in SYSTEM (or without resource) always has a TT afterwards.
//!
//! Moves are synchronous: the driver copies before `validate` returns, then the old
//! resource is freed and, when the new manager does not use TT pages, the TT too.

use std::sync::Arc;

use crate::bo::ReservedBo;
use crate::device::{MoveArgs, MoveError};
use crate::error::{Error, Result};
use crate::manager::{ManagerCtx, ManagerSlot};
use crate::placement::{MemType, Place, PlaceFlags, Placement};
use crate::resource::Resource;

/// Bounces allowed for one move before the driver is considered broken.
const MAX_BOUNCES: u32 = 8;

/// Per-operation parameters and statistics (`struct ttm_operation_ctx`).
#[derive(Debug, Clone, Default)]
pub struct OperationCtx {
    /// Waits may be interrupted (kept for API fidelity; waits here are bounded).
    pub interruptible: bool,
    /// Never wait for a busy BO: busy eviction victims are skipped and moving a busy
    /// BO fails with [`Error::Busy`].
    pub no_wait_gpu: bool,
    /// Bytes moved by operations using this context (each move and each bounce
    /// adds the BO size).
    pub bytes_moved: u64,
    /// Current eviction nesting depth.
    pub(crate) depth: u32,
}

impl OperationCtx {
    /// A blocking, non-interruptible context with no bytes moved.
    #[must_use]
    pub fn new() -> OperationCtx {
        OperationCtx::default()
    }
}

/// Upstream `ttm_resource_compatible(res, placement, evicting)`: may `res` (of a BO of
/// `size` bytes) stay for `placement`?
///
/// A TEMPORARY resource never may. Otherwise some place must match its memory type,
/// not be excluded by the pass (`evicting` ignores DESIRED places, else FALLBACK
/// places), not demand CONTIGUOUS from a non-contiguous resource, and satisfy the
/// manager's `compatible` hook.
#[must_use]
pub fn resource_compatible(
    res: &Resource,
    placement: &Placement,
    evicting: bool,
    size: u64,
) -> bool {
    if res.placement().contains(PlaceFlags::TEMPORARY) {
        return false;
    }
    let skip = if evicting {
        PlaceFlags::DESIRED
    } else {
        PlaceFlags::FALLBACK
    };
    placement.places().iter().any(|place| {
        res.mem_type() == place.mem_type
            && !place.flags.intersects(skip)
            && (!place.flags.contains(PlaceFlags::CONTIGUOUS)
                || res.placement().contains(PlaceFlags::CONTIGUOUS))
            && res.manager_compatible(place, size)
    })
}

impl ReservedBo<'_> {
    /// Makes the BO's placement satisfy `placement`, moving and evicting as needed
    /// (upstream `ttm_bo_validate`):
    ///
    /// 1. An empty placement purges the BO (no resource, an unpopulated TT reading as
    ///    zero), even if it is pinned.
    /// 2. A compatible current resource ([`resource_compatible`]) ends the call:
    ///    nothing moves.
    /// 3. A pinned, incompatible BO fails with [`Error::InvalidArgument`].
    /// 4. Pass 1 tries the places in order without eviction, skipping FALLBACK places.
    /// 5. If it found no space: the compatibility check again, in eviction mode
    ///    (DESIRED places ignored), then pass 2 with eviction (never for SYSTEM),
    ///    skipping DESIRED places; a manager where nothing can be evicted moves on to
    ///    the next place. Eviction walks the manager's LRU (priority 0 first, least
    ///    recently used first), try-locks each BO, skips pinned, contended and
    ///    not-`eviction_valuable` ones, reclaims deleted ones, moves the others to the
    ///    driver's `evict_flags` placement (which may evict recursively) or purges them
    ///    for an empty one, and retries the allocation after every single eviction.
    /// 6. The driver moves the contents; on a multihop request the BO first moves to
    ///    a resource at the driver's TEMPORARY place. Each move adds the BO size to
    ///    [`OperationCtx::bytes_moved`].
    /// 7. A BO left in SYSTEM (or without resource) has a TT afterwards.
    ///
    /// # Errors
    /// * [`Error::InvalidArgument`] — the BO is pinned and not compatible, or the
    ///   driver requested a bounce that cannot be honoured.
    /// * [`Error::NoSpace`] — no place could be satisfied even with eviction (also for
    ///   placements naming only unregistered or unused memory types). Map it to user
    ///   space with [`Error::user_errno`] / [`Device::user_errno`].
    /// * Any other manager or driver error, unchanged ([`Error::OutOfMemory`] from the
    ///   page pool, [`Error::Busy`] with `no_wait_gpu`, ...).
    ///
    /// On error the BO keeps its previous resource and contents — or, when the final
    /// move of a multihop failed after the bounce, sits with its contents in the
    /// TEMPORARY resource, which the next validation moves again — and nothing stays
    /// charged for the failed attempt (BOs evicted on the way stay evicted).
    ///
    /// # Locking
    /// Takes the LRU lock briefly; try-locks eviction victims; never blocks on
    /// another BO.
    ///
    /// # Complexity
    /// Without eviction O(places × manager alloc) plus O(log n) LRU updates; with
    /// eviction, one manager alloc per victim on top of an O(log n) LRU step each.
    ///
    /// [`Device::user_errno`]: crate::Device::user_errno
    pub fn validate(&mut self, placement: &Placement, ctx: &mut OperationCtx) -> Result<()> {
        if placement.is_empty() {
            return self.pipeline_gutting(ctx);
        }
        let size = self.core.size;
        let mut force_space = false;
        loop {
            if let Some(res) = &self.state.resource {
                if resource_compatible(res, placement, force_space, size) {
                    return Ok(());
                }
            }
            if self.state.pin_count > 0 {
                return Err(Error::InvalidArgument);
            }
            match self.alloc_resource(placement, ctx, force_space) {
                Ok(res) => {
                    self.move_with_bounce(res, false, ctx)?;
                    break;
                }
                Err(Error::NoSpace) if !force_space => force_space = true,
                Err(e) => return Err(e),
            }
        }
        if self
            .state
            .resource
            .as_ref()
            .map_or(true, |r| r.mem_type() == MemType::SYSTEM)
        {
            self.tt_create(true)?;
        }
        Ok(())
    }

    /// Allocates a resource for the BO in `placement` without moving it (upstream
    /// `ttm_bo_mem_space`: pass 1, then pass 2 with eviction). The caller installs it
    /// with [`ReservedBo::assign_resource`] or drops it.
    ///
    /// # Errors
    /// [`Error::NoSpace`] if both passes fail (not converted); manager errors as
    /// [`ReservedBo::validate`].
    pub fn mem_space(&mut self, placement: &Placement, ctx: &mut OperationCtx) -> Result<Resource> {
        match self.alloc_resource(placement, ctx, false) {
            Err(Error::NoSpace) => self.alloc_resource(placement, ctx, true),
            r => r,
        }
    }

    /// Installs `res` as the BO's resource without copying anything, freeing the old
    /// one (`ttm_resource_free` + `ttm_bo_assign_mem`, as amdgpu's GART binding does).
    /// A TT is kept if the new manager uses TT pages and destroyed otherwise.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `res` was allocated for another BO.
    pub fn assign_resource(&mut self, res: Resource) -> Result<()> {
        if res.bo_id() != self.core.id {
            return Err(Error::InvalidArgument);
        }
        let new_use_tt = res.use_tt();
        let old = self.state.resource.replace(res);
        if !new_use_tt {
            self.tt_destroy();
        }
        drop(old);
        Ok(())
    }

    /// Charges a resource for this BO at `place` and lets the manager place it
    /// (`ttm_resource_alloc`). On error the charge is undone.
    pub(crate) fn resource_alloc(
        &mut self,
        place: &Place,
        slot: &Arc<ManagerSlot>,
    ) -> Result<Resource> {
        let info = self.info();
        let dev = &self.core.dev;
        let mut res = dev.resource_init(
            Arc::downgrade(self.core),
            &info,
            self.state.pin_count > 0,
            place,
            Arc::clone(slot),
        )?;
        slot.man
            .alloc(&ManagerCtx { dev, slot }, &info, place, &mut res)?;
        res.mark_allocated();
        Ok(res)
    }

    /// One pass over the placement (`ttm_bo_alloc_resource`).
    fn alloc_resource(
        &mut self,
        placement: &Placement,
        ctx: &mut OperationCtx,
        force_space: bool,
    ) -> Result<Resource> {
        let skip = if force_space {
            PlaceFlags::DESIRED
        } else {
            PlaceFlags::FALLBACK
        };
        for place in placement.places() {
            let Some(slot) = self.core.dev.slot(place.mem_type) else {
                continue;
            };
            if !slot.use_type() || place.flags.intersects(skip) {
                continue;
            }
            // SYSTEM is never evicted *for*.
            let may_evict = force_space && place.mem_type != MemType::SYSTEM;
            match self.resource_alloc(place, &slot) {
                Ok(res) => return Ok(res),
                Err(Error::NoSpace) if may_evict => match self.evict_alloc(&slot, place, ctx) {
                    Ok(res) => return Ok(res),
                    Err(Error::Busy) => continue,
                    Err(e) => return Err(e),
                },
                Err(Error::NoSpace) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoSpace)
    }

    /// Moves into `res`, bouncing through the driver's TEMPORARY place on request.
    pub(crate) fn move_with_bounce(
        &mut self,
        res: Resource,
        evict: bool,
        ctx: &mut OperationCtx,
    ) -> Result<()> {
        let mut res = res;
        let mut bounces = 0;
        loop {
            match self.handle_move_mem(res, evict, ctx) {
                Ok(()) => return Ok(()),
                Err((back, MoveError::Multihop(hop))) => {
                    bounces += 1;
                    if bounces > MAX_BOUNCES {
                        return Err(Error::InvalidArgument);
                    }
                    // `back` stays allocated (and charged) while we bounce.
                    res = back;
                    self.bounce_temp_buffer(hop, ctx)?;
                }
                Err((_, MoveError::Failed(e))) => return Err(e),
            }
        }
    }

    /// Moves the BO into a resource at the driver's hop place (`ttm_bo_bounce_temp_buffer`).
    fn bounce_temp_buffer(&mut self, hop: Place, ctx: &mut OperationCtx) -> Result<()> {
        let hop_res = self.mem_space(&Placement::from_places(&[hop]), ctx)?;
        match self.handle_move_mem(hop_res, false, ctx) {
            Ok(()) => Ok(()),
            // A bounce of a bounce: the driver's hop place is itself unreachable.
            Err((_, MoveError::Multihop(_))) => Err(Error::InvalidArgument),
            Err((_, MoveError::Failed(e))) => Err(e),
        }
    }

    /// One driver move into `new` (`ttm_bo_handle_move_mem` + sync cleanup). On
    /// failure `new` is handed back untouched and the BO is as before.
    fn handle_move_mem(
        &mut self,
        new: Resource,
        evict: bool,
        ctx: &mut OperationCtx,
    ) -> core::result::Result<(), (Resource, MoveError)> {
        let old_use_tt = self.state.resource.as_ref().map_or(true, Resource::use_tt);
        let new_use_tt = new.use_tt();
        let mut created = false;
        if new_use_tt {
            if self.state.tt.is_none() {
                if let Err(e) = self.tt_create(old_use_tt) {
                    return Err((new, e.into()));
                }
                created = true;
            }
            if new.mem_type() != MemType::SYSTEM {
                if let Err(e) = self.tt_populate() {
                    if created && !old_use_tt {
                        self.tt_destroy();
                    }
                    return Err((new, e.into()));
                }
            }
        }
        // Synchronous moves: the copy may only start once the GPU is done with the BO.
        if let Err(e) = self.core.wait_idle(ctx.no_wait_gpu) {
            if created && !old_use_tt {
                self.tt_destroy();
            }
            return Err((new, e.into()));
        }
        let args = MoveArgs {
            bo: self.info(),
            evict,
            no_wait_gpu: ctx.no_wait_gpu,
            old: self.state.resource.as_ref(),
            new: &new,
            tt: self.state.tt.as_ref(),
        };
        match self.core.dev.funcs.move_bo(&args) {
            Ok(()) => {}
            Err(MoveError::Multihop(hop)) => return Err((new, MoveError::Multihop(hop))),
            Err(MoveError::Failed(e)) => {
                if created && !old_use_tt {
                    self.tt_destroy();
                }
                return Err((new, MoveError::Failed(e)));
            }
        }
        let old = self.state.resource.replace(new);
        if !new_use_tt {
            self.tt_destroy();
        }
        drop(old);
        ctx.bytes_moved = ctx.bytes_moved.saturating_add(self.core.size);
        Ok(())
    }

    /// Drops the backing store, leaving the BO without resource and with an
    /// unpopulated TT whose contents read as zero (`ttm_bo_pipeline_gutting`).
    pub(crate) fn pipeline_gutting(&mut self, ctx: &OperationCtx) -> Result<()> {
        self.core.wait_idle(ctx.no_wait_gpu)?;
        self.tt_create(true)?;
        let info = self.info();
        let dev = &self.core.dev;
        if let Some(tt) = self.state.tt.as_mut() {
            if tt.is_populated() {
                dev.funcs.tt_unpopulate(&info, tt);
                tt.unpopulate(&dev.pool);
            }
            tt.set_zero_alloc(true);
        }
        self.state.resource = None;
        Ok(())
    }
}
