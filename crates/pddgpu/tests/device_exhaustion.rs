//! Exhaustion: a full VRAM whose BOs cannot be evicted fails cleanly with an explained
//! no-space; freeing one BO makes the next allocation succeed; nothing leaks.

#![allow(clippy::unwrap_used)]

mod common;

use common::{small_config, KIB, MIB};

use std::sync::Arc;

use pddgpu::device::{Device, DeviceConfig, Error};
use pddgpu::hw::HwConfig;
use pddgpu::mgr_common::{Domain, NoSpaceCause, RetryPolicy};
use pddgpu::uapi::{CreateFlags, Domains};
use pddgpu::BoParam;

/// 16 MiB VRAM (4 MiB visible); the GTT limit (256 KiB) is too small for any 1 MiB BO.
fn device() -> Arc<Device> {
    Device::new(DeviceConfig {
        gtt_size: Some(256 * KIB),
        ..small_config()
    })
    .unwrap()
}

#[test]
fn pinned_full_vram_gives_an_explained_no_space() {
    let dev = device();
    let bos: Vec<_> = (0..16)
        .map(|i| {
            let bo = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
            bo.dev_write(0, &[i as u8 + 1; 64]).unwrap();
            bo.pin(Domains::VRAM).unwrap();
            bo
        })
        .collect();
    assert_eq!(dev.vram_mgr().avail(), 0);
    let before = dev.get_stats();

    let err = dev
        .bo_create(&BoParam::new(MIB, Domains::VRAM))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.errno(), 28);
    assert_eq!(dev.user_errno(&err), 12);
    let Error::NoSpace(report) = &err else {
        panic!("expected NoSpace, got {err:?}");
    };
    assert_eq!(report.size, MIB);
    assert_eq!(report.domains, Some(Domains::VRAM));
    assert_eq!(report.domain_info.len(), 1);
    let vram = &report.domain_info[0];
    assert_eq!(vram.domain, Domain::Vram);
    assert_eq!(vram.cause, NoSpaceCause::UsageLimit);
    assert_eq!(vram.requested, MIB);
    assert_eq!(vram.free, 0);
    assert_eq!(vram.limit, 16 * MIB);
    assert_eq!(vram.pinned_bos, Some(16));
    assert_eq!(vram.busy_bos, Some(0));
    assert!(err.to_string().contains("16 pinned BOs"), "{err}");

    // The failure changed nothing.
    let after = dev.get_stats();
    assert_eq!(after.vram.used_size, before.vram.used_size);
    assert_eq!(after.gtt.used_size, 0);
    assert_eq!(after.live_bos, 16);
    assert_eq!(after.bo_create_failures, 1);
    dev.check().unwrap();

    // A GTT-only BO larger than the GTT limit is refused before TTM is asked.
    let too_big = dev.bo_create(&BoParam::new(MIB, Domains::GTT));
    assert!(matches!(
        too_big,
        Err(Error::TooLarge {
            domain: Domain::Gtt,
            ..
        })
    ));

    // Free one: the next allocation succeeds, in the freed space.
    let mut bos = bos;
    let victim = bos.remove(5);
    victim.unpin().unwrap();
    drop(victim);
    assert_eq!(dev.vram_mgr().avail(), MIB);
    let next = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
    let mut buf = [0xffu8; 64];
    next.dev_read(0, &mut buf).unwrap();
    assert_eq!(
        buf, [0; 64],
        "a new BO never shows the previous owner's bytes"
    );
    for (i, bo) in bos.iter().enumerate() {
        let want = if i < 5 { i + 1 } else { i + 2 } as u8;
        bo.dev_read(0, &mut buf).unwrap();
        assert_eq!(buf, [want; 64]);
    }

    drop(next);
    for bo in &bos {
        bo.unpin().unwrap();
    }
    drop(bos);
    let s = dev.get_stats();
    assert_eq!((s.vram.used_size, s.gtt.used_size, s.live_bos), (0, 0, 0));
    assert_eq!(s.vram.counters.allocations, s.vram.counters.frees);
    dev.check().unwrap();
    assert!(dev.shutdown().is_empty());
}

#[test]
fn fragmentation_is_told_apart_from_exhaustion() {
    let dev = device();
    // 16 × 1 MiB, then free every other one: 8 MiB free in 1 MiB holes.
    let mut bos: Vec<_> = (0..16)
        .map(|_| {
            let bo = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
            bo.pin(Domains::VRAM).unwrap();
            bo
        })
        .collect();
    let mut keep = Vec::new();
    for (i, bo) in bos.drain(..).enumerate() {
        if i % 2 == 0 {
            keep.push(bo);
        } else {
            bo.unpin().unwrap();
        }
    }
    assert_eq!(dev.vram_mgr().avail(), 8 * MIB);
    let kernel = BoParam {
        bo_type: pddgpu::mgr_common::BoKind::Kernel,
        ..BoParam::new(1536 * KIB, Domains::VRAM).with_flags(CreateFlags::VRAM_CONTIGUOUS)
    };
    let err = dev.bo_create(&kernel).map(|_| ()).unwrap_err();
    let report = err.no_space().unwrap();
    let vram = &report.domain_info[0];
    assert_eq!(vram.cause, NoSpaceCause::Fragmented);
    assert!(vram.contiguous);
    assert_eq!(vram.free, 8 * MIB);
    assert_eq!(vram.largest_free, MIB);
    assert_eq!(vram.pinned_bos, Some(8));
    // The user flag is only a hint: the same BO for user space is split instead.
    let user = dev
        .bo_create(
            &BoParam::new(1536 * KIB, Domains::VRAM).with_flags(CreateFlags::VRAM_CONTIGUOUS),
        )
        .unwrap();
    assert_eq!(user.domain(), Some(Domains::VRAM));
    drop(user);
    for bo in &keep {
        bo.unpin().unwrap();
    }
    drop(keep);
    dev.check().unwrap();
    assert_eq!(dev.vram_mgr().mem_info_vram_used(), 0);
}

#[test]
fn unpinned_bos_are_evicted_to_system_with_their_contents() {
    let dev = device();
    let bos: Vec<_> = (0..16u8)
        .map(|i| {
            let bo = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
            bo.dev_write(MIB - 8, &[i + 1; 8]).unwrap();
            bo
        })
        .collect();
    // GTT cannot take a 1 MiB BO, so the least recently used one goes to SYSTEM,
    // bouncing through a TEMPORARY GTT place that ignores the limit.
    let extra = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
    assert_eq!(extra.domain(), Some(Domains::VRAM));
    assert_eq!(bos[0].domain(), Some(Domains::CPU));
    let mut buf = [0u8; 8];
    bos[0].cpu_read(MIB - 8, &mut buf).unwrap();
    assert_eq!(buf, [1; 8]);
    let stats = dev.get_stats();
    assert_eq!(stats.vram.counters.evictions, 1);
    assert_eq!(stats.gtt.used_size, 0, "the bounce resource is gone");
    // Back into VRAM (another BO goes out); the bytes come back intact.
    bos[0].validate(Domains::VRAM).unwrap();
    bos[0].dev_read(MIB - 8, &mut buf).unwrap();
    assert_eq!(buf, [1; 8]);
    for (i, bo) in bos.iter().enumerate().skip(1) {
        bo.cpu_read(MIB - 8, &mut buf).unwrap();
        assert_eq!(buf, [i as u8 + 1; 8], "BO {i}");
    }
    dev.check().unwrap();
    drop(bos);
    drop(extra);
    let s = dev.get_stats();
    assert_eq!((s.vram.used_size, s.gtt.used_size), (0, 0));
    dev.check().unwrap();
}

#[test]
fn busy_bos_are_counted_and_released_bos_become_zombies() {
    let dev = Device::new(DeviceConfig {
        hw: HwConfig {
            vram_size: 8 * MIB,
            visible_vram_size: 4 * MIB,
            gtt_size: 16 * MIB,
            sys_mem_size: 64 * MIB,
            page_size: 4096,
        },
        gtt_size: Some(256 * KIB),
        vram_retry: RetryPolicy::NONE,
        gtt_retry: RetryPolicy::NONE,
        wait_timeout: std::time::Duration::from_millis(5),
        ..DeviceConfig::default()
    })
    .unwrap();
    let bos: Vec<_> = (0..8)
        .map(|_| {
            let bo = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
            bo.set_busy();
            bo
        })
        .collect();
    // Busy BOs cannot be moved within the wait timeout: nothing can be evicted.
    let err = dev
        .bo_create(&BoParam::new(MIB, Domains::VRAM))
        .map(|_| ())
        .unwrap_err();
    let vram = &err.no_space().unwrap().domain_info[0];
    assert_eq!(vram.busy_bos, Some(8));
    assert_eq!(vram.pinned_bos, Some(0));
    // Dropping a busy BO makes a zombie: its memory stays until it is idle.
    let fences: Vec<_> = bos.iter().map(|b| b.fence()).collect();
    drop(bos);
    assert_eq!(dev.live_bos(), 0);
    assert_eq!(dev.vram_mgr().mem_info_vram_used(), 8 * MIB);
    assert_eq!(dev.leak_report().zombies, 8);
    assert_eq!(dev.delayed_delete(true), 0);
    fences[0].signal();
    assert_eq!(dev.delayed_delete(true), 1);
    assert_eq!(dev.vram_mgr().mem_info_vram_used(), 7 * MIB);
    // An allocation reclaims idle zombies instead of evicting them.
    fences[1].signal();
    let bo = dev
        .bo_create(&BoParam::new(2 * MIB, Domains::VRAM))
        .unwrap();
    assert_eq!(dev.leak_report().zombies, 6);
    for f in &fences {
        f.signal();
    }
    drop(bo);
    assert_eq!(dev.delayed_delete(false), 6);
    let report = dev.shutdown();
    assert!(report.is_empty(), "{report}");
    assert_eq!(dev.vram_mgr().mem_info_vram_used(), 0);
    dev.check().unwrap();
}
