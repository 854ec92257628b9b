//! The resource-manager interface (upstream `ttm_resource_manager_func`) and the
//! per-memory-type registration record (`struct ttm_resource_manager`).
//!
//! A driver implements [`ResourceManager`] for each memory type it manages and
//! registers it with [`Device::set_manager`]. TTM calls `alloc` for every placement
//! attempt, `free` when a resource dies, `intersects` while choosing eviction victims,
//! `compatible` before every move and `debug` for the debugfs-style dump.
//!
//! # Synchronization
//! Managers are shared trait objects (`Send + Sync`, `&self` methods) and lock
//! internally. TTM never holds its LRU lock while calling into a manager, so a manager
//! may call [`ManagerCtx::usage`] while holding its own lock (lock order: manager lock,
//! then the device LRU lock).
//!
//! [`Device::set_manager`]: crate::Device::set_manager

use core::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::device::Device;
use crate::error::{CheckError, Result};
use crate::placement::{MemType, Place};
use crate::resource::Resource;

/// What kind of BO this is (`enum ttm_bo_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BoType {
    /// A user-visible BO (GEM object with an mmap offset).
    #[default]
    Device,
    /// A kernel-internal BO (page tables, rings, firmware).
    Kernel,
    /// A BO imported from a scatter-gather table.
    Sg,
}

/// The BO properties a manager or driver callback may look at (the `bo` argument of
/// `man->func->alloc`). A snapshot taken while the BO is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoInfo {
    /// Device-unique BO id (never reused).
    pub id: u64,
    /// Size in bytes, a multiple of [`PAGE_SIZE`](crate::PAGE_SIZE).
    pub size: u64,
    /// Alignment in pages (`bo->page_alignment`); 0 or 1 = none.
    pub page_alignment: u64,
    /// LRU priority 0..=3 (0 is evicted first).
    pub priority: u8,
    /// BO type.
    pub kind: BoType,
    /// Driver-defined flags (e.g. a driver's `VRAM_CONTIGUOUS`/`VRAM_CLEARED` bits),
    /// opaque to TTM.
    pub driver_flags: u64,
}

impl BoInfo {
    /// Size in pages (`PFN_UP(bo->base.size)`).
    #[must_use]
    pub const fn num_pages(&self) -> u64 {
        self.size / crate::PAGE_SIZE
    }
}

/// A memory-type allocator plugged into TTM (upstream `ttm_resource_manager_func`).
///
/// The manager places resources that TTM created and already charged to
/// [`ManagerCtx::usage`] (as upstream `ttm_resource_init()` runs before the
/// manager's own allocation). Everything the manager needs to release the space
/// later goes into the resource's private data ([`Resource::set_private`]); it gets
/// it back in [`ResourceManager::free`].
pub trait ResourceManager: Send + Sync + fmt::Debug {
    /// Places `res` (size [`Resource::size`], already charged) for `bo` at `place`:
    /// sets [`Resource::set_start`], optionally adds flags such as CONTIGUOUS to
    /// [`Resource::placement_mut`] and stores its private data.
    ///
    /// # Errors
    /// [`Error::NoSpace`](crate::Error::NoSpace) when the request does not fit — TTM
    /// then evicts or tries the next place. Any other error aborts the whole placement
    /// attempt and is returned to the caller of validate. On error the manager must
    /// not keep any space for `res`; TTM undoes the charge.
    fn alloc(
        &self,
        ctx: &ManagerCtx<'_>,
        bo: &BoInfo,
        place: &Place,
        res: &mut Resource,
    ) -> Result<()>;

    /// Releases the space of `res` (take the private data back with
    /// [`Resource::take_private`]). Never fails and never skips: TTM uncharges the
    /// usage right after.
    fn free(&self, ctx: &ManagerCtx<'_>, res: &mut Resource);

    /// Would evicting `res` help an allocation of `size` bytes at `place`?
    /// Default: yes.
    fn intersects(&self, _res: &Resource, _place: &Place, _size: u64) -> bool {
        true
    }

    /// May `res` stay where it is for `place`? Default: yes.
    fn compatible(&self, _res: &Resource, _place: &Place, _size: u64) -> bool {
        true
    }

    /// Appends the manager's own state to a dump, after TTM's generic lines.
    ///
    /// # Errors
    /// Only the writer's errors.
    fn debug(&self, _out: &mut dyn fmt::Write) -> fmt::Result {
        Ok(())
    }

    /// Re-derives the manager's invariants.
    ///
    /// # Errors
    /// A [`CheckError`] describing the first violation found.
    fn check(&self) -> core::result::Result<(), CheckError> {
        Ok(())
    }
}

/// TTM's registration record for one memory type (the generic part of
/// `struct ttm_resource_manager`): the manager, `use_tt`, `size`, `use_type`.
/// Usage and the LRU lists live under the device's LRU lock.
#[derive(Debug)]
pub(crate) struct ManagerSlot {
    pub(crate) man: Arc<dyn ResourceManager>,
    pub(crate) mem_type: MemType,
    pub(crate) use_tt: bool,
    pub(crate) size: u64,
    /// Whether placements may use this type; read without locks, as upstream.
    pub(crate) use_type: AtomicBool,
}

impl ManagerSlot {
    pub(crate) fn use_type(&self) -> bool {
        self.use_type.load(Ordering::Acquire)
    }
}

/// What TTM tells a manager about its registration during `alloc`/`free`.
#[derive(Debug, Clone, Copy)]
pub struct ManagerCtx<'a> {
    pub(crate) dev: &'a Device,
    pub(crate) slot: &'a ManagerSlot,
}

impl ManagerCtx<'_> {
    /// The memory type the manager serves.
    #[must_use]
    pub fn mem_type(&self) -> MemType {
        self.slot.mem_type
    }

    /// The size registered with [`Device::set_manager`](crate::Device::set_manager)
    /// (`man->size`, units chosen by the driver; in-tree users use bytes or pages).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.slot.size
    }

    /// Current usage in bytes, including the resource being allocated
    /// (`ttm_resource_manager_usage()`). Takes the device LRU lock briefly.
    #[must_use]
    pub fn usage(&self) -> u64 {
        self.dev.usage(self.slot.mem_type)
    }

    /// Charges `bytes` of usage not backed by a resource (amdgpu's VRAM reservations).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if usage would
    /// overflow.
    pub fn charge_reserved(&self, bytes: u64) -> Result<()> {
        self.dev.charge_reserved(self.slot.mem_type, bytes)
    }

    /// Returns `bytes` charged with [`ManagerCtx::charge_reserved`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if fewer bytes are
    /// charged.
    pub fn uncharge_reserved(&self, bytes: u64) -> Result<()> {
        self.dev.uncharge_reserved(self.slot.mem_type, bytes)
    }
}
