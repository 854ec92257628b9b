//! Arbitrary request codes and argument bytes through `File::ioctl`: nothing panics, a
//! failed ioctl leaves the argument, the handle table and the device usage exactly as
//! they were, and a successful one leaves every invariant intact.

#![allow(clippy::unwrap_used)]

mod gem_common;

use gem_common::*;
use pddgpu::uapi::{CreateFlags, Domains, Ioctl};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// A request code: a real one, a real one with another size or direction, or noise.
fn request() -> impl Strategy<Value = u64> {
    let real = proptest::sample::select(Ioctl::ALL.map(Ioctl::cmd).to_vec());
    prop_oneof![
        4 => real.clone().prop_map(u64::from),
        2 => (real, 0u32..0x4000, 0u32..4).prop_map(|(cmd, size, dir)| {
            u64::from((cmd & 0x0000_ffff) | (size << 16) | (dir << 30))
        }),
        1 => any::<u64>(),
    ]
}

/// Argument bytes: a template most ioctls accept (handle, size or query 1, domain GTT
/// at byte 16) with one byte changed, small values, or noise.
fn arg() -> impl Strategy<Value = Vec<u8>> {
    let template = (0usize..128, any::<u8>()).prop_map(|(at, v)| {
        let mut b = vec![0u8; 128];
        b[0] = 1;
        b[16] = 2;
        b[at] = v;
        b
    });
    prop_oneof![
        3 => template,
        2 => proptest::collection::vec(0u8..8, 0..128),
        1 => proptest::collection::vec(any::<u8>(), 0..128),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ioctl_never_panics_and_fails_cleanly(ops in proptest::collection::vec((request(), arg()), 1..24)) {
        let dev = device();
        let f = open(&dev);
        create(&f, 4096, Domains::GTT, CreateFlags::empty());
        for (req, mut bytes) in ops {
            let before = (usage(&dev), f.handles(), bytes.clone());
            match f.ioctl(req, &mut bytes) {
                Ok(()) => {}
                Err(_) => prop_assert_eq!((usage(&dev), f.handles(), bytes), before),
            }
            f.check().unwrap();
            dev.check().unwrap();
        }
        drop(f);
        prop_assert_eq!(usage(&dev), (0, 0));
    }
}

#[test]
fn generator_reaches_success_paths() {
    // The property above holds vacuously if every ioctl fails: draw sequences from the
    // same strategies and require that many succeed.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = proptest::collection::vec((request(), arg()), 24);
    let dev = device();
    let f = open(&dev);
    create(&f, 4096, Domains::GTT, CreateFlags::empty());
    let mut ok = 0;
    for _ in 0..64 {
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        for (req, mut bytes) in ops {
            ok += usize::from(f.ioctl(req, &mut bytes).is_ok());
        }
    }
    assert!(ok >= 64, "only {ok} ioctls succeeded");
}
