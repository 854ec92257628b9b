//! Property test against a model: random BO operations (create in any domain with any
//! flags, write, validate, pin/unpin, GART binding, destroy, GPU reset + recover) on a
//! small oversubscribed device. After every step the device invariants hold and the
//! touched BO reads back exactly what the model says; at the end nothing is left.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use pddgpu::device::{Device, DeviceConfig, Error};
use pddgpu::hw::HwConfig;
use pddgpu::mgr_common::{BoKind, RetryPolicy};
use pddgpu::uapi::{CreateFlags, Domains};
use pddgpu::{BoParam, PddgpuBo};
use proptest::prelude::*;

const MIB: u64 = 1 << 20;

#[derive(Clone, Debug)]
enum Op {
    Create {
        pages: u64,
        domain: u8,
        flags: u8,
        kernel: bool,
    },
    Write {
        idx: usize,
        seed: u8,
    },
    Validate {
        idx: usize,
        domain: u8,
    },
    Pin {
        idx: usize,
        domain: u8,
    },
    Unpin {
        idx: usize,
    },
    AllocGart {
        idx: usize,
    },
    Destroy {
        idx: usize,
    },
    ResetRecover,
}

fn domain(d: u8) -> Domains {
    [
        Domains::VRAM,
        Domains::GTT,
        Domains::CPU,
        Domains::VRAM | Domains::GTT,
        Domains::GTT | Domains::CPU,
    ][usize::from(d % 5)]
}

fn flags(f: u8) -> CreateFlags {
    let mut out = CreateFlags::empty();
    for (bit, flag) in [
        CreateFlags::CPU_ACCESS_REQUIRED,
        CreateFlags::TOPDOWN,
        CreateFlags::VRAM_CLEARED,
        CreateFlags::VRAM_CONTIGUOUS,
        CreateFlags::VRAM_WIPE_ON_RELEASE,
    ]
    .into_iter()
    .enumerate()
    {
        if f & (1 << bit) != 0 {
            out |= flag;
        }
    }
    out
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u64..64, any::<u8>(), any::<u8>(), any::<bool>()).prop_map(
            |(pages, domain, flags, kernel)| Op::Create { pages, domain, flags, kernel }
        ),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(idx, seed)| Op::Write { idx, seed }),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(idx, domain)| Op::Validate { idx, domain }),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(idx, domain)| Op::Pin { idx, domain }),
        1 => any::<usize>().prop_map(|idx| Op::Unpin { idx }),
        1 => any::<usize>().prop_map(|idx| Op::AllocGart { idx }),
        1 => any::<usize>().prop_map(|idx| Op::Destroy { idx }),
        1 => Just(Op::ResetRecover),
    ]
}

/// A live BO and what the model knows about it.
struct Live {
    bo: PddgpuBo,
    /// Seed of the last full write; `None` = never written (zeros).
    seed: Option<u8>,
    pins: u32,
}

fn pattern(seed: Option<u8>, len: u64) -> Vec<u8> {
    match seed {
        None => vec![0; len as usize],
        Some(s) => (0..len).map(|i| (i as u8).wrapping_mul(29) ^ s).collect(),
    }
}

/// Reads the whole BO without moving it: the device for VRAM, the CPU otherwise.
fn read_back(bo: &PddgpuBo) -> Vec<u8> {
    let mut buf = vec![0u8; bo.size() as usize];
    if bo.domain() == Some(Domains::VRAM) {
        bo.dev_read(0, &mut buf).unwrap();
    } else {
        bo.cpu_read(0, &mut buf).unwrap();
    }
    buf
}

fn write(bo: &PddgpuBo, data: &[u8]) {
    if bo.domain() == Some(Domains::VRAM) {
        bo.dev_write(0, data).unwrap();
    } else {
        bo.cpu_write(0, data).unwrap();
    }
}

fn device() -> Arc<Device> {
    Device::new(DeviceConfig {
        hw: HwConfig {
            vram_size: 4 * MIB,
            visible_vram_size: MIB,
            gtt_size: 8 * MIB,
            sys_mem_size: 64 * MIB,
            page_size: 4096,
        },
        gtt_size: Some(2 * MIB),
        vram_retry: RetryPolicy::NONE,
        gtt_retry: RetryPolicy::NONE,
        ..DeviceConfig::default()
    })
    .unwrap()
}

fn run(ops: &[Op]) {
    let dev = device();
    let mut live: Vec<Live> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let touched = match *op {
            Op::Create {
                pages,
                domain: d,
                flags: f,
                kernel,
            } => {
                let param = BoParam {
                    bo_type: if kernel { BoKind::Kernel } else { BoKind::User },
                    ..BoParam::new(pages * 4096, domain(d)).with_flags(flags(f))
                };
                match dev.bo_create(&param) {
                    Ok(bo) => {
                        let got = bo.domain().unwrap();
                        assert!(domain(d).contains(got), "step {step}: {got:?}");
                        live.push(Live {
                            bo,
                            seed: None,
                            pins: 0,
                        });
                        Some(live.len() - 1)
                    }
                    Err(Error::NoSpace(r)) => {
                        assert!(
                            !r.domain_info.is_empty()
                                || !domain(d).intersects(Domains::VRAM | Domains::GTT)
                        );
                        None
                    }
                    Err(Error::TooLarge { .. }) => None,
                    Err(e) => panic!("step {step}: create {param:?}: {e:?}"),
                }
            }
            _ if live.is_empty() => None,
            Op::Write { idx, seed } => {
                let i = idx % live.len();
                let l = &mut live[i];
                write(&l.bo, &pattern(Some(seed), l.bo.size()));
                l.seed = Some(seed);
                Some(i)
            }
            Op::Validate { idx, domain: d } => {
                let i = idx % live.len();
                let l = &live[i];
                match l.bo.validate(domain(d)) {
                    Ok(()) => assert!(domain(d).contains(l.bo.domain().unwrap())),
                    Err(Error::NoSpace(_)) => {}
                    Err(Error::InvalidArgument(_)) if l.pins > 0 => {}
                    Err(e) => panic!("step {step}: validate: {e:?}"),
                }
                Some(i)
            }
            Op::Pin { idx, domain: d } => {
                let i = idx % live.len();
                let l = &mut live[i];
                match l.bo.pin(domain(d)) {
                    Ok(()) => l.pins += 1,
                    Err(Error::NoSpace(_)) => {}
                    Err(Error::InvalidArgument(_)) if l.pins > 0 => {}
                    Err(e) => panic!("step {step}: pin: {e:?}"),
                }
                Some(i)
            }
            Op::Unpin { idx } => {
                let i = idx % live.len();
                let l = &mut live[i];
                match l.bo.unpin() {
                    Ok(()) => l.pins -= 1,
                    Err(e) => assert!(l.pins == 0, "step {step}: unpin: {e:?}"),
                }
                Some(i)
            }
            Op::AllocGart { idx } => {
                let i = idx % live.len();
                let l = &live[i];
                match l.bo.alloc_gart() {
                    Ok(()) => assert!(l.bo.gpu_offset().is_some()),
                    Err(Error::NoSpace(_)) => {}
                    Err(Error::InvalidArgument(_)) if l.pins > 0 => {}
                    Err(e) => panic!("step {step}: alloc_gart: {e:?}"),
                }
                Some(i)
            }
            Op::Destroy { idx } => {
                let i = idx % live.len();
                let l = live.swap_remove(i);
                for _ in 0..l.pins {
                    l.bo.unpin().unwrap();
                }
                None
            }
            Op::ResetRecover => {
                dev.hw().gpu_reset();
                dev.recover().unwrap();
                None
            }
        };
        dev.check()
            .unwrap_or_else(|e| panic!("step {step} {op:?}: {e}"));
        if let Some(i) = touched {
            let l = &live[i];
            assert!(
                read_back(&l.bo) == pattern(l.seed, l.bo.size()),
                "step {step} {op:?}: contents of BO {} differ",
                l.bo.id()
            );
            assert_eq!(l.bo.pin_count(), l.pins);
        }
    }
    // Every survivor still holds its bytes.
    for l in &live {
        assert!(read_back(&l.bo) == pattern(l.seed, l.bo.size()));
        for _ in 0..l.pins {
            l.bo.unpin().unwrap();
        }
    }
    drop(live);
    dev.delayed_delete(false);
    let s = dev.get_stats();
    assert_eq!((s.vram.used_size, s.gtt.used_size, s.live_bos), (0, 0, 0));
    assert_eq!(dev.hw().gart().bound_entries(), 0);
    assert!(dev.leak_report().is_empty());
    dev.check().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_bo_operations_match_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(&ops);
    }
}
