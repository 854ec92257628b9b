//! The generic range manager (upstream `ttm_range_manager.c`): a `pddgpu_mm` range
//! allocator over the pages of one memory type.
//!
//! `alloc` inserts a node of `PFN_UP(size)` pages with the BO's page alignment, colour
//! 0, in `[fpfn, lpfn ?: size)`, mode [`InsertMode::Best`] or [`InsertMode::High`]
//! for TOPDOWN places; the resource's start is the node's first page and the node is
//! the resource's private data. `intersects`/`compatible` compare the node start and
//! the *requested* size with the place's window, as upstream. The dump is the range
//! allocator's `drm_mm_print` format (page units).
//!
//! # Synchronization
//! One internal mutex around the allocator (upstream's spinlock); it is held only for
//! the insert/remove/print/check itself.

use core::fmt;

use parking_lot::Mutex;
use pddgpu_mm::{InsertMode, Mm, Node};

use crate::error::{CheckError, Error, Result};
use crate::manager::{BoInfo, ManagerCtx, ResourceManager};
use crate::placement::{Place, PlaceFlags};
use crate::resource::Resource;
use crate::tt::PAGE_SIZE;

/// A resource manager handing out page ranges of a `pddgpu_mm::Mm`.
#[derive(Debug)]
pub struct RangeManager {
    mm: Mutex<Mm>,
    num_pages: u64,
}

fn mm_error(e: pddgpu_mm::Error) -> Error {
    match e {
        pddgpu_mm::Error::NoSpace => Error::NoSpace,
        pddgpu_mm::Error::OutOfMemory => Error::OutOfMemory,
        pddgpu_mm::Error::Busy => Error::Busy,
        pddgpu_mm::Error::InvalidArgument => Error::InvalidArgument,
    }
}

/// `PFN_UP(size)`.
fn pages_of(size: u64) -> u64 {
    size.div_ceil(PAGE_SIZE)
}

impl RangeManager {
    /// A manager over pages `[0, num_pages)` (`ttm_range_man_init`). Register it with
    /// [`Device::set_manager`](crate::Device::set_manager) using `num_pages` as size.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `num_pages` is 0.
    pub fn new(num_pages: u64) -> Result<RangeManager> {
        let mm = Mm::new(0, num_pages).map_err(mm_error)?;
        Ok(RangeManager {
            mm: Mutex::new(mm),
            num_pages,
        })
    }

    /// Pages managed.
    #[must_use]
    pub fn num_pages(&self) -> u64 {
        self.num_pages
    }

    /// Pages currently allocated.
    #[must_use]
    pub fn used_pages(&self) -> u64 {
        self.mm.lock().used()
    }
}

impl ResourceManager for RangeManager {
    fn alloc(
        &self,
        _ctx: &ManagerCtx<'_>,
        bo: &BoInfo,
        place: &Place,
        res: &mut Resource,
    ) -> Result<()> {
        let lpfn = if place.lpfn == 0 {
            self.num_pages
        } else {
            u64::from(place.lpfn)
        };
        let mode = if place.flags.contains(PlaceFlags::TOPDOWN) {
            InsertMode::High
        } else {
            InsertMode::Best
        };
        let node = self
            .mm
            .lock()
            .insert_in_range(
                pages_of(res.size()),
                bo.page_alignment,
                0,
                u64::from(place.fpfn),
                lpfn,
                mode,
            )
            .map_err(mm_error)?;
        res.set_start(node.start());
        res.set_private(node);
        Ok(())
    }

    fn free(&self, _ctx: &ManagerCtx<'_>, res: &mut Resource) {
        if let Some(node) = res.take_private::<Node>() {
            if let Err(e) = self.mm.lock().remove(node) {
                tracing::error!(error = %e, "range manager: node of resource {} not removable", res.id());
            }
        }
    }

    fn intersects(&self, res: &Resource, place: &Place, size: u64) -> bool {
        let start = res.start();
        let num_pages = pages_of(size);
        !(u64::from(place.fpfn) >= start.saturating_add(num_pages)
            || (place.lpfn != 0 && u64::from(place.lpfn) <= start))
    }

    fn compatible(&self, res: &Resource, place: &Place, size: u64) -> bool {
        let start = res.start();
        let num_pages = pages_of(size);
        !(start < u64::from(place.fpfn)
            || (place.lpfn != 0 && start.saturating_add(num_pages) > u64::from(place.lpfn)))
    }

    fn debug(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut out = out;
        self.mm.lock().print(&mut out)
    }

    fn check(&self) -> core::result::Result<(), CheckError> {
        self.mm.lock().check().map_err(|e| CheckError(e.what))
    }
}
