//! Unit tests of the crate internals: LRU lists and accounting, the page pool,
//! flags and errors, resource private data, and the range manager.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::lru::LruState;
use crate::*;

/// A driver that moves nothing and hands out pages from a counter.
#[derive(Debug, Default)]
struct NullDriver {
    next: Mutex<u64>,
    outstanding: Mutex<HashMap<u64, u8>>,
    oom_above_order: Mutex<Option<u8>>,
    cleared: Mutex<Vec<(u64, u8)>>,
}

impl DeviceFuncs for NullDriver {
    fn evict_flags(&self, _bo: &BoInfo, _res: &Resource) -> Placement {
        Placement::single(MemType::SYSTEM)
    }
    fn move_bo(&self, _args: &MoveArgs<'_>) -> core::result::Result<(), MoveError> {
        Ok(())
    }
}

impl PageSource for NullDriver {
    fn alloc_pages(&self, order: u8) -> Result<u64> {
        if self.oom_above_order.lock().is_some_and(|o| order > o) {
            return Err(Error::OutOfMemory);
        }
        let mut next = self.next.lock();
        let bytes = PAGE_SIZE << order;
        let addr = next.div_ceil(bytes) * bytes;
        *next = addr + bytes;
        self.outstanding.lock().insert(addr, order);
        Ok(addr)
    }
    fn free_pages(&self, dma_addr: u64, order: u8) {
        assert_eq!(self.outstanding.lock().remove(&dma_addr), Some(order));
    }
    fn clear_pages(&self, dma_addr: u64, order: u8) {
        self.cleared.lock().push((dma_addr, order));
    }
}

fn device() -> (Arc<Device>, Arc<NullDriver>) {
    let drv = Arc::new(NullDriver::default());
    (
        Device::new(drv.clone(), drv.clone(), DeviceConfig::default()),
        drv,
    )
}

// ---------------------------------------------------------------- errors, flags

#[test]
fn errno_values_and_user_space_mapping() {
    let table = [
        (Error::InvalidArgument, 22),
        (Error::NoSpace, 28),
        (Error::OutOfMemory, 12),
        (Error::Busy, 16),
        (Error::NoDevice, 19),
        (Error::NotFound, 2),
        (Error::Io, 5),
    ];
    for (e, n) in table {
        assert_eq!(e.errno(), n, "{e:?}");
        let user = if e == Error::NoSpace { 12 } else { n };
        assert_eq!(e.user_errno(false), user, "{e:?}");
        assert_eq!(e.user_errno(true), n, "{e:?}");
    }
}

#[test]
fn placement_flag_values_match_upstream() {
    assert_eq!(PlaceFlags::CONTIGUOUS.bits(), 1);
    assert_eq!(PlaceFlags::TOPDOWN.bits(), 2);
    assert_eq!(PlaceFlags::TEMPORARY.bits(), 4);
    assert_eq!(PlaceFlags::DESIRED.bits(), 8);
    assert_eq!(PlaceFlags::FALLBACK.bits(), 16);
    assert_eq!(AllocationFlags::PROPAGATE_ENOSPC.bits(), 1 << 10);
    assert_eq!(format!("{:?}", MemType::new(4).unwrap()), "PRIV1");
    assert_eq!(format!("{:?}", MemType::VRAM), "VRAM");
    assert_eq!(MemType::all().count(), NUM_MEM_TYPES);
    let p = Place::new(MemType::TT)
        .with_range(3, 9)
        .with_flags(PlaceFlags::TOPDOWN);
    assert_eq!(
        (p.fpfn, p.lpfn, p.mem_type, p.flags),
        (3, 9, MemType::TT, PlaceFlags::TOPDOWN)
    );
}

// ---------------------------------------------------------------- LRU

#[test]
fn lru_walk_order_priority_then_age() {
    let mut lru = LruState::new();
    let t = MemType::VRAM;
    let a = lru.init(Weak::new(), 10, t, 1, false, 4096).unwrap();
    let _b = lru.init(Weak::new(), 11, t, 0, false, 8192).unwrap();
    let _c = lru.init(Weak::new(), 12, t, 0, false, 4096).unwrap();
    let p = lru.init(Weak::new(), 13, t, 0, true, 4096).unwrap();
    assert_eq!(lru.order(t), vec![11, 12, 10]);
    assert_eq!(lru.unevictable_order(), vec![13]);
    assert_eq!(lru.usage(t), 20480);
    lru.move_to_tail(a, 0, false);
    assert_eq!(lru.order(t), vec![11, 12, 10]);
    lru.move_to_tail(p, 0, false);
    assert_eq!(lru.order(t), vec![11, 12, 10, 13]);
    let cursor = lru.cursor_init(t).unwrap();
    let mut seen = Vec::new();
    while let Some(item) = lru.next(&cursor) {
        seen.push(item.bo_id);
        if seen == [11] {
            // Bumped while the walk is past it: seen again at the tail.
            lru.move_to_tail(item.res_id, 0, false);
        }
    }
    assert_eq!(seen, vec![11, 12, 10, 13, 11]);
    // The hitch sits after the last entry returned, on the priority-0 list.
    lru.check().unwrap();
    lru.cursor_fini(&cursor);
    lru.check().unwrap();
    lru.fini(a);
    assert_eq!(lru.usage(t), 16384);
    assert_eq!(lru.n_resources(t), 3);
    lru.check().unwrap();
}

#[test]
fn lru_reserved_usage_and_overflow() {
    let mut lru = LruState::new();
    lru.charge_reserved(MemType::VRAM, 1 << 20).unwrap();
    assert_eq!(lru.usage(MemType::VRAM), 1 << 20);
    assert_eq!(
        lru.uncharge_reserved(MemType::VRAM, 2 << 20),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        lru.init(Weak::new(), 1, MemType::VRAM, 0, false, u64::MAX),
        Err(Error::InvalidArgument)
    );
    lru.check().unwrap();
    lru.uncharge_reserved(MemType::VRAM, 1 << 20).unwrap();
    assert_eq!(lru.usage(MemType::VRAM), 0);
}

// ---------------------------------------------------------------- page pool

#[test]
fn pool_allocates_largest_orders_first_and_caches() {
    let drv = Arc::new(NullDriver::default());
    let pool = PagePool::new(drv.clone(), 8);
    let chunks = pool.alloc(13).unwrap();
    let orders: Vec<u8> = chunks.iter().map(|c| c.1).collect();
    assert_eq!(orders, vec![3, 2, 0]);
    assert!(chunks.iter().all(|&(a, o)| a % (PAGE_SIZE << o) == 0));
    pool.free(chunks);
    // 8 pages fit the cache (order 3); the other 5 went back to the source.
    assert_eq!(pool.cached_pages(), 8);
    assert_eq!(pool.cached_chunks(3), 1);
    assert_eq!(drv.outstanding.lock().len(), 1);
    let again = pool.alloc(8).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(pool.cached_pages(), 0);
    pool.free(again);
    pool.shrink();
    assert_eq!(pool.cached_pages(), 0);
    assert!(drv.outstanding.lock().is_empty());
}

#[test]
fn pool_clears_only_pages_whose_addresses_were_handed_out() {
    let (dev, drv) = device();
    dev.set_manager(
        MemType::TT,
        Arc::new(RangeManager::new(64).unwrap()),
        true,
        64 * PAGE_SIZE,
    )
    .unwrap();
    let tt = Placement::single(MemType::TT);
    let mut ctx = OperationCtx::new();
    // Placed in TT (populated) and released without anyone learning its page.
    let a = dev
        .bo_init_validate(BoParams::new(PAGE_SIZE), &tt, &mut ctx)
        .unwrap();
    assert!(a
        .reserve()
        .tt()
        .is_some_and(|t| t.is_populated() && !t.is_exposed()));
    drop(a);
    assert!(drv.cleared.lock().is_empty());
    assert_eq!(dev.pool().cached_pages(), 1);
    // The same page again; this time its address is read, so it is cleared on release.
    let b = dev
        .bo_init_validate(BoParams::new(PAGE_SIZE), &tt, &mut ctx)
        .unwrap();
    let page = {
        let r = b.reserve();
        let t = r.tt().unwrap();
        let page = t.pages()[0];
        assert!(t.is_exposed());
        page
    };
    drop(b);
    assert_eq!(*drv.cleared.lock(), vec![(page, 0)]);
    // Repopulated pages start unexposed again; `chunks` exposes them too.
    let c = dev
        .bo_init_validate(BoParams::new(PAGE_SIZE), &tt, &mut ctx)
        .unwrap();
    assert_eq!(c.reserve().tt().unwrap().chunks(), [(page, 0)]);
    drop(c);
    assert_eq!(*drv.cleared.lock(), vec![(page, 0), (page, 0)]);
    // PagePool::free always clears.
    dev.pool().free(dev.pool().alloc(1).unwrap());
    assert_eq!(drv.cleared.lock().len(), 3);
    dev.check().unwrap();
}

#[test]
fn pool_falls_back_to_smaller_orders_and_undoes_on_failure() {
    let drv = Arc::new(NullDriver::default());
    *drv.oom_above_order.lock() = Some(1);
    let pool = PagePool::new(drv.clone(), 0);
    let chunks = pool.alloc(5).unwrap();
    assert_eq!(
        chunks.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![1, 1, 0]
    );
    pool.free(chunks);
    assert!(drv.outstanding.lock().is_empty());
}

// ---------------------------------------------------------------- resources

#[test]
fn resource_private_data_round_trip() {
    let (dev, _drv) = device();
    let bo = dev.create_bo(BoParams::new(PAGE_SIZE)).unwrap();
    let mut r = bo.reserve();
    let mut res = r
        .mem_space(
            &Placement::single(MemType::SYSTEM),
            &mut OperationCtx::new(),
        )
        .unwrap();
    assert_eq!(res.bo_id(), bo.id());
    res.set_private(42u32);
    assert_eq!(res.private::<u32>(), Some(&42));
    assert_eq!(res.private::<u64>(), None);
    assert_eq!(res.take_private::<u64>(), None);
    assert_eq!(res.take_private::<u32>(), Some(42));
    assert_eq!(res.take_private::<u32>(), None);
    assert_eq!(dev.usage(MemType::SYSTEM), PAGE_SIZE);
    drop(res);
    assert_eq!(dev.usage(MemType::SYSTEM), 0);
    // A resource of another BO cannot be assigned.
    let other = dev.create_bo(BoParams::new(PAGE_SIZE)).unwrap();
    let res = other
        .reserve()
        .mem_space(
            &Placement::single(MemType::SYSTEM),
            &mut OperationCtx::new(),
        )
        .unwrap();
    assert_eq!(r.assign_resource(res), Err(Error::InvalidArgument));
    drop(r);
    dev.check().unwrap();
}

#[test]
fn compatibility_rules() {
    let (dev, _drv) = device();
    let bo = dev.create_bo(BoParams::new(PAGE_SIZE)).unwrap();
    let mut r = bo.reserve();
    let sys = Place::new(MemType::SYSTEM);
    let res = r
        .mem_space(&Placement::new(vec![sys]), &mut OperationCtx::new())
        .unwrap();
    let size = PAGE_SIZE;
    let p = |places: Vec<Place>| Placement::new(places);
    assert!(resource_compatible(&res, &p(vec![sys]), false, size));
    assert!(!resource_compatible(
        &res,
        &p(vec![Place::new(MemType::TT)]),
        false,
        size
    ));
    let fallback = sys.with_flags(PlaceFlags::FALLBACK);
    assert!(!resource_compatible(&res, &p(vec![fallback]), false, size));
    assert!(resource_compatible(&res, &p(vec![fallback]), true, size));
    let desired = sys.with_flags(PlaceFlags::DESIRED);
    assert!(resource_compatible(&res, &p(vec![desired]), false, size));
    assert!(!resource_compatible(&res, &p(vec![desired]), true, size));
    let contig = sys.with_flags(PlaceFlags::CONTIGUOUS);
    assert!(!resource_compatible(&res, &p(vec![contig]), false, size));
    let tmp = r
        .mem_space(
            &p(vec![sys.with_flags(PlaceFlags::TEMPORARY)]),
            &mut OperationCtx::new(),
        )
        .unwrap();
    assert!(!resource_compatible(&tmp, &p(vec![sys]), false, size));
    assert!(!resource_compatible(&tmp, &p(vec![sys]), true, size));
}

// ---------------------------------------------------------------- range manager

fn range_device(pages: u64) -> (Arc<Device>, Arc<RangeManager>) {
    let (dev, _drv) = device();
    let man = Arc::new(RangeManager::new(pages).unwrap());
    dev.set_manager(MemType::VRAM, man.clone(), false, pages)
        .unwrap();
    (dev, man)
}

fn place_bo(dev: &Arc<Device>, pages: u64, align: u64, place: Place) -> Result<BufferObject> {
    let bo = dev.create_bo(BoParams {
        page_alignment: align,
        ..BoParams::new(pages * PAGE_SIZE)
    })?;
    bo.reserve()
        .validate(&Placement::new(vec![place]), &mut OperationCtx::new())?;
    Ok(bo)
}

fn start_of(bo: &BufferObject) -> u64 {
    bo.reserve().resource().unwrap().start()
}

#[test]
fn range_manager_best_high_and_windows() {
    let (dev, man) = range_device(64);
    let vram = Place::new(MemType::VRAM);
    let a = place_bo(&dev, 4, 0, vram).unwrap();
    assert_eq!(start_of(&a), 0);
    let top = place_bo(&dev, 4, 0, vram.with_flags(PlaceFlags::TOPDOWN)).unwrap();
    assert_eq!(start_of(&top), 60);
    let aligned = place_bo(&dev, 2, 8, vram).unwrap();
    assert_eq!(start_of(&aligned), 8);
    let win = place_bo(&dev, 3, 0, vram.with_range(20, 30)).unwrap();
    assert_eq!(start_of(&win), 20);
    let win_top = place_bo(
        &dev,
        3,
        0,
        vram.with_range(20, 30).with_flags(PlaceFlags::TOPDOWN),
    )
    .unwrap();
    assert_eq!(start_of(&win_top), 27);
    assert_eq!(man.used_pages(), 16);
    assert_eq!(dev.usage(MemType::VRAM), 16 * PAGE_SIZE);
    let mut out = String::new();
    dev.manager_debug(MemType::VRAM, &mut out).unwrap();
    assert_eq!(
        out,
        "  use_type: 1\n  use_tt: 0\n  size: 64\n  usage: 65536\n\
         0x0000000000000000-0x0000000000000004: 4: used\n\
         0x0000000000000004-0x0000000000000008: 4: free\n\
         0x0000000000000008-0x000000000000000a: 2: used\n\
         0x000000000000000a-0x0000000000000014: 10: free\n\
         0x0000000000000014-0x0000000000000017: 3: used\n\
         0x0000000000000017-0x000000000000001b: 4: free\n\
         0x000000000000001b-0x000000000000001e: 3: used\n\
         0x000000000000001e-0x000000000000003c: 30: free\n\
         0x000000000000003c-0x0000000000000040: 4: used\n\
         total: 64, used 16 free 48\n"
    );
    dev.check().unwrap();
    drop((a, top, aligned, win, win_top));
    assert_eq!(man.used_pages(), 0);
    assert_eq!(dev.usage(MemType::VRAM), 0);
    dev.check().unwrap();
}

#[test]
fn range_manager_intersects_and_compatible_as_upstream() {
    let (dev, _man) = range_device(64);
    let vram = Place::new(MemType::VRAM);
    let bo = place_bo(&dev, 4, 0, vram.with_range(8, 16)).unwrap();
    let r = bo.reserve();
    let res = r.resource().unwrap();
    assert_eq!(res.start(), 8);
    let m = dev.manager(MemType::VRAM).unwrap();
    let size = 4 * PAGE_SIZE;
    // intersects: false iff fpfn >= start + pages or (lpfn && lpfn <= start).
    assert!(m.intersects(res, &vram, size));
    assert!(!m.intersects(res, &vram.with_range(12, 0), size));
    assert!(m.intersects(res, &vram.with_range(11, 0), size));
    assert!(!m.intersects(res, &vram.with_range(0, 8), size));
    assert!(m.intersects(res, &vram.with_range(0, 9), size));
    // The requested size, not the node's, is used.
    assert!(m.intersects(res, &vram.with_range(13, 0), 8 * PAGE_SIZE));
    // compatible: false iff start < fpfn or (lpfn && start + pages > lpfn).
    assert!(m.compatible(res, &vram, size));
    assert!(m.compatible(res, &vram.with_range(8, 12), size));
    assert!(!m.compatible(res, &vram.with_range(9, 0), size));
    assert!(!m.compatible(res, &vram.with_range(0, 11), size));
}

#[test]
fn range_manager_full_is_no_space_and_evicts() {
    let (dev, man) = range_device(8);
    let vram = Place::new(MemType::VRAM);
    let a = place_bo(&dev, 8, 0, vram).unwrap();
    // Evicted to SYSTEM by the null driver.
    let b = place_bo(&dev, 2, 0, vram).unwrap();
    assert_eq!(a.reserve().resource().unwrap().mem_type(), MemType::SYSTEM);
    assert_eq!(start_of(&b), 0);
    a.reserve().pin().unwrap();
    b.reserve().pin().unwrap();
    assert_eq!(place_bo(&dev, 7, 0, vram).unwrap_err(), Error::NoSpace);
    assert_eq!(man.used_pages(), 2);
    assert_eq!(RangeManager::new(0).unwrap_err(), Error::InvalidArgument);
    dev.check().unwrap();
}

// ---------------------------------------------------------------- usage seen by managers

/// amdgpu's GTT rule: fail when usage including this BO exceeds the size (bytes),
/// unless the place is TEMPORARY.
#[derive(Debug)]
struct UsageLimited;

impl ResourceManager for UsageLimited {
    fn alloc(
        &self,
        ctx: &ManagerCtx<'_>,
        _bo: &BoInfo,
        place: &Place,
        res: &mut Resource,
    ) -> Result<()> {
        if !place.flags.contains(PlaceFlags::TEMPORARY) && ctx.usage() > ctx.size() {
            return Err(Error::NoSpace);
        }
        res.set_start(Resource::INVALID_OFFSET);
        Ok(())
    }
    fn free(&self, _ctx: &ManagerCtx<'_>, _res: &mut Resource) {}
}

#[test]
fn usage_is_charged_before_the_manager_places_the_resource() {
    let (dev, _drv) = device();
    dev.set_manager(MemType::TT, Arc::new(UsageLimited), true, 8 * PAGE_SIZE)
        .unwrap();
    let tt = Placement::single(MemType::TT);
    let mut ctx = OperationCtx::new();
    let a = dev
        .bo_init_validate(BoParams::new(4 * PAGE_SIZE), &tt, &mut ctx)
        .unwrap();
    // Exactly reaching the size is allowed (`>` not `>=`).
    let b = dev
        .bo_init_validate(BoParams::new(4 * PAGE_SIZE), &tt, &mut ctx)
        .unwrap();
    assert_eq!(dev.usage(MemType::TT), 8 * PAGE_SIZE);
    assert_eq!(
        b.reserve().resource().unwrap().start(),
        Resource::INVALID_OFFSET
    );
    // Over the limit: `a` (least recently used) is evicted to SYSTEM.
    let c = dev
        .bo_init_validate(BoParams::new(PAGE_SIZE), &tt, &mut ctx)
        .unwrap();
    assert_eq!(a.reserve().resource().unwrap().mem_type(), MemType::SYSTEM);
    assert_eq!(dev.usage(MemType::TT), 5 * PAGE_SIZE);
    // TEMPORARY bypasses the limit.
    let tmp = Placement::new(vec![
        Place::new(MemType::TT).with_flags(PlaceFlags::TEMPORARY)
    ]);
    let d = dev.create_bo(BoParams::new(8 * PAGE_SIZE)).unwrap();
    let res = d.reserve().mem_space(&tmp, &mut ctx).unwrap();
    assert_eq!(dev.usage(MemType::TT), 13 * PAGE_SIZE);
    drop(res);
    // Reservations count as usage too.
    dev.charge_reserved(MemType::TT, 3 * PAGE_SIZE).unwrap();
    assert_eq!(dev.usage(MemType::TT), 8 * PAGE_SIZE);
    assert_eq!(
        dev.bo_init_validate(
            BoParams::new(PAGE_SIZE),
            &Placement::new(vec![Place::new(MemType::TT).with_flags(PlaceFlags::DESIRED)]),
            &mut ctx
        )
        .unwrap_err(),
        Error::NoSpace
    );
    dev.check().unwrap();
    assert_eq!(
        dev.uncharge_reserved(MemType::TT, 4 * PAGE_SIZE),
        Err(Error::InvalidArgument)
    );
    dev.uncharge_reserved(MemType::TT, 3 * PAGE_SIZE).unwrap();
    drop((a, b, c, d));
    assert_eq!(dev.usage(MemType::TT), 0);
    dev.check().unwrap();
}
