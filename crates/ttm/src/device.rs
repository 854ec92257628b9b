//! The TTM device (upstream `struct ttm_device`): the driver's callbacks, one
//! resource manager per memory type, the LRU lock with usage accounting, the page
//! pool and the list of BOs awaiting delayed deletion.

use core::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::bo::{BoCore, BoParams, BufferObject};
use crate::error::{CheckError, Error, Result};
use crate::lru::{LruCursor, LruItem, LruState};
use crate::manager::{BoInfo, ManagerSlot, ResourceManager};
use crate::placement::{MemType, Place, Placement, NUM_MEM_TYPES};
use crate::resource::Resource;
use crate::sys_manager::SystemManager;
use crate::tt::{Caching, PagePool, PageSource, Tt};

bitflags::bitflags! {
    /// Device allocation flags (upstream `alloc_flags` of `ttm_device_init`, 7.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct AllocationFlags: u32 {
        /// Report a failed validation as `ENOSPC` to user space instead of the
        /// backward-compatible `ENOMEM` (`TTM_ALLOCATION_PROPAGATE_ENOSPC`).
        const PROPAGATE_ENOSPC = 1 << 10;
    }
}

/// Why a driver move did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveError {
    /// The move needs a bounce: TTM allocates a resource at this place (which
    /// should carry [`PlaceFlags::TEMPORARY`](crate::PlaceFlags::TEMPORARY)), moves
    /// the BO there and retries the original move (upstream `-EMULTIHOP`).
    Multihop(Place),
    /// The move failed; the BO stays where it was.
    Failed(Error),
}

impl From<Error> for MoveError {
    fn from(e: Error) -> MoveError {
        MoveError::Failed(e)
    }
}

/// Everything a driver needs to copy a BO's contents (`bdev->funcs->move`).
#[derive(Debug)]
pub struct MoveArgs<'a> {
    /// The BO being moved (reserved by the caller).
    pub bo: BoInfo,
    /// True when the move is an eviction.
    pub evict: bool,
    /// True when the caller must not wait for the GPU.
    pub no_wait_gpu: bool,
    /// Where the contents are now; `None` for a BO that was never placed (contents
    /// are zero).
    pub old: Option<&'a Resource>,
    /// Where they must go.
    pub new: &'a Resource,
    /// The BO's TT. Source when `old` uses TT pages, destination when `new` does (TTM
    /// created it, and populated it unless `new` is SYSTEM). An unpopulated TT reads
    /// as zero.
    pub tt: Option<&'a Tt>,
}

/// The driver's side of TTM (upstream `struct ttm_device_funcs`).
///
/// Callbacks run with the BO reserved and without TTM's LRU lock held, so they may
/// call back into the device's read-only queries.
pub trait DeviceFuncs: Send + Sync + fmt::Debug {
    /// Where to put `bo` when it is evicted from `res`. An empty placement purges the
    /// contents instead (the BO keeps an unpopulated, zero-filled TT).
    fn evict_flags(&self, bo: &BoInfo, res: &Resource) -> Placement;

    /// Copies the contents from `args.old` (or the TT) to `args.new` (or the TT).
    /// TTM has already created/populated the TT as [`MoveArgs::tt`] describes and
    /// frees the old resource after success.
    ///
    /// # Errors
    /// [`MoveError::Multihop`] to request a bounce, [`MoveError::Failed`] otherwise.
    fn move_bo(&self, args: &MoveArgs<'_>) -> core::result::Result<(), MoveError>;

    /// Whether evicting `res` of `bo` helps an allocation at `place`. Default:
    /// [`default_eviction_valuable`].
    fn eviction_valuable(&self, bo: &BoInfo, res: &Resource, place: &Place) -> bool {
        default_eviction_valuable(bo, res, place)
    }

    /// Creates the driver side of a TT and chooses its caching (`ttm_tt_create`).
    ///
    /// # Errors
    /// Any error aborts the operation that needed the TT.
    fn tt_create(&self, _bo: &BoInfo) -> Result<Caching> {
        Ok(Caching::Cached)
    }

    /// Called after the pool attached pages to `tt` (`ttm_tt_populate`).
    ///
    /// # Errors
    /// An error makes TTM give the pages back and fail the operation.
    fn tt_populate(&self, _bo: &BoInfo, _tt: &Tt) -> Result<()> {
        Ok(())
    }

    /// Called before the pages of `tt` go back to the pool (`ttm_tt_unpopulate`).
    fn tt_unpopulate(&self, _bo: &BoInfo, _tt: &Tt) {}

    /// The last user reference of `bo` is gone (`release_notify`).
    fn release_notify(&self, _bo: &BoInfo) {}

    /// `bo`'s backing store is about to be freed (`delete_mem_notify`).
    fn delete_mem_notify(&self, _bo: &BoInfo) {}
}

/// Upstream `ttm_bo_eviction_valuable`: true for SYSTEM resources, else the
/// manager's [`ResourceManager::intersects`] for the BO's size.
#[must_use]
pub fn default_eviction_valuable(bo: &BoInfo, res: &Resource, place: &Place) -> bool {
    res.mem_type() == MemType::SYSTEM || res.intersects(place, bo.size)
}

/// Device construction parameters.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// Allocation flags.
    pub flags: AllocationFlags,
    /// Pages the pool keeps cached at most.
    pub pool_max_cached_pages: u64,
    /// Longest wait for a busy BO before giving up with `Busy` (upstream 15 s).
    pub wait_timeout: Duration,
}

impl Default for DeviceConfig {
    fn default() -> DeviceConfig {
        DeviceConfig {
            flags: AllocationFlags::empty(),
            pool_max_cached_pages: 1 << 16,
            wait_timeout: Duration::from_secs(15),
        }
    }
}

/// A TTM device.
///
/// # Synchronization
/// * `managers`: a read-mostly lock around the per-type registrations.
/// * `lru`: the single LRU lock; protects every LRU list and every usage counter.
///   Never held while calling a driver or manager callback, never held while
///   acquiring a BO reservation, and no resource is dropped under it.
/// * Reservations (per BO) are taken before the LRU lock (unreserve bumps under it).
/// * `zombies`: BOs released while busy; its lock is a leaf.
pub struct Device {
    pub(crate) funcs: Arc<dyn DeviceFuncs>,
    pub(crate) pool: PagePool,
    flags: AllocationFlags,
    pub(crate) wait_timeout: Duration,
    managers: RwLock<[Option<Arc<ManagerSlot>>; NUM_MEM_TYPES]>,
    pub(crate) lru: Mutex<LruState>,
    pub(crate) zombies: Mutex<Vec<Arc<BoCore>>>,
    next_bo_id: AtomicU64,
}

/// A walk over one memory type's LRU lists, priority 0 first, least recently used
/// first (upstream `ttm_resource_cursor`). Each [`LruWalk::next`] takes the LRU lock
/// only to fetch one entry; the walk's hitch keeps its place in between. Dropping the
/// walk unlinks the hitch (it takes the LRU lock: never drop one while holding it).
#[derive(Debug)]
pub(crate) struct LruWalk<'a> {
    dev: &'a Device,
    cursor: LruCursor,
}

impl LruWalk<'_> {
    /// The next entry, or `None` at the end of the lists.
    pub(crate) fn next(&self) -> Option<LruItem> {
        self.dev.lru.lock().next(&self.cursor)
    }
}

impl Drop for LruWalk<'_> {
    fn drop(&mut self) {
        self.dev.lru.lock().cursor_fini(&self.cursor);
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("funcs", &self.funcs)
            .field("flags", &self.flags)
            .field("managers", &*self.managers.read())
            .finish_non_exhaustive()
    }
}

impl Device {
    /// A device with the built-in SYSTEM manager installed and in use
    /// (`ttm_device_init` + `ttm_sys_man_init`).
    #[must_use]
    pub fn new(
        funcs: Arc<dyn DeviceFuncs>,
        pages: Arc<dyn PageSource>,
        config: DeviceConfig,
    ) -> Arc<Device> {
        let mut managers: [Option<Arc<ManagerSlot>>; NUM_MEM_TYPES] = Default::default();
        managers[MemType::SYSTEM.index()] = Some(Arc::new(ManagerSlot {
            man: Arc::new(SystemManager),
            mem_type: MemType::SYSTEM,
            use_tt: true,
            size: 0,
            use_type: AtomicBool::new(true),
        }));
        Arc::new(Device {
            funcs,
            pool: PagePool::new(pages, config.pool_max_cached_pages),
            flags: config.flags,
            wait_timeout: config.wait_timeout,
            managers: RwLock::new(managers),
            lru: Mutex::new(LruState::new()),
            zombies: Mutex::new(Vec::new()),
            next_bo_id: AtomicU64::new(1),
        })
    }

    /// The device's allocation flags.
    #[must_use]
    pub fn flags(&self) -> AllocationFlags {
        self.flags
    }

    /// The errno user space gets for `err` from a validation on this device (see
    /// [`Error::user_errno`]).
    #[must_use]
    pub fn user_errno(&self, err: Error) -> i32 {
        err.user_errno(self.flags.contains(AllocationFlags::PROPAGATE_ENOSPC))
    }

    /// The page pool.
    #[must_use]
    pub fn pool(&self) -> &PagePool {
        &self.pool
    }

    /// Installs `man` for `mem_type` and marks the type used
    /// (`ttm_resource_manager_init` + `ttm_set_driver_manager` + `set_used(true)`).
    /// `size` is `man->size`, in the units the manager compares usage with.
    ///
    /// # Errors
    /// [`Error::Busy`] if a manager is already installed for `mem_type` (SYSTEM
    /// always is).
    pub fn set_manager(
        &self,
        mem_type: MemType,
        man: Arc<dyn ResourceManager>,
        use_tt: bool,
        size: u64,
    ) -> Result<()> {
        let mut managers = self.managers.write();
        let slot = &mut managers[mem_type.index()];
        if slot.is_some() {
            return Err(Error::Busy);
        }
        *slot = Some(Arc::new(ManagerSlot {
            man,
            mem_type,
            use_tt,
            size,
            use_type: AtomicBool::new(true),
        }));
        Ok(())
    }

    /// Uninstalls the manager of `mem_type` and returns it.
    ///
    /// # Errors
    /// [`Error::NotFound`] if none is installed; [`Error::Busy`] while resources of
    /// the type are alive (evict them first: [`Device::evict_all`]) or for SYSTEM.
    pub fn take_manager(&self, mem_type: MemType) -> Result<Arc<dyn ResourceManager>> {
        if mem_type == MemType::SYSTEM {
            return Err(Error::Busy);
        }
        let mut managers = self.managers.write();
        let slot = managers[mem_type.index()].as_ref().ok_or(Error::NotFound)?;
        if self.lru.lock().n_resources(mem_type) != 0 {
            return Err(Error::Busy);
        }
        let man = Arc::clone(&slot.man);
        managers[mem_type.index()] = None;
        Ok(man)
    }

    pub(crate) fn slot(&self, mem_type: MemType) -> Option<Arc<ManagerSlot>> {
        self.managers.read()[mem_type.index()].clone()
    }

    /// The manager installed for `mem_type` (`ttm_manager_type`).
    #[must_use]
    pub fn manager(&self, mem_type: MemType) -> Option<Arc<dyn ResourceManager>> {
        self.slot(mem_type).map(|s| Arc::clone(&s.man))
    }

    /// Enables or disables placements into `mem_type`
    /// (`ttm_resource_manager_set_used`).
    ///
    /// # Errors
    /// [`Error::NotFound`] if no manager is installed.
    pub fn set_use_type(&self, mem_type: MemType, used: bool) -> Result<()> {
        let slot = self.slot(mem_type).ok_or(Error::NotFound)?;
        slot.use_type.store(used, Ordering::Release);
        Ok(())
    }

    /// Whether `mem_type` has a manager in use.
    #[must_use]
    pub fn use_type(&self, mem_type: MemType) -> bool {
        self.slot(mem_type).is_some_and(|s| s.use_type())
    }

    /// Whether `mem_type`'s backing store is TT pages (false if not installed).
    #[must_use]
    pub fn use_tt(&self, mem_type: MemType) -> bool {
        self.slot(mem_type).is_some_and(|s| s.use_tt)
    }

    /// The registered size of `mem_type` (`man->size`), `None` if not installed.
    #[must_use]
    pub fn manager_size(&self, mem_type: MemType) -> Option<u64> {
        self.slot(mem_type).map(|s| s.size)
    }

    /// Bytes charged to `mem_type`: Σ live resource sizes plus reservations
    /// (`ttm_resource_manager_usage`). Takes the LRU lock; O(1).
    #[must_use]
    pub fn usage(&self, mem_type: MemType) -> u64 {
        self.lru.lock().usage(mem_type)
    }

    /// Charges `bytes` not backed by a resource to `mem_type` (amdgpu's VRAM
    /// reservations: `man->usage += rsv->size` under the LRU lock).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] on overflow.
    pub fn charge_reserved(&self, mem_type: MemType, bytes: u64) -> Result<()> {
        self.lru.lock().charge_reserved(mem_type, bytes)
    }

    /// Returns bytes charged with [`Device::charge_reserved`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if fewer bytes are charged.
    pub fn uncharge_reserved(&self, mem_type: MemType, bytes: u64) -> Result<()> {
        self.lru.lock().uncharge_reserved(mem_type, bytes)
    }

    /// The BO ids on `mem_type`'s LRU, in eviction order (priority 0 first, least
    /// recently used first).
    #[must_use]
    pub fn lru_order(&self, mem_type: MemType) -> Vec<u64> {
        self.lru.lock().order(mem_type)
    }

    /// The BO ids on the unevictable (pinned) list, oldest first.
    #[must_use]
    pub fn unevictable_order(&self) -> Vec<u64> {
        self.lru.lock().unevictable_order()
    }

    /// Number of BOs awaiting delayed deletion.
    #[must_use]
    pub fn n_deleted(&self) -> usize {
        self.zombies.lock().len()
    }

    /// Creates an unplaced BO (no resource yet; the first [`validate`] places it).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a size of 0 or not a multiple of
    /// [`PAGE_SIZE`](crate::PAGE_SIZE), or a priority above 3.
    ///
    /// [`validate`]: crate::ReservedBo::validate
    pub fn create_bo(self: &Arc<Self>, params: BoParams) -> Result<BufferObject> {
        let id = self.next_bo_id.fetch_add(1, Ordering::Relaxed);
        BufferObject::new(Arc::clone(self), id, params)
    }

    /// Creates a BO and validates it into `placement` (`ttm_bo_init_validate`); the
    /// BO is returned unreserved. On error the BO is destroyed.
    ///
    /// # Errors
    /// As [`Device::create_bo`] and [`validate`](crate::ReservedBo::validate).
    pub fn bo_init_validate(
        self: &Arc<Self>,
        params: BoParams,
        placement: &Placement,
        ctx: &mut crate::OperationCtx,
    ) -> Result<BufferObject> {
        let bo = self.create_bo(params)?;
        bo.reserve().validate(placement, ctx)?;
        Ok(bo)
    }

    /// Creates a resource for `bo` at `place`: charged and on the LRU tail, not yet
    /// placed by the manager (`ttm_resource_init`).
    pub(crate) fn resource_init(
        self: &Arc<Self>,
        bo: Weak<BoCore>,
        info: &BoInfo,
        pinned: bool,
        place: &Place,
        slot: Arc<ManagerSlot>,
    ) -> Result<Resource> {
        let id = self.lru.lock().init(
            bo,
            info.id,
            place.mem_type,
            info.priority,
            pinned,
            info.size,
        )?;
        Ok(Resource::new_charged(
            id,
            info.id,
            info.size,
            place,
            slot,
            Arc::clone(self),
        ))
    }

    pub(crate) fn resource_fini(&self, res_id: u64) {
        self.lru.lock().fini(res_id);
    }

    pub(crate) fn move_to_lru_tail(&self, res_id: u64, priority: u8, pinned: bool) {
        self.lru.lock().move_to_tail(res_id, priority, pinned);
    }

    /// Starts a walk over `mem_type`'s LRU lists (see [`LruWalk`]).
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] if the walk's hitch cannot be allocated.
    pub(crate) fn lru_walk(&self, mem_type: MemType) -> Result<LruWalk<'_>> {
        let cursor = self.lru.lock().cursor_init(mem_type)?;
        Ok(LruWalk { dev: self, cursor })
    }

    /// Writes the upstream `ttm_resource_manager_debug` dump of `mem_type`:
    /// `  use_type: %d`, `  use_tt: %d`, `  size: %llu`, `  usage: %llu`, then the
    /// manager's own dump. Writes nothing for an uninstalled type.
    ///
    /// # Errors
    /// Only the writer's errors.
    pub fn manager_debug(&self, mem_type: MemType, out: &mut dyn fmt::Write) -> fmt::Result {
        let Some(slot) = self.slot(mem_type) else {
            return Ok(());
        };
        writeln!(out, "  use_type: {}", i32::from(slot.use_type()))?;
        writeln!(out, "  use_tt: {}", i32::from(slot.use_tt))?;
        writeln!(out, "  size: {}", slot.size)?;
        writeln!(out, "  usage: {}", self.usage(mem_type))?;
        slot.man.debug(out)
    }

    /// Writes upstream's `ttm_bo_mem_space_debug` block: per place
    /// `  placement[%d]=0x%08X (%d)` followed by that manager's dump.
    ///
    /// # Errors
    /// Only the writer's errors.
    pub fn mem_space_debug(&self, placement: &Placement, out: &mut dyn fmt::Write) -> fmt::Result {
        for (i, place) in placement.places().iter().enumerate() {
            writeln!(
                out,
                "  placement[{i}]=0x{:08X} ({})",
                place.flags.bits(),
                place.mem_type.as_u32()
            )?;
            self.manager_debug(place.mem_type, out)?;
        }
        Ok(())
    }

    /// Re-derives the device's invariants: LRU lists and usage counters agree with
    /// the live resources, and every installed manager passes its own check.
    /// O(live resources) plus the managers' checks; for tests and debugging.
    ///
    /// # Errors
    /// The first violation found.
    pub fn check(&self) -> core::result::Result<(), CheckError> {
        self.lru.lock().check()?;
        let slots: Vec<Arc<ManagerSlot>> = self.managers.read().iter().flatten().cloned().collect();
        for slot in slots {
            slot.man
                .check()
                .map_err(|e| CheckError(format!("{:?} manager: {}", slot.mem_type, e.0)))?;
        }
        Ok(())
    }
}
