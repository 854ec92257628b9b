//! Buffer objects (upstream `struct ttm_buffer_object`) and their reservation.
//!
//! A [`BufferObject`] is its owner's handle (share it as `Arc<BufferObject>` if
//! needed). Its size, page alignment, priority and type never change. Everything else — the current
//! resource, the TT, the pin count — sits behind the *reservation lock* (upstream's
//! `dma_resv` lock): owners take it blocking with [`BufferObject::reserve`], eviction
//! only ever try-locks. A [`ReservedBo`] guard is the proof of reservation; dropping it
//! unreserves and bumps the BO to the most recently used end of its LRU list (as
//! `ttm_bo_unreserve()`).
//!
//! "Busy" (GPU work pending) is simulated with a driver-visible idle flag
//! ([`BufferObject::set_busy`], [`BufferObject::signal_idle`]). Dropping the last user
//! handle of a busy or contended BO does not free its memory: the BO becomes
//! *deleted* (a zombie) and stays on the LRU until it is idle; eviction reclaims such
//! BOs by waiting and freeing instead of moving them, and
//! [`Device::delayed_delete`](crate::Device::delayed_delete) reclaims the rest.

use core::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::manager::{BoInfo, BoType};
use crate::placement::MAX_BO_PRIORITY;
use crate::resource::Resource;
use crate::tt::{Tt, PAGE_SIZE};

/// Parameters of a new BO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoParams {
    /// Size in bytes: non-zero, a multiple of [`PAGE_SIZE`].
    pub size: u64,
    /// Alignment in pages (`bo->page_alignment`); 0 or 1 = none.
    pub page_alignment: u64,
    /// LRU priority 0..=3; 0 is evicted first.
    pub priority: u8,
    /// BO type.
    pub kind: BoType,
    /// Driver-defined flags, opaque to TTM.
    pub driver_flags: u64,
}

impl BoParams {
    /// A device BO of `size` bytes, no alignment, priority 0, no driver flags.
    #[must_use]
    pub const fn new(size: u64) -> BoParams {
        BoParams {
            size,
            page_alignment: 0,
            priority: 0,
            kind: BoType::Device,
            driver_flags: 0,
        }
    }
}

/// The state protected by the reservation lock.
#[derive(Debug, Default)]
pub(crate) struct BoState {
    pub(crate) resource: Option<Resource>,
    pub(crate) tt: Option<Tt>,
    pub(crate) pin_count: u32,
}

/// The part of a BO that eviction and delayed deletion reach through the LRU.
pub(crate) struct BoCore {
    pub(crate) dev: Arc<Device>,
    pub(crate) id: u64,
    pub(crate) size: u64,
    pub(crate) page_alignment: u64,
    pub(crate) priority: u8,
    pub(crate) kind: BoType,
    /// Written only while reserved.
    pub(crate) driver_flags: AtomicU64,
    /// Reservation lock.
    pub(crate) state: Mutex<BoState>,
    /// Set once when the last user handle went while the BO was busy or contended.
    pub(crate) deleted: AtomicBool,
    /// Created by the first [`BufferObject::set_busy`] or [`BufferObject::fence`]: a BO
    /// that never had GPU work needs none (and is idle).
    pub(crate) fence: OnceLock<Arc<IdleFence>>,
}

/// The simulated fence state of a BO: busy while GPU work is pending.
///
/// Shared (`Arc`) so the driver can signal a BO whose last handle is gone, as a
/// real fence outlives the BO's handle.
#[derive(Debug, Default)]
pub struct IdleFence {
    busy: Mutex<bool>,
    idle_cv: Condvar,
}

impl IdleFence {
    /// Marks the BO busy, as adding an unsignalled fence would.
    pub fn set_busy(&self) {
        *self.busy.lock() = true;
    }

    /// Marks the BO idle and wakes waiters, as its last fence signalling would.
    pub fn signal(&self) {
        *self.busy.lock() = false;
        self.idle_cv.notify_all();
    }

    /// True unless busy.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        !*self.busy.lock()
    }

    /// Waits until idle, at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Busy`] if busy and `no_wait`, or still busy after `timeout`.
    pub fn wait(&self, no_wait: bool, timeout: std::time::Duration) -> Result<()> {
        let mut busy = self.busy.lock();
        if !*busy {
            return Ok(());
        }
        if no_wait {
            return Err(Error::Busy);
        }
        let deadline = Instant::now() + timeout;
        while *busy {
            if self.idle_cv.wait_until(&mut busy, deadline).timed_out() {
                return if *busy { Err(Error::Busy) } else { Ok(()) };
            }
        }
        Ok(())
    }
}

impl fmt::Debug for BoCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoCore")
            .field("id", &self.id)
            .field("size", &self.size)
            .field("priority", &self.priority)
            .field("deleted", &self.deleted.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl BoCore {
    pub(crate) fn info(&self) -> BoInfo {
        BoInfo {
            id: self.id,
            size: self.size,
            page_alignment: self.page_alignment,
            priority: self.priority,
            kind: self.kind,
            driver_flags: self.driver_flags.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.fence.get().map_or(true, |f| f.is_idle())
    }

    /// Waits for the BO to become idle (`ttm_bo_wait_ctx`).
    ///
    /// # Errors
    /// [`Error::Busy`] if busy and `no_wait`, or still busy after the device's wait
    /// timeout.
    pub(crate) fn wait_idle(&self, no_wait: bool) -> Result<()> {
        match self.fence.get() {
            Some(f) => f.wait(no_wait, self.dev.wait_timeout),
            None => Ok(()),
        }
    }

    fn fence(&self) -> &Arc<IdleFence> {
        self.fence.get_or_init(Arc::default)
    }

    /// Frees the backing store: TT pages back to the pool, resource back to its
    /// manager (`ttm_bo_cleanup_memtype_use`).
    pub(crate) fn cleanup_memtype_use(&self, state: &mut BoState) {
        if state.resource.is_some() || state.tt.is_some() {
            self.dev.funcs.delete_mem_notify(&self.info());
        }
        self.tt_destroy(state);
        state.resource = None;
    }

    pub(crate) fn tt_destroy(&self, state: &mut BoState) {
        if let Some(mut tt) = state.tt.take() {
            if tt.is_populated() {
                self.dev.funcs.tt_unpopulate(&self.info(), &tt);
                tt.unpopulate(&self.dev.pool);
            }
        }
    }
}

impl Drop for BoCore {
    fn drop(&mut self) {
        // Normally empty already; a BO whose last reference is an eviction walker's
        // still returns everything here.
        let mut state = core::mem::take(self.state.get_mut());
        self.cleanup_memtype_use(&mut state);
    }
}

/// A buffer object: the owner's handle (wrap it in an `Arc` to share it).
///
/// Dropping it releases the BO (`ttm_bo_release`): an idle, uncontended BO frees its
/// memory at once; otherwise it becomes deleted and is reclaimed later (see the module
/// docs). [`BufferObject::downgrade`] gives a [`WeakBo`] that does not keep it alive.
pub struct BufferObject {
    core: Arc<BoCore>,
}

impl fmt::Debug for BufferObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt(f)
    }
}

impl BufferObject {
    pub(crate) fn new(dev: Arc<Device>, id: u64, params: BoParams) -> Result<BufferObject> {
        if params.size == 0 || params.size % PAGE_SIZE != 0 || params.priority >= MAX_BO_PRIORITY {
            return Err(Error::InvalidArgument);
        }
        Ok(BufferObject {
            core: Arc::new(BoCore {
                dev,
                id,
                size: params.size,
                page_alignment: params.page_alignment,
                priority: params.priority,
                kind: params.kind,
                driver_flags: AtomicU64::new(params.driver_flags),
                state: Mutex::new(BoState::default()),
                deleted: AtomicBool::new(false),
                fence: OnceLock::new(),
            }),
        })
    }

    /// Device-unique id (never reused).
    #[must_use]
    pub fn id(&self) -> u64 {
        self.core.id
    }

    /// Size in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.core.size
    }

    /// Size in pages.
    #[must_use]
    pub fn num_pages(&self) -> u64 {
        self.core.size / PAGE_SIZE
    }

    /// Alignment in pages.
    #[must_use]
    pub fn page_alignment(&self) -> u64 {
        self.core.page_alignment
    }

    /// LRU priority.
    #[must_use]
    pub fn priority(&self) -> u8 {
        self.core.priority
    }

    /// The BO's properties as managers and drivers see them.
    #[must_use]
    pub fn info(&self) -> BoInfo {
        self.core.info()
    }

    /// The device the BO belongs to.
    #[must_use]
    pub fn device(&self) -> &Arc<Device> {
        &self.core.dev
    }

    /// A weak reference to this BO, for registries that must not keep it alive.
    #[must_use]
    pub fn downgrade(&self) -> WeakBo {
        WeakBo {
            core: Arc::downgrade(&self.core),
        }
    }

    /// Reserves the BO, blocking while another thread holds it (`ttm_bo_reserve`).
    ///
    /// # Locking
    /// Do not call while holding another BO's reservation: only eviction may lock a
    /// second BO, and it only try-locks. Not reentrant.
    pub fn reserve(&self) -> ReservedBo<'_> {
        ReservedBo::lock(&self.core)
    }

    /// Reserves the BO if nobody holds it (`ttm_bo_reserve(no_wait = true)`).
    #[must_use]
    pub fn try_reserve(&self) -> Option<ReservedBo<'_>> {
        ReservedBo::try_lock(&self.core)
    }

    /// The BO's simulated fence state (keep it to signal after dropping the BO).
    #[must_use]
    pub fn fence(&self) -> Arc<IdleFence> {
        Arc::clone(self.core.fence())
    }

    /// Marks the BO busy (GPU work pending), as adding an unsignalled fence would.
    pub fn set_busy(&self) {
        self.core.fence().set_busy();
    }

    /// Marks the BO idle and wakes waiters, as its last fence signalling would.
    pub fn signal_idle(&self) {
        if let Some(f) = self.core.fence.get() {
            f.signal();
        }
    }

    /// True unless [`BufferObject::set_busy`] is in effect.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.core.is_idle()
    }
}

impl Drop for BufferObject {
    fn drop(&mut self) {
        let core = &self.core;
        core.dev.funcs.release_notify(&core.info());
        if core.is_idle() {
            if let Some(mut state) = core.state.try_lock() {
                core.cleanup_memtype_use(&mut state);
                return;
            }
        }
        core.deleted.store(true, Ordering::Release);
        if let Some(mut state) = core.state.try_lock() {
            // A deleted BO cannot stay pinned (upstream forces pin_count = 0).
            if state.pin_count > 0 {
                state.pin_count = 0;
                if let Some(res) = &state.resource {
                    core.dev.move_to_lru_tail(res.id(), core.priority, false);
                }
            }
        }
        core.dev.zombies.lock().push(Arc::clone(core));
    }
}

/// A weak reference to a BO ([`BufferObject::downgrade`]): it keeps neither the BO
/// nor its memory alive.
#[derive(Debug, Clone)]
pub struct WeakBo {
    core: Weak<BoCore>,
}

impl WeakBo {
    /// A temporary reference to the BO, `None` once it is gone. A BO whose owner
    /// dropped it while it was busy (deleted, awaiting reclaim) is still reachable.
    #[must_use]
    pub fn upgrade(&self) -> Option<BoRef> {
        self.core.upgrade().map(|core| BoRef { core })
    }
}

/// A temporary reference to a BO obtained from a [`WeakBo`]: not an owner's handle,
/// so dropping it never releases the BO.
#[derive(Debug)]
pub struct BoRef {
    core: Arc<BoCore>,
}

impl BoRef {
    /// Device-unique id.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.core.id
    }

    /// True unless the BO is busy.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.core.is_idle()
    }

    /// Reserves the BO if nobody holds it, as [`BufferObject::try_reserve`].
    #[must_use]
    pub fn try_reserve(&self) -> Option<ReservedBo<'_>> {
        ReservedBo::try_lock(&self.core)
    }
}

/// A reserved BO: the holder may read and change its resource, TT and pin count.
/// Dropping it unreserves and bumps the BO to the LRU tail.
pub struct ReservedBo<'a> {
    pub(crate) core: &'a Arc<BoCore>,
    pub(crate) state: MutexGuard<'a, BoState>,
    /// Whether unreserving bumps the LRU (owners: yes; eviction walks: no, as
    /// upstream's walk unlocks with a plain `dma_resv_unlock`).
    pub(crate) bump: bool,
}

impl fmt::Debug for ReservedBo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReservedBo")
            .field("bo", &self.core)
            .field("state", &*self.state)
            .finish()
    }
}

impl Drop for ReservedBo<'_> {
    fn drop(&mut self) {
        if self.bump {
            if let Some(res) = &self.state.resource {
                self.core.dev.move_to_lru_tail(
                    res.id(),
                    self.core.priority,
                    self.state.pin_count > 0,
                );
            }
        }
    }
}

impl<'a> ReservedBo<'a> {
    /// Locks `core`'s reservation, blocking; the guard bumps the BO to its LRU tail
    /// on drop.
    fn lock(core: &'a Arc<BoCore>) -> Self {
        ReservedBo {
            core,
            state: core.state.lock(),
            bump: true,
        }
    }

    /// Locks `core`'s reservation if nobody holds it.
    fn try_lock(core: &'a Arc<BoCore>) -> Option<Self> {
        core.state.try_lock().map(|state| ReservedBo {
            core,
            state,
            bump: true,
        })
    }
}

impl ReservedBo<'_> {
    /// The BO's properties.
    #[must_use]
    pub fn info(&self) -> BoInfo {
        self.core.info()
    }

    /// Replaces the driver flags seen by managers and callbacks.
    pub fn set_driver_flags(&mut self, flags: u64) {
        self.core.driver_flags.store(flags, Ordering::Relaxed);
    }

    /// The current resource; `None` before the first placement or after a purge.
    #[must_use]
    pub fn resource(&self) -> Option<&Resource> {
        self.state.resource.as_ref()
    }

    /// The TT, if one exists.
    #[must_use]
    pub fn tt(&self) -> Option<&Tt> {
        self.state.tt.as_ref()
    }

    /// The pin count.
    #[must_use]
    pub fn pin_count(&self) -> u32 {
        self.state.pin_count
    }

    /// Pins the BO (`ttm_bo_pin`): validation may no longer move it and eviction
    /// skips it; the first pin moves its resource to the unevictable list.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the pin count would overflow.
    pub fn pin(&mut self) -> Result<()> {
        let count = self
            .state
            .pin_count
            .checked_add(1)
            .ok_or(Error::InvalidArgument)?;
        self.state.pin_count = count;
        if count == 1 {
            if let Some(res) = &self.state.resource {
                self.core
                    .dev
                    .move_to_lru_tail(res.id(), self.core.priority, true);
            }
        }
        Ok(())
    }

    /// Drops one pin (`ttm_bo_unpin`); the last one puts the resource back at the
    /// tail of its manager's LRU.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the BO is not pinned (upstream WARNs).
    pub fn unpin(&mut self) -> Result<()> {
        let count = self
            .state
            .pin_count
            .checked_sub(1)
            .ok_or(Error::InvalidArgument)?;
        self.state.pin_count = count;
        if count == 0 {
            if let Some(res) = &self.state.resource {
                self.core
                    .dev
                    .move_to_lru_tail(res.id(), self.core.priority, false);
            }
        }
        Ok(())
    }

    /// Populates the TT (`ttm_bo_populate`), e.g. for CPU access to a SYSTEM BO.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the BO has no TT (it lives in device memory);
    /// the pool's or the driver's error otherwise (nothing is kept).
    pub fn populate_tt(&mut self) -> Result<()> {
        if self.state.tt.is_none() {
            return Err(Error::InvalidArgument);
        }
        self.tt_populate()
    }

    /// Creates the TT if the BO has none (`ttm_tt_create`).
    pub(crate) fn tt_create(&mut self, zero_alloc: bool) -> Result<()> {
        if self.state.tt.is_none() {
            let caching = self.core.dev.funcs.tt_create(&self.info())?;
            self.state.tt = Some(Tt::new(self.core.size / PAGE_SIZE, caching, zero_alloc));
        }
        Ok(())
    }

    pub(crate) fn tt_populate(&mut self) -> Result<()> {
        let info = self.info();
        let dev = &self.core.dev;
        let Some(tt) = self.state.tt.as_mut() else {
            return Err(Error::InvalidArgument);
        };
        if tt.is_populated() {
            return Ok(());
        }
        tt.populate(&dev.pool)?;
        if let Err(e) = dev.funcs.tt_populate(&info, tt) {
            tt.unpopulate(&dev.pool);
            return Err(e);
        }
        Ok(())
    }

    pub(crate) fn tt_destroy(&mut self) {
        self.core.tt_destroy(&mut self.state);
    }
}
