//! The whole-device invariant checker: exact counts on a known state, and it holds
//! after every step of a mixed workload (create, pin, move, map, close, shutdown).

#![allow(clippy::unwrap_used)]

mod gem_common;

use gem_common::*;
use pddgpu::invariants::{check_device, CheckSummary};
use pddgpu::uapi::{CreateFlags, Domains, GemOp, GemOpKind};

#[test]
fn empty_device_checks_clean() {
    let dev = device();
    let s = check_device(&dev, &[]).unwrap();
    assert_eq!(s, CheckSummary::default());
}

#[test]
fn summary_counts_exact_bytes() {
    let dev = device();
    let f = open(&dev);
    let g = open(&dev);
    // Contiguous VRAM BOs are placed top-down by default, so force visibility for an
    // exact visible-byte count.
    create(
        &f,
        64 * KIB,
        Domains::VRAM,
        CreateFlags::CPU_ACCESS_REQUIRED,
    );
    create(&f, 12 * KIB, Domains::GTT, CreateFlags::empty());
    create(&g, 8 * KIB, Domains::GTT, CreateFlags::empty());
    let s = check_device(&dev, &[&f, &g]).unwrap();
    assert_eq!(s.bos, 3);
    assert_eq!(s.vram_bytes, 64 * KIB);
    assert_eq!(s.vis_bytes, 64 * KIB);
    assert_eq!(s.gtt_bytes, 20 * KIB);
    assert_eq!(s.handles, 3);
    assert_eq!(s.zombies, 0);
    assert_eq!(dev.mem_info().vis_vram_used, 64 * KIB);
}

#[test]
fn holds_after_every_step_of_a_mixed_workload() {
    let dev = device();
    let files: Vec<_> = (0..3).map(|_| open(&dev)).collect();
    let refs: Vec<&pddgpu::File> = files.iter().collect();
    let mut live = Vec::new();
    for i in 0..24u64 {
        let f = &files[(i % 3) as usize];
        let dom = match i % 3 {
            0 => Domains::VRAM,
            1 => Domains::GTT,
            _ => Domains::VRAM | Domains::GTT,
        };
        let flags = if i % 4 == 0 {
            CreateFlags::VRAM_CONTIGUOUS
        } else {
            CreateFlags::empty()
        };
        let hd = create(f, (i % 5 + 1) * 16 * KIB, dom, flags);
        live.push(((i % 3) as usize, hd));
        check_device(&dev, &refs).unwrap();
        if i % 5 == 0 {
            f.gem_op(&GemOp {
                handle: hd,
                op: GemOpKind::Pin(Domains::GTT),
            })
            .ok();
            check_device(&dev, &refs).unwrap();
        }
        if i % 6 == 0 {
            let m = f.map(hd).unwrap();
            m.write(0, &pattern(i as u8, 4096)).unwrap();
            drop(m);
            check_device(&dev, &refs).unwrap();
        }
    }
    for (k, (fi, hd)) in live.into_iter().enumerate() {
        if k % 2 == 0 {
            files[fi].gem_close(hd).unwrap();
            check_device(&dev, &refs).unwrap();
        }
    }
    let s = check_device(&dev, &refs).unwrap();
    assert_eq!(s.bos, 12);
    assert_eq!(s.handles, 12);
    drop(refs);
    drop(files);
    let s = check_device(&dev, &[]).unwrap();
    assert_eq!(s, CheckSummary::default());
    assert!(dev.shutdown().is_empty());
}
