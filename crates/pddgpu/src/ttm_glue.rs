//! The PDDGPU side of TTM: resource-manager adapters, driver callbacks and the page
//! source (upstream `amdgpu_vram_mgr_func`, `amdgpu_gtt_mgr_func`, `amdgpu_bo_driver`).
//!
//! # Overview
//!
//! `pddgpu-ttm` knows nothing of PDDGPU; this module is what the seed registers with
//! it:
//!
//! - [`VramTtm`] and [`GttTtm`]: thin [`ResourceManager`](pddgpu_ttm::ResourceManager)
//!   adapters over the manager cores ([`VramManager`](crate::vram_mgr::VramManager),
//!   [`GttManager`](crate::gtt_mgr::GttManager)). They translate TTM's place and BO
//!   facts into an allocation request, keep the manager's resource as the TTM
//!   resource's private data ([`VramBacking`], [`GttBacking`]), and remember the
//!   manager's explanation of a no-space for the BO code (TTM's errors carry no
//!   payload). Installed by
//!   [`Device::new`](crate::device::Device::new) with `set_manager` (the seed's
//!   `ttm_set_driver_manager`).
//! - [`PddgpuTtmFuncs`]: the driver callbacks (`ttm_device_funcs`): `evict_flags`
//!   (VRAM → GTT without a GART address, or invisible VRAM first for a BO sitting in
//!   the visible window; GTT → SYSTEM; purge once the device shuts down) and `move_bo`,
//!   which binds GTT pages into the GART, copies contents with the copy engine and
//!   zeroes new VRAM, so contents always survive a move.
//! - [`HwPageSource`]: system pages for TT objects from the simulated system memory
//!   (TTM's page pool sits on top).
//!
//! # The call chain (seed 000)
//!
//! ```text
//! PddgpuBo::create                      pddgpu_bo_create
//!  └ pddgpu_ttm::Device::create_bo      ttm_bo_init_reserved
//!    └ ReservedBo::validate             ttm_bo_validate
//!      └ ResourceManager::alloc         man->func->alloc
//!        ├ VramTtm → VramManager::alloc → BuddyAllocator::alloc_blocks   (drm_buddy_alloc_blocks)
//!        └ GttTtm  → GttManager::alloc  → Mm::insert_in_range            (drm_mm_insert_node_in_range)
//!      └ DeviceFuncs::move_bo           amdgpu_bo_move → copy engine
//! ```
//!
//! # Moves
//!
//! | from → to | what `move_bo` does |
//! |---|---|
//! | nothing → VRAM | zero every block the buddy does not know to be clear (fill job) |
//! | nothing → TT/SYSTEM | nothing: TT pages come zeroed from the pool |
//! | SYSTEM ↔ TT, TT → TT | nothing: the pages stay; a TT destination with a GART address is bound |
//! | SYSTEM ↔ VRAM | multihop through a TEMPORARY TT place (as amdgpu); an unpopulated SYSTEM BO is zero-filled directly |
//! | VRAM ↔ VRAM, VRAM ↔ TT | copy job; VRAM and GART-addressed TT directly, address-less TT through the transfer windows |
//!
//! System pages without a GART address are reached through the two transfer windows at
//! the start of the GART: up to [`GTT_MAX_TRANSFER_SIZE`](crate::gtt_mgr::GTT_MAX_TRANSFER_SIZE)
//! pages at a time are bound into a window, copied and unbound. One lock (upstream
//! `gtt_window_lock`) serialises window users; it is held for one window-sized chunk
//! at a time, never for a whole BO. A copy-engine failure fails the move: TTM keeps the
//! old resource and frees the new one.
//!
//! # Synchronization
//!
//! Everything here is `Send + Sync` and called by TTM with the BO reserved and without
//! TTM's LRU lock. The adapters take the manager locks; the GTT backing's own small
//! mutex guards the one field TTM cannot give mutable access to (its binding); the
//! window lock is a leaf.

mod copy;
mod funcs;
mod gtt;
mod no_space;
mod pages;
mod vram;

pub use funcs::PddgpuTtmFuncs;
pub use gtt::{GttBacking, GttTtm};
pub use pages::HwPageSource;
pub use vram::{VramBacking, VramTtm};

pub(crate) use no_space::{clear_no_space, take_no_space};
