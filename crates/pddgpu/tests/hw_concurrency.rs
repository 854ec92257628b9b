//! Simulated hardware under real threads: disjoint copies, page allocation, resets.

// Helpers outside #[test] fns unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::thread;

use pddgpu::hw::{DevAddr, HwConfig, SimHw};

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;
const THREADS: u64 = 6;

fn device() -> Arc<SimHw> {
    Arc::new(
        SimHw::new(HwConfig {
            vram_size: 256 * MIB,
            visible_vram_size: 64 * MIB,
            gtt_size: 64 * MIB,
            sys_mem_size: 256 * MIB,
            page_size: PAGE,
        })
        .unwrap(),
    )
}

#[test]
fn threads_copying_disjoint_regions_see_exactly_their_bytes() {
    let hw = device();
    let region = 512 * 1024 + 333; // unaligned, straddles pages
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let hw = Arc::clone(&hw);
            thread::spawn(move || {
                let gart_first = t * 256; // 1 MiB of GART per thread
                let pages: Vec<_> = (0..200)
                    .map(|_| hw.sysmem().alloc_pages(0).unwrap())
                    .collect();
                hw.gart().bind(gart_first, &pages).unwrap();
                let vram_src = t * 32 * MIB + 17;
                let vram_dst = vram_src + 16 * MIB;
                for round in 0..4u8 {
                    let data: Vec<u8> = (0..region)
                        .map(|i| (i as u8) ^ (t as u8) ^ round.wrapping_mul(31) | 1)
                        .collect();
                    hw.vram().dev_write(vram_src, &data).unwrap();
                    let gart = DevAddr::Gart(gart_first * PAGE + 5);
                    hw.copy(DevAddr::Vram(vram_src), gart, region as u64)
                        .unwrap();
                    hw.copy(gart, DevAddr::Vram(vram_dst), region as u64)
                        .unwrap();
                    let mut got = vec![0u8; region];
                    hw.vram().dev_read(vram_dst, &mut got).unwrap();
                    assert!(got == data, "thread {t} round {round}: bytes differ");
                    hw.dev_read(gart, &mut got).unwrap();
                    assert!(got == data, "thread {t} round {round}: GART view differs");
                }
                hw.gart().unbind(gart_first, 200).unwrap();
                for p in pages {
                    hw.sysmem().free_pages(p, 0).unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let s = hw.copy_engine().stats();
    assert_eq!(s.jobs, THREADS * 4 * 2);
    assert_eq!(s.bytes_copied, THREADS * 4 * 2 * region as u64);
    assert_eq!(hw.sysmem().allocated_pages(), 0);
    assert_eq!(hw.gart().bound_entries(), 0);
    hw.check().unwrap();
}

#[test]
fn concurrent_page_allocation_keeps_exact_accounting() {
    let hw = device();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let hw = Arc::clone(&hw);
            thread::spawn(move || {
                let mut held = Vec::new();
                for i in 0..2000u64 {
                    let order = ((i * 7 + t) % 4) as u32;
                    let addr = hw.sysmem().alloc_pages(order).unwrap();
                    // Tag the block; another thread must never see or overwrite it.
                    hw.sysmem().write(addr, &[t as u8 + 1; 8]).unwrap();
                    held.push((addr, order));
                    if i % 3 == 2 {
                        let (a, o) = held.swap_remove((i as usize * 5) % held.len());
                        let mut tag = [0u8; 8];
                        hw.sysmem().read(a, &mut tag).unwrap();
                        assert_eq!(tag, [t as u8 + 1; 8]);
                        hw.sysmem().free_pages(a, o).unwrap();
                    }
                }
                held
            })
        })
        .collect();
    let mut live = Vec::new();
    for w in workers {
        live.extend(w.join().unwrap());
    }
    let pages: u64 = live.iter().map(|&(_, o)| 1u64 << o).sum();
    assert_eq!(hw.sysmem().allocated_pages(), pages);
    assert_eq!(hw.sysmem().committed_bytes(), live.len() as u64 * PAGE);
    live.sort_unstable();
    assert_eq!(hw.sysmem().leaks(), live);
    hw.check().unwrap();
    for (a, o) in live {
        hw.sysmem().free_pages(a, o).unwrap();
    }
    assert_eq!(
        (hw.sysmem().allocated_pages(), hw.committed_bytes()),
        (0, 0)
    );
    hw.check().unwrap();
}

#[test]
fn resets_racing_binds_leave_a_consistent_table() {
    let hw = device();
    let pages: Vec<_> = (0..64)
        .map(|_| hw.sysmem().alloc_pages(0).unwrap())
        .collect();
    let pages = Arc::new(pages);
    let binders: Vec<_> = (0..3u64)
        .map(|t| {
            let (hw, pages) = (Arc::clone(&hw), Arc::clone(&pages));
            thread::spawn(move || {
                for i in 0..300u64 {
                    let first = (t * 1000 + i * 64) % 16000;
                    hw.gart().bind(first, &pages).unwrap();
                    if i % 2 == 0 {
                        hw.gart().unbind(first, 64).unwrap();
                    }
                }
            })
        })
        .collect();
    let resetter = {
        let hw = Arc::clone(&hw);
        thread::spawn(move || {
            for _ in 0..50 {
                hw.gpu_reset();
                thread::yield_now();
            }
        })
    };
    for b in binders {
        b.join().unwrap();
    }
    resetter.join().unwrap();
    assert_eq!(hw.reset_count(), 50);
    // With everything quiet, the counter agrees with the table.
    hw.check().unwrap();
    hw.gpu_reset();
    assert_eq!(hw.gart().bound_entries(), 0);
    hw.check().unwrap();
}
