//! What the VRAM and GTT managers share: manager states, the bounded retry policy and its
//! "space was freed" signal, counters, the allocation request, the registry of live
//! allocations and the driver error type.
//!
//! # Overview
//!
//! Both PDDGPU memory managers ([`crate::vram_mgr`] over the buddy allocator and
//! [`crate::gtt_mgr`] over the range allocator) follow the robustness rules of DESIGN.md
//! §5.4 (seed 004, done right). They are written once here:
//!
//! - `MgrCore`: the lifecycle every manager embeds (state, device, space-freed signal,
//!   counters, usage) with the shared steps of `set_error`/`clear_error`/`shutdown` and
//!   of `recover()`, so both managers refuse, log and recover alike.
//! - [`StateCell`]: the manager state machine INITIALIZING → READY → (ERROR ⇄ READY) →
//!   SHUTDOWN in one atomic, plus the device-wide [`DeviceState`] both managers consult.
//!   Allocation is refused with [`Error::NoDevice`] unless the device is up and the manager
//!   is READY; the check is made before and again under the manager lock.
//! - [`RetryPolicy`] and the space-freed signal: on no-space a manager may retry a bounded
//!   number of times, each time waiting (with a timeout, never holding its lock) until some
//!   other thread frees space. Freeing never skips, whatever the state.
//! - [`MgrCounters`]: allocations, frees, failures, retries, evictions, bytes moved and the
//!   high-water mark of usage, as relaxed atomics (they are statistics, not state).
//! - [`AllocRequest`]: what TTM hands a manager — the place `{fpfn, lpfn, flags}` and the BO
//!   facts `{size, page_alignment, create flags, kind}` — plus, optionally, the TTM usage
//!   already including this BO.
//! - The registry of live allocations ([`AllocId`]): each manager keeps the allocator
//!   tokens of every live allocation itself, so that `recover()` can verify the allocator
//!   against them and rebuild it when it is damaged, and `fini()` can list leaks.
//! - [`Error`]: the driver error, with a Linux errno for every variant; a no-space error
//!   carries a [`NoSpaceInfo`] that explains it (exhaustion versus fragmentation).
//!
//! # Synchronization
//!
//! Everything here is `Send + Sync`. The state cell and counters are atomics; the
//! space-freed signal is an atomic generation plus a parking_lot `Condvar` that a freeing
//! thread only touches when somebody waits. The registry is not synchronised itself: it
//! lives inside each manager's allocator lock.

mod counters;
mod error;
mod lifecycle;
mod registry;
mod request;
mod retry;
mod state;
mod ttm;

pub use counters::{CounterSnapshot, MgrCounters};
pub use error::{Domain, Error, MgrLeak, NoSpaceCause, NoSpaceInfo, Result};
pub(crate) use lifecycle::MgrCore;
pub use registry::AllocId;
pub(crate) use registry::Registry;
pub use request::{AllocRequest, BoDesc, BoFlags, BoKind, Place, PlaceFlags};
pub use retry::RetryPolicy;
pub(crate) use retry::SpaceSignal;
pub use state::{DeviceState, MgrState, StateCell};
pub(crate) use ttm::place_from_ttm;
pub(crate) use ttm::request_from_ttm;

/// The CPU and GPU page size of PDDGPU, in bytes (`PAGE_SIZE`). Place ranges (`fpfn`,
/// `lpfn`), page alignments and GART indices count in these pages.
pub const PAGE_SIZE: u64 = 4096;

/// `log2(PAGE_SIZE)` (`PAGE_SHIFT`).
pub const PAGE_SHIFT: u32 = 12;
