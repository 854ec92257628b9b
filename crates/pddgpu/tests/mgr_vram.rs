//! VRAM manager: the amdgpu allocation contract, reservations, dumps and the robustness
//! layer.

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use pddgpu::mgr_common::{
    AllocRequest, BoDesc, BoFlags, BoKind, DeviceState, Error, MgrState, NoSpaceCause, Place,
    PlaceFlags, RetryPolicy,
};
use pddgpu::vram_mgr::{VramConfig, VramDamage, VramManager, VramResource};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const PAGE: u64 = 4096;

/// 64 MiB of VRAM, the lower 16 MiB CPU-visible, no retries.
fn setup() -> (Arc<DeviceState>, VramManager) {
    setup_with(64 * MIB, 16 * MIB, RetryPolicy::NONE)
}

fn setup_with(size: u64, visible: u64, retry: RetryPolicy) -> (Arc<DeviceState>, VramManager) {
    let dev = Arc::new(DeviceState::new());
    let config = VramConfig {
        retry,
        ..VramConfig::new(size, visible)
    };
    let mgr = VramManager::new(config, Arc::clone(&dev)).unwrap();
    (dev, mgr)
}

fn req(size: u64) -> AllocRequest {
    AllocRequest::new(Place::ANY, BoDesc::new(size))
}

fn spans(res: &VramResource) -> Vec<(u64, u64)> {
    res.blocks().iter().map(|b| (b.offset, b.size)).collect()
}

fn dump(mgr: &VramManager) -> String {
    let mut s = String::new();
    mgr.debug(&mut s).unwrap();
    s
}

#[test]
fn a_fresh_manager_hands_out_from_the_top() {
    let (_dev, mgr) = setup();
    let a = mgr.alloc(&req(4 * KIB)).unwrap();
    assert_eq!(spans(&a), [(64 * MIB - 4 * KIB, 4 * KIB)]);
    assert_eq!(a.start(), ((64 * MIB) >> 12) - 1);
    assert!(a.is_contiguous());
    assert_eq!(a.visible_size(), 0);
    assert_eq!(mgr.mem_info_vram_used(), 4 * KIB);
    assert_eq!(mgr.mem_info_vis_vram_used(), 0);
    mgr.check().unwrap();
    mgr.free(a).unwrap();
    assert_eq!(mgr.mem_info_vram_used(), 0);
    assert_eq!(mgr.avail(), 64 * MIB);
    mgr.check().unwrap();
    mgr.fini().unwrap();
}

#[test]
fn two_mib_multiples_use_two_mib_blocks() {
    let (_dev, mgr) = setup();
    let a = mgr.alloc(&req(4 * MIB)).unwrap();
    assert_eq!(spans(&a), [(60 * MIB, 4 * MIB)]);
    // 6 MiB = 4 MiB + 2 MiB blocks, greedy, each at least 2 MiB.
    let b = mgr.alloc(&req(6 * MIB)).unwrap();
    assert_eq!(spans(&b), [(56 * MIB, 4 * MIB), (54 * MIB, 2 * MIB)]);
    // Contiguity is judged in list order, as upstream does.
    assert!(!b.is_contiguous());
    assert_eq!(b.start(), (54 * MIB) >> 12);
    // 3 MiB is no 2 MiB multiple: page-sized minimum, so 2 MiB + 1 MiB.
    let c = mgr.alloc(&req(3 * MIB)).unwrap();
    assert_eq!(spans(&c), [(52 * MIB, 2 * MIB), (51 * MIB, MIB)]);
    assert_eq!(c.start(), (51 * MIB) >> 12);
    for r in [a, b, c] {
        mgr.free(r).unwrap();
    }
    mgr.check().unwrap();
}

#[test]
fn page_alignment_is_the_minimum_block_size() {
    let (_dev, mgr) = setup();
    let first = mgr.alloc(&req(4 * KIB)).unwrap();
    // 8 KiB aligned to 4 pages (16 KiB): one 8 KiB block at a 16 KiB-aligned offset.
    let mut r = req(8 * KIB);
    r.bo.page_alignment = 4;
    let a = mgr.alloc(&r).unwrap();
    assert_eq!(spans(&a), [(64 * MIB - 16 * KIB, 8 * KIB)]);
    // A non-power-of-two alignment is refused before anything happens.
    r.bo.page_alignment = 3;
    let e = mgr.alloc(&r).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    for bad in [0, 4 * KIB + 1] {
        assert_eq!(mgr.alloc(&req(bad)).unwrap_err().errno(), 22);
    }
    assert_eq!(mgr.mem_info_vram_used(), 12 * KIB);
    mgr.free(first).unwrap();
    mgr.free(a).unwrap();
    mgr.check().unwrap();
}

#[test]
fn contiguous_requests_keep_an_alignment_larger_than_the_bo() {
    let (_dev, mgr) = setup();
    let first = mgr.alloc(&req(4 * KIB)).unwrap();
    // 8 KiB contiguous aligned to 16 pages (64 KiB): one 64 KiB block, trimmed to 8 KiB
    // at its start, so the BO starts 64 KiB-aligned (the buddy alone would align it to
    // 8 KiB only).
    let mut r = AllocRequest::new(
        Place::ANY,
        BoDesc {
            flags: BoFlags::VRAM_CONTIGUOUS,
            ..BoDesc::new(8 * KIB)
        },
    );
    r.bo.page_alignment = 16;
    let a = mgr.alloc(&r).unwrap();
    assert_eq!(spans(&a), [(64 * MIB - 128 * KIB, 8 * KIB)]);
    assert!(a.is_contiguous());
    // The same with TOPDOWN and with a contiguous place.
    r.place = Place::ANY.with(PlaceFlags::TOPDOWN | PlaceFlags::CONTIGUOUS);
    let b = mgr.alloc(&r).unwrap();
    assert_eq!(spans(&b), [(64 * MIB - 192 * KIB, 8 * KIB)]);
    assert_eq!(mgr.mem_info_vram_used(), 20 * KIB);
    assert_eq!(mgr.avail(), 64 * MIB - 20 * KIB);
    for res in [first, a, b] {
        mgr.free(res).unwrap();
    }
    assert_eq!(mgr.avail(), 64 * MIB);
    mgr.check().unwrap();
}

#[test]
fn windowed_requests_keep_an_alignment_larger_than_the_bo() {
    let (_dev, mgr) = setup();
    let mut r = AllocRequest::new(
        Place::range(16 * MIB / PAGE, 64 * MIB / PAGE),
        BoDesc::new(4 * KIB),
    );
    // 4 KiB aligned to 64 KiB in the invisible window: the buddy's range search alone
    // would take any 4 KiB block; the manager takes a 64 KiB block and trims it.
    r.bo.page_alignment = 16;
    let a = mgr.alloc(&r).unwrap();
    let b = mgr.alloc(&r).unwrap();
    assert_eq!(spans(&a), [(16 * MIB, 4 * KIB)]);
    assert_eq!(spans(&b), [(16 * MIB + 64 * KIB, 4 * KIB)]);
    // An alignment larger than the window: only the first aligned offset qualifies.
    r.place = Place::range(32 * MIB / PAGE, 40 * MIB / PAGE);
    r.bo.page_alignment = 32 * MIB / PAGE;
    let c = mgr.alloc(&r).unwrap();
    assert_eq!(spans(&c), [(32 * MIB, 4 * KIB)]);
    let e = mgr.alloc(&r).unwrap_err();
    assert!(matches!(e, Error::NoSpace(_)), "{e:?}");
    // A window without an aligned offset: no space, never a misaligned BO.
    r.place = Place::range(36 * MIB / PAGE, 40 * MIB / PAGE);
    let e = mgr.alloc(&r).unwrap_err();
    assert_eq!(e.errno(), 28, "{e:?}");
    // The largest alignment there is (2^63 bytes): offset 0, then nowhere else.
    r.place = Place::ANY;
    r.bo.page_alignment = 1 << 51;
    let d = mgr.alloc(&r).unwrap();
    assert_eq!(spans(&d), [(0, 4 * KIB)]);
    r.place = Place::range(1, 0);
    assert!(matches!(mgr.alloc(&r).unwrap_err(), Error::NoSpace(_)));
    assert_eq!(mgr.mem_info_vram_used(), 16 * KIB);
    for res in [a, b, c, d] {
        mgr.free(res).unwrap();
    }
    assert_eq!(mgr.avail(), 64 * MIB);
    mgr.check().unwrap();
}

#[test]
fn place_range_maps_to_a_buddy_window() {
    let (_dev, mgr) = setup();
    // lpfn beyond VRAM is clamped: this is the whole of VRAM, no RANGE, from the top.
    let c = mgr
        .alloc(&AllocRequest::new(
            Place::range(0, 1 << 40),
            BoDesc::new(4 * KIB),
        ))
        .unwrap();
    assert_eq!(spans(&c), [(64 * MIB - 4 * KIB, 4 * KIB)]);
    // [1 MiB, 2 MiB): lowest address first.
    let a = mgr
        .alloc(&AllocRequest::new(
            Place::range(256, 512),
            BoDesc::new(64 * KIB),
        ))
        .unwrap();
    assert_eq!(spans(&a), [(MIB, 64 * KIB)]);
    // fpfn + size == lpfn: the exact-range path.
    let b = mgr
        .alloc(&AllocRequest::new(
            Place::range(16, 20),
            BoDesc::new(16 * KIB),
        ))
        .unwrap();
    assert_eq!(spans(&b), [(64 * KIB, 16 * KIB)]);
    // Compatible / intersects per block in pages.
    assert!(a.compatible(&Place::range(256, 512)));
    assert!(!a.compatible(&Place::range(257, 0)));
    assert!(a.intersects(&Place::range(0, 257)));
    assert!(!a.intersects(&Place::range(272, 0)));
    assert!(mgr.intersects(&a, &Place::ANY) && mgr.compatible(&a, &Place::ANY));
    // A window too small for the BO.
    let e = mgr
        .alloc(&AllocRequest::new(
            Place::range(256, 260),
            BoDesc::new(32 * KIB),
        ))
        .unwrap_err();
    assert!(e.is_no_space(), "{e:?}");
    // An inverted window is rejected by the buddy.
    assert_eq!(
        mgr.alloc(&AllocRequest::new(
            Place::range(512, 256),
            BoDesc::new(4 * KIB)
        ))
        .unwrap_err()
        .errno(),
        22
    );
    for r in [a, b, c] {
        mgr.free(r).unwrap();
    }
    mgr.check().unwrap();
}

#[test]
fn topdown_takes_the_highest_block_of_any_order() {
    let (_dev, mgr) = setup();
    let low = mgr
        .alloc(&AllocRequest::new(Place::range(0, 1), BoDesc::new(4 * KIB)))
        .unwrap();
    assert_eq!(spans(&low), [(0, 4 * KIB)]);
    let plain = mgr.alloc(&req(4 * KIB)).unwrap();
    assert_eq!(spans(&plain), [(4 * KIB, 4 * KIB)]);
    let top = mgr
        .alloc(&AllocRequest::new(
            Place::ANY.with(PlaceFlags::TOPDOWN),
            BoDesc::new(4 * KIB),
        ))
        .unwrap();
    assert_eq!(spans(&top), [(64 * MIB - 4 * KIB, 4 * KIB)]);
    assert_eq!(
        top.placement(),
        PlaceFlags::TOPDOWN | PlaceFlags::CONTIGUOUS
    );
    for r in [low, plain, top] {
        mgr.free(r).unwrap();
    }
    mgr.check().unwrap();
}

/// 16 MiB filled with 2 MiB blocks, every other one freed: 8 MiB free, no 4 MiB block.
fn fragmented() -> (Arc<DeviceState>, VramManager, Vec<VramResource>) {
    let (dev, mgr) = setup_with(16 * MIB, 16 * MIB, RetryPolicy::NONE);
    let mut all: Vec<VramResource> = (0..8).map(|_| mgr.alloc(&req(2 * MIB)).unwrap()).collect();
    let mut kept = Vec::new();
    for (i, r) in all.drain(..).enumerate() {
        if i % 2 == 0 {
            mgr.free(r).unwrap();
        } else {
            kept.push(r);
        }
    }
    assert_eq!(mgr.avail(), 8 * MIB);
    (dev, mgr, kept)
}

#[test]
fn contiguous_hint_falls_back_but_a_contiguous_place_fails() {
    let (_dev, mgr, kept) = fragmented();
    let hint = AllocRequest::new(
        Place::ANY,
        BoDesc {
            flags: BoFlags::VRAM_CONTIGUOUS,
            ..BoDesc::new(4 * MIB)
        },
    );
    let a = mgr.alloc(&hint).unwrap();
    assert_eq!(a.blocks().len(), 2);
    assert!(a.blocks().iter().all(|b| b.size == 2 * MIB));
    assert!(!a.is_contiguous());
    assert!(!a.placement().contains(PlaceFlags::CONTIGUOUS));
    mgr.free(a).unwrap();

    let demand = AllocRequest::new(
        Place::ANY.with(PlaceFlags::CONTIGUOUS),
        BoDesc::new(4 * MIB),
    );
    let e = mgr.alloc(&demand).unwrap_err();
    let info = e.no_space_info().unwrap();
    assert_eq!(info.cause, NoSpaceCause::Fragmented);
    assert!(info.contiguous);
    assert_eq!(
        (info.requested, info.free, info.largest_free),
        (4 * MIB, 8 * MIB, 2 * MIB)
    );
    assert_eq!((info.usage, info.limit), (12 * MIB, 16 * MIB));
    assert_eq!(
        e.to_string(),
        "VRAM: no space for 4194304 bytes contiguous aligned 4096: fragmented or over-constrained; \
         8388608 bytes free, largest free block 2097152 bytes, usage 12582912 of 16777216 (1 attempts)"
    );
    assert_eq!(mgr.mem_info_vram_used(), 8 * MIB);
    // A contiguous request that fits is one block and sets CONTIGUOUS on the resource.
    let ok = mgr
        .alloc(&AllocRequest::new(
            Place::ANY.with(PlaceFlags::CONTIGUOUS),
            BoDesc::new(2 * MIB),
        ))
        .unwrap();
    assert!(ok.is_contiguous());
    assert!(ok.placement().contains(PlaceFlags::CONTIGUOUS));
    mgr.free(ok).unwrap();
    for r in kept {
        mgr.free(r).unwrap();
    }
    mgr.check().unwrap();
}

#[test]
fn exhaustion_and_usage_limit_are_told_apart() {
    let (_dev, mgr, kept) = fragmented();
    let e = mgr.alloc(&req(10 * MIB)).unwrap_err();
    let info = e.no_space_info().unwrap();
    // 8 MiB used + 10 MiB requested > 16 MiB: the allocator is not even asked.
    assert_eq!(info.cause, NoSpaceCause::UsageLimit);
    assert_eq!((info.usage, info.limit), (18 * MIB, 16 * MIB));
    let mut r = req(6 * MIB);
    r.usage = Some(6 * MIB); // TTM's figure, not the manager's: the allocator is asked.
    let ok = mgr.alloc(&r).unwrap();
    let e = mgr
        .alloc(&AllocRequest {
            usage: Some(0),
            ..req(4 * MIB)
        })
        .unwrap_err();
    let info = e.no_space_info().unwrap();
    assert_eq!(info.cause, NoSpaceCause::Exhausted);
    assert_eq!((info.free, info.largest_free), (2 * MIB, 2 * MIB));
    mgr.free(ok).unwrap();
    for r in kept {
        mgr.free(r).unwrap();
    }
    mgr.check().unwrap();
}

#[test]
fn user_bos_leave_the_reserved_vram_to_the_kernel() {
    let dev = Arc::new(DeviceState::new());
    let config = VramConfig {
        user_reserved: 8 * MIB,
        retry: RetryPolicy::NONE,
        ..VramConfig::new(64 * MIB, 16 * MIB)
    };
    let mgr = VramManager::new(config, dev).unwrap();
    let e = mgr.alloc(&req(60 * MIB)).unwrap_err();
    assert_eq!(e.no_space_info().unwrap().limit, 56 * MIB);
    let k = mgr
        .alloc(&AllocRequest::new(
            Place::ANY,
            BoDesc {
                kind: BoKind::Kernel,
                ..BoDesc::new(60 * MIB)
            },
        ))
        .unwrap();
    assert_eq!(mgr.mem_info_vram_used(), 60 * MIB);
    mgr.free(k).unwrap();
}

#[test]
fn visible_usage_counts_bytes_below_the_visible_limit() {
    let (_dev, mgr) = setup();
    // [14 MiB, 18 MiB): two 2 MiB blocks, one on each side of the 16 MiB limit.
    let a = mgr
        .alloc(&AllocRequest::new(
            Place::range(14 * 256, 18 * 256),
            BoDesc::new(4 * MIB),
        ))
        .unwrap();
    assert_eq!(spans(&a), [(14 * MIB, 2 * MIB), (16 * MIB, 2 * MIB)]);
    assert!(a.is_contiguous());
    assert_eq!(a.start(), (14 * MIB) >> 12);
    assert_eq!(a.visible_size(), 2 * MIB);
    assert!(!a.is_fully_visible());
    let b = mgr
        .alloc(&AllocRequest::new(
            Place::range(0, 256),
            BoDesc::new(12 * KIB),
        ))
        .unwrap();
    assert!(b.is_fully_visible());
    assert_eq!(mgr.mem_info_vis_vram_used(), 2 * MIB + 12 * KIB);
    assert_eq!(mgr.mem_info_vis_vram_total(), 16 * MIB);
    assert_eq!(mgr.mem_info_vram_total(), 64 * MIB);
    let stats = mgr.get_stats();
    assert_eq!(
        (stats.total_size, stats.used_size, stats.visible_used),
        (64 * MIB, 4 * MIB + 12 * KIB, 2 * MIB + 12 * KIB)
    );
    assert!(stats.is_healthy);
    mgr.free(a).unwrap();
    assert_eq!(mgr.mem_info_vis_vram_used(), 12 * KIB);
    mgr.free(b).unwrap();
    assert_eq!(mgr.mem_info_vis_vram_used(), 0);
    mgr.check().unwrap();
}

#[test]
fn cleared_frees_feed_cleared_allocations_until_a_reset() {
    let (_dev, mgr) = setup();
    let mut a = mgr.alloc(&req(2 * MIB)).unwrap();
    assert!(a.blocks().iter().all(|b| !b.clear));
    a.set_cleared();
    assert!(a.is_cleared());
    mgr.free(a).unwrap();
    assert_eq!(mgr.clear_avail(), 2 * MIB);
    let wants_clear = AllocRequest::new(
        Place::ANY,
        BoDesc {
            flags: BoFlags::VRAM_CLEARED,
            ..BoDesc::new(2 * MIB)
        },
    );
    let b = mgr.alloc(&wants_clear).unwrap();
    assert!(b.blocks().iter().all(|b| b.clear));
    let mut b2 = b;
    b2.set_cleared();
    mgr.free(b2).unwrap();
    mgr.reset_clear();
    assert_eq!(mgr.clear_avail(), 0);
    let c = mgr.alloc(&wants_clear).unwrap();
    assert!(c.blocks().iter().all(|b| !b.clear));
    mgr.free(c).unwrap();
    mgr.check().unwrap();
}

#[test]
fn reservations_go_pending_until_the_range_frees() {
    let (_dev, mgr) = setup();
    mgr.reserve_range(MIB, 64 * KIB).unwrap();
    mgr.query_page_status(MIB + 4 * KIB).unwrap();
    assert_eq!(mgr.mem_info_vram_used(), 64 * KIB);
    assert_eq!(mgr.mem_info_vis_vram_used(), 64 * KIB);
    // A range under a live allocation stays pending.
    let a = mgr.alloc(&req(4 * KIB)).unwrap();
    let top = a.blocks()[0].offset;
    mgr.reserve_range(top, 4 * KIB).unwrap();
    let e = mgr.query_page_status(top).unwrap_err();
    assert!(matches!(e, Error::Busy(_)), "{e:?}");
    assert_eq!(e.errno(), 16);
    assert_eq!(mgr.mem_info_vram_used(), 68 * KIB);
    // Freeing the allocation lets the reservation through.
    mgr.free(a).unwrap();
    mgr.query_page_status(top).unwrap();
    assert_eq!(mgr.mem_info_vram_used(), 68 * KIB);
    let e = mgr.query_page_status(2 * MIB).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    assert_eq!(e.errno(), 2);
    // The reserved page is never handed out again.
    let b = mgr.alloc(&req(4 * KIB)).unwrap();
    assert_ne!(b.blocks()[0].offset, top);
    mgr.free(b).unwrap();
    // Bad ranges.
    for (s, l) in [(1, PAGE), (0, 0), (64 * MIB, PAGE), (u64::MAX - 4095, PAGE)] {
        assert_eq!(mgr.reserve_range(s, l).unwrap_err().errno(), 22);
    }
    mgr.check().unwrap();
    // Reservations are not leaks.
    mgr.fini().unwrap();
}

#[test]
fn debug_dump_matches_the_amdgpu_format() {
    let (_dev, mgr) = setup_with(16 * MIB, 4 * MIB, RetryPolicy::NONE);
    mgr.reserve_range(0, 4 * KIB).unwrap();
    mgr.reserve_range(4 * KIB, 4 * KIB).unwrap();
    assert_eq!(
        dump(&mgr),
        "  vis usage:8192\n\
         default_page_size: 4KiB\n\
         chunk_size: 4KiB, total: 16MiB, free: 15MiB, clear_free: 0MiB\n\
         order-12 free:        0 KiB, blocks: 0\n\
         order-11 free:        8 MiB, blocks: 1\n\
         order-10 free:        4 MiB, blocks: 1\n\
         order- 9 free:        2 MiB, blocks: 1\n\
         order- 8 free:        1 MiB, blocks: 1\n\
         order- 7 free:      512 KiB, blocks: 1\n\
         order- 6 free:      256 KiB, blocks: 1\n\
         order- 5 free:      128 KiB, blocks: 1\n\
         order- 4 free:       64 KiB, blocks: 1\n\
         order- 3 free:       32 KiB, blocks: 1\n\
         order- 2 free:       16 KiB, blocks: 1\n\
         order- 1 free:        8 KiB, blocks: 1\n\
         order- 0 free:        0 KiB, blocks: 0\n\
         reserved:\n\
         0x0000000000001000-0x0000000000002000: 4096\n\
         0x0000000000000000-0x0000000000001000: 4096\n"
    );
}

#[test]
fn state_machine_refuses_allocations_but_never_frees() {
    let (dev, mgr) = setup();
    let a = mgr.alloc(&req(8 * KIB)).unwrap();
    let b = mgr.alloc(&req(2 * MIB)).unwrap();
    mgr.set_error();
    assert_eq!(mgr.state(), MgrState::Error);
    let e = mgr.alloc(&req(4 * KIB)).unwrap_err();
    assert!(matches!(e, Error::NoDevice { .. }), "{e:?}");
    assert_eq!(e.errno(), 19);
    mgr.free(a).unwrap();
    assert_eq!(mgr.mem_info_vram_used(), 2 * MIB);
    assert!(!mgr.get_stats().is_healthy);
    let report = mgr.recover().unwrap();
    assert_eq!(report.damage, None);
    assert_eq!(report.live, 1);
    assert_eq!(mgr.state(), MgrState::Ready);
    let c = mgr.alloc(&req(4 * KIB)).unwrap();
    dev.shutdown();
    assert_eq!(mgr.alloc(&req(4 * KIB)).unwrap_err().errno(), 19);
    mgr.shutdown();
    mgr.clear_error();
    assert_eq!(mgr.state(), MgrState::Shutdown);
    mgr.free(b).unwrap();
    mgr.free(c).unwrap();
    assert_eq!(mgr.mem_info_vram_used(), 0);
    assert_eq!(mgr.avail(), 64 * MIB);
    mgr.check().unwrap();
    let s = mgr.get_stats().counters;
    assert_eq!((s.allocations, s.frees, s.failures), (3, 3, 2));
    assert_eq!(s.high_water, 2 * MIB + 8 * KIB);
    mgr.fini().unwrap();
}

#[test]
fn recover_rebuilds_a_damaged_allocator_from_live_allocations() {
    let (_dev, mgr) = setup();
    let a = mgr.alloc(&req(6 * MIB)).unwrap();
    let b = mgr
        .alloc(&AllocRequest::new(
            Place::range(0, 256),
            BoDesc::new(12 * KIB),
        ))
        .unwrap();
    mgr.reserve_range(2 * MIB, 8 * KIB).unwrap();
    let (a_spans, b_spans) = (spans(&a), spans(&b));
    mgr.inject_damage(VramDamage::ForgetAllocation(a.id()))
        .unwrap();
    let e = mgr.check().unwrap_err();
    assert!(matches!(e, Error::Corrupted { .. }), "{e:?}");
    assert_eq!(e.errno(), 5);
    mgr.set_error();
    let report = mgr.recover().unwrap();
    assert!(report.damage.unwrap().contains("owns 0 of its 2 blocks"));
    assert_eq!(report.live, 2);
    mgr.check().unwrap();
    assert_eq!(mgr.state(), MgrState::Ready);
    assert_eq!(mgr.avail(), 64 * MIB - 6 * MIB - 12 * KIB - 8 * KIB);
    assert_eq!(mgr.mem_info_vram_used(), 6 * MIB + 20 * KIB);
    mgr.query_page_status(2 * MIB).unwrap();
    // Nothing live is handed out twice: fill the rest and compare.
    let rest = mgr.alloc(&req(mgr.avail())).unwrap();
    for (o, s) in spans(&rest) {
        for &(lo, ls) in a_spans.iter().chain(&b_spans) {
            assert!(
                o + s <= lo || lo + ls <= o,
                "{o:#x}+{s} overlaps live {lo:#x}+{ls}"
            );
        }
    }
    assert_eq!(mgr.avail(), 0);
    for r in [a, b, rest] {
        mgr.free(r).unwrap();
    }
    assert_eq!(mgr.avail(), 64 * MIB - 8 * KIB);
    mgr.check().unwrap();
    mgr.fini().unwrap();
}

#[test]
fn retry_wakes_when_another_thread_frees_and_gives_up_after_the_bound() {
    let retry = RetryPolicy {
        retries: 3,
        wait: Duration::from_secs(5),
    };
    let (_dev, mgr) = setup_with(4 * MIB, 4 * MIB, retry);
    let mgr = Arc::new(mgr);
    let hog = mgr.alloc(&req(4 * MIB)).unwrap();
    let m2 = Arc::clone(&mgr);
    let waiter = std::thread::spawn(move || {
        let t = std::time::Instant::now();
        (m2.alloc(&req(2 * MIB)), t.elapsed())
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

    let retry = RetryPolicy {
        retries: 2,
        wait: Duration::from_millis(2),
    };
    let (_dev, mgr) = setup_with(4 * MIB, 4 * MIB, retry);
    let hog = mgr
        .alloc(&AllocRequest::new(
            Place::range(0, 512),
            BoDesc::new(2 * MIB),
        ))
        .unwrap();
    let e = mgr
        .alloc(&AllocRequest::new(
            Place::range(0, 512),
            BoDesc::new(4 * KIB),
        ))
        .unwrap_err();
    let info = e.no_space_info().unwrap();
    assert_eq!((info.attempts, info.cause), (3, NoSpaceCause::Fragmented));
    assert_eq!(info.range, Some((0, 2 * MIB)));
    let c = mgr.counters().snapshot();
    assert_eq!((c.retries, c.failures), (2, 1));
    mgr.free(hog).unwrap();
}

#[test]
fn fini_reports_leaks() {
    let (_dev, mgr) = setup();
    let res = mgr.alloc(&req(8 * KIB)).unwrap();
    let id = res.id();
    // Dropping the resource instead of freeing it leaks the blocks.
    drop(res);
    let leak = mgr.fini().unwrap_err();
    assert_eq!(
        leak.allocations,
        vec![(id, Some(64 * MIB - 8 * KIB), 8 * KIB)]
    );
    assert!(leak
        .to_string()
        .starts_with("VRAM: 1 allocations leaked (8192 bytes)"));
}

#[test]
fn foreign_resources_are_refused() {
    let (_d1, one) = setup();
    let (_d2, two) = setup();
    let r = one.alloc(&req(4 * KIB)).unwrap();
    assert_eq!(two.free(r).unwrap_err().errno(), 22);
    two.check().unwrap();
}

#[test]
fn concurrent_alloc_and_free_keep_accounting_exact() {
    let retry = RetryPolicy {
        retries: 2,
        wait: Duration::from_millis(1),
    };
    let (_dev, mgr) = setup_with(32 * MIB, 8 * MIB, retry);
    let mgr = Arc::new(mgr);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let mgr = Arc::clone(&mgr);
            std::thread::spawn(move || {
                let mut seed = t * 104_729 + 3;
                let mut held = Vec::new();
                for _ in 0..400 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    if held.len() > 8 || (seed >> 8) % 3 == 0 {
                        if let Some(res) = held.pop() {
                            mgr.free(res).unwrap();
                        }
                        continue;
                    }
                    let size = PAGE << (seed % 10);
                    let mut place = Place::ANY;
                    if (seed >> 20) % 4 == 0 {
                        place = Place::range(0, 2048);
                    }
                    if (seed >> 24) % 5 == 0 {
                        place.flags |= PlaceFlags::TOPDOWN;
                    }
                    let flags = if (seed >> 28) % 3 == 0 {
                        BoFlags::VRAM_CONTIGUOUS
                    } else {
                        BoFlags::empty()
                    };
                    match mgr.alloc(&AllocRequest::new(
                        place,
                        BoDesc {
                            flags,
                            ..BoDesc::new(size)
                        },
                    )) {
                        Ok(res) => {
                            assert_eq!(res.blocks().iter().map(|b| b.size).sum::<u64>(), size);
                            held.push(res);
                        }
                        Err(e) => assert!(e.is_no_space(), "{e}"),
                    }
                }
                for res in held {
                    mgr.free(res).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(mgr.mem_info_vram_used(), 0);
    assert_eq!(mgr.mem_info_vis_vram_used(), 0);
    assert_eq!(mgr.avail(), 32 * MIB);
    assert_eq!(mgr.live_count(), 0);
    mgr.check().unwrap();
    let c = mgr.counters().snapshot();
    assert_eq!(c.allocations, c.frees);
    assert!(c.high_water > 0 && c.high_water <= 32 * MIB);
}

#[test]
fn metadata_exhaustion_leaves_the_manager_unchanged() {
    let (_dev, mgr) = setup();
    let a = mgr.alloc(&req(4 * KIB)).unwrap();
    let before = (
        dump(&mgr),
        mgr.mem_info_vram_used(),
        mgr.mem_info_vis_vram_used(),
        mgr.live_count(),
    );
    for n in 0..3 {
        mgr.set_fail_alloc_after(Some(n));
        // A 12 KiB range request in the visible window needs several splits.
        let e = mgr
            .alloc(&AllocRequest::new(
                Place::range(0, 256),
                BoDesc::new(12 * KIB),
            ))
            .unwrap_err();
        assert!(matches!(e, Error::OutOfMemory), "{e:?}");
        assert_eq!(e.errno(), 12);
        assert_eq!(
            (
                dump(&mgr),
                mgr.mem_info_vram_used(),
                mgr.mem_info_vis_vram_used(),
                mgr.live_count()
            ),
            before
        );
        mgr.check().unwrap();
    }
    mgr.set_fail_alloc_after(None);
    let b = mgr
        .alloc(&AllocRequest::new(
            Place::range(0, 256),
            BoDesc::new(12 * KIB),
        ))
        .unwrap();
    assert_eq!(spans(&b), [(0, 8 * KIB), (8 * KIB, 4 * KIB)]);
    mgr.free(a).unwrap();
    mgr.free(b).unwrap();
    mgr.check().unwrap();
}

/// The seed-004 stress shape: 100 threads × 1000 allocate/free pairs.
#[test]
fn seed_004_stress() {
    let (_dev, mgr) = setup_with(256 * MIB, 64 * MIB, RetryPolicy::VRAM_DEFAULT);
    let mgr = Arc::new(mgr);
    let threads: Vec<_> = (0..100u64)
        .map(|t| {
            let mgr = Arc::clone(&mgr);
            std::thread::spawn(move || {
                for i in 0..1000u64 {
                    let size = PAGE << ((t + i) % 8);
                    let res = mgr.alloc(&req(size)).unwrap();
                    mgr.free(res).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(mgr.mem_info_vram_used(), 0);
    assert_eq!(mgr.avail(), 256 * MIB);
    mgr.check().unwrap();
    let c = mgr.counters().snapshot();
    assert_eq!((c.allocations, c.frees, c.failures), (100_000, 100_000, 0));
}
