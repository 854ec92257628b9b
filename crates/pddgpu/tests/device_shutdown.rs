//! Shutdown during concurrent allocation: no panic, every thread gets a result, and
//! the leak report is empty once the BOs are released.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use pddgpu::device::{DevState, Device, DeviceConfig, Error};
use pddgpu::hw::HwConfig;
use pddgpu::mgr_common::RetryPolicy;
use pddgpu::uapi::Domains;
use pddgpu::BoParam;

const MIB: u64 = 1 << 20;

fn device() -> Arc<Device> {
    Device::new(DeviceConfig {
        hw: HwConfig {
            vram_size: 8 * MIB,
            visible_vram_size: 4 * MIB,
            gtt_size: 16 * MIB,
            sys_mem_size: 64 * MIB,
            page_size: 4096,
        },
        gtt_size: Some(8 * MIB),
        vram_retry: RetryPolicy::VRAM_DEFAULT,
        gtt_retry: RetryPolicy::GTT_DEFAULT,
        ..DeviceConfig::default()
    })
    .unwrap()
}

#[test]
fn shutdown_while_threads_allocate() {
    let dev = device();
    const THREADS: usize = 8;
    let ok = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (dev, ok, refused, start) = (
                Arc::clone(&dev),
                Arc::clone(&ok),
                Arc::clone(&refused),
                Arc::clone(&start),
            );
            thread::spawn(move || {
                start.wait();
                // Each thread allocates until the device refuses, keeping a few BOs
                // alive across the shutdown.
                let mut kept = Vec::new();
                let mut calls = 0u64;
                for i in 0..1_000_000usize {
                    let domain = match (t + i) % 3 {
                        0 => Domains::VRAM,
                        1 => Domains::GTT,
                        _ => Domains::VRAM | Domains::GTT,
                    };
                    calls += 1;
                    match dev.bo_create(&BoParam::new(64 * 1024, domain)) {
                        Ok(bo) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            if i % 50 == 0 {
                                kept.push(bo);
                            }
                        }
                        Err(Error::NoDevice(_)) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Err(e) => panic!("thread {t}: unexpected {e:?}"),
                    }
                }
                (kept, calls)
            })
        })
        .collect();
    start.wait();
    while ok.load(Ordering::Relaxed) < 200 {
        thread::yield_now();
    }
    let report = dev.shutdown();
    assert_eq!(dev.state(), DevState::Shutdown);
    // Whatever was still alive is reported, not lost.
    assert!(
        report.vram_live + report.gtt_live <= report.bos.len(),
        "{report}"
    );
    let mut kept = Vec::new();
    let mut calls = 0;
    for h in handles {
        let (k, c) = h.join().unwrap();
        kept.extend(k);
        calls += c;
    }
    let total = ok.load(Ordering::Relaxed) + refused.load(Ordering::Relaxed);
    assert_eq!(total, calls, "every call returned a result");
    assert_eq!(refused.load(Ordering::Relaxed), THREADS as u64);
    // After shutdown nothing new is placed anywhere.
    assert!(matches!(
        dev.bo_create(&BoParam::new(4096, Domains::CPU)),
        Err(Error::NoDevice(_))
    ));
    // Handles still work: a purged BO reads as zeros, and frees work.
    let leak = dev.leak_report();
    assert_eq!(leak.bos.len(), kept.len());
    if let Some(bo) = kept.iter().find(|bo| bo.domain().is_none()) {
        let mut buf = [1u8; 8];
        bo.cpu_read(0, &mut buf).unwrap();
        assert_eq!(buf, [0; 8]);
        assert!(matches!(
            bo.validate(Domains::VRAM),
            Err(Error::NoDevice(_))
        ));
    }
    drop(kept);
    let leak = dev.leak_report();
    assert!(leak.is_empty(), "{leak}");
    let s = dev.get_stats();
    assert_eq!((s.vram.used_size, s.gtt.used_size), (0, 0));
    dev.check().unwrap();
}

#[test]
fn shutdown_reports_pinned_bos_until_released() {
    let dev = device();
    let pinned = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
    pinned.pin(Domains::VRAM).unwrap();
    let plain = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
    let report = dev.shutdown();
    // The pinned BO keeps its VRAM; the other was purged.
    assert_eq!(report.vram_live, 1);
    assert_eq!(report.bos.len(), 2);
    assert_eq!(report.bos[0].domain, Some(Domains::VRAM));
    assert_eq!(report.bos[1].domain, None);
    assert_eq!(pinned.domain(), Some(Domains::VRAM));
    drop(plain);
    pinned.unpin().unwrap();
    drop(pinned);
    assert!(dev.leak_report().is_empty());
    assert_eq!(dev.vram_mgr().mem_info_vram_used(), 0);
    dev.check().unwrap();
}
