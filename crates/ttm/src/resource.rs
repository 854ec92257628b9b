//! Resources: one BO's space in one memory type (upstream `struct ttm_resource`).
//!
//! A [`Resource`] is created and charged by TTM, placed by a manager, and owned by
//! whoever holds it — normally its BO, transiently the validation code while a move is
//! in progress. It is an owned, non-`Clone` token: dropping it returns the space to
//! its manager (`ResourceManager::free`) and then uncharges the usage, so no error
//! path can leak space or accounting.

use core::any::Any;
use core::fmt;
use std::sync::Arc;

use crate::device::Device;
use crate::manager::{ManagerCtx, ManagerSlot};
use crate::placement::{MemType, Place, PlaceFlags};

/// Manager-private data carried by a resource (buddy blocks, an mm node, ...).
pub type PrivateData = Box<dyn Any + Send + Sync>;

/// One BO's allocation in one memory type.
///
/// # Invariants
/// While the resource exists its size is included in the usage of `mem_type` and it
/// sits on exactly one LRU list of the device (keyed by [`Resource::id`]).
pub struct Resource {
    id: u64,
    bo_id: u64,
    mem_type: MemType,
    start: u64,
    size: u64,
    placement: PlaceFlags,
    private: Option<PrivateData>,
    /// Set once the manager's `alloc` succeeded: only then does `free` run on drop.
    allocated: bool,
    /// The manager registration and the device: `Some` for the whole life of the
    /// resource, taken only by `drop` (which then needs no reference-count traffic).
    home: Option<(Arc<ManagerSlot>, Arc<Device>)>,
}

impl Resource {
    /// Offset value for a resource without an address in its manager (amdgpu's
    /// GTT resources without a GART address).
    pub const INVALID_OFFSET: u64 = u64::MAX;

    pub(crate) fn new_charged(
        id: u64,
        bo_id: u64,
        size: u64,
        place: &Place,
        slot: Arc<ManagerSlot>,
        dev: Arc<Device>,
    ) -> Resource {
        Resource {
            id,
            bo_id,
            mem_type: place.mem_type,
            start: 0,
            size,
            placement: place.flags,
            private: None,
            allocated: false,
            home: Some((slot, dev)),
        }
    }

    #[inline]
    pub(crate) fn mark_allocated(&mut self) {
        self.allocated = true;
    }

    /// Device-unique id of this resource (its LRU key).
    #[inline]
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Id of the BO this resource was allocated for.
    #[inline]
    #[must_use]
    pub fn bo_id(&self) -> u64 {
        self.bo_id
    }

    /// The memory type.
    #[inline]
    #[must_use]
    pub fn mem_type(&self) -> MemType {
        self.mem_type
    }

    /// Manager-defined start, normally in pages; [`Resource::INVALID_OFFSET`] if the
    /// resource has no address.
    #[inline]
    #[must_use]
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Sets the start (managers, during `alloc`).
    #[inline]
    pub fn set_start(&mut self, start: u64) {
        self.start = start;
    }

    /// Size in bytes (the BO's size).
    #[inline]
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Placement flags copied from the place, plus what the manager added.
    #[inline]
    #[must_use]
    pub fn placement(&self) -> PlaceFlags {
        self.placement
    }

    /// Mutable placement flags (managers record CONTIGUOUS here).
    #[inline]
    pub fn placement_mut(&mut self) -> &mut PlaceFlags {
        &mut self.placement
    }

    /// Stores the manager's private data, replacing any previous value.
    pub fn set_private<T: Any + Send + Sync>(&mut self, data: T) {
        self.private = Some(Box::new(data));
    }

    /// Read access to the private data if it is a `T` (drivers' move/copy code).
    #[inline]
    #[must_use]
    pub fn private<T: Any>(&self) -> Option<&T> {
        self.private.as_deref().and_then(|p| p.downcast_ref::<T>())
    }

    /// Takes the private data back if it is a `T` (managers, in `free`); leaves it
    /// in place otherwise.
    pub fn take_private<T: Any>(&mut self) -> Option<T> {
        match self.private.take()?.downcast::<T>() {
            Ok(b) => Some(*b),
            Err(other) => {
                self.private = Some(other);
                None
            }
        }
    }

    /// Whether `self` may stay for `place` according to its manager
    /// (`man->func->compatible`), ignoring the core's flag rules.
    pub(crate) fn manager_compatible(&self, place: &Place, size: u64) -> bool {
        self.home
            .as_ref()
            .is_some_and(|(slot, _)| slot.man.compatible(self, place, size))
    }

    /// Whether evicting `self` helps an allocation at `place` (`ttm_resource_intersects`).
    #[must_use]
    pub fn intersects(&self, place: &Place, size: u64) -> bool {
        self.home
            .as_ref()
            .map_or(true, |(slot, _)| slot.man.intersects(self, place, size))
    }

    /// Whether the manager backs this resource with TT pages.
    #[inline]
    #[must_use]
    pub fn use_tt(&self) -> bool {
        self.home.as_ref().is_some_and(|(slot, _)| slot.use_tt)
    }
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("id", &self.id)
            .field("bo_id", &self.bo_id)
            .field("mem_type", &self.mem_type)
            .field("start", &self.start)
            .field("size", &self.size)
            .field("placement", &self.placement)
            .field("has_private", &self.private.is_some())
            .finish()
    }
}

impl Drop for Resource {
    fn drop(&mut self) {
        // Moved out rather than cloned: `free` only takes the private data back and
        // never asks the resource about its manager.
        let Some((slot, dev)) = self.home.take() else {
            return;
        };
        if self.allocated {
            self.allocated = false;
            slot.man.free(
                &ManagerCtx {
                    dev: &dev,
                    slot: &slot,
                },
                self,
            );
        }
        dev.resource_fini(self.id);
    }
}
