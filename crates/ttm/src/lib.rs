//! Generic TTM for pddgpu: resource managers, buffer objects, placement, validation
//! and LRU eviction, with the semantics of Linux TTM (7.1).
//!
//! # Overview
//!
//! TTM places *buffer objects* (BOs) in the memory types of a device — SYSTEM, TT
//! (GART-reachable system pages), VRAM and driver-private types — and moves them when
//! space runs out. It knows nothing of any particular GPU: a driver plugs in through
//! two traits, exactly as the C driver fills `ttm_device_funcs` and
//! `ttm_resource_manager_func`:
//!
//! * [`ResourceManager`] — one allocator per memory type, registered with
//!   [`Device::set_manager`] (`ttm_set_driver_manager`), called as `man->func->alloc`
//!   for every placement attempt. Managers are `Send + Sync` trait objects with
//!   internal locking (`&self` methods). This crate provides the SYSTEM manager and a
//!   generic range manager on `pddgpu-mm`; the PDDGPU driver adds its VRAM (buddy)
//!   and GTT (range) managers.
//! * [`DeviceFuncs`] — the driver: `evict_flags`, `move_bo` (the driver copies the
//!   contents and may ask for a multihop through a TEMPORARY place),
//!   `eviction_valuable` (default: the manager's `intersects`), TT create/populate/
//!   unpopulate hooks, `release_notify`, `delete_mem_notify`. System pages come from
//!   the driver's [`PageSource`] through a [`PagePool`] that caches freed pages by
//!   order.
//!
//! The call chain of a GEM create is `Device::bo_init_validate` →
//! [`ReservedBo::validate`] → (per place) charge a [`Resource`] → `alloc` on the
//! place's manager → on no-space, eviction → driver `move_bo`.
//!
//! # Resources and accounting
//! A [`Resource`] carries `mem_type`, `start` (manager-defined, normally pages;
//! [`Resource::INVALID_OFFSET`] is available for "no address"), `size` in bytes, the
//! placement flags copied from the place, and manager-private data created at `alloc`
//! and handed back at `free` ([`Resource::take_private`]); drivers read it with
//! [`Resource::private`]. Usage is charged when TTM creates the resource, *before* the
//! manager places it (as `ttm_resource_init`), so a manager comparing
//! [`ManagerCtx::usage`] with its size sees usage including this BO. Dropping a
//! resource frees it in its manager and uncharges it: no path leaks space.
//!
//! # Validation and eviction
//! See [`validate`](ReservedBo::validate) for the exact algorithm: two passes,
//! DESIRED/FALLBACK, TEMPORARY never compatible, pinned → `InvalidArgument`, the
//! eviction walk (LRU per manager and priority, pinned BOs on an unevictable list,
//! try-locks only, deleted BOs reclaimed, retry after every eviction, recursion into
//! the target), multihop, `bytes_moved`, and the final [`Error::NoSpace`] which user
//! space sees as `ENOMEM` via [`Error::user_errno`]. [`Device::evict_all`] empties a
//! manager. Moves are synchronous; the driver-visible idle flag of a BO stands in for
//! fences so busy/deleted paths are real.
//!
//! # Locking
//! * Per-BO reservation ([`BufferObject::reserve`], blocking, for owners;
//!   eviction only try-locks). Protects resource, TT and pin count.
//! * One device-wide LRU lock protecting all LRU lists and all usage counters.
//!   Never held while calling a driver or manager, never held while acquiring a
//!   reservation.
//! * Managers lock internally; they may read usage under their own lock.
//!
//! Nobody blocks on a reservation while holding another one, so concurrent
//! validation with eviction cannot deadlock.
//!
//! # Examples
//!
//! A driver whose copies are free, 16 pages of VRAM under the generic range manager,
//! and eviction of the least recently used BO when VRAM is full:
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use pddgpu_ttm::*;
//!
//! #[derive(Debug, Default)]
//! struct Driver {
//!     next_page: AtomicU64,
//! }
//!
//! impl DeviceFuncs for Driver {
//!     fn evict_flags(&self, _bo: &BoInfo, _res: &Resource) -> Placement {
//!         Placement::single(MemType::SYSTEM)
//!     }
//!     fn move_bo(&self, _args: &MoveArgs<'_>) -> Result<(), MoveError> {
//!         Ok(())
//!     }
//! }
//!
//! impl PageSource for Driver {
//!     fn alloc_pages(&self, order: u8) -> Result<u64> {
//!         Ok(self.next_page.fetch_add(PAGE_SIZE << order, Ordering::Relaxed))
//!     }
//!     fn free_pages(&self, _dma_addr: u64, _order: u8) {}
//!     fn clear_pages(&self, _dma_addr: u64, _order: u8) {}
//! }
//!
//! let drv = Arc::new(Driver::default());
//! let dev = Device::new(drv.clone(), drv, DeviceConfig::default());
//! dev.set_manager(MemType::VRAM, Arc::new(RangeManager::new(16)?), false, 16)?;
//!
//! let vram = Placement::single(MemType::VRAM);
//! let mut ctx = OperationCtx::new();
//! let a = dev.bo_init_validate(BoParams::new(8 * PAGE_SIZE), &vram, &mut ctx)?;
//! let b = dev.bo_init_validate(BoParams::new(8 * PAGE_SIZE), &vram, &mut ctx)?;
//! assert_eq!(dev.usage(MemType::VRAM), 16 * PAGE_SIZE);
//!
//! // VRAM is full: a third BO evicts the least recently used one, `a`.
//! let c = dev.bo_init_validate(BoParams::new(4 * PAGE_SIZE), &vram, &mut ctx)?;
//! assert_eq!(a.reserve().resource().map(|r| r.mem_type()), Some(MemType::SYSTEM));
//! assert_eq!(c.reserve().resource().map(|r| r.start()), Some(0));
//! assert_eq!(dev.usage(MemType::VRAM), 12 * PAGE_SIZE);
//! assert_eq!(ctx.bytes_moved, (8 + 8 + 8 + 4) * PAGE_SIZE);
//! # drop((a, b, c));
//! # Ok::<(), pddgpu_ttm::Error>(())
//! ```
//!
//! # Debug aids
//! [`Device::check`] re-derives the LRU/usage invariants and runs every manager's
//! `check`; [`Device::manager_debug`] prints upstream's `ttm_resource_manager_debug`
//! format followed by the manager's dump.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod bo;
mod device;
mod error;
mod evict;
mod inline_vec;
mod lru;
mod manager;
mod placement;
mod range_manager;
mod resource;
mod sys_manager;
#[cfg(test)]
mod tests;
mod tt;
mod validate;

pub use bo::{BoParams, BoRef, BufferObject, IdleFence, ReservedBo, WeakBo};
pub use device::{
    default_eviction_valuable, AllocationFlags, Device, DeviceConfig, DeviceFuncs, MoveArgs,
    MoveError,
};
pub use error::{errno, CheckError, Error, Result};
pub use evict::MAX_EVICT_DEPTH;
pub use manager::{BoInfo, BoType, ManagerCtx, ResourceManager};
pub use placement::{MemType, Place, PlaceFlags, Placement, MAX_BO_PRIORITY, NUM_MEM_TYPES};
pub use range_manager::RangeManager;
pub use resource::{PrivateData, Resource};
pub use sys_manager::SystemManager;
pub use tt::{Caching, PagePool, PageSource, Tt, MAX_POOL_ORDER, PAGE_SIZE};
pub use validate::{resource_compatible, OperationCtx};
