//! Property tests of both managers against simple reference models: random operation
//! sequences, with `check()` and the model's invariants after every step.

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use pddgpu::gtt_mgr::{GttConfig, GttDamage, GttManager, GttResource};
use pddgpu::hw::{DmaAddr, HwConfig, SimHw};
use pddgpu::mgr_common::{
    AllocRequest, BoDesc, BoFlags, DeviceState, Error, NoSpaceCause, Place, PlaceFlags, RetryPolicy,
};
use pddgpu::vram_mgr::{VramConfig, VramDamage, VramManager, VramResource};

const PAGE: u64 = 4096;
const VRAM: u64 = 8 << 20;
const VISIBLE: u64 = 2 << 20;

/// Byte-interval model: `start → (end, owner)`; rejects overlaps.
#[derive(Default, Debug)]
struct Intervals(BTreeMap<u64, (u64, u64)>);

impl Intervals {
    fn insert(&mut self, start: u64, end: u64, owner: u64) {
        assert!(start < end, "empty interval {start:#x}");
        if let Some((&s, &(e, o))) = self.0.range(..end).next_back() {
            assert!(
                e <= start,
                "[{start:#x}, {end:#x}) of {owner} overlaps [{s:#x}, {e:#x}) of {o}"
            );
        }
        self.0.insert(start, (end, owner));
    }
}

#[derive(Clone, Debug)]
enum VramOp {
    Alloc {
        pages: u64,
        align_log: u32,
        window: u8,
        topdown: bool,
        contiguous: u8,
        cleared: bool,
    },
    Free {
        index: usize,
        wiped: bool,
    },
    Reserve {
        page: u64,
        pages: u64,
    },
    ResetClear,
    DamageAndRecover {
        index: usize,
    },
}

fn vram_op() -> impl Strategy<Value = VramOp> {
    prop_oneof![
        4 => (1u64..600, 0u32..5, 0u8..4, any::<bool>(), 0u8..3, any::<bool>()).prop_map(
            |(pages, align_log, window, topdown, contiguous, cleared)| VramOp::Alloc {
                pages, align_log, window, topdown, contiguous, cleared
            }
        ),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(index, wiped)| VramOp::Free { index, wiped }),
        1 => (0u64..(VRAM / PAGE), 1u64..8).prop_map(|(page, pages)| VramOp::Reserve { page, pages }),
        1 => Just(VramOp::ResetClear),
        1 => any::<usize>().prop_map(|index| VramOp::DamageAndRecover { index }),
    ]
}

fn vram_window(w: u8) -> (u64, u64) {
    match w {
        0 => (0, 0),
        1 => (0, VISIBLE / PAGE),
        2 => (VISIBLE / PAGE, 2 * VISIBLE / PAGE),
        _ => (100, 1000),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn vram_manager_agrees_with_the_model(ops in prop::collection::vec(vram_op(), 1..60)) {
        let mgr = VramManager::new(
            VramConfig { retry: RetryPolicy::NONE, ..VramConfig::new(VRAM, VISIBLE) },
            Arc::new(DeviceState::new()),
        )
        .unwrap();
        let mut live: Vec<(u64, VramResource)> = Vec::new();
        let mut reserved: Vec<(u64, u64)> = Vec::new();
        let mut pending: Vec<(u64, u64)> = Vec::new();
        let mut next_owner = 1u64;
        for op in ops {
            match op {
                VramOp::Alloc { pages, align_log, window, topdown, contiguous, cleared } => {
                    let (fpfn, lpfn) = vram_window(window);
                    let mut place = Place::range(fpfn, lpfn);
                    if topdown { place.flags |= PlaceFlags::TOPDOWN; }
                    if contiguous == 2 { place.flags |= PlaceFlags::CONTIGUOUS; }
                    let mut flags = BoFlags::empty();
                    if contiguous == 1 { flags |= BoFlags::VRAM_CONTIGUOUS; }
                    if cleared { flags |= BoFlags::VRAM_CLEARED; }
                    let size = pages * PAGE;
                    let bo = BoDesc { size, page_alignment: 1 << align_log, flags, ..BoDesc::new(size) };
                    let used_before = mgr.mem_info_vram_used();
                    match mgr.alloc(&AllocRequest::new(place, bo)) {
                        Ok(res) => {
                            prop_assert!(used_before + size <= VRAM);
                            prop_assert_eq!(res.size(), size);
                            prop_assert_eq!(res.blocks().iter().map(|b| b.size).sum::<u64>(), size);
                            let (lo, hi) = (fpfn * PAGE, if lpfn == 0 { VRAM } else { lpfn * PAGE });
                            for b in res.blocks() {
                                prop_assert!(b.size.is_power_of_two() && b.offset % b.size == 0);
                                prop_assert!(lo <= b.offset && b.offset + b.size <= hi);
                            }
                            prop_assert!(res.compatible(&place));
                            if contiguous == 2 { prop_assert!(res.is_contiguous()); }
                            let vis: u64 = res.blocks().iter().map(|b| b.visible_bytes(VISIBLE)).sum();
                            prop_assert_eq!(res.visible_size(), vis);
                            live.push((next_owner, res));
                            next_owner += 1;
                        }
                        Err(Error::NoSpace(info)) => {
                            if used_before + size > VRAM {
                                prop_assert_eq!(info.cause, NoSpaceCause::UsageLimit);
                            }
                        }
                        Err(Error::InvalidArgument(_)) => prop_assert!(fpfn * PAGE + size > VRAM),
                        Err(e) => prop_assert!(false, "unexpected error {e:?}"),
                    }
                }
                VramOp::Free { index, wiped } => {
                    if !live.is_empty() {
                        let (_, mut res) = live.swap_remove(index % live.len());
                        if wiped { res.set_cleared(); }
                        mgr.free(res).unwrap();
                    }
                }
                VramOp::Reserve { page, pages } => {
                    let (start, size) = (page * PAGE, pages * PAGE);
                    if start + size > VRAM {
                        prop_assert_eq!(mgr.reserve_range(start, size).unwrap_err().errno(), 22);
                    } else {
                        let overlaps = reserved.iter().chain(&pending).any(|&(s, l)| start < s + l && s < start + size);
                        if !overlaps {
                            mgr.reserve_range(start, size).unwrap();
                            pending.push((start, size));
                        }
                    }
                }
                VramOp::ResetClear => mgr.reset_clear(),
                VramOp::DamageAndRecover { index } => {
                    if !live.is_empty() {
                        let id = live[index % live.len()].1.id();
                        mgr.inject_damage(VramDamage::ForgetAllocation(id)).unwrap();
                        prop_assert!(mgr.check().is_err());
                        mgr.set_error();
                        let report = mgr.recover().unwrap();
                        prop_assert!(report.damage.is_some());
                        prop_assert_eq!(report.live, live.len());
                    }
                }
            }
            // Pending reservations settle as the manager says; check the status queries.
            pending.retain(|&(s, l)| match mgr.query_page_status(s) {
                Ok(()) => { reserved.push((s, l)); false }
                Err(Error::Busy(_)) => true,
                Err(e) => panic!("reservation at {s:#x} lost: {e:?}"),
            });
            mgr.check().unwrap();
            // Model: no overlap among live blocks and reserved ranges; exact accounting.
            let mut model = Intervals::default();
            let mut used = 0;
            let mut vis = 0;
            for (owner, res) in &live {
                for b in res.blocks() { model.insert(b.offset, b.offset + b.size, *owner); }
                used += res.size();
                vis += res.visible_size();
            }
            for &(s, l) in &reserved {
                model.insert(s, s + l, 0);
                used += l;
                vis += (s + l).min(VISIBLE).saturating_sub(s);
            }
            prop_assert_eq!(mgr.mem_info_vram_used(), used);
            prop_assert_eq!(mgr.mem_info_vis_vram_used(), vis);
            prop_assert_eq!(mgr.avail(), VRAM - used);
        }
        for (_, res) in live { mgr.free(res).unwrap(); }
        mgr.check().unwrap();
        // With nothing live, every pending reservation has gone through.
        for &(s, l) in &pending {
            mgr.query_page_status(s).unwrap();
            reserved.push((s, l));
        }
        prop_assert_eq!(mgr.mem_info_vram_used(), reserved.iter().map(|r| r.1).sum::<u64>());
        prop_assert_eq!(mgr.avail(), VRAM - mgr.mem_info_vram_used());
        mgr.fini().unwrap();
    }
}

#[derive(Clone, Debug)]
enum GttOp {
    Alloc {
        pages: u64,
        align: u64,
        gart: bool,
        window: u8,
        temporary: bool,
    },
    Free {
        index: usize,
    },
    AllocGart {
        index: usize,
    },
    ResetAndRecover,
    DamageAndRecover {
        index: usize,
    },
}

fn gtt_op() -> impl Strategy<Value = GttOp> {
    prop_oneof![
        4 => (1u64..48, 0u64..6, any::<bool>(), 0u8..3, any::<bool>()).prop_map(
            |(pages, align, gart, window, temporary)| GttOp::Alloc { pages, align, gart, window, temporary }
        ),
        3 => any::<usize>().prop_map(|index| GttOp::Free { index }),
        1 => any::<usize>().prop_map(|index| GttOp::AllocGart { index }),
        1 => Just(GttOp::ResetAndRecover),
        1 => any::<usize>().prop_map(|index| GttOp::DamageAndRecover { index }),
    ]
}

fn gtt_window(w: u8) -> (u64, u64) {
    match w {
        0 => (0, 2048),
        1 => (1500, 1700),
        _ => (0, 1 << 20),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn gtt_manager_agrees_with_the_model(ops in prop::collection::vec(gtt_op(), 1..60)) {
        // GART 2048 pages: windows 0..1024, allocator 1024..2048. Usage limit 1 MiB.
        let hw = Arc::new(SimHw::new(HwConfig {
            vram_size: 4 << 20,
            visible_vram_size: 4 << 20,
            gtt_size: 8 << 20,
            sys_mem_size: 16 << 20,
            page_size: PAGE,
        }).unwrap());
        let limit = 1 << 20;
        let mgr = GttManager::new(
            GttConfig { size: limit, retry: RetryPolicy::NONE },
            Arc::clone(&hw),
            Arc::new(DeviceState::new()),
        ).unwrap();
        let mut live: Vec<(u64, GttResource, Vec<DmaAddr>)> = Vec::new();
        let mut next_owner = 1u64;
        let alloc_pages = |n: u64| -> Vec<DmaAddr> { (0..n).map(|_| hw.sysmem().alloc_pages(0).unwrap()).collect() };
        for op in ops {
            match op {
                GttOp::Alloc { pages, align, gart, window, temporary } => {
                    let (fpfn, lpfn) = if gart { gtt_window(window) } else { (0, 0) };
                    let mut place = Place::range(fpfn, lpfn);
                    if temporary { place.flags |= PlaceFlags::TEMPORARY; }
                    let size = pages * PAGE;
                    let bo = BoDesc { page_alignment: align, ..BoDesc::new(size) };
                    let p = if gart { alloc_pages(pages) } else { Vec::new() };
                    let used_before = mgr.mem_info_gtt_used();
                    match mgr.alloc(&AllocRequest::new(place, bo), gart.then_some(&p[..])) {
                        Ok(res) => {
                            prop_assert!(temporary || used_before + size <= limit);
                            prop_assert_eq!(res.has_gart_addr(), gart);
                            if gart {
                                let s = res.start();
                                prop_assert!(s >= fpfn.max(1024) && s + pages <= lpfn.min(2048));
                                if align > 1 { prop_assert_eq!(s % align, 0); }
                            }
                            live.push((next_owner, res, p));
                            next_owner += 1;
                        }
                        Err(Error::NoSpace(info)) => {
                            if !temporary && used_before + size > limit {
                                prop_assert_eq!(info.cause, NoSpaceCause::UsageLimit);
                            } else {
                                prop_assert!(gart);
                            }
                            for a in p { hw.sysmem().free_pages(a, 0).unwrap(); }
                        }
                        Err(e) => prop_assert!(false, "unexpected error {e:?}"),
                    }
                }
                GttOp::Free { index } => {
                    if !live.is_empty() {
                        let (_, res, p) = live.swap_remove(index % live.len());
                        mgr.free(res).unwrap();
                        for a in p { hw.sysmem().free_pages(a, 0).unwrap(); }
                    }
                }
                GttOp::AllocGart { index } => {
                    if !live.is_empty() {
                        let i = index % live.len();
                        if !live[i].1.has_gart_addr() {
                            let p = alloc_pages(live[i].1.num_pages());
                            match mgr.alloc_gart(&mut live[i].1, &Place::ANY, 0, &p) {
                                Ok(()) => live[i].2 = p,
                                Err(e) => {
                                    prop_assert!(e.is_no_space(), "{e:?}");
                                    for a in p { hw.sysmem().free_pages(a, 0).unwrap(); }
                                }
                            }
                        }
                    }
                }
                GttOp::DamageAndRecover { index } => {
                    let addressed: Vec<usize> = (0..live.len()).filter(|&i| live[i].1.has_gart_addr()).collect();
                    if !addressed.is_empty() {
                        let id = live[addressed[index % addressed.len()]].1.id();
                        mgr.inject_damage(GttDamage::ForgetAllocation(id)).unwrap();
                        prop_assert!(mgr.check().is_err());
                        hw.gpu_reset();
                        let report = mgr.recover().unwrap();
                        prop_assert!(report.damage.is_some());
                        prop_assert_eq!(report.rebound, addressed.len());
                    }
                }
                GttOp::ResetAndRecover => {
                    hw.gpu_reset();
                    mgr.set_error();
                    let report = mgr.recover().unwrap();
                    prop_assert_eq!(report.damage, None);
                    prop_assert_eq!(report.rebound, live.iter().filter(|l| l.1.has_gart_addr()).count());
                }
            }
            mgr.check().unwrap();
            let mut model = Intervals::default();
            let mut used = 0;
            let mut bound = 0;
            for (owner, res, p) in &live {
                used += res.size();
                if res.has_gart_addr() {
                    model.insert(res.start(), res.start() + res.num_pages(), *owner);
                    for (i, a) in p.iter().enumerate() {
                        prop_assert_eq!(hw.gart().translate(res.start() + i as u64).unwrap(), *a);
                    }
                    bound += res.num_pages();
                }
            }
            prop_assert_eq!(mgr.mem_info_gtt_used(), used);
            prop_assert_eq!(hw.gart().bound_entries(), bound);
            prop_assert_eq!(mgr.free_gart_pages(), 1024 - bound);
        }
        for (_, res, p) in live {
            mgr.free(res).unwrap();
            for a in p { hw.sysmem().free_pages(a, 0).unwrap(); }
        }
        prop_assert_eq!(hw.gart().bound_entries(), 0);
        prop_assert!(hw.sysmem().leaks().is_empty());
        mgr.fini().unwrap();
    }
}
