//! GTT manager: the amdgpu contract, the GART, and the robustness layer.

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use pddgpu::gtt_mgr::{GttConfig, GttDamage, GttManager, GttResource, INVALID_OFFSET};
use pddgpu::hw::{DmaAddr, HwConfig, SimHw};
use pddgpu::mgr_common::{
    AllocRequest, BoDesc, DeviceState, Error, MgrState, NoSpaceCause, Place, PlaceFlags,
    RetryPolicy,
};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const PAGE: u64 = 4096;

/// A 16 MiB GART (4096 pages: windows 0..1024, allocator 1024..4096) and an 8 MiB usage
/// limit, no retries.
fn setup() -> (Arc<SimHw>, Arc<DeviceState>, GttManager) {
    setup_with(RetryPolicy::NONE, 8 * MIB)
}

fn setup_with(retry: RetryPolicy, limit: u64) -> (Arc<SimHw>, Arc<DeviceState>, GttManager) {
    let hw = Arc::new(
        SimHw::new(HwConfig {
            vram_size: 16 * MIB,
            visible_vram_size: 4 * MIB,
            gtt_size: 16 * MIB,
            sys_mem_size: 64 * MIB,
            page_size: PAGE,
        })
        .unwrap(),
    );
    let dev = Arc::new(DeviceState::new());
    let mgr = GttManager::new(
        GttConfig { size: limit, retry },
        Arc::clone(&hw),
        Arc::clone(&dev),
    )
    .unwrap();
    (hw, dev, mgr)
}

fn pages(hw: &SimHw, n: u64) -> Vec<DmaAddr> {
    (0..n)
        .map(|_| hw.sysmem().alloc_pages(0).unwrap())
        .collect()
}

fn gart_req(size: u64) -> AllocRequest {
    AllocRequest::new(Place::range(0, 4096), BoDesc::new(size))
}

fn dump(mgr: &GttManager) -> String {
    let mut s = String::new();
    mgr.debug(&mut s).unwrap();
    s
}

#[test]
fn transfer_windows_sit_below_the_allocator() {
    let (_hw, _dev, mgr) = setup();
    assert_eq!(mgr.transfer_window(0), Some(0));
    assert_eq!(mgr.transfer_window(1), Some(512 * PAGE));
    assert_eq!(mgr.transfer_window(2), None);
    assert_eq!(mgr.gart_range(), (1024, 4096));
    assert_eq!(mgr.free_gart_pages(), 3072);
    assert_eq!(mgr.state(), MgrState::Ready);
}

#[test]
fn without_lpfn_there_is_no_gart_address() {
    let (hw, _dev, mgr) = setup();
    let res = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(64 * KIB)), None)
        .unwrap();
    assert_eq!(res.start(), INVALID_OFFSET);
    assert!(!res.has_gart_addr());
    assert!(!res.is_bound());
    assert_eq!(res.num_pages(), 16);
    assert_eq!(mgr.mem_info_gtt_used(), 64 * KIB);
    assert_eq!(mgr.free_gart_pages(), 3072);
    assert_eq!(hw.gart().bound_entries(), 0);
    assert_eq!(
        dump(&mgr),
        "0x0000000000000400-0x0000000000001000: 3072: free\ntotal: 3072, used 0 free 3072\n"
    );
    mgr.check().unwrap();
    mgr.free(res).unwrap();
    assert_eq!(mgr.mem_info_gtt_used(), 0);
    mgr.check().unwrap();
}

#[test]
fn with_lpfn_the_pages_are_bound_best_fit() {
    let (hw, _dev, mgr) = setup();
    let p1 = pages(&hw, 16);
    let a = mgr.alloc(&gart_req(64 * KIB), Some(&p1)).unwrap();
    assert_eq!(a.start(), 1024);
    assert!(a.is_bound());
    let p2 = pages(&hw, 4);
    let mut req = gart_req(16 * KIB);
    req.bo.page_alignment = 8;
    let b = mgr.alloc(&req, Some(&p2)).unwrap();
    assert_eq!(b.start(), 1040);
    for (i, p) in p1.iter().enumerate() {
        assert_eq!(hw.gart().translate(1024 + i as u64).unwrap(), *p);
    }
    for (i, p) in p2.iter().enumerate() {
        assert_eq!(hw.gart().translate(1040 + i as u64).unwrap(), *p);
    }
    assert_eq!(hw.gart().bound_entries(), 20);
    assert_eq!(
        dump(&mgr),
        "0x0000000000000400-0x0000000000000410: 16: used\n\
         0x0000000000000410-0x0000000000000414: 4: used\n\
         0x0000000000000414-0x0000000000001000: 3052: free\n\
         total: 3072, used 20 free 3052\n"
    );
    mgr.check().unwrap();
    mgr.free(a).unwrap();
    assert!((1024..1040).all(|p| !hw.gart().is_bound(p)));
    assert_eq!(hw.gart().bound_entries(), 4);
    assert_eq!(mgr.mem_info_gtt_used(), 16 * KIB);
    // Best fit: a 16-page request now prefers the exact 16-page hole at the bottom.
    let c = mgr.alloc(&gart_req(64 * KIB), None).unwrap();
    assert_eq!(c.start(), 1024);
    assert!(!c.is_bound());
    mgr.free(b).unwrap();
    mgr.free(c).unwrap();
    assert_eq!(hw.gart().bound_entries(), 0);
    assert_eq!(mgr.mem_info_gtt_used(), 0);
    mgr.check().unwrap();
    mgr.fini().unwrap();
}

#[test]
fn bad_requests_are_rejected_unchanged() {
    let (hw, _dev, mgr) = setup();
    let e = mgr.alloc(&gart_req(0), None).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let p = pages(&hw, 3);
    let e = mgr.alloc(&gart_req(16 * KIB), Some(&p)).unwrap_err();
    assert_eq!(e.errno(), 22);
    let foreign = vec![DmaAddr::new(12345); 4];
    let e = mgr.alloc(&gart_req(16 * KIB), Some(&foreign)).unwrap_err();
    assert!(matches!(e, Error::Hw(_)), "{e:?}");
    assert_eq!(e.errno(), 22);
    assert_eq!(mgr.mem_info_gtt_used(), 0);
    assert_eq!(mgr.live_count(), 0);
    assert_eq!(mgr.free_gart_pages(), 3072);
    assert_eq!(mgr.counters().snapshot().failures, 3);
    mgr.check().unwrap();

    let (_hw2, _dev2, other) = setup();
    let res = other.alloc(&gart_req(4 * KIB), None).unwrap();
    let e = mgr.free(res).unwrap_err();
    assert_eq!(e.errno(), 22);
}

#[test]
fn usage_limit_counts_this_bo_and_temporary_bypasses_it() {
    let (_hw, _dev, mgr) = setup();
    // Exactly the limit is fine (`>` fails, not `>=`).
    let full = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(8 * MIB)), None)
        .unwrap();
    let e = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(4 * KIB)), None)
        .unwrap_err();
    let info = e.no_space_info().unwrap();
    assert_eq!(info.cause, NoSpaceCause::UsageLimit);
    assert_eq!(info.usage, 8 * MIB + 4 * KIB);
    assert_eq!(info.limit, 8 * MIB);
    assert_eq!(info.requested, 4 * KIB);
    assert_eq!(e.errno(), 28);
    assert_eq!(mgr.mem_info_gtt_used(), 8 * MIB);
    let bounce = AllocRequest::new(Place::ANY.with(PlaceFlags::TEMPORARY), BoDesc::new(4 * KIB));
    let tmp = mgr.alloc(&bounce, None).unwrap();
    assert_eq!(mgr.mem_info_gtt_used(), 8 * MIB + 4 * KIB);
    // TTM-provided usage is used instead of the manager's own count.
    let mut req = AllocRequest::new(Place::ANY, BoDesc::new(4 * KIB));
    mgr.free(full).unwrap();
    req.usage = Some(9 * MIB);
    assert_eq!(
        mgr.alloc(&req, None)
            .unwrap_err()
            .no_space_info()
            .unwrap()
            .usage,
        9 * MIB
    );
    mgr.free(tmp).unwrap();
    assert_eq!(mgr.mem_info_gtt_used(), 0);
    mgr.check().unwrap();
}

#[test]
fn no_space_in_a_narrow_range_is_explained() {
    let (_hw, _dev, mgr) = setup();
    let a = mgr
        .alloc(
            &AllocRequest::new(Place::range(1024, 1032), BoDesc::new(32 * KIB)),
            None,
        )
        .unwrap();
    assert_eq!(a.start(), 1024);
    let e = mgr
        .alloc(
            &AllocRequest::new(Place::range(1024, 1032), BoDesc::new(4 * KIB)),
            None,
        )
        .unwrap_err();
    let info = e.no_space_info().unwrap();
    assert_eq!(info.cause, NoSpaceCause::Fragmented);
    assert_eq!(info.range, Some((1024 * PAGE, 1032 * PAGE)));
    assert_eq!(info.free, 3064 * PAGE);
    assert_eq!(info.largest_free, 3064 * PAGE);
    assert_eq!(info.attempts, 1);
    assert_eq!(
        e.to_string(),
        "GTT: no space for 4096 bytes in [0x400000, 0x408000) aligned 4096: fragmented or over-constrained; \
         12550144 bytes free, largest free hole 12550144 bytes, usage 36864 of 8388608 (1 attempts)"
    );
    // The whole GART exhausted.
    let e = mgr.alloc(&gart_req(12 * MIB), None).unwrap_err();
    assert_eq!(e.no_space_info().unwrap().cause, NoSpaceCause::UsageLimit);
    mgr.free(a).unwrap();
    mgr.check().unwrap();
}

#[test]
fn gart_exhaustion_is_not_fragmentation() {
    let (_hw, _dev, mgr) = setup_with(RetryPolicy::NONE, 64 * MIB);
    let a = mgr.alloc(&gart_req(3072 * PAGE - 8 * KIB), None).unwrap();
    let e = mgr.alloc(&gart_req(16 * KIB), None).unwrap_err();
    let info = e.no_space_info().unwrap();
    assert_eq!(info.cause, NoSpaceCause::Exhausted);
    assert_eq!(info.free, 8 * KIB);
    assert_eq!(info.largest_free, 8 * KIB);
    mgr.free(a).unwrap();
}

#[test]
fn alloc_gart_assigns_an_address_later() {
    let (hw, _dev, mgr) = setup();
    let mut res = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(8 * KIB)), None)
        .unwrap();
    let p = pages(&hw, 2);
    mgr.alloc_gart(&mut res, &Place::ANY, 0, &p).unwrap();
    assert_eq!(res.start(), 1024);
    assert!(res.has_gart_addr() && res.is_bound());
    assert_eq!(hw.gart().translate(1025).unwrap(), p[1]);
    assert_eq!(mgr.mem_info_gtt_used(), 8 * KIB);
    // Already addressed: nothing changes.
    mgr.alloc_gart(&mut res, &Place::ANY, 0, &p).unwrap();
    assert_eq!(res.start(), 1024);
    mgr.check().unwrap();
    mgr.free(res).unwrap();
    assert_eq!(hw.gart().bound_entries(), 0);
    mgr.check().unwrap();
}

#[test]
fn bind_after_alloc() {
    let (hw, _dev, mgr) = setup();
    let mut res = mgr.alloc(&gart_req(8 * KIB), None).unwrap();
    assert!(!hw.gart().is_bound(1024));
    let p = pages(&hw, 2);
    mgr.bind(&mut res, &p).unwrap();
    assert_eq!(hw.gart().translate(1024).unwrap(), p[0]);
    let mut unaddressed = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(8 * KIB)), None)
        .unwrap();
    assert_eq!(mgr.bind(&mut unaddressed, &p).unwrap_err().errno(), 22);
    mgr.free(res).unwrap();
    mgr.free(unaddressed).unwrap();
    assert_eq!(hw.gart().bound_entries(), 0);
}

#[test]
fn intersects_and_compatible_only_care_about_gart_need() {
    let (_hw, _dev, mgr) = setup();
    let with = mgr.alloc(&gart_req(4 * KIB), None).unwrap();
    let without = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(4 * KIB)), None)
        .unwrap();
    let need = Place::range(2000, 2001);
    for res in [&with, &without] {
        assert!(mgr.intersects(res, &Place::ANY));
        assert!(mgr.compatible(res, &Place::ANY));
    }
    // The window itself is not checked: an address outside [2000, 2001) still counts.
    assert!(mgr.intersects(&with, &need) && mgr.compatible(&with, &need));
    assert!(!mgr.intersects(&without, &need) && !mgr.compatible(&without, &need));
    mgr.free(with).unwrap();
    mgr.free(without).unwrap();
}

#[test]
fn state_machine_refuses_allocations_but_never_frees() {
    let (hw, dev, mgr) = setup();
    let p = pages(&hw, 4);
    let a = mgr.alloc(&gart_req(16 * KIB), Some(&p)).unwrap();
    let b = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(8 * KIB)), None)
        .unwrap();
    mgr.set_error();
    assert_eq!(mgr.state(), MgrState::Error);
    assert!(!mgr.get_stats().is_healthy);
    let e = mgr.alloc(&gart_req(4 * KIB), None).unwrap_err();
    assert!(matches!(e, Error::NoDevice { .. }), "{e:?}");
    assert_eq!(e.errno(), 19);
    // Free in ERROR: the space comes back.
    mgr.free(a).unwrap();
    assert_eq!(hw.gart().bound_entries(), 0);
    assert_eq!(mgr.mem_info_gtt_used(), 8 * KIB);
    mgr.clear_error();
    assert_eq!(mgr.state(), MgrState::Ready);
    let c = mgr.alloc(&gart_req(4 * KIB), None).unwrap();
    assert_eq!(c.start(), 1024);
    // Device shutdown refuses even a READY manager.
    dev.shutdown();
    assert_eq!(mgr.alloc(&gart_req(4 * KIB), None).unwrap_err().errno(), 19);
    assert_eq!(mgr.recover().unwrap_err().errno(), 19);
    mgr.shutdown();
    assert_eq!(mgr.state(), MgrState::Shutdown);
    mgr.free(b).unwrap();
    mgr.free(c).unwrap();
    assert_eq!(mgr.mem_info_gtt_used(), 0);
    mgr.check().unwrap();
    let stats = mgr.get_stats();
    assert_eq!(
        (stats.used_size, stats.total_size, stats.state),
        (0, 8 * MIB, MgrState::Shutdown)
    );
    assert_eq!(stats.counters.allocations, 3);
    assert_eq!(stats.counters.frees, 3);
    assert_eq!(stats.counters.failures, 2);
    mgr.fini().unwrap();
}

#[test]
fn recover_rebinds_the_gart_after_a_reset() {
    let (hw, _dev, mgr) = setup();
    let mut live: Vec<(GttResource, Vec<DmaAddr>)> = Vec::new();
    for n in [1, 7, 16] {
        let p = pages(&hw, n);
        let res = mgr.alloc(&gart_req(n * PAGE), Some(&p)).unwrap();
        live.push((res, p));
    }
    let unaddressed = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(4 * KIB)), None)
        .unwrap();
    assert_eq!(hw.gart().bound_entries(), 24);
    hw.gpu_reset();
    assert_eq!(hw.gart().bound_entries(), 0);
    assert!(hw.gart().translate(1024).is_err());
    mgr.set_error();
    let report = mgr.recover().unwrap();
    assert_eq!(report.damage, None);
    assert_eq!(report.live, 4);
    assert_eq!(report.rebound, 3);
    assert_eq!(mgr.state(), MgrState::Ready);
    for (res, p) in &live {
        for (i, addr) in p.iter().enumerate() {
            assert_eq!(hw.gart().translate(res.start() + i as u64).unwrap(), *addr);
        }
    }
    assert_eq!(hw.gart().bound_entries(), 24);
    assert_eq!(mgr.mem_info_gtt_used(), 100 * KIB);
    for (res, _) in live {
        mgr.free(res).unwrap();
    }
    mgr.free(unaddressed).unwrap();
    assert_eq!(hw.gart().bound_entries(), 0);
    mgr.check().unwrap();
}

#[test]
fn recover_rebuilds_a_damaged_allocator_from_live_resources() {
    let (hw, _dev, mgr) = setup();
    let p = pages(&hw, 8);
    let a = mgr.alloc(&gart_req(32 * KIB), Some(&p)).unwrap();
    let b = mgr.alloc(&gart_req(16 * KIB), None).unwrap();
    assert_eq!((a.start(), b.start()), (1024, 1032));
    mgr.inject_damage(GttDamage::ForgetAllocation(a.id()))
        .unwrap();
    let e = mgr.check().unwrap_err();
    assert!(matches!(e, Error::Corrupted { .. }), "{e:?}");
    assert_eq!(e.errno(), 5);
    mgr.set_error();
    hw.gpu_reset();
    let report = mgr.recover().unwrap();
    assert!(report.damage.unwrap().contains("lost its node"));
    assert_eq!(report.rebound, 1);
    mgr.check().unwrap();
    // The rebuilt allocator does not hand out a's pages again.
    let c = mgr.alloc(&gart_req(4 * KIB), None).unwrap();
    assert_eq!(c.start(), 1036);
    assert_eq!(hw.gart().translate(1031).unwrap(), p[7]);
    for r in [a, b, c] {
        mgr.free(r).unwrap();
    }
    assert_eq!(mgr.mem_info_gtt_used(), 0);
    assert_eq!(mgr.free_gart_pages(), 3072);
    mgr.check().unwrap();
    mgr.fini().unwrap();
}

#[test]
fn retry_wakes_when_another_thread_frees() {
    let retry = RetryPolicy {
        retries: 3,
        wait: Duration::from_secs(5),
    };
    let (_hw, _dev, mgr) = setup_with(retry, 64 * KIB);
    let mgr = Arc::new(mgr);
    let hog = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(64 * KIB)), None)
        .unwrap();
    let m2 = Arc::clone(&mgr);
    let waiter = std::thread::spawn(move || {
        let t = std::time::Instant::now();
        let r = m2.alloc(&AllocRequest::new(Place::ANY, BoDesc::new(32 * KIB)), None);
        (r, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(30));
    mgr.free(hog).unwrap();
    let (res, waited) = waiter.join().unwrap();
    let res = res.unwrap();
    assert!(
        waited < Duration::from_secs(5),
        "woken by the free, not the timeout: {waited:?}"
    );
    assert!(mgr.counters().snapshot().retries >= 1);
    mgr.free(res).unwrap();
    assert_eq!(mgr.mem_info_gtt_used(), 0);
}

#[test]
fn retry_gives_up_after_the_bound() {
    let retry = RetryPolicy {
        retries: 2,
        wait: Duration::from_millis(2),
    };
    let (_hw, _dev, mgr) = setup_with(retry, 64 * KIB);
    let hog = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(64 * KIB)), None)
        .unwrap();
    let e = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(4 * KIB)), None)
        .unwrap_err();
    assert_eq!(e.no_space_info().unwrap().attempts, 3);
    let c = mgr.counters().snapshot();
    assert_eq!((c.retries, c.failures, c.allocations), (2, 1, 1));
    // Usage handed in by TTM cannot change while waiting: no retry.
    let mut req = AllocRequest::new(Place::ANY, BoDesc::new(4 * KIB));
    req.usage = Some(128 * KIB);
    assert_eq!(
        mgr.alloc(&req, None)
            .unwrap_err()
            .no_space_info()
            .unwrap()
            .attempts,
        1
    );
    mgr.free(hog).unwrap();
}

#[test]
fn shutdown_wakes_waiters_with_no_device() {
    let retry = RetryPolicy {
        retries: 1,
        wait: Duration::from_secs(10),
    };
    let (_hw, _dev, mgr) = setup_with(retry, 64 * KIB);
    let mgr = Arc::new(mgr);
    let hog = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(64 * KIB)), None)
        .unwrap();
    let m2 = Arc::clone(&mgr);
    let waiter = std::thread::spawn(move || {
        m2.alloc(&AllocRequest::new(Place::ANY, BoDesc::new(4 * KIB)), None)
    });
    std::thread::sleep(Duration::from_millis(20));
    mgr.shutdown();
    assert_eq!(waiter.join().unwrap().unwrap_err().errno(), 19);
    mgr.free(hog).unwrap();
    mgr.check().unwrap();
}

#[test]
fn fini_reports_leaks() {
    let (_hw, _dev, mgr) = setup();
    let res = mgr.alloc(&gart_req(8 * KIB), None).unwrap();
    let id = res.id();
    // Dropping the token instead of freeing it leaks the range.
    drop(res);
    let leak = mgr.fini().unwrap_err();
    assert_eq!(leak.allocations, vec![(id, Some(1024 * PAGE), 8 * KIB)]);
    assert_eq!(leak.bytes, 8 * KIB);
    assert!(leak
        .to_string()
        .starts_with("GTT: 1 allocations leaked (8192 bytes)"));
}

#[test]
fn concurrent_alloc_and_free_keep_accounting_exact() {
    let retry = RetryPolicy {
        retries: 2,
        wait: Duration::from_millis(1),
    };
    let (hw, _dev, mgr) = setup_with(retry, 4 * MIB);
    let mgr = Arc::new(mgr);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let mgr = Arc::clone(&mgr);
            let hw = Arc::clone(&hw);
            std::thread::spawn(move || {
                let mut seed = t * 7919 + 1;
                let mut held: Vec<(GttResource, Vec<DmaAddr>)> = Vec::new();
                for _ in 0..300 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let n = 1 + seed % 16;
                    if held.len() > 6 || (seed >> 8) % 3 == 0 {
                        if let Some((res, p)) = held.pop() {
                            mgr.free(res).unwrap();
                            for a in p {
                                hw.sysmem().free_pages(a, 0).unwrap();
                            }
                        }
                        continue;
                    }
                    let addressed = (seed >> 16) % 2 == 0;
                    let p: Vec<DmaAddr> = if addressed { pages(&hw, n) } else { Vec::new() };
                    let place = if addressed {
                        Place::range(0, 4096)
                    } else {
                        Place::ANY
                    };
                    match mgr.alloc(
                        &AllocRequest::new(place, BoDesc::new(n * PAGE)),
                        addressed.then_some(&p[..]),
                    ) {
                        Ok(res) => {
                            if addressed {
                                assert_eq!(hw.gart().translate(res.start()).unwrap(), p[0]);
                            }
                            held.push((res, p));
                        }
                        Err(e) => {
                            assert!(e.is_no_space(), "{e}");
                            for a in p {
                                hw.sysmem().free_pages(a, 0).unwrap();
                            }
                        }
                    }
                }
                for (res, p) in held {
                    mgr.free(res).unwrap();
                    for a in p {
                        hw.sysmem().free_pages(a, 0).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(mgr.mem_info_gtt_used(), 0);
    assert_eq!(mgr.live_count(), 0);
    assert_eq!(mgr.free_gart_pages(), 3072);
    assert_eq!(hw.gart().bound_entries(), 0);
    mgr.check().unwrap();
    let c = mgr.counters().snapshot();
    assert_eq!(c.allocations, c.frees);
    assert!(c.high_water <= 4 * MIB);
    assert!(hw.sysmem().leaks().is_empty());
}

#[test]
fn node_exhaustion_leaves_the_manager_unchanged() {
    let (hw, _dev, mgr) = setup();
    let a = mgr.alloc(&gart_req(8 * KIB), None).unwrap();
    mgr.set_max_nodes(Some(1));
    let p = pages(&hw, 2);
    let e = mgr.alloc(&gart_req(8 * KIB), Some(&p)).unwrap_err();
    assert!(matches!(e, Error::OutOfMemory), "{e:?}");
    assert_eq!(e.errno(), 12);
    assert_eq!(hw.gart().bound_entries(), 0);
    assert_eq!(mgr.mem_info_gtt_used(), 8 * KIB);
    assert_eq!(mgr.live_count(), 1);
    mgr.check().unwrap();
    // Address-less resources need no node.
    let b = mgr
        .alloc(&AllocRequest::new(Place::ANY, BoDesc::new(8 * KIB)), None)
        .unwrap();
    mgr.set_max_nodes(None);
    let c = mgr.alloc(&gart_req(8 * KIB), Some(&p)).unwrap();
    assert_eq!(c.start(), 1026);
    for r in [a, b, c] {
        mgr.free(r).unwrap();
    }
    mgr.check().unwrap();
}

/// The seed-004 stress shape: 100 threads × 1000 allocate/free pairs.
#[test]
fn seed_004_stress() {
    let (_hw, _dev, mgr) = setup_with(RetryPolicy::GTT_DEFAULT, 8 * MIB);
    let mgr = Arc::new(mgr);
    let threads: Vec<_> = (0..100u64)
        .map(|t| {
            let mgr = Arc::clone(&mgr);
            std::thread::spawn(move || {
                for i in 0..1000u64 {
                    let place = if (t + i) % 2 == 0 {
                        Place::ANY
                    } else {
                        Place::range(0, 4096)
                    };
                    let res = mgr
                        .alloc(
                            &AllocRequest::new(place, BoDesc::new(PAGE << (i % 4))),
                            None,
                        )
                        .unwrap();
                    mgr.free(res).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(mgr.mem_info_gtt_used(), 0);
    assert_eq!(mgr.free_gart_pages(), 3072);
    mgr.check().unwrap();
    let c = mgr.counters().snapshot();
    assert_eq!((c.allocations, c.frees, c.failures), (100_000, 100_000, 0));
}
