//! The GTT manager: GART address space over the range allocator (upstream
//! `amdgpu_gtt_mgr.c`, seed `pddgpu_gtt_mgr_*`).
//!
//! # Overview
//!
//! GTT resources are system pages the device reaches through the GART. The manager keeps
//! two independent limits, as amdgpu does (reference `mm-ttm-semantics.md` §4):
//!
//! - **Usage**: the bytes of every live GTT resource, with or without a GART address, may
//!   not exceed [`GttConfig::size`]; the check includes the new BO (`>` fails, `==` is
//!   fine) and is skipped for `TEMPORARY` places (multihop bounces must never fail for
//!   lack of GTT accounting).
//! - **GART space**: a range allocator over GART pages. The first
//!   [`GTT_MAX_TRANSFER_SIZE`]` × `[`GTT_NUM_TRANSFER_WINDOWS`] pages are the copy engine's
//!   transfer windows ([`GttManager::transfer_window`]) and never handed out; the
//!   allocator covers the rest. Only a place with `lpfn != 0` takes GART space: the node is
//!   inserted (mode Best) in `[fpfn, lpfn)` with the BO's page alignment, and the BO's
//!   system pages are bound into the GART. Without `lpfn` the resource has no address
//!   ([`INVALID_OFFSET`]); [`GttManager::alloc_gart`] assigns one later.
//!
//! `intersects` and `compatible` are the upstream "only interesting if we need GART or
//! not" test. The debug dump is the range allocator's, in GART pages.
//!
//! On top, the robustness layer of DESIGN.md §5.4 ([`crate::mgr_common`]); in particular
//! [`GttManager::recover`] re-binds every live address-owning resource into the GART,
//! which is what amdgpu's `amdgpu_gtt_mgr_recover` does after a GPU reset.
//!
//! # Cost
//!
//! An address-less allocation is an atomic charge plus O(1) registry work under the lock.
//! With an address: one O(log holes) insert, and a GART bind of O(pages) *outside* the
//! lock.
//!
//! # Synchronization
//!
//! The manager lock (a `parking_lot::Mutex`, upstream `mgr->lock`) protects the range
//! allocator and the registry of live resources, including the page list each registry
//! entry would re-bind on recovery. GART entries are written outside the lock by the owner
//! of the range (its node keeps anyone else off those pages): after insertion on alloc,
//! and on free before the node is removed — the free first takes the page list out of the
//! registry under the lock, so a concurrent `recover` cannot re-bind pages being unbound.
//! `recover` itself re-binds under the lock, as upstream does under its spinlock. Usage
//! and state are atomics. Every method takes `&self`; the manager is `Send + Sync`.

mod recover;
mod resource;
#[cfg(test)]
mod tests;

pub use resource::{GttResource, INVALID_OFFSET};

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pddgpu_mm::{InsertMode, Mm, Node};

use crate::hw::{DmaAddr, SimHw};
use crate::mgr_common::{
    AllocId, AllocRequest, CounterSnapshot, DeviceState, Domain, Error, MgrCore, MgrCounters,
    MgrLeak, MgrState, NoSpaceCause, NoSpaceInfo, Place, PlaceFlags, Registry, Result, RetryPolicy,
    PAGE_SIZE,
};

/// Pages of one GART transfer window (seed `PDDGPU_GTT_MAX_TRANSFER_SIZE`; amdgpu 6.18:
/// 512, the layout the seed follows).
pub const GTT_MAX_TRANSFER_SIZE: u64 = 512;

/// Number of GART transfer windows reserved for the copy engine (seed
/// `PDDGPU_GTT_NUM_TRANSFER_WINDOWS`; amdgpu 6.18: 2, source and destination).
pub const GTT_NUM_TRANSFER_WINDOWS: u64 = 2;

/// Identity source for managers, so a resource cannot be freed into another manager.
static NEXT_MGR_ID: AtomicU64 = AtomicU64::new(1);

/// Configuration of a [`GttManager`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GttConfig {
    /// Usage limit in bytes (TTM manager size; `mem_info_gtt_total`).
    pub size: u64,
    /// Retry on no-space (seed default 3 tries, 5 ms).
    pub retry: RetryPolicy,
}

impl GttConfig {
    /// A usage limit of `size` bytes, seed retry defaults.
    #[must_use]
    pub const fn new(size: u64) -> Self {
        Self {
            size,
            retry: RetryPolicy::GTT_DEFAULT,
        }
    }
}

/// Statistics of the GTT manager (seed `struct pddgpu_gtt_stats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GttStats {
    /// Usage limit in bytes.
    pub total_size: u64,
    /// Bytes of live GTT resources (and requests being placed).
    pub used_size: u64,
    /// Manager state.
    pub state: MgrState,
    /// READY and the device is up.
    pub is_healthy: bool,
    /// Event counters.
    pub counters: CounterSnapshot,
}

/// What [`GttManager::recover`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GttRecoverReport {
    /// The verification failure that made the manager rebuild its allocator, if any.
    pub damage: Option<String>,
    /// Live resources carried over.
    pub live: usize,
    /// Resources whose pages were re-bound into the GART.
    pub rebound: usize,
}

/// Ways to damage the allocator on purpose, for robustness tests of `recover()`.
/// Test-only (`fault-injection` feature).
#[cfg(feature = "fault-injection")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GttDamage {
    /// Remove a live resource's node from the range allocator behind its owner's back:
    /// the allocator then believes its GART pages are free.
    ForgetAllocation(AllocId),
}

/// A live resource as the manager keeps it.
#[derive(Debug)]
struct Live {
    /// The node token, if the resource has a GART address.
    node: Option<Node>,
    /// `(first GART page, pages)` of the address, kept apart from the token so that the
    /// allocator can be rebuilt from it.
    span: Option<(u64, u64)>,
    /// BO size in bytes (usage charged).
    size: u64,
    /// The system pages bound at `span`, re-bound by `recover`; `None` while unbound.
    pages: Option<Box<[DmaAddr]>>,
}

#[derive(Debug)]
struct Inner {
    mm: Mm,
    live: Registry<Live>,
    /// Bytes of live resources: the committed part of `used`.
    committed: u64,
}

/// The PDDGPU GTT manager. See the [module documentation](self).
#[derive(Debug)]
pub struct GttManager {
    id: u64,
    config: GttConfig,
    hw: Arc<SimHw>,
    /// State, device, space-freed signal, counters and usage.
    core: MgrCore,
    /// First GART page of the range allocator (after the transfer windows).
    mm_start: u64,
    /// GART pages of the range allocator.
    mm_pages: u64,
    inner: Mutex<Inner>,
}

impl GttManager {
    /// Builds a manager for the GART of `hw`, with the usage limit of `config`, and makes
    /// it READY (upstream `amdgpu_gtt_mgr_init`, 6.18 window layout).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the hardware page size is not [`PAGE_SIZE`] or the
    /// GART has no pages beyond the transfer windows; [`Error::OutOfMemory`] if the range
    /// allocator cannot be built.
    pub fn new(config: GttConfig, hw: Arc<SimHw>, device: Arc<DeviceState>) -> Result<Self> {
        if hw.config().page_size != PAGE_SIZE {
            return Err(Error::InvalidArgument(
                "GTT manager needs 4 KiB hardware pages",
            ));
        }
        let mm_start = GTT_MAX_TRANSFER_SIZE * GTT_NUM_TRANSFER_WINDOWS;
        let entries = hw.gart().num_entries();
        if entries <= mm_start {
            return Err(Error::InvalidArgument(
                "GART smaller than the transfer windows",
            ));
        }
        let mm_pages = entries - mm_start;
        let mm = Mm::new(mm_start, mm_pages)?;
        let mgr = Self {
            id: NEXT_MGR_ID.fetch_add(1, Ordering::Relaxed),
            config,
            hw,
            core: MgrCore::new(Domain::Gtt, device),
            mm_start,
            mm_pages,
            inner: Mutex::new(Inner {
                mm,
                live: Registry::default(),
                committed: 0,
            }),
        };
        mgr.core.mark_ready();
        tracing::info!(
            size = config.size,
            gart_pages = entries,
            "GTT manager ready"
        );
        Ok(mgr)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &GttConfig {
        &self.config
    }

    /// GART byte address of transfer window `index` (`< GTT_NUM_TRANSFER_WINDOWS`), each
    /// [`GTT_MAX_TRANSFER_SIZE`] pages long, or `None` for a bad index.
    #[must_use]
    pub fn transfer_window(&self, index: u64) -> Option<u64> {
        (index < GTT_NUM_TRANSFER_WINDOWS).then_some(index * GTT_MAX_TRANSFER_SIZE * PAGE_SIZE)
    }

    /// GART pages `[start, end)` the range allocator manages (after the windows).
    #[must_use]
    pub fn gart_range(&self) -> (u64, u64) {
        (self.mm_start, self.mm_start + self.mm_pages)
    }

    // --- state -----------------------------------------------------------------------

    fn check_usable(&self) -> Result<()> {
        self.core.check_usable()
    }

    /// The manager state.
    #[must_use]
    pub fn state(&self) -> MgrState {
        self.core.state()
    }

    /// Enters the ERROR state (seed `set_error`): allocations are refused with `ENODEV`
    /// until [`GttManager::clear_error`] or [`GttManager::recover`]; frees go on.
    pub fn set_error(&self) {
        self.core.set_error();
    }

    /// Leaves the ERROR state without verification (seed `clear_error`).
    pub fn clear_error(&self) {
        self.core.clear_error();
    }

    /// Refuses all further allocations (state SHUTDOWN) and wakes threads waiting to retry.
    /// Frees keep working.
    pub fn shutdown(&self) {
        self.core.shutdown();
    }

    /// The generation of the space-freed signal, to pass to
    /// [`Self::wait_for_space`] (read it *before* the attempt that may fail).
    pub(crate) fn space_generation(&self) -> u64 {
        self.core.space_generation()
    }

    /// Waits up to `wait` for space to be freed after generation `seen` and counts a
    /// retry. Used by the device, which retries a whole TTM validation (with eviction)
    /// instead of letting the manager wait inside TTM's first pass.
    pub(crate) fn wait_for_space(&self, seen: u64, wait: std::time::Duration) {
        self.core.wait_for_space(seen, wait);
    }

    // --- allocation ------------------------------------------------------------------

    /// Allocates a GTT resource for `req` (upstream `amdgpu_gtt_mgr_new`).
    ///
    /// With `req.place.lpfn != 0` the resource gets GART pages in `[fpfn, lpfn)` (mode
    /// Best, the BO's page alignment) and, if `pages` is given, those system pages are
    /// bound there (one DMA address per page of the BO). Without `lpfn` the resource has
    /// no GART address and `pages` is ignored. On no-space the request is retried after
    /// freed space, as the [`RetryPolicy`] says.
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`]: size 0, or `pages` of the wrong length.
    /// - [`Error::NoDevice`]: device shut down or manager not READY (before and under the
    ///   lock).
    /// - [`Error::NoSpace`], explained: usage limit (not for TEMPORARY), or no hole.
    /// - [`Error::Hw`]: the GART refused the pages (e.g. a foreign DMA address); nothing
    ///   stays allocated.
    /// - [`Error::OutOfMemory`]: metadata allocation failed.
    ///
    /// # Complexity
    /// O(log holes) under the lock, plus O(pages) to bind outside it.
    ///
    /// # Examples
    /// The first GART pages after the two 512-page transfer windows go to the first BO
    /// that asks for an address; its pages are bound there.
    /// ```
    /// use std::sync::Arc;
    /// use pddgpu::gtt_mgr::{GttConfig, GttManager, INVALID_OFFSET};
    /// use pddgpu::hw::{HwConfig, SimHw};
    /// use pddgpu::mgr_common::{AllocRequest, BoDesc, DeviceState, Place};
    /// let hw = Arc::new(SimHw::new(HwConfig { gtt_size: 16 << 20, ..HwConfig::default() })?);
    /// let mgr = GttManager::new(GttConfig::new(8 << 20), Arc::clone(&hw), Arc::new(DeviceState::new()))?;
    /// let page = hw.sysmem().alloc_pages(0)?;
    /// let mapped = mgr.alloc(&AllocRequest::new(Place::range(0, 4096), BoDesc::new(4096)), Some(&[page]))?;
    /// assert_eq!(mapped.start(), 1024);
    /// assert_eq!(hw.gart().translate(1024)?, page);
    /// let plain = mgr.alloc(&AllocRequest::new(Place::ANY, BoDesc::new(4096)), None)?;
    /// assert_eq!(plain.start(), INVALID_OFFSET);
    /// assert_eq!(mgr.mem_info_gtt_used(), 8192);
    /// mgr.free(mapped)?;
    /// mgr.free(plain)?;
    /// assert!(!hw.gart().is_bound(1024));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn alloc(&self, req: &AllocRequest, pages: Option<&[DmaAddr]>) -> Result<GttResource> {
        let result = self.alloc_with_retry(req, pages);
        self.core.note_alloc(&result, self.config.retry);
        if let Ok(res) = &result {
            tracing::debug!(size = res.size(), start = res.start(), "GTT allocated");
        }
        result
    }

    fn alloc_with_retry(
        &self,
        req: &AllocRequest,
        pages: Option<&[DmaAddr]>,
    ) -> Result<GttResource> {
        let size = req.bo.size;
        if size == 0 {
            return Err(Error::InvalidArgument("BO size must not be 0"));
        }
        let num_pages = size.div_ceil(PAGE_SIZE);
        let pages = if req.place.lpfn != 0 { pages } else { None };
        if let Some(p) = pages {
            if u64::try_from(p.len()).ok() != Some(num_pages) {
                return Err(Error::InvalidArgument(
                    "one DMA address per BO page is needed",
                ));
            }
        }
        self.core.retry_alloc(req, self.config.retry, || {
            self.try_alloc(req, num_pages, pages)
        })
    }

    fn try_alloc(
        &self,
        req: &AllocRequest,
        num_pages: u64,
        pages: Option<&[DmaAddr]>,
    ) -> Result<GttResource> {
        let size = req.bo.size;
        let charged = self
            .core
            .used()
            .fetch_add(size, Ordering::AcqRel)
            .saturating_add(size);
        let usage = req.usage.unwrap_or(charged);
        let uncharge = || {
            self.core.used().fetch_sub(size, Ordering::AcqRel);
        };
        if !req.place.flags.contains(PlaceFlags::TEMPORARY) && usage > self.config.size {
            uncharge();
            let inner = self.inner.lock();
            return Err(self.no_space(&inner, req, num_pages, NoSpaceCause::UsageLimit, usage));
        }
        // Copy the page list (kept for re-binding on recovery) before taking the lock.
        let copy: Option<Box<[DmaAddr]>> = pages.map(Box::from);
        let mut inner = self.inner.lock();
        if let Err(e) = self.check_usable() {
            drop(inner);
            uncharge();
            tracing::error!("GTT manager state changed during allocation");
            return Err(e);
        }
        if let Err(e) = inner.live.reserve() {
            drop(inner);
            uncharge();
            return Err(e);
        }
        let node = if req.place.lpfn != 0 {
            match inner.mm.insert_in_range(
                num_pages,
                req.bo.page_alignment,
                0,
                req.place.fpfn,
                req.place.lpfn,
                InsertMode::Best,
            ) {
                Ok(node) => Some(node),
                Err(pddgpu_mm::Error::NoSpace) => {
                    let free = inner.mm.free() * PAGE_SIZE;
                    let cause = if free < num_pages * PAGE_SIZE {
                        NoSpaceCause::Exhausted
                    } else {
                        NoSpaceCause::Fragmented
                    };
                    let e = self.no_space(&inner, req, num_pages, cause, usage);
                    drop(inner);
                    uncharge();
                    return Err(e);
                }
                Err(e) => {
                    drop(inner);
                    uncharge();
                    return Err(e.into());
                }
            }
        } else {
            None
        };
        let span = node.as_ref().map(|n| (n.start(), n.size()));
        let bind = span.map(|s| s.0).zip(pages);
        let id = inner.live.insert(Live {
            node,
            span,
            size,
            pages: copy,
        });
        inner.committed += size;
        drop(inner);

        // Bind outside the lock: the node keeps everybody else off these GART pages.
        if let Some((start, p)) = bind {
            if let Err(e) = self.hw.gart().bind(start, p) {
                self.release(id, size);
                return Err(e.into());
            }
        }
        self.core
            .counters()
            .note_usage(self.core.used().load(Ordering::Acquire));
        Ok(GttResource {
            mgr: self.id,
            id,
            size,
            num_pages,
            start: span.map_or(INVALID_OFFSET, |s| s.0),
            placement: req.place.flags,
            bound: bind.is_some(),
        })
    }

    fn no_space(
        &self,
        inner: &Inner,
        req: &AllocRequest,
        num_pages: u64,
        cause: NoSpaceCause,
        usage: u64,
    ) -> Error {
        let range = (req.place.lpfn != 0).then(|| {
            (
                req.place.fpfn.saturating_mul(PAGE_SIZE),
                req.place.lpfn.saturating_mul(PAGE_SIZE),
            )
        });
        Error::NoSpace(Box::new(NoSpaceInfo {
            domain: Domain::Gtt,
            cause,
            requested: num_pages * PAGE_SIZE,
            range,
            contiguous: false,
            alignment: req.bo.page_alignment.max(1).saturating_mul(PAGE_SIZE),
            free: inner.mm.free() * PAGE_SIZE,
            largest_free: inner
                .mm
                .largest_hole()
                .map_or(0, |(s, e)| (e - s) * PAGE_SIZE),
            usage,
            limit: self.config.size,
            attempts: 1,
            pinned_bos: None,
            busy_bos: None,
        }))
    }

    /// Assigns a GART address to an address-less resource and binds `pages` there
    /// (upstream `amdgpu_ttm_alloc_gart` without the TTM round trip): pages
    /// `[place.fpfn, place.lpfn)` (`lpfn == 0`: the whole GART), mode Best, the given page
    /// alignment. Usage does not change (it is the same resource). A resource that already
    /// has an address is left alone.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a resource of another manager or a page list of the
    /// wrong length; [`Error::NoDevice`] if the manager is not READY; [`Error::NoSpace`]
    /// (explained) if no hole fits — the TTM glue evicts address-owning GTT BOs and tries
    /// again; [`Error::Hw`] if the GART refuses the pages (the address is released again).
    pub fn alloc_gart(
        &self,
        res: &mut GttResource,
        place: &Place,
        page_alignment: u64,
        pages: &[DmaAddr],
    ) -> Result<()> {
        if res.mgr != self.id {
            return Err(Error::InvalidArgument("resource of another GTT manager"));
        }
        if res.has_gart_addr() {
            return Ok(());
        }
        if u64::try_from(pages.len()).ok() != Some(res.num_pages) {
            return Err(Error::InvalidArgument(
                "one DMA address per BO page is needed",
            ));
        }
        self.check_usable()?;
        let lpfn = if place.lpfn == 0 {
            self.mm_start + self.mm_pages
        } else {
            place.lpfn
        };
        let copy: Box<[DmaAddr]> = Box::from(pages);
        let mut inner = self.inner.lock();
        self.check_usable()?;
        let inner = &mut *inner;
        let node = match inner.mm.insert_in_range(
            res.num_pages,
            page_alignment,
            0,
            place.fpfn,
            lpfn,
            InsertMode::Best,
        ) {
            Ok(node) => node,
            Err(pddgpu_mm::Error::NoSpace) => {
                let req = AllocRequest {
                    place: Place { lpfn, ..*place },
                    bo: crate::mgr_common::BoDesc {
                        size: res.size,
                        page_alignment,
                        ..Default::default()
                    },
                    usage: None,
                };
                let free = inner.mm.free() * PAGE_SIZE;
                let cause = if free < res.num_pages * PAGE_SIZE {
                    NoSpaceCause::Exhausted
                } else {
                    NoSpaceCause::Fragmented
                };
                let usage = self.core.used().load(Ordering::Acquire);
                return Err(self.no_space(inner, &req, res.num_pages, cause, usage));
            }
            Err(e) => return Err(e.into()),
        };
        let start = node.start();
        let Some(live) = inner.live.get_mut(res.id) else {
            let _ = inner.mm.remove(node);
            return Err(Error::InvalidArgument(
                "resource is not live in this GTT manager",
            ));
        };
        live.span = Some((start, node.size()));
        live.node = Some(node);
        live.pages = Some(copy);
        // Bind under the lock here: the registry entry already names the pages, and a
        // failure must be undone atomically with it.
        if let Err(e) = self.hw.gart().bind(start, pages) {
            live.pages = None;
            live.span = None;
            if let Some(node) = live.node.take() {
                let _ = inner.mm.remove(node);
            }
            return Err(e.into());
        }
        res.start = start;
        res.bound = true;
        Ok(())
    }

    /// Binds `pages` (one DMA address per page) at the GART address of `res`, for a
    /// resource that was allocated with an address but without pages (TTM places the
    /// resource before it populates the TT); re-binding replaces the pages.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a resource of another manager, one without a GART
    /// address, or a page list of the wrong length; [`Error::Hw`] if the GART refuses.
    pub fn bind(&self, res: &mut GttResource, pages: &[DmaAddr]) -> Result<()> {
        if res.mgr != self.id || !res.has_gart_addr() {
            return Err(Error::InvalidArgument(
                "resource has no GART address in this manager",
            ));
        }
        if u64::try_from(pages.len()).ok() != Some(res.num_pages) {
            return Err(Error::InvalidArgument(
                "one DMA address per BO page is needed",
            ));
        }
        let copy: Box<[DmaAddr]> = Box::from(pages);
        let mut inner = self.inner.lock();
        let live = inner
            .live
            .get_mut(res.id)
            .ok_or(Error::InvalidArgument("resource is not live"))?;
        self.hw.gart().bind(res.start, pages)?;
        live.pages = Some(copy);
        res.bound = true;
        Ok(())
    }

    // --- free ------------------------------------------------------------------------

    /// Gives `res` back (upstream `amdgpu_gtt_mgr_del`), in every state: its GART pages are
    /// unbound, its node removed, usage drops and threads waiting to retry are woken.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `res` belongs to another manager (nothing changes).
    ///
    /// # Complexity
    /// O(pages) to unbind outside the lock, O(log holes) under it.
    pub fn free(&self, res: GttResource) -> Result<()> {
        if res.mgr != self.id {
            return Err(Error::InvalidArgument("resource of another GTT manager"));
        }
        // Only a bound resource has pages to unbind (and a page list in the registry).
        let binding = if res.bound {
            self.take_binding(res.id)
        } else {
            None
        };
        if let Some((start, count)) = binding {
            // The node still owns these pages, so no one else can be bound there yet.
            if let Err(e) = self.hw.gart().unbind(start, count) {
                tracing::error!("GTT free: unbind failed: {e}");
            }
        }
        self.release(res.id, res.size);
        Ok(())
    }

    /// Stops `recover` from re-binding `id` and returns the span to unbind, if bound.
    fn take_binding(&self, id: AllocId) -> Option<(u64, u64)> {
        let mut inner = self.inner.lock();
        let live = inner.live.get_mut(id)?;
        let pages = live.pages.take()?;
        drop(pages);
        live.span
    }

    /// Removes `id` from the registry and the allocator and uncharges `size`.
    fn release(&self, id: AllocId, size: u64) {
        let mut inner = self.inner.lock();
        if let Some(live) = inner.live.remove(id) {
            if let Some(node) = live.node {
                if let Err(e) = inner.mm.remove(node) {
                    // Only a damaged allocator refuses its own node; recover() repairs it.
                    tracing::error!("GTT free: range allocator refused node: {e}");
                    self.core.set_error();
                }
            }
            inner.committed -= live.size;
            self.core.used().fetch_sub(live.size, Ordering::AcqRel);
        } else {
            tracing::error!("GTT free of a resource that is not live ({size} bytes)");
        }
        drop(inner);
        self.core.counters().freed();
        self.core.signal().notify();
    }

    // --- TTM hooks ---------------------------------------------------------------------

    /// Upstream `amdgpu_gtt_mgr_intersects`: `!place.lpfn || has_gart_addr`. The actual
    /// window is not checked ("only interesting if we need GART or not").
    #[must_use]
    pub fn intersects(&self, res: &GttResource, place: &Place) -> bool {
        place.lpfn == 0 || res.has_gart_addr()
    }

    /// Upstream `amdgpu_gtt_mgr_compatible`: same test as [`GttManager::intersects`].
    #[must_use]
    pub fn compatible(&self, res: &GttResource, place: &Place) -> bool {
        place.lpfn == 0 || res.has_gart_addr()
    }

    /// The manager's debug dump (upstream `amdgpu_gtt_mgr_debug`): the range allocator's
    /// `print`, in GART pages. Address-less resources do not appear.
    ///
    /// # Errors
    /// Only those of `out`.
    pub fn debug(&self, out: &mut impl fmt::Write) -> fmt::Result {
        self.inner.lock().mm.print(out)
    }

    // --- statistics --------------------------------------------------------------------

    /// sysfs `mem_info_gtt_total`: the usage limit in bytes.
    #[must_use]
    pub fn mem_info_gtt_total(&self) -> u64 {
        self.config.size
    }

    /// sysfs `mem_info_gtt_used`: bytes of all live GTT resources, with or without a GART
    /// address.
    #[must_use]
    pub fn mem_info_gtt_used(&self) -> u64 {
        self.core.used().load(Ordering::Acquire)
    }

    /// Number of live resources.
    #[must_use]
    pub fn live_count(&self) -> usize {
        self.inner.lock().live.len()
    }

    /// Free GART pages in the range allocator.
    #[must_use]
    pub fn free_gart_pages(&self) -> u64 {
        self.inner.lock().mm.free()
    }

    /// The largest free GART range in bytes (0 if none): the largest BO that can get a
    /// GART address without eviction.
    ///
    /// # Complexity
    /// O(1).
    #[must_use]
    pub fn largest_free_range(&self) -> u64 {
        self.inner
            .lock()
            .mm
            .largest_hole()
            .map_or(0, |(s, e)| (e - s).saturating_mul(PAGE_SIZE))
    }

    /// The event counters (the TTM glue records evictions and moves through them).
    #[must_use]
    pub fn counters(&self) -> &MgrCounters {
        self.core.counters()
    }

    /// Seed `pddgpu_gtt_mgr_get_stats`.
    #[must_use]
    pub fn get_stats(&self) -> GttStats {
        let state = self.core.state();
        GttStats {
            total_size: self.config.size,
            used_size: self.mem_info_gtt_used(),
            state,
            is_healthy: state == MgrState::Ready && !self.core.device().is_shutdown(),
            counters: self.core.counters().snapshot(),
        }
    }

    /// Fault injection for tests of this layer and the layers above: the range allocator
    /// refuses to hold more than `limit` nodes (out-of-memory), until cleared with `None`
    /// (see `pddgpu_mm::Mm::set_max_nodes`). A rebuilt allocator starts without the limit.
    /// Test-only (`fault-injection` feature).
    #[cfg(feature = "fault-injection")]
    pub fn set_max_nodes(&self, limit: Option<usize>) {
        self.inner.lock().mm.set_max_nodes(limit);
    }

    /// Tears the manager down (upstream `amdgpu_gtt_mgr_fini`): state SHUTDOWN, then the
    /// range allocator is taken down.
    ///
    /// # Errors
    /// [`MgrLeak`] listing every resource still live.
    pub fn fini(self) -> Result<(), MgrLeak> {
        self.shutdown();
        let inner = self.inner.into_inner();
        let mut leak = MgrLeak {
            domain: Domain::Gtt,
            allocations: Vec::new(),
            bytes: 0,
        };
        for (id, live) in inner.live.iter() {
            leak.allocations
                .push((id, live.span.map(|s| s.0 * PAGE_SIZE), live.size));
            leak.bytes += live.size;
        }
        if !leak.allocations.is_empty() {
            tracing::error!("{leak}");
            return Err(leak);
        }
        inner.mm.fini().map_err(|e| {
            // Nodes no live resource accounts for: the allocator itself leaked.
            tracing::error!("GTT range allocator leak at fini: {e}");
            let bytes = e
                .nodes
                .iter()
                .map(|n| n.size.saturating_mul(PAGE_SIZE))
                .sum();
            MgrLeak {
                domain: Domain::Gtt,
                allocations: Vec::new(),
                bytes,
            }
        })
    }
}
