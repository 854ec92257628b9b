//! Simulated hardware: lazy VRAM, the CPU-visible window, system pages.

// Helpers outside #[test] fns unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use pddgpu::hw::{DevAddr, DmaAddr, HwConfig, HwError, SimHw, DMA_BASE, MAX_PAGE_ORDER};

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

#[test]
fn default_device_commits_nothing_until_written() {
    let hw = SimHw::new(HwConfig::default()).unwrap();
    let cfg = hw.config();
    assert_eq!(
        (
            cfg.vram_size,
            cfg.visible_vram_size,
            cfg.gtt_size,
            cfg.page_size
        ),
        (4 * GIB, 256 * MIB, 8 * GIB, 4096)
    );
    assert_eq!(hw.committed_bytes(), 0);
    assert_eq!(hw.gart().table_bytes(), 0);

    // Reading anywhere commits nothing and returns zeros.
    let mut buf = vec![0xaau8; 3 * PAGE as usize];
    hw.vram()
        .dev_read(4 * GIB - buf.len() as u64, &mut buf)
        .unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    hw.vram().cpu_read(0, &mut buf).unwrap();
    assert_eq!(hw.committed_bytes(), 0);

    // One non-zero byte commits exactly one page slot.
    hw.vram().dev_write(3 * GIB + 17, &[0x5a]).unwrap();
    assert_eq!(hw.vram().committed_bytes(), PAGE);
    // A write straddling two pages commits both.
    hw.vram().cpu_write(2 * PAGE - 1, &[1, 2]).unwrap();
    assert_eq!(hw.vram().committed_bytes(), 3 * PAGE);
    // A zero fill of the whole page gives its slot back; a partial zero write does too
    // once the page is all zero.
    hw.fill(DevAddr::Vram(3 * GIB), PAGE, 0).unwrap();
    assert_eq!(hw.vram().committed_bytes(), 2 * PAGE);
    hw.vram().cpu_write(2 * PAGE - 1, &[0]).unwrap();
    assert_eq!(hw.vram().committed_bytes(), PAGE);
    hw.vram().cpu_write(2 * PAGE, &[0]).unwrap();
    assert_eq!(hw.vram().committed_bytes(), 0);
    hw.check().unwrap();
}

#[test]
fn clearing_all_of_vram_is_cheap_and_releases_everything() {
    let hw = SimHw::new(HwConfig::default()).unwrap();
    for i in 0..8 {
        hw.vram()
            .dev_write(i * 512 * MIB + 100, &[i as u8 + 1; 10])
            .unwrap();
    }
    assert_eq!(hw.vram().committed_bytes(), 8 * PAGE);
    // A partial page at each end, 1M whole pages in between (swept, not walked).
    hw.fill(DevAddr::Vram(50), 4 * GIB - 100, 0).unwrap();
    assert_eq!(hw.vram().committed_bytes(), 0);
    assert_eq!(hw.copy_engine().stats().bytes_filled, 4 * GIB - 100);
    // Filling with a non-zero value commits every page touched.
    hw.fill(DevAddr::Vram(PAGE - 1), 2, 0xee).unwrap();
    assert_eq!(hw.vram().committed_bytes(), 2 * PAGE);
    hw.check().unwrap();
}

#[test]
fn cpu_access_is_limited_to_the_visible_window() {
    let cfg = HwConfig {
        vram_size: 64 * MIB,
        visible_vram_size: 16 * MIB,
        ..HwConfig::default()
    };
    let hw = SimHw::new(cfg).unwrap();
    let vis = 16 * MIB;
    let v = hw.vram();
    // (offset, len, allowed)
    let table: [(u64, usize, bool); 8] = [
        (0, 1, true),
        (vis - 1, 1, true),
        (vis - 4096, 4096, true),
        (vis, 0, true),
        (vis, 1, false),
        (vis - 1, 2, false),
        (u64::MAX, 1, false),
        (u64::MAX - 1, 0, false),
    ];
    for (offset, len, ok) in table {
        let data = vec![0x11u8; len];
        let mut buf = vec![0u8; len];
        let expect = HwError::NotCpuVisible {
            offset,
            len: len as u64,
            visible_size: vis,
        };
        if ok {
            v.cpu_write(offset, &data).unwrap();
            v.cpu_read(offset, &mut buf).unwrap();
            assert_eq!(buf, data);
        } else {
            assert_eq!(
                v.cpu_write(offset, &data),
                Err(expect.clone()),
                "{offset:#x}+{len}"
            );
            assert_eq!(v.cpu_read(offset, &mut buf), Err(expect.clone()));
            assert_eq!(expect.errno(), 14);
        }
    }
    // The device reaches all of VRAM, and nothing beyond.
    v.dev_write(64 * MIB - 3, b"end").unwrap();
    let mut end = [0u8; 3];
    v.dev_read(64 * MIB - 3, &mut end).unwrap();
    assert_eq!(&end, b"end");
    assert_eq!(
        v.dev_write(64 * MIB - 2, b"end"),
        Err(HwError::VramOutOfRange {
            offset: 64 * MIB - 2,
            len: 3,
            vram_size: 64 * MIB
        })
    );
    // A refused straddling write changed nothing.
    let mut probe = [0u8; 1];
    v.dev_read(vis - 1, &mut probe).unwrap();
    assert_eq!(probe, [0x11]);
    v.dev_read(vis, &mut probe).unwrap();
    assert_eq!(probe, [0]);
    hw.check().unwrap();
}

#[test]
fn system_pages_are_lazy_and_accounted() {
    let hw = SimHw::new(HwConfig::default()).unwrap();
    let m = hw.sysmem();
    let big = m.alloc_pages(MAX_PAGE_ORDER).unwrap();
    assert_eq!(big.get() % (PAGE << MAX_PAGE_ORDER), 0);
    assert!(big.get() >= DMA_BASE);
    assert_eq!(m.allocated_pages(), 1024);
    assert_eq!(m.committed_bytes(), 0);
    // Contiguous: a write across the block's pages works.
    let mid = big.checked_add(PAGE * 511 + PAGE - 2).unwrap();
    m.write(mid, &[1, 2, 3, 4]).unwrap();
    assert_eq!(m.committed_bytes(), 2 * PAGE);
    let mut got = [0u8; 4];
    m.read(mid, &mut got).unwrap();
    assert_eq!(got, [1, 2, 3, 4]);
    m.write(mid, &[0; 4]).unwrap();
    assert_eq!(m.committed_bytes(), 0);
    m.write(mid, &[9]).unwrap();
    m.free_pages(big, MAX_PAGE_ORDER).unwrap();
    assert_eq!((m.allocated_pages(), m.committed_bytes()), (0, 0));
    // Reallocated, the block reads as zero.
    assert_eq!(m.alloc_pages(MAX_PAGE_ORDER).unwrap(), big);
    m.read(mid, &mut got).unwrap();
    assert_eq!(got, [0; 4]);
    hw.check().unwrap();
}

#[test]
fn system_page_misuse_is_a_typed_error_that_changes_nothing() {
    let hw = SimHw::new(HwConfig::default()).unwrap();
    let m = hw.sysmem();
    let a = m.alloc_pages(1).unwrap();
    let b = m.alloc_pages(0).unwrap();
    let before = (m.allocated_pages(), m.leaks());
    let inner = a.checked_add(PAGE).unwrap();
    let cases = [
        (
            a,
            2,
            HwError::OrderMismatch {
                dma_addr: a.get(),
                allocated: 1,
                given: 2,
            },
        ),
        (
            a,
            MAX_PAGE_ORDER + 1,
            HwError::InvalidArgument("order exceeds MAX_PAGE_ORDER"),
        ),
        (
            inner,
            0,
            HwError::ForeignAddress {
                dma_addr: inner.get(),
            },
        ),
        (
            DmaAddr::new(a.get() + 8),
            1,
            HwError::ForeignAddress {
                dma_addr: a.get() + 8,
            },
        ),
        (
            DmaAddr::new(0x1000),
            0,
            HwError::ForeignAddress { dma_addr: 0x1000 },
        ),
        (
            DmaAddr::new(u64::MAX),
            0,
            HwError::ForeignAddress { dma_addr: u64::MAX },
        ),
        (
            DmaAddr::new(DMA_BASE + (1 << 40)),
            0,
            HwError::ForeignAddress {
                dma_addr: DMA_BASE + (1 << 40),
            },
        ),
    ];
    for (addr, order, err) in cases {
        assert_eq!(m.free_pages(addr, order), Err(err.clone()), "{addr:?}");
        assert_eq!(err.errno(), 22);
        assert_eq!((m.allocated_pages(), m.leaks()), before);
        hw.check().unwrap();
    }
    m.free_pages(b, 0).unwrap();
    assert_eq!(
        m.free_pages(b, 0),
        Err(HwError::DoubleFree {
            dma_addr: b.get(),
            order: 0
        })
    );
    // Access to a freed page faults; a write straddling into it writes nothing.
    let mut buf = [0u8; 2];
    assert_eq!(
        m.read(b, &mut buf),
        Err(HwError::DmaFault { dma_addr: b.get() })
    );
    assert_eq!(
        m.alloc_pages(MAX_PAGE_ORDER + 1),
        Err(HwError::InvalidArgument("order exceeds MAX_PAGE_ORDER"))
    );
    let last = a.checked_add(2 * PAGE - 1).unwrap();
    let next = a.checked_add(2 * PAGE).unwrap();
    assert!(!m.is_allocated(next));
    assert_eq!(
        m.write(last, &[1, 1]),
        Err(HwError::DmaFault {
            dma_addr: next.get()
        })
    );
    assert_eq!(m.committed_bytes(), 0);
    assert_eq!(
        m.write(DmaAddr::new(4096), &[1]),
        Err(HwError::DmaFault { dma_addr: 4096 })
    );
    assert_eq!(m.leaks(), [(a, 1)]);
    hw.check().unwrap();
}

#[test]
fn system_memory_exhaustion_is_enomem() {
    let cfg = HwConfig {
        sys_mem_size: 16 * PAGE,
        ..HwConfig::default()
    };
    let hw = SimHw::new(cfg).unwrap();
    let m = hw.sysmem();
    let pages: Vec<_> = (0..16).map(|_| m.alloc_pages(0).unwrap()).collect();
    let err = m.alloc_pages(0).unwrap_err();
    assert_eq!(err, HwError::OutOfMemory { order: 0 });
    assert_eq!(err.errno(), 12);
    for p in pages {
        m.free_pages(p, 0).unwrap();
    }
    // Freed order-0 pages are not merged, but the budget is pages, not addresses.
    let big = m.alloc_pages(4).unwrap();
    assert_eq!(m.allocated_pages(), 16);
    m.free_pages(big, 4).unwrap();
    hw.check().unwrap();
}
