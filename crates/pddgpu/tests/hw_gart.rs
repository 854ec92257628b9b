//! Simulated hardware: GART bind/translate/unbind, device faults, GPU reset.

// Helpers outside #[test] fns unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use pddgpu::hw::{DevAddr, DmaAddr, HwConfig, HwError, SimHw, DMA_BASE};

const PAGE: u64 = 4096;

fn device() -> SimHw {
    SimHw::new(HwConfig {
        vram_size: 64 << 20,
        visible_vram_size: 16 << 20,
        gtt_size: 1024 * PAGE,
        sys_mem_size: 256 * PAGE,
        page_size: PAGE,
    })
    .unwrap()
}

#[test]
fn bind_translate_unbind() {
    let hw = device();
    let g = hw.gart();
    let pages: Vec<DmaAddr> = (0..3)
        .map(|_| hw.sysmem().alloc_pages(0).unwrap())
        .collect();
    g.bind(1021, &pages).unwrap();
    assert_eq!(g.bound_entries(), 3);
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(g.translate(1021 + i as u64), Ok(*p));
    }
    assert_eq!(
        g.translate(1020),
        Err(HwError::GartFault { gart_page: 1020 })
    );
    assert!(!g.is_bound(1020) && g.is_bound(1023) && !g.is_bound(1024));
    assert_eq!(
        hw.gart_to_dma(1022 * PAGE + 5),
        Ok(DmaAddr::new(pages[1].get() + 5))
    );
    g.unbind(1022, 1).unwrap();
    assert_eq!(
        g.translate(1022),
        Err(HwError::GartFault { gart_page: 1022 })
    );
    assert_eq!(g.bound_entries(), 2);
    hw.check().unwrap();
}

#[test]
fn out_of_range_and_malformed_binds_change_nothing() {
    let hw = device();
    let g = hw.gart();
    let p = hw.sysmem().alloc_pages(0).unwrap();
    let oob = |first_page, count| HwError::GartOutOfRange {
        first_page,
        count,
        num_entries: 1024,
    };
    assert_eq!(g.bind(1023, &[p, p]), Err(oob(1023, 2)));
    assert_eq!(g.bind(u64::MAX, &[p]), Err(oob(u64::MAX, 1)));
    assert_eq!(g.unbind(1000, 25), Err(oob(1000, 25)));
    assert_eq!(g.unbind(u64::MAX, 2), Err(oob(u64::MAX, 2)));
    assert_eq!(g.translate(1024), Err(oob(1024, 1)));
    assert_eq!(oob(0, 0).errno(), 22);
    for bad in [
        DmaAddr::new(p.get() + 1),
        DmaAddr::new(0x2000),
        DmaAddr::new(DMA_BASE * 2),
    ] {
        assert_eq!(
            g.bind(0, &[p, bad]),
            Err(HwError::ForeignAddress {
                dma_addr: bad.get()
            })
        );
    }
    assert_eq!(g.bound_entries(), 0);
    assert!(!g.is_bound(0));
    // Empty ranges are fine anywhere inside the table, including its end.
    g.bind(1024, &[]).unwrap();
    g.unbind(1024, 0).unwrap();
    hw.check().unwrap();
}

#[test]
fn device_access_through_unbound_pages_faults_and_writes_nothing() {
    let hw = device();
    let a = hw.sysmem().alloc_pages(0).unwrap();
    let b = hw.sysmem().alloc_pages(0).unwrap();
    hw.gart().bind(10, &[a]).unwrap();
    hw.gart().bind(12, &[b]).unwrap();
    // 10 bound, 11 unbound, 12 bound.
    let data = vec![0x77u8; 3 * PAGE as usize];
    assert_eq!(
        hw.dev_write(DevAddr::Gart(10 * PAGE), &data),
        Err(HwError::GartFault { gart_page: 11 })
    );
    assert_eq!(hw.sysmem().committed_bytes(), 0);
    assert_eq!(
        hw.copy(DevAddr::Vram(0), DevAddr::Gart(10 * PAGE), 3 * PAGE),
        Err(HwError::GartFault { gart_page: 11 })
    );
    assert_eq!(
        hw.fill(DevAddr::Gart(12 * PAGE - 1), 2, 1),
        Err(HwError::GartFault { gart_page: 11 })
    );
    assert_eq!(hw.sysmem().committed_bytes(), 0);
    let stats = hw.copy_engine().stats();
    assert_eq!(
        (stats.jobs, stats.failed_jobs, stats.bytes_copied),
        (0, 2, 0)
    );
    // An entry whose page was freed: the device faults on the DMA address.
    hw.sysmem().free_pages(b, 0).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(
        hw.dev_read(DevAddr::Gart(12 * PAGE), &mut buf),
        Err(HwError::DmaFault { dma_addr: b.get() })
    );
    // Past the aperture: the error names the pages the access spans.
    assert_eq!(
        hw.dev_read(DevAddr::Gart(1024 * PAGE - 2), &mut buf),
        Err(HwError::GartOutOfRange {
            first_page: 1023,
            count: 2,
            num_entries: 1024
        })
    );
    assert_eq!(
        hw.dev_read(DevAddr::Gart(u64::MAX - 1), &mut buf),
        Err(HwError::GartOutOfRange {
            first_page: u64::MAX / PAGE,
            count: 1,
            num_entries: 1024
        })
    );
    hw.check().unwrap();
}

#[test]
fn gpu_reset_wipes_the_gart_and_marks_vram_lost() {
    let hw = device();
    let pages: Vec<DmaAddr> = (0..4)
        .map(|_| hw.sysmem().alloc_pages(0).unwrap())
        .collect();
    hw.gart().bind(100, &pages).unwrap();
    hw.dev_write(DevAddr::Gart(100 * PAGE + 10), b"gtt bytes")
        .unwrap();
    hw.vram().dev_write(PAGE, b"vram bytes").unwrap();
    assert_eq!((hw.reset_count(), hw.vram_lost()), (0, false));

    hw.gpu_reset();
    assert_eq!((hw.reset_count(), hw.vram_lost()), (1, true));
    assert_eq!(hw.gart().bound_entries(), 0);
    let mut buf = [0u8; 9];
    assert_eq!(
        hw.dev_read(DevAddr::Gart(100 * PAGE + 10), &mut buf),
        Err(HwError::GartFault { gart_page: 100 })
    );
    // System pages survive; VRAM bytes are kept but untrusted.
    hw.sysmem()
        .read(pages[0].checked_add(10).unwrap(), &mut buf)
        .unwrap();
    assert_eq!(&buf, b"gtt bytes");
    let mut v = [0u8; 10];
    hw.vram().dev_read(PAGE, &mut v).unwrap();
    assert_eq!(&v, b"vram bytes");

    // Recovery: re-bind (what gtt_mgr_recover does), then declare VRAM trusted.
    hw.gart().bind(100, &pages).unwrap();
    hw.dev_read(DevAddr::Gart(100 * PAGE + 10), &mut buf)
        .unwrap();
    assert_eq!(&buf, b"gtt bytes");
    hw.clear_vram_lost();
    assert!(!hw.vram_lost());
    hw.gpu_reset();
    assert_eq!((hw.reset_count(), hw.vram_lost()), (2, true));
    // A reset during re-validation is not hidden by the late "trusted"; a count from the
    // future is clamped.
    let seen = hw.reset_count();
    hw.gpu_reset();
    hw.clear_vram_lost_as_of(seen);
    assert!(hw.vram_lost());
    hw.clear_vram_lost_as_of(u64::MAX);
    assert!(!hw.vram_lost());
    hw.gpu_reset();
    assert_eq!((hw.reset_count(), hw.vram_lost()), (4, true));
    hw.check().unwrap();
}
