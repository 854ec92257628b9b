//! The seed-004 concurrency test: 100 threads × 1000 create/free of mixed VRAM and GTT
//! BOs on one device, then every invariant and counter checked.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::thread;

use pddgpu::device::{DevState, DeviceConfig, Error};
use pddgpu::hw::HwConfig;
use pddgpu::mgr_common::{MgrState, RetryPolicy};
use pddgpu::uapi::{CreateFlags, Domains};
use pddgpu::{BoParam, Device};

const MIB: u64 = 1 << 20;
const THREADS: u64 = 100;
const ITERS: u64 = 1000;

#[test]
fn hundred_threads_create_and_free_mixed_bos() {
    let dev = Device::new(DeviceConfig {
        hw: HwConfig {
            vram_size: 64 * MIB,
            visible_vram_size: 16 * MIB,
            gtt_size: 64 * MIB,
            sys_mem_size: 256 * MIB,
            page_size: 4096,
        },
        gtt_size: Some(64 * MIB),
        // The seed's policies: 3 tries with waits on freed space.
        vram_retry: RetryPolicy::VRAM_DEFAULT,
        gtt_retry: RetryPolicy::GTT_DEFAULT,
        ..DeviceConfig::default()
    })
    .unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let dev = Arc::clone(&dev);
            thread::spawn(move || {
                let mut x = t.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                for i in 0..ITERS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let size = ((x % 16) + 1) * 4096;
                    let (domain, flags) = match (t + i) % 4 {
                        0 => (Domains::VRAM, CreateFlags::empty()),
                        1 => (Domains::GTT, CreateFlags::empty()),
                        2 => (Domains::VRAM | Domains::GTT, CreateFlags::VRAM_CLEARED),
                        _ => (Domains::VRAM, CreateFlags::CPU_ACCESS_REQUIRED),
                    };
                    let bo = dev
                        .bo_create(&BoParam::new(size, domain).with_flags(flags))
                        .unwrap();
                    assert_eq!(bo.size(), size);
                    let d = bo.domain().unwrap();
                    assert!(domain.contains(d), "{d:?} not in {domain:?}");
                    drop(bo);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }

    let stats = dev.get_stats();
    assert_eq!(stats.state, DevState::Ready);
    assert_eq!(stats.live_bos, 0);
    assert_eq!(stats.bos_created, THREADS * ITERS);
    assert_eq!(stats.bo_create_failures, 0);
    assert_eq!(stats.vram.used_size, 0);
    assert_eq!(stats.vram.visible_used, 0);
    assert_eq!(stats.gtt.used_size, 0);
    assert_eq!(stats.vram.state, MgrState::Ready);
    assert!(stats.vram.is_healthy && stats.gtt.is_healthy);
    // Every allocation was freed, nothing failed, nothing had to be evicted.
    let (v, g) = (stats.vram.counters, stats.gtt.counters);
    assert_eq!(v.allocations, v.frees);
    assert_eq!(g.allocations, g.frees);
    assert_eq!(v.allocations + g.allocations, THREADS * ITERS);
    assert_eq!(v.failures + g.failures, 0);
    assert_eq!(v.evictions + g.evictions, 0);
    assert!(v.high_water > 0 && v.high_water <= 64 * MIB);
    assert!(g.high_water > 0 && g.high_water <= 64 * MIB);
    assert_eq!(dev.vram_mgr().avail(), 64 * MIB);
    assert_eq!(dev.gtt_mgr().free_gart_pages(), 16384 - 1024);
    dev.check().unwrap();
    dev.hw().check().unwrap();
    assert!(dev.leak_report().is_empty());
    assert!(dev.shutdown().is_empty());
}

/// Eviction under contention: threads share a VRAM four times too small for their BOs,
/// write, re-validate and verify their own data while others evict it.
#[test]
fn concurrent_eviction_keeps_every_threads_data() {
    const T: u64 = 6;
    const ROUNDS: u64 = 30;
    let dev = Device::new(DeviceConfig {
        hw: HwConfig {
            vram_size: 8 * MIB,
            visible_vram_size: 4 * MIB,
            gtt_size: 64 * MIB,
            sys_mem_size: 256 * MIB,
            page_size: 4096,
        },
        gtt_size: Some(64 * MIB - 4096),
        vram_retry: RetryPolicy::NONE,
        gtt_retry: RetryPolicy::NONE,
        ..DeviceConfig::default()
    })
    .unwrap();
    let handles: Vec<_> = (0..T)
        .map(|t| {
            let dev = Arc::clone(&dev);
            thread::spawn(move || {
                let size = 1536 * 1024;
                let mut live = Vec::new();
                for r in 0..ROUNDS {
                    let seed = (t * 1000 + r) as u8;
                    let bo = dev
                        .bo_create(&BoParam::new(size, Domains::VRAM | Domains::GTT))
                        .unwrap();
                    let data: Vec<u8> = (0..size).map(|i| (i as u8) ^ seed).collect();
                    bo.cpu_write(0, &data).unwrap();
                    live.push((bo, data));
                    if live.len() > 3 {
                        let (old, want) = live.remove(0);
                        // Pin for the device access so nobody evicts it meanwhile. Under
                        // contention eviction only try-locks, so a full VRAM may answer
                        // no-space for a moment: the BO stays intact, try again.
                        retry_no_space(|| old.pin(Domains::VRAM));
                        let mut got = vec![0u8; size as usize];
                        old.dev_read(0, &mut got).unwrap();
                        old.unpin().unwrap();
                        assert!(got == want, "thread {t} round {r}: device read");
                        old.cpu_read(0, &mut got).unwrap();
                        assert!(got == want, "thread {t} round {r}: CPU read");
                    }
                }
                live.len()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 3);
    }
    // BOs dropped while another thread's eviction walk held them are zombies until
    // TTM's delayed delete runs.
    dev.delayed_delete(false);
    assert!(dev.leak_report().is_empty(), "{}", dev.leak_report());
    let s = dev.get_stats();
    assert!(s.vram.counters.evictions > 0);
    assert_eq!(s.live_bos, 0);
    assert_eq!((s.vram.used_size, s.gtt.used_size), (0, 0));
    assert_eq!(dev.hw().gart().bound_entries(), 0);
    dev.check().unwrap();
}

/// Runs `f` until it stops answering no-space (bounded).
fn retry_no_space(mut f: impl FnMut() -> Result<(), Error>) {
    for _ in 0..10_000 {
        match f() {
            Err(Error::NoSpace(_)) => thread::yield_now(),
            other => return other.unwrap(),
        }
    }
    panic!("still no space after 10000 tries");
}
