//! Eviction scenarios through the public API, each with exact expectations.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{setup, TestDriver, KIB};
use pddgpu_ttm::{
    BoParams, BufferObject, Error, MemType, OperationCtx, Place, PlaceFlags, Placement,
};

fn vram() -> Placement {
    Placement::single(MemType::VRAM)
}

/// Creates a BO of `size` bytes in `placement` and stamps it with `seed`.
fn make(s: &common::Setup, size: u64, placement: &Placement, seed: u64) -> BufferObject {
    let bo = s.dev.create_bo(BoParams::new(size)).expect("create");
    let mut r = bo.reserve();
    r.validate(placement, &mut OperationCtx::new())
        .expect("validate");
    s.drv.write_bo(&mut r, seed).expect("write");
    drop(r);
    bo
}

fn where_is(bo: &BufferObject) -> Option<(MemType, u64)> {
    bo.reserve().resource().map(|r| (r.mem_type(), r.start()))
}

fn assert_contents(s: &common::Setup, bo: &BufferObject, seed: u64) {
    let r = bo.reserve();
    assert_eq!(
        s.drv.read_bo(&r),
        TestDriver::expected(seed, bo.num_pages()),
        "contents of BO {}",
        bo.id()
    );
}

#[test]
fn full_vram_evicts_only_the_least_recently_used_bo() {
    // 1 MiB of VRAM exactly filled by 8 KiB + 512 KiB + 504 KiB.
    let s = setup(256, 256, 0);
    let a = make(&s, 8 * KIB, &vram(), 1);
    let b = make(&s, 512 * KIB, &vram(), 2);
    let c = make(&s, 504 * KIB, &vram(), 3);
    assert_eq!(s.dev.usage(MemType::VRAM), 1024 * KIB);
    assert_eq!(s.dev.lru_order(MemType::VRAM), vec![a.id(), b.id(), c.id()]);

    let d = s.dev.create_bo(BoParams::new(4 * KIB)).unwrap();
    let mut ctx = OperationCtx::new();
    d.reserve().validate(&vram(), &mut ctx).unwrap();
    assert_eq!(ctx.bytes_moved, 4 * KIB + 8 * KIB);
    assert_eq!(s.drv.evictions.load(Ordering::Relaxed), 1);
    assert_eq!(where_is(&a), Some((MemType::TT, 0)));
    assert_eq!(where_is(&b), Some((MemType::VRAM, 2)));
    assert_eq!(where_is(&c), Some((MemType::VRAM, 130)));
    assert_eq!(where_is(&d), Some((MemType::VRAM, 0)));
    assert_eq!(s.dev.usage(MemType::VRAM), 1020 * KIB);
    assert_eq!(s.dev.usage(MemType::TT), 8 * KIB);
    assert_eq!(s.dev.lru_order(MemType::VRAM), vec![b.id(), c.id(), d.id()]);
    assert_eq!(s.dev.lru_order(MemType::TT), vec![a.id()]);
    assert_contents(&s, &a, 1);
    assert_contents(&s, &b, 2);
    assert_contents(&s, &c, 3);
    s.check();
}

#[test]
fn unreserve_bumps_to_most_recently_used() {
    let s = setup(16, 16, 0);
    let a = make(&s, 4 * KIB, &vram(), 1);
    let b = make(&s, 4 * KIB, &vram(), 2);
    assert_eq!(s.dev.lru_order(MemType::VRAM), vec![a.id(), b.id()]);
    drop(a.reserve());
    assert_eq!(s.dev.lru_order(MemType::VRAM), vec![b.id(), a.id()]);
    drop(b.try_reserve().unwrap());
    assert_eq!(s.dev.lru_order(MemType::VRAM), vec![a.id(), b.id()]);
}

#[test]
fn lower_priority_value_is_evicted_first() {
    let s = setup(4, 16, 0);
    let p1 = s
        .dev
        .create_bo(BoParams {
            priority: 1,
            ..BoParams::new(8 * KIB)
        })
        .unwrap();
    p1.reserve()
        .validate(&vram(), &mut OperationCtx::new())
        .unwrap();
    let p0 = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    p0.reserve()
        .validate(&vram(), &mut OperationCtx::new())
        .unwrap();
    assert_eq!(s.dev.lru_order(MemType::VRAM), vec![p0.id(), p1.id()]);
    let d = make(&s, 8 * KIB, &vram(), 9);
    assert_eq!(where_is(&p0).unwrap().0, MemType::TT);
    assert_eq!(where_is(&p1).unwrap().0, MemType::VRAM);
    assert_eq!(where_is(&d), Some((MemType::VRAM, 2)));
}

#[test]
fn all_pinned_vram_fails_validation() {
    let s = setup(4, 16, 0);
    let a = make(&s, 16 * KIB, &vram(), 1);
    a.reserve().pin().unwrap();
    let d = s.dev.create_bo(BoParams::new(4 * KIB)).unwrap();
    let mut ctx = OperationCtx::new();
    assert_eq!(d.reserve().validate(&vram(), &mut ctx), Err(Error::NoSpace));
    assert_eq!(ctx.bytes_moved, 0);
    assert_eq!(where_is(&a), Some((MemType::VRAM, 0)));
    assert_eq!(where_is(&d), None);
    assert_eq!(s.dev.usage(MemType::VRAM), 16 * KIB);
    // With a second place the BO goes there instead.
    let placement = Placement::new(vec![Place::new(MemType::VRAM), Place::new(MemType::TT)]);
    d.reserve().validate(&placement, &mut ctx).unwrap();
    assert_eq!(where_is(&d), Some((MemType::TT, 0)));
    s.check();
}

#[test]
fn only_the_unpinned_bo_is_evicted() {
    let s = setup(4, 16, 0);
    let pinned = make(&s, 8 * KIB, &vram(), 1);
    pinned.reserve().pin().unwrap();
    let loose = make(&s, 8 * KIB, &vram(), 2);
    assert_eq!(s.dev.unevictable_order(), vec![pinned.id()]);
    assert_eq!(s.dev.lru_order(MemType::VRAM), vec![loose.id()]);
    let d = make(&s, 8 * KIB, &vram(), 3);
    assert_eq!(where_is(&pinned), Some((MemType::VRAM, 0)));
    assert_eq!(where_is(&loose), Some((MemType::TT, 0)));
    assert_eq!(where_is(&d), Some((MemType::VRAM, 2)));
    assert_eq!(s.drv.evictions.load(Ordering::Relaxed), 1);
    assert_contents(&s, &pinned, 1);
    assert_contents(&s, &loose, 2);
    s.check();
}

#[test]
fn bo_outside_the_requested_window_is_not_evicted() {
    let s = setup(8, 16, 0);
    let low = make(&s, 16 * KIB, &vram(), 1);
    let high = make(&s, 16 * KIB, &vram(), 2);
    assert_eq!(where_is(&high), Some((MemType::VRAM, 4)));
    let window = Placement::new(vec![Place::new(MemType::VRAM).with_range(4, 8)]);
    let d = make(&s, 16 * KIB, &window, 3);
    assert_eq!(
        where_is(&low),
        Some((MemType::VRAM, 0)),
        "not valuable: outside [4, 8)"
    );
    assert_eq!(where_is(&high), Some((MemType::TT, 0)));
    assert_eq!(where_is(&d), Some((MemType::VRAM, 4)));
    assert_contents(&s, &high, 2);
}

#[test]
fn deleted_busy_bo_is_reclaimed_not_moved() {
    let s = setup(4, 16, 0);
    let z = make(&s, 16 * KIB, &vram(), 1);
    z.set_busy();
    let fence = z.fence();
    let zid = z.id();
    drop(z);
    assert_eq!(s.dev.n_deleted(), 1);
    assert_eq!(
        s.dev.usage(MemType::VRAM),
        16 * KIB,
        "a deleted BO keeps its memory while busy"
    );
    assert_eq!(s.dev.lru_order(MemType::VRAM), vec![zid]);

    // Without waiting, the busy zombie is skipped and nothing else is evictable.
    let d = s.dev.create_bo(BoParams::new(16 * KIB)).unwrap();
    let mut ctx = OperationCtx::new();
    ctx.no_wait_gpu = true;
    assert_eq!(d.reserve().validate(&vram(), &mut ctx), Err(Error::NoSpace));
    assert_eq!(s.dev.n_deleted(), 1);

    // Blocking: the walk waits for the fence and frees the zombie.
    let signaller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        fence.signal();
    });
    let mut ctx = OperationCtx::new();
    d.reserve().validate(&vram(), &mut ctx).unwrap();
    signaller.join().unwrap();
    assert_eq!(ctx.bytes_moved, 16 * KIB, "only the new BO moved");
    assert_eq!(s.drv.evictions.load(Ordering::Relaxed), 0);
    assert_eq!(s.dev.n_deleted(), 0);
    assert_eq!(where_is(&d), Some((MemType::VRAM, 0)));
    assert_eq!(s.dev.usage(MemType::VRAM), 16 * KIB);
    assert_eq!(s.dev.usage(MemType::TT), 0);
    s.check();
}

#[test]
fn delayed_delete_reclaims_idle_zombies() {
    let s = setup(16, 16, 0);
    let z = make(&s, 8 * KIB, &Placement::single(MemType::TT), 1);
    z.set_busy();
    let fence = z.fence();
    drop(z);
    assert_eq!(s.dev.delayed_delete(true), 0);
    assert_eq!(s.dev.n_deleted(), 1);
    fence.signal();
    assert_eq!(s.dev.delayed_delete(true), 1);
    assert_eq!(s.dev.n_deleted(), 0);
    assert_eq!(s.dev.usage(MemType::TT), 0);
    assert_eq!(s.drv.outstanding_pages(), s.dev.pool().cached_pages());
    s.check();
}

#[test]
fn empty_evict_placement_purges_contents() {
    let s = setup(4, 16, 0);
    s.drv.set_evict_to(MemType::VRAM, Placement::default());
    let a = make(&s, 16 * KIB, &vram(), 1);
    let mut ctx = OperationCtx::new();
    let d = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    d.reserve().validate(&vram(), &mut ctx).unwrap();
    assert_eq!(ctx.bytes_moved, 8 * KIB, "a purge moves nothing");
    {
        let r = a.reserve();
        assert!(r.resource().is_none());
        let tt = r.tt().expect("a purged BO keeps an unpopulated TT");
        assert!(!tt.is_populated());
        assert!(tt.zero_alloc());
        assert_eq!(s.drv.read_bo(&r), vec![0; 4]);
    }
    // The purged BO can be placed again; its contents are zero.
    let mut r = a.reserve();
    r.validate(&Placement::single(MemType::TT), &mut ctx)
        .unwrap();
    assert_eq!(s.drv.read_bo(&r), vec![0; 4]);
    drop(r);
    s.check();
}

#[test]
fn recursive_eviction_vram_to_tt_to_priv() {
    let s = setup(4, 4, 8);
    s.drv
        .set_evict_to(MemType::TT, Placement::single(MemType::PRIV));
    let a = make(&s, 16 * KIB, &vram(), 1);
    let b = make(&s, 16 * KIB, &Placement::single(MemType::TT), 2);
    let d = s.dev.create_bo(BoParams::new(16 * KIB)).unwrap();
    let mut ctx = OperationCtx::new();
    d.reserve().validate(&vram(), &mut ctx).unwrap();
    assert_eq!(ctx.bytes_moved, 3 * 16 * KIB);
    assert_eq!(where_is(&d), Some((MemType::VRAM, 0)));
    assert_eq!(where_is(&a), Some((MemType::TT, 0)));
    assert_eq!(where_is(&b), Some((MemType::PRIV, 0)));
    assert_eq!(s.drv.evictions.load(Ordering::Relaxed), 2);
    assert_contents(&s, &a, 1);
    assert_contents(&s, &b, 2);
    s.check();
}

#[test]
fn eviction_to_system_bounces_through_tt() {
    let s = setup(4, 8, 0);
    s.drv
        .set_evict_to(MemType::VRAM, Placement::single(MemType::SYSTEM));
    let a = make(&s, 16 * KIB, &vram(), 1);
    let mut ctx = OperationCtx::new();
    let d = s.dev.create_bo(BoParams::new(16 * KIB)).unwrap();
    d.reserve().validate(&vram(), &mut ctx).unwrap();
    assert_eq!(ctx.bytes_moved, 3 * 16 * KIB, "new BO + bounce + final hop");
    assert_eq!(s.drv.hops.load(Ordering::Relaxed), 1);
    assert_eq!(where_is(&a).unwrap().0, MemType::SYSTEM);
    assert_eq!(s.dev.usage(MemType::TT), 0);
    assert_contents(&s, &a, 1);
    s.check();
}

#[test]
fn evict_all_empties_a_manager_except_pinned() {
    let s = setup(16, 16, 0);
    let a = make(&s, 8 * KIB, &vram(), 1);
    let b = make(&s, 8 * KIB, &vram(), 2);
    let p = make(&s, 8 * KIB, &vram(), 3);
    p.reserve().pin().unwrap();
    assert_eq!(
        p.reserve().evict(&mut OperationCtx::new()),
        Err(Error::InvalidArgument)
    );
    s.dev.evict_all(MemType::VRAM).unwrap();
    assert_eq!(where_is(&a), Some((MemType::TT, 0)));
    assert_eq!(where_is(&b), Some((MemType::TT, 2)));
    assert_eq!(where_is(&p), Some((MemType::VRAM, 4)));
    assert_eq!(s.dev.usage(MemType::VRAM), 8 * KIB);
    assert_eq!(s.dev.lru_order(MemType::VRAM), Vec::<u64>::new());
    assert_contents(&s, &a, 1);
    assert_contents(&s, &b, 2);
    s.check();
}

#[test]
fn evict_all_reports_a_full_target() {
    let s = setup(16, 2, 0);
    s.drv.set_evict_to(MemType::TT, Placement::default());
    let a = make(&s, 16 * KIB, &vram(), 1);
    assert_eq!(s.dev.evict_all(MemType::VRAM), Err(Error::NoSpace));
    assert_eq!(where_is(&a), Some((MemType::VRAM, 0)));
    assert_contents(&s, &a, 1);
    s.check();
}

#[test]
fn topdown_place_reaches_the_manager() {
    let s = setup(16, 16, 0);
    let top = Placement::new(vec![
        Place::new(MemType::VRAM).with_flags(PlaceFlags::TOPDOWN)
    ]);
    let a = make(&s, 8 * KIB, &top, 1);
    assert_eq!(where_is(&a), Some((MemType::VRAM, 14)));
    assert_eq!(
        a.reserve().resource().unwrap().placement(),
        PlaceFlags::TOPDOWN
    );
}

#[test]
fn panicking_driver_move_leaves_state_consistent() {
    let s = setup(4, 16, 0);
    let a = make(&s, 16 * KIB, &vram(), 1);
    s.drv.panic_moves.store(true, Ordering::Relaxed);
    let d = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        d.reserve().validate(&vram(), &mut OperationCtx::new())
    }));
    assert!(result.is_err(), "the move panicked");
    s.drv.panic_moves.store(false, Ordering::Relaxed);
    // The eviction of `a` was interrupted: it is still in VRAM, nothing is charged
    // for the abandoned resources, and both BOs remain usable.
    assert_eq!(where_is(&a), Some((MemType::VRAM, 0)));
    assert_eq!(where_is(&d), None);
    assert_eq!(s.dev.usage(MemType::VRAM), 16 * KIB);
    assert_eq!(s.dev.usage(MemType::TT), 0);
    s.check();
    assert_contents(&s, &a, 1);
    d.reserve()
        .validate(&vram(), &mut OperationCtx::new())
        .unwrap();
    assert_eq!(where_is(&a), Some((MemType::TT, 0)));
    assert_contents(&s, &a, 1);
    s.check();
}

#[test]
fn concurrent_eviction_and_release_of_busy_bos() {
    // Threads keep creating busy BOs in a tiny VRAM and dropping them while others
    // validate; zombies are reclaimed by eviction or delayed delete.
    let s = Arc::new(setup(8, 64, 0));
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for i in 0..500u64 {
                    let bo = s.dev.create_bo(BoParams::new(8 * KIB)).expect("create");
                    let mut r = bo.reserve();
                    let mut ctx = OperationCtx::new();
                    ctx.no_wait_gpu = i % 2 == 0;
                    match r.validate(&vram(), &mut ctx) {
                        Ok(()) | Err(Error::NoSpace) => {}
                        Err(e) => panic!("thread {t}: {e}"),
                    }
                    drop(r);
                    if i % 3 == 0 {
                        let fence = bo.fence();
                        fence.set_busy();
                        drop(bo);
                        fence.signal();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
    s.dev.delayed_delete(false);
    assert_eq!(s.dev.n_deleted(), 0);
    assert_eq!(s.dev.usage(MemType::VRAM), 0);
    assert_eq!(s.dev.usage(MemType::TT), 0);
    s.check();
}
