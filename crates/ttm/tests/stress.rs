//! Concurrency: 8 threads × 10 000 random create/validate/destroy operations on a
//! small VRAM and TT, with a data-carrying driver. No deadlock, usage back to 0,
//! every manager consistent, every BO's contents intact after every move.

mod common;

use std::sync::Arc;

use common::{setup, Rng, TestDriver, KIB};
use pddgpu_ttm::{
    BoParams, BufferObject, Device, DeviceConfig, Error, MemType, OperationCtx, Place, PlaceFlags,
    Placement, RangeManager, PAGE_SIZE,
};

/// What the workers need: the device and the data-carrying driver.
struct Ctx {
    dev: Arc<Device>,
    drv: Arc<TestDriver>,
}

const THREADS: u64 = 8;
const OPS: u64 = 10_000;
const MAX_LIVE: usize = 8;

fn placements() -> Vec<Placement> {
    let p = Place::new;
    vec![
        Placement::single(MemType::VRAM),
        Placement::single(MemType::TT),
        Placement::single(MemType::SYSTEM),
        Placement::single(MemType::PRIV),
        Placement::new(vec![p(MemType::VRAM), p(MemType::TT)]),
        Placement::new(vec![
            p(MemType::VRAM).with_flags(PlaceFlags::DESIRED),
            p(MemType::TT).with_flags(PlaceFlags::FALLBACK),
        ]),
        Placement::new(vec![
            p(MemType::VRAM).with_flags(PlaceFlags::TOPDOWN),
            p(MemType::PRIV),
        ]),
    ]
}

fn verify(s: &Ctx, bo: &BufferObject, seed: u64) {
    let r = bo.reserve();
    assert_eq!(
        s.drv.read_bo(&r),
        TestDriver::expected(seed, bo.num_pages()),
        "BO {} contents",
        bo.id()
    );
}

fn worker(s: &Ctx, thread: u64) -> (u64, u64) {
    let placements = placements();
    let mut rng = Rng::new(0x5EED ^ (thread << 20));
    let mut live: Vec<(BufferObject, u64)> = Vec::new();
    let (mut ok, mut no_space) = (0u64, 0u64);
    for op in 0..OPS {
        let choice = rng.below(10);
        if choice < 3 && live.len() < MAX_LIVE || live.is_empty() {
            let params = BoParams {
                priority: u8::try_from(rng.below(4)).expect("0..4"),
                ..BoParams::new((1 + rng.below(8)) * 4 * KIB)
            };
            let bo = s.dev.create_bo(params).expect("create");
            let placement = &placements[rng.below(placements.len() as u64) as usize];
            let seed = (thread << 32) | op;
            let mut r = bo.reserve();
            match r.validate(placement, &mut OperationCtx::new()) {
                Ok(()) => {
                    s.drv.write_bo(&mut r, seed).expect("write");
                    drop(r);
                    live.push((bo, seed));
                    ok += 1;
                }
                Err(Error::NoSpace) => no_space += 1,
                Err(e) => panic!("create: {e}"),
            }
        } else if choice < 8 {
            let i = rng.below(live.len() as u64) as usize;
            let (bo, seed) = &live[i];
            let placement = &placements[rng.below(placements.len() as u64) as usize];
            let mut r = bo.reserve();
            assert_eq!(
                s.drv.read_bo(&r),
                TestDriver::expected(*seed, bo.num_pages()),
                "before validate"
            );
            match r.validate(placement, &mut OperationCtx::new()) {
                Ok(()) => ok += 1,
                Err(Error::NoSpace) => no_space += 1,
                Err(e) => panic!("validate: {e}"),
            }
            assert_eq!(
                s.drv.read_bo(&r),
                TestDriver::expected(*seed, bo.num_pages()),
                "after validate"
            );
        } else {
            let i = rng.below(live.len() as u64) as usize;
            let (bo, seed) = live.swap_remove(i);
            verify(s, &bo, seed);
        }
    }
    for (bo, seed) in live {
        verify(s, &bo, seed);
    }
    (ok, no_space)
}

/// Runs the workers on `s` and checks that everything came back.
fn run(s: &Arc<Ctx>) {
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let s = Arc::clone(s);
            std::thread::spawn(move || worker(&s, t))
        })
        .collect();
    let mut total_ok = 0;
    for h in handles {
        let (ok, _) = h.join().expect("worker panicked");
        total_ok += ok;
    }
    let evictions = s.drv.evictions.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("ok {total_ok} evictions {evictions}");
    assert!(
        total_ok > THREADS * OPS / 2,
        "most operations succeed ({total_ok})"
    );
    assert!(evictions > 0, "eviction happened");
    // BOs dropped while an evictor held them are reclaimed by delayed delete.
    s.dev.delayed_delete(false);
    assert_eq!(s.dev.n_deleted(), 0);
    for t in MemType::all() {
        assert_eq!(s.dev.usage(t), 0, "{t:?} usage");
    }
    s.dev.check().expect("device and managers consistent");
    assert!(s.dev.lru_order(MemType::VRAM).is_empty());
    assert!(s.dev.unevictable_order().is_empty());
    assert_eq!(
        s.drv.outstanding_pages(),
        s.dev.pool().cached_pages(),
        "no system page leaked"
    );
    s.dev.pool().shrink();
    assert_eq!(s.drv.outstanding_pages(), 0);
}

#[test]
fn eight_threads_create_validate_destroy() {
    // 32 pages of VRAM, 48 of TT, 16 of PRIV (first-fit test managers): heavily
    // oversubscribed.
    let s = setup(32, 48, 16);
    run(&Arc::new(Ctx {
        dev: Arc::clone(&s.dev),
        drv: Arc::clone(&s.drv),
    }));
    s.check();
}

#[test]
fn eight_threads_on_range_managers() {
    // The same workload on the generic range manager (pddgpu-mm) for every domain.
    let drv = TestDriver::new();
    let dev = Device::new(drv.clone(), drv.clone(), DeviceConfig::default());
    let mut mans = Vec::new();
    for (t, pages, use_tt) in [
        (MemType::VRAM, 32, false),
        (MemType::TT, 48, true),
        (MemType::PRIV, 16, false),
    ] {
        let man = Arc::new(RangeManager::new(pages).expect("range manager"));
        dev.set_manager(t, man.clone(), use_tt, pages * PAGE_SIZE)
            .expect("register");
        mans.push(man);
    }
    run(&Arc::new(Ctx { dev, drv }));
    for man in mans {
        assert_eq!(man.used_pages(), 0);
    }
}
