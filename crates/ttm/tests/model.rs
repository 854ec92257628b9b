//! Property test: random single-threaded operation sequences against a simple model
//! of what must hold — contents survive every move, pinned BOs never move, a failed
//! validation leaves the BO where it was, a successful one leaves it compatible,
//! usage equals the sum of the live BOs' sizes per memory type — with the device's
//! and every manager's `check()` after every step.

mod common;

use common::{setup, TestDriver, KIB};
use pddgpu_ttm::{
    resource_compatible, BoParams, BufferObject, Error, MemType, OperationCtx, Place, PlaceFlags,
    Placement,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Create { pages: u64, priority: u8 },
    Validate { bo: usize, placement: usize },
    Pin { bo: usize },
    Unpin { bo: usize },
    Destroy { bo: usize },
    EvictAll { vram: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u64..=6, 0u8..4).prop_map(|(pages, priority)| Op::Create { pages, priority }),
        (any::<usize>(), any::<usize>()).prop_map(|(bo, placement)| Op::Validate { bo, placement }),
        (any::<usize>(), any::<usize>()).prop_map(|(bo, placement)| Op::Validate { bo, placement }),
        any::<usize>().prop_map(|bo| Op::Pin { bo }),
        any::<usize>().prop_map(|bo| Op::Unpin { bo }),
        any::<usize>().prop_map(|bo| Op::Destroy { bo }),
        any::<bool>().prop_map(|vram| Op::EvictAll { vram }),
    ]
}

fn placements() -> Vec<Placement> {
    let p = Place::new;
    vec![
        Placement::single(MemType::VRAM),
        Placement::single(MemType::TT),
        Placement::single(MemType::SYSTEM),
        Placement::single(MemType::PRIV),
        Placement::new(vec![p(MemType::VRAM).with_range(4, 12)]),
        Placement::new(vec![p(MemType::VRAM), p(MemType::TT)]),
        Placement::new(vec![
            p(MemType::VRAM).with_flags(PlaceFlags::DESIRED),
            p(MemType::PRIV).with_flags(PlaceFlags::FALLBACK),
        ]),
    ]
}

/// What the model knows about one BO.
struct ModelBo {
    bo: BufferObject,
    /// Seed of the stamps written at the first placement; `None` = still zero.
    seed: Option<u64>,
    pins: u32,
    /// Where a pinned BO must stay.
    pinned_at: Option<Option<(MemType, u64)>>,
}

fn location(bo: &BufferObject) -> Option<(MemType, u64)> {
    bo.reserve().resource().map(|r| (r.mem_type(), r.start()))
}

fn run(ops: &[Op]) {
    let s = setup(16, 24, 12);
    let placements = placements();
    let mut bos: Vec<ModelBo> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Create { pages, priority } => {
                let bo = s
                    .dev
                    .create_bo(BoParams {
                        priority,
                        ..BoParams::new(pages * 4 * KIB)
                    })
                    .expect("model step");
                bos.push(ModelBo {
                    bo,
                    seed: None,
                    pins: 0,
                    pinned_at: None,
                });
            }
            Op::Validate { bo, placement } if !bos.is_empty() => {
                let n = bos.len();
                let m = &mut bos[bo % n];
                let placement = &placements[placement % placements.len()];
                let before = location(&m.bo);
                let mut r = m.bo.reserve();
                match r.validate(placement, &mut OperationCtx::new()) {
                    Ok(()) => {
                        let res = r.resource().expect("model step");
                        assert!(
                            resource_compatible(res, placement, false, m.bo.size())
                                || resource_compatible(res, placement, true, m.bo.size()),
                            "step {step}: validated BO not compatible"
                        );
                        if m.seed.is_none() {
                            let seed = step as u64 + 1;
                            s.drv.write_bo(&mut r, seed).expect("model step");
                            m.seed = Some(seed);
                        }
                    }
                    Err(Error::NoSpace | Error::InvalidArgument) => {
                        drop(r);
                        assert_eq!(
                            location(&m.bo),
                            before,
                            "step {step}: failed validation moved the BO"
                        );
                    }
                    Err(e) => panic!("step {step}: unexpected {e}"),
                }
            }
            Op::Pin { bo } if !bos.is_empty() => {
                let n = bos.len();
                let m = &mut bos[bo % n];
                m.bo.reserve().pin().expect("model step");
                m.pins += 1;
                if m.pins == 1 {
                    m.pinned_at = Some(location(&m.bo));
                }
            }
            Op::Unpin { bo } if !bos.is_empty() => {
                let n = bos.len();
                let m = &mut bos[bo % n];
                let r = m.bo.reserve().unpin();
                if m.pins == 0 {
                    assert_eq!(r, Err(Error::InvalidArgument));
                } else {
                    r.expect("model step");
                    m.pins -= 1;
                    if m.pins == 0 {
                        m.pinned_at = None;
                    }
                }
            }
            Op::Destroy { bo } if !bos.is_empty() => {
                let i = bo % bos.len();
                let m = bos.swap_remove(i);
                if m.pins > 0 {
                    let mut r = m.bo.reserve();
                    while r.pin_count() > 0 {
                        r.unpin().expect("model step");
                    }
                }
                drop(m);
            }
            Op::EvictAll { vram } => {
                let t = if vram { MemType::VRAM } else { MemType::TT };
                // Eviction may legitimately fail when the target is full.
                match s.dev.evict_all(t) {
                    Ok(()) | Err(Error::NoSpace) => {}
                    Err(e) => panic!("step {step}: evict_all {e}"),
                }
            }
            _ => {}
        }
        // Invariants after every step.
        s.check();
        assert_eq!(s.dev.n_deleted(), 0);
        let mut usage = [0u64; pddgpu_ttm::NUM_MEM_TYPES];
        for m in &bos {
            let r = m.bo.reserve();
            if let Some(res) = r.resource() {
                usage[res.mem_type().index()] += m.bo.size();
            }
            let want = match m.seed {
                Some(seed) => TestDriver::expected(seed, m.bo.num_pages()),
                None => vec![0; m.bo.num_pages() as usize],
            };
            assert_eq!(
                s.drv.read_bo(&r),
                want,
                "step {step}: contents of BO {}",
                m.bo.id()
            );
            drop(r);
            if let Some(at) = m.pinned_at {
                assert_eq!(location(&m.bo), at, "step {step}: pinned BO moved");
            }
        }
        for t in MemType::all() {
            assert_eq!(s.dev.usage(t), usage[t.index()], "step {step}: {t:?} usage");
        }
    }
    drop(bos);
    for t in MemType::all() {
        assert_eq!(s.dev.usage(t), 0);
    }
    assert_eq!(s.drv.outstanding_pages(), s.dev.pool().cached_pages());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_contents_and_accounting(ops in prop::collection::vec(op(), 1..80)) {
        run(&ops);
    }
}
