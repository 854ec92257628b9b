//! Unit tests of the hardware model's private core: page store, allocator layout, GART
//! table, overlap detection, fault-injection stream, configuration rules.

use super::copy::{Segment, Space};
use super::store::{pieces, NotPresent, PageStore, Piece, Presence};
use super::*;

const PAGE: u64 = 4096;

fn small() -> HwConfig {
    HwConfig {
        vram_size: 16 * PAGE,
        visible_vram_size: 4 * PAGE,
        gtt_size: 1024 * PAGE,
        sys_mem_size: 64 * PAGE,
        page_size: PAGE,
    }
}

#[test]
fn pieces_split_at_page_boundaries() {
    let got: Vec<_> = pieces(4090, 8200, 12).collect();
    assert_eq!(
        got,
        [
            Piece {
                page: 0,
                off: 4090,
                len: 6,
                pos: 0
            },
            Piece {
                page: 1,
                off: 0,
                len: 4096,
                pos: 6
            },
            Piece {
                page: 2,
                off: 0,
                len: 4096,
                pos: 4102
            },
            Piece {
                page: 3,
                off: 0,
                len: 2,
                pos: 8198
            },
        ]
    );
    assert_eq!(pieces(123, 0, 12).count(), 0);
    assert_eq!(
        pieces(8192, 4096, 12).collect::<Vec<_>>(),
        [Piece {
            page: 2,
            off: 0,
            len: 4096,
            pos: 0
        }]
    );
}

#[test]
fn implicit_store_commits_on_nonzero_and_releases_on_zero() {
    let s = PageStore::new(4096, Presence::Implicit);
    let mut buf = [0xffu8; 16];
    assert_eq!(s.read(7, 100, &mut buf), Ok(false));
    assert_eq!(buf, [0; 16]);
    assert_eq!(s.committed_pages(), 0);
    // Zero writes to an absent page commit nothing.
    s.write(7, 0, &[0; 64]).unwrap();
    assert_eq!((s.committed_pages(), s.present_pages()), (0, 0));
    s.write(7, 4095, &[9]).unwrap();
    assert_eq!(s.committed_pages(), 1);
    // A zero write that leaves another non-zero byte keeps the page.
    s.write(7, 4000, &[5]).unwrap();
    s.write(7, 4095, &[0]).unwrap();
    assert_eq!(s.committed_pages(), 1);
    s.fill(7, 3990, 20, 0).unwrap();
    assert_eq!((s.committed_pages(), s.present_pages()), (0, 0));
    s.check().unwrap();
}

#[test]
fn explicit_store_faults_outside_inserted_pages() {
    let s = PageStore::new(4096, Presence::Explicit);
    let mut buf = [0u8; 4];
    assert_eq!(s.read(3, 0, &mut buf), Err(NotPresent(3)));
    assert_eq!(s.write(3, 0, &[1]), Err(NotPresent(3)));
    s.insert_range(2, 2);
    assert_eq!(s.present_pages(), 2);
    assert_eq!(s.read(3, 0, &mut buf), Ok(false));
    s.write(3, 1, &[1, 2]).unwrap();
    assert_eq!(s.read(3, 0, &mut buf), Ok(true));
    assert_eq!(buf, [0, 1, 2, 0]);
    // Zeroing releases the memory but the page stays present.
    s.fill(3, 0, 4096, 0).unwrap();
    assert_eq!((s.committed_pages(), s.present_pages()), (0, 2));
    s.write(2, 0, &[7]).unwrap();
    s.remove_range(2, 2);
    assert_eq!((s.committed_pages(), s.present_pages()), (0, 0));
    assert_eq!(s.read(2, 0, &mut buf), Err(NotPresent(2)));
    s.check().unwrap();
    // Ranges across a slot-group boundary (groups of 16 pages).
    s.insert_range(14, 4);
    s.write(15, 0, &[1]).unwrap();
    s.write(16, 0, &[1]).unwrap();
    assert_eq!((s.committed_pages(), s.present_pages()), (2, 4));
    s.remove_range(15, 2);
    assert_eq!((s.committed_pages(), s.present_pages()), (0, 2));
    assert!(s.is_present(14) && !s.is_present(15) && !s.is_present(16) && s.is_present(17));
    assert_eq!(s.write(16, 0, &[1]), Err(NotPresent(16)));
    s.check().unwrap();
}

#[test]
fn zero_pages_by_range_and_by_sweep() {
    for presence in [Presence::Implicit, Presence::Explicit] {
        let s = PageStore::new(4096, presence);
        if presence == Presence::Explicit {
            s.insert_range(0, (1 << 20) + 1000);
        }
        for page in [1, 5, 6, 900, 100_000] {
            s.write(page, 10, &[1]).unwrap();
        }
        // Small ranges are walked group by group.
        s.zero_pages(5, 3);
        assert_eq!(s.committed_pages(), 3);
        s.zero_pages(0, 899);
        assert_eq!(s.committed_pages(), 2);
        // A large range over few committed pages sweeps the shards.
        s.zero_pages(901, 1 << 20);
        assert_eq!(s.committed_pages(), 1);
        let mut b = [0u8; 1];
        assert_eq!(s.read(900, 10, &mut b), Ok(true));
        assert_eq!(b, [1]);
        s.check().unwrap();
    }
}

#[test]
fn sysmem_fills_alignment_gaps_with_smaller_blocks() {
    let hw = SimHw::new(small()).unwrap();
    let m = hw.sysmem();
    let page = |n: u64| DmaAddr::new(DMA_BASE + n * PAGE);
    assert_eq!(m.alloc_pages(0).unwrap(), page(0));
    // Order 2 must start at page 4; pages 1 (order 0) and 2..4 (order 1) become free blocks.
    assert_eq!(m.alloc_pages(2).unwrap(), page(4));
    assert_eq!(m.alloc_pages(0).unwrap(), page(1));
    assert_eq!(m.alloc_pages(1).unwrap(), page(2));
    assert_eq!(m.alloc_pages(0).unwrap(), page(8));
    assert_eq!(m.allocated_pages(), 9);
    hw.check().unwrap();
    // LIFO reuse of the same order.
    m.free_pages(page(1), 0).unwrap();
    m.free_pages(page(8), 0).unwrap();
    assert_eq!(m.alloc_pages(0).unwrap(), page(8));
    assert_eq!(m.alloc_pages(0).unwrap(), page(1));
    hw.check().unwrap();
    assert_eq!(
        m.leaks(),
        [
            (page(0), 0),
            (page(1), 0),
            (page(2), 1),
            (page(4), 2),
            (page(8), 0)
        ]
    );
}

#[test]
fn sysmem_budget_is_exact() {
    let hw = SimHw::new(small()).unwrap(); // 64 pages
    let m = hw.sysmem();
    let a = m.alloc_pages(5).unwrap(); // 32
    let b = m.alloc_pages(4).unwrap(); // 48
    let c = m.alloc_pages(4).unwrap(); // 64
    assert_eq!(m.allocated_pages(), 64);
    assert_eq!(m.alloc_pages(0), Err(HwError::OutOfMemory { order: 0 }));
    assert_eq!(m.allocated_pages(), 64);
    hw.check().unwrap();
    m.free_pages(b, 4).unwrap();
    assert_eq!(m.alloc_pages(5), Err(HwError::OutOfMemory { order: 5 }));
    assert_eq!(m.alloc_pages(4).unwrap(), b);
    for (addr, order) in [(a, 5), (b, 4), (c, 4)] {
        m.free_pages(addr, order).unwrap();
    }
    assert_eq!(m.allocated_pages(), 0);
    assert!(m.leaks().is_empty());
    hw.check().unwrap();
}

#[test]
fn gart_table_is_allocated_lazily_by_chunk() {
    let hw = SimHw::new(HwConfig::default()).unwrap();
    let g = hw.gart();
    assert_eq!(g.num_entries(), 2 * 1024 * 1024);
    assert_eq!(g.table_bytes(), 0);
    let p = hw.sysmem().alloc_pages(0).unwrap();
    g.bind(ENTRIES_PER_CHUNK - 1, &[p, p]).unwrap(); // straddles chunks 0 and 1
    assert_eq!(g.table_bytes(), 2 * ENTRIES_PER_CHUNK * 8);
    assert_eq!(g.bound_entries(), 2);
    // Overwriting a valid entry does not count it twice.
    g.bind(ENTRIES_PER_CHUNK, &[p]).unwrap();
    assert_eq!(g.bound_entries(), 2);
    // Unbinding a range with holes counts only the valid entries; reads of a missing
    // chunk do not allocate it.
    g.unbind(0, 4 * ENTRIES_PER_CHUNK).unwrap();
    assert_eq!(g.bound_entries(), 0);
    assert_eq!(g.table_bytes(), 2 * ENTRIES_PER_CHUNK * 8);
    hw.check().unwrap();
}

#[test]
fn overlap_detection() {
    let hw = SimHw::new(small()).unwrap();
    let a = hw.sysmem().alloc_pages(1).unwrap();
    hw.gart()
        .bind(0, &[a, a.checked_add(PAGE).unwrap()])
        .unwrap();
    // Alias the first system page at GART page 10.
    hw.gart().bind(10, &[a]).unwrap();
    hw.dev_write(DevAddr::Gart(0), b"0123456789").unwrap();
    // Source GART 0..8 and destination GART page 10 + 2 share system bytes 2..8: memmove.
    hw.copy(DevAddr::Gart(0), DevAddr::Gart(10 * PAGE + 2), 8)
        .unwrap();
    let mut got = [0u8; 10];
    hw.dev_read(DevAddr::Gart(0), &mut got).unwrap();
    assert_eq!(&got, b"0101234567");
    // VRAM overlap in both directions.
    hw.vram().dev_write(0, b"abcdefgh").unwrap();
    hw.copy(DevAddr::Vram(0), DevAddr::Vram(3), 5).unwrap();
    hw.copy(DevAddr::Vram(3), DevAddr::Vram(1), 5).unwrap();
    let mut v = [0u8; 8];
    hw.vram().dev_read(0, &mut v).unwrap();
    assert_eq!(&v, b"aabcdede");
    hw.check().unwrap();
}

#[test]
fn random_failures_are_reproducible() {
    let run = |seed| {
        let hw = SimHw::new(small()).unwrap();
        hw.copy_engine().fail_one_in(3, seed);
        (0..64)
            .map(|_| hw.fill(DevAddr::Vram(0), 1, 1).is_err())
            .collect::<Vec<_>>()
    };
    let a = run(42);
    assert_eq!(a, run(42));
    assert_ne!(a, run(43));
    let failures = a.iter().filter(|&&f| f).count();
    assert!(
        (8..=40).contains(&failures),
        "{failures} of 64 failed with 1-in-3"
    );
    // one_in == 1 fails everything, 0 disables.
    let hw = SimHw::new(small()).unwrap();
    hw.copy_engine().fail_one_in(1, 0);
    assert_eq!(hw.fill(DevAddr::Vram(0), 1, 1), Err(HwError::CopyFailed));
    hw.copy_engine().fail_one_in(0, 0);
    hw.fill(DevAddr::Vram(0), 1, 1).unwrap();
}

#[test]
fn config_rules_in_order() {
    let d = HwConfig::default();
    let cases: [(HwConfig, &str); 10] = [
        (
            HwConfig {
                page_size: 2048,
                ..d
            },
            "page_size must be a power of two in [4 KiB, 64 KiB]",
        ),
        (
            HwConfig {
                page_size: 12288,
                ..d
            },
            "page_size must be a power of two in [4 KiB, 64 KiB]",
        ),
        (
            HwConfig {
                page_size: 128 << 10,
                ..d
            },
            "page_size must be a power of two in [4 KiB, 64 KiB]",
        ),
        (HwConfig { vram_size: 0, ..d }, "vram_size must be non-zero"),
        (
            HwConfig {
                vram_size: (1 << 30) + 512,
                ..d
            },
            "vram_size must be a multiple of page_size",
        ),
        (
            HwConfig {
                vram_size: 2 << 40,
                ..d
            },
            "vram_size exceeds 1 TiB",
        ),
        (
            HwConfig {
                visible_vram_size: 0,
                ..d
            },
            "visible_vram_size must be non-zero",
        ),
        (
            HwConfig {
                gtt_size: 4095,
                ..d
            },
            "gtt_size must be a multiple of page_size",
        ),
        (
            HwConfig {
                sys_mem_size: 0,
                ..d
            },
            "sys_mem_size must be non-zero",
        ),
        (
            HwConfig {
                visible_vram_size: d.vram_size + PAGE,
                ..d
            },
            "visible_vram_size exceeds vram_size",
        ),
    ];
    for (cfg, why) in cases {
        assert_eq!(
            cfg.validate(),
            Err(HwError::InvalidArgument(why)),
            "{cfg:?}"
        );
        assert_eq!(SimHw::new(cfg).err(), Some(HwError::InvalidArgument(why)));
    }
    d.validate().unwrap();
    HwConfig {
        visible_vram_size: d.vram_size,
        page_size: 64 << 10,
        ..d
    }
    .validate()
    .unwrap();
}

#[test]
fn errno_of_every_variant() {
    let cases = [
        (HwError::InvalidArgument("x"), 22),
        (
            HwError::VramOutOfRange {
                offset: 0,
                len: 0,
                vram_size: 0,
            },
            14,
        ),
        (
            HwError::NotCpuVisible {
                offset: 0,
                len: 0,
                visible_size: 0,
            },
            14,
        ),
        (
            HwError::GartOutOfRange {
                first_page: 0,
                count: 0,
                num_entries: 0,
            },
            22,
        ),
        (HwError::GartFault { gart_page: 0 }, 14),
        (HwError::DmaFault { dma_addr: 0 }, 14),
        (HwError::ForeignAddress { dma_addr: 0 }, 22),
        (
            HwError::DoubleFree {
                dma_addr: 0,
                order: 0,
            },
            22,
        ),
        (
            HwError::OrderMismatch {
                dma_addr: 0,
                allocated: 0,
                given: 1,
            },
            22,
        ),
        (HwError::OutOfMemory { order: 0 }, 12),
        (HwError::CopyFailed, 5),
    ];
    for (e, errno) in cases {
        assert_eq!(e.errno(), errno, "{e}");
    }
    assert_eq!(
        HwError::GartFault { gart_page: 0x12 }.to_string(),
        "GART page fault: page 0x12 is not bound"
    );
}

#[test]
fn debug_output_names_the_state() {
    let hw = SimHw::new(small()).unwrap();
    hw.vram().dev_write(PAGE, &[1]).unwrap();
    let p = hw.sysmem().alloc_pages(1).unwrap();
    hw.gart().bind(3, &[p]).unwrap();
    hw.gpu_reset();
    assert_eq!(
        format!("{hw:?}"),
        "SimHw { vram: Vram { size: 0x10000, visible_size: 0x4000, committed_bytes: 4096 }, \
         sysmem: SystemMemory { total_pages: 64, allocated_pages: 2, committed_bytes: 0 }, \
         gart: Gart { num_entries: 1024, bound_entries: 0, table_bytes: 4096 }, \
         copy: CopyStats { jobs: 0, bytes_copied: 0, bytes_filled: 0, failed_jobs: 0, \
         injected_failures: 0 }, reset_count: 1, vram_lost: true }"
    );
}

#[test]
fn check_reports_each_kind_of_damage() {
    let hw = SimHw::new(small()).unwrap();
    hw.vram().store().corrupt_committed_counter();
    assert_eq!(
        hw.check(),
        Err("vram: shard 0 counts 1/0 committed/present pages, holds 0/0".to_string())
    );

    let hw = SimHw::new(small()).unwrap();
    hw.vram().store().corrupt_zero_slot(17);
    assert_eq!(
        hw.check(),
        Err("vram: page 0x11 committed but all zero".to_string())
    );

    let hw = SimHw::new(small()).unwrap();
    let a = hw.sysmem().alloc_pages(0).unwrap();
    hw.sysmem().free_pages(a, 0).unwrap();
    hw.sysmem().corrupt_free_list(a);
    assert_eq!(
        hw.check(),
        Err("sysmem: free list 0 has 2 entries for 1 free blocks".to_string())
    );

    let hw = SimHw::new(small()).unwrap();
    hw.sysmem().alloc_pages(1).unwrap();
    hw.sysmem().corrupt_live_pages();
    assert_eq!(
        hw.check(),
        Err("sysmem: live_pages 3 but live blocks hold 2".to_string())
    );

    let hw = SimHw::new(small()).unwrap();
    hw.gart().corrupt_counter();
    assert_eq!(
        hw.check(),
        Err("gart: counter says 1 bound entries, table has 0".to_string())
    );
}

#[test]
fn device_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SimHw>();
    assert_send_sync::<HwError>();
    assert_send_sync::<std::sync::Arc<SimHw>>();
}

#[test]
fn overlap_test_sees_aliased_source_segments() {
    let seg = |space, start, len| Segment { space, start, len };
    // Two source segments over the same system bytes (GART aliases): the second starts
    // later but ends earlier, so the destination at 70 only overlaps the first.
    let src = [seg(Space::Sys, 0, 100), seg(Space::Sys, 50, 10)];
    assert!(SimHw::overlaps(&src, &[seg(Space::Sys, 70, 5)]));
    assert!(!SimHw::overlaps(&src, &[seg(Space::Sys, 100, 5)]));
    assert!(!SimHw::overlaps(&src, &[seg(Space::Vram, 0, 100)]));
    assert!(SimHw::overlaps(
        &src,
        &[seg(Space::Vram, 0, 1), seg(Space::Sys, 99, 1)]
    ));
    let vram = [seg(Space::Vram, 10, 10)];
    assert!(!SimHw::overlaps(&vram, &[seg(Space::Vram, 0, 10)]));
    assert!(SimHw::overlaps(&vram, &[seg(Space::Vram, 0, 11)]));
    assert!(SimHw::overlaps(&vram, &[seg(Space::Vram, 19, 100)]));
    assert!(!SimHw::overlaps(&vram, &[seg(Space::Sys, 10, 10)]));
}
