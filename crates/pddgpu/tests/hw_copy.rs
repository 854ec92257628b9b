//! Simulated hardware: the copy engine (round trips, large and unaligned jobs, faults,
//! injected failures, laziness of copies and clears).

// Helpers outside #[test] fns unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use pddgpu::hw::{CopyStats, DevAddr, DmaAddr, HwConfig, HwError, SimHw};

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;

fn device() -> SimHw {
    SimHw::new(HwConfig {
        vram_size: 64 * MIB,
        visible_vram_size: 16 * MIB,
        gtt_size: 16 * MIB,
        sys_mem_size: 64 * MIB,
        page_size: PAGE,
    })
    .unwrap()
}

/// A deterministic byte pattern that differs per `seed`.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8 | 1 // never zero, so every written page commits
        })
        .collect()
}

/// Binds `n` single system pages, allocated in reverse order so that GART-contiguous pages
/// are not DMA-contiguous, at GART page `first`.
fn bind_scattered(hw: &SimHw, first: u64, n: u64) -> Vec<DmaAddr> {
    let mut pages: Vec<DmaAddr> = (0..n)
        .map(|_| hw.sysmem().alloc_pages(0).unwrap())
        .collect();
    pages.reverse();
    hw.gart().bind(first, &pages).unwrap();
    pages
}

#[test]
fn vram_gart_vram_round_trips_of_odd_sizes_and_offsets() {
    let hw = device();
    let pages = bind_scattered(&hw, 0, 8);
    let sizes = [1u64, 7, 4095, 4096, 4097, 8191, 12289, 3 * PAGE + 123];
    let offsets = [0u64, 1, 2051, 4095];
    for (i, &len) in sizes.iter().enumerate() {
        for (j, &off) in offsets.iter().enumerate() {
            let seed = (i * 10 + j) as u64;
            let data = pattern(len as usize, seed);
            let src = 5 * MIB + 4093 + off; // straddles VRAM pages too
            let back = 9 * MIB + 3 * off;
            hw.vram().dev_write(src, &data).unwrap();
            hw.copy(DevAddr::Vram(src), DevAddr::Gart(off), len)
                .unwrap();

            // What landed in system memory, page by page through the scattered mapping.
            let mut sys = vec![0u8; len as usize];
            let mut pos = 0u64;
            while pos < len {
                let gart = off + pos;
                let n = (PAGE - gart % PAGE).min(len - pos);
                let dma = pages[(gart / PAGE) as usize]
                    .checked_add(gart % PAGE)
                    .unwrap();
                hw.sysmem()
                    .read(dma, &mut sys[pos as usize..(pos + n) as usize])
                    .unwrap();
                pos += n;
            }
            assert_eq!(sys, data, "len {len} off {off}: system pages");

            hw.copy(DevAddr::Gart(off), DevAddr::Vram(back), len)
                .unwrap();
            let mut got = vec![0u8; len as usize + 2];
            hw.vram().dev_read(back - 1, &mut got).unwrap();
            assert_eq!(got[0], 0, "byte before the destination untouched");
            assert_eq!(&got[1..=len as usize], &data[..], "len {len} off {off}");
            assert_eq!(
                got[len as usize + 1],
                0,
                "byte after the destination untouched"
            );
            // Clean up for the next round so the guard bytes stay zero.
            hw.fill(DevAddr::Vram(back), len, 0).unwrap();
            hw.fill(DevAddr::Gart(0), 8 * PAGE, 0).unwrap();
            hw.check().unwrap();
        }
    }
    let jobs = (sizes.len() * offsets.len() * 4) as u64;
    let s = hw.copy_engine().stats();
    assert_eq!((s.jobs, s.failed_jobs), (jobs, 0));
    assert_eq!(
        s.bytes_copied,
        2 * offsets.len() as u64 * sizes.iter().sum::<u64>()
    );
    assert_eq!(hw.sysmem().committed_bytes(), 0);
}

#[test]
fn multi_mib_copies_through_scattered_and_contiguous_gart() {
    let hw = device();
    // 6 MiB of GART: two order-10 blocks (4 MiB contiguous each, bound in swapped order).
    let a = hw.sysmem().alloc_pages(10).unwrap();
    let b = hw.sysmem().alloc_pages(10).unwrap();
    let mut pages = Vec::new();
    for base in [b, a] {
        pages.extend((0..1024).map(|i| base.checked_add(i * PAGE).unwrap()));
    }
    hw.gart().bind(100, &pages).unwrap();
    let len = 6 * MIB + 13;
    let data = pattern(len as usize, 99);
    hw.vram().dev_write(1234, &data).unwrap();
    hw.copy(DevAddr::Vram(1234), DevAddr::Gart(100 * PAGE + 7), len)
        .unwrap();
    hw.copy(
        DevAddr::Gart(100 * PAGE + 7),
        DevAddr::Vram(40 * MIB + 1),
        len,
    )
    .unwrap();
    let mut got = vec![0u8; len as usize];
    hw.vram().dev_read(40 * MIB + 1, &mut got).unwrap();
    assert!(got == data, "6 MiB round trip differs");
    hw.dev_read(DevAddr::Gart(100 * PAGE + 7), &mut got)
        .unwrap();
    assert!(got == data, "device view of the GART range differs");
    // The first GART page maps to block `b`.
    let mut first = [0u8; 4];
    hw.sysmem()
        .read(b.checked_add(7).unwrap(), &mut first)
        .unwrap();
    assert_eq!(&first, &data[..4]);
    hw.check().unwrap();
}

#[test]
fn copies_of_unwritten_memory_stay_lazy_and_clear_the_destination() {
    let hw = device();
    bind_scattered(&hw, 0, 4);
    hw.copy(DevAddr::Vram(0), DevAddr::Vram(32 * MIB), 16 * MIB)
        .unwrap();
    hw.copy(DevAddr::Vram(0), DevAddr::Gart(0), 4 * PAGE)
        .unwrap();
    assert_eq!(hw.committed_bytes(), 0);
    // Zeros copied over written memory release it.
    hw.dev_write(DevAddr::Gart(10), &[1; 3 * PAGE as usize])
        .unwrap();
    hw.vram().dev_write(MIB, &[2; 100]).unwrap();
    assert_eq!(hw.committed_bytes(), 5 * PAGE);
    hw.copy(DevAddr::Vram(0), DevAddr::Gart(0), 4 * PAGE)
        .unwrap();
    hw.copy(DevAddr::Vram(0), DevAddr::Vram(MIB), 100).unwrap();
    assert_eq!(hw.committed_bytes(), 0);
    hw.check().unwrap();
}

#[test]
fn injected_failures_fail_whole_jobs_and_move_nothing() {
    let hw = device();
    bind_scattered(&hw, 0, 2);
    hw.vram().dev_write(0, b"payload").unwrap();
    hw.copy_engine().fail_next_copies(2);
    // A job rejected for its arguments does not consume an armed failure.
    assert_eq!(
        hw.copy(DevAddr::Vram(0), DevAddr::Gart(5 * PAGE), 7),
        Err(HwError::GartFault { gart_page: 5 })
    );
    let err = hw.copy(DevAddr::Vram(0), DevAddr::Gart(0), 7).unwrap_err();
    assert_eq!((err.clone(), err.errno()), (HwError::CopyFailed, 5));
    assert_eq!(hw.fill(DevAddr::Gart(0), 7, 0xff), Err(HwError::CopyFailed));
    let mut got = [0u8; 7];
    hw.dev_read(DevAddr::Gart(0), &mut got).unwrap();
    assert_eq!(got, [0; 7], "failed jobs wrote nothing");
    assert_eq!(hw.sysmem().committed_bytes(), 0);
    hw.copy(DevAddr::Vram(0), DevAddr::Gart(0), 7).unwrap();
    hw.dev_read(DevAddr::Gart(0), &mut got).unwrap();
    assert_eq!(&got, b"payload");
    assert_eq!(
        hw.copy_engine().stats(),
        CopyStats {
            jobs: 1,
            bytes_copied: 7,
            bytes_filled: 0,
            failed_jobs: 3,
            injected_failures: 2
        }
    );
    // Disarming.
    hw.copy_engine().fail_next_copies(5);
    hw.copy_engine().fail_next_copies(0);
    hw.fill(DevAddr::Gart(0), 7, 0).unwrap();
    hw.check().unwrap();
}

#[test]
fn bad_ranges_are_typed_errors() {
    let hw = device();
    let vram = |offset, len| HwError::VramOutOfRange {
        offset,
        len,
        vram_size: 64 * MIB,
    };
    assert_eq!(
        hw.copy(DevAddr::Vram(64 * MIB - 1), DevAddr::Vram(0), 2),
        Err(vram(64 * MIB - 1, 2))
    );
    assert_eq!(
        hw.copy(DevAddr::Vram(0), DevAddr::Vram(u64::MAX), 1),
        Err(vram(u64::MAX, 1))
    );
    assert_eq!(
        hw.copy(DevAddr::Vram(1), DevAddr::Vram(0), u64::MAX),
        Err(vram(1, u64::MAX))
    );
    assert_eq!(
        hw.fill(DevAddr::Gart(16 * MIB), 1, 0),
        Err(HwError::GartOutOfRange {
            first_page: 4096,
            count: 1,
            num_entries: 4096
        })
    );
    // Zero-length jobs inside the apertures complete and move nothing.
    hw.copy(DevAddr::Vram(64 * MIB), DevAddr::Gart(16 * MIB), 0)
        .unwrap();
    hw.fill(DevAddr::Gart(3), 0, 9).unwrap();
    let s = hw.copy_engine().stats();
    assert_eq!((s.jobs, s.failed_jobs, s.bytes_copied), (2, 4, 0));
    hw.check().unwrap();
}

#[test]
fn page_aligned_copies_move_whole_pages() {
    let hw = device();
    let pages = bind_scattered(&hw, 4, 3);
    let data = pattern(3 * PAGE as usize, 7);
    hw.vram().dev_write(0, &data).unwrap();
    hw.copy(DevAddr::Vram(0), DevAddr::Gart(4 * PAGE), 3 * PAGE)
        .unwrap();
    hw.copy(DevAddr::Gart(4 * PAGE), DevAddr::Vram(MIB), 3 * PAGE)
        .unwrap();
    let mut got = vec![0u8; 3 * PAGE as usize];
    hw.vram().dev_read(MIB, &mut got).unwrap();
    assert!(got == data);
    // GART page 5 is the second page of data, in the second scattered system page.
    let mut page = vec![0u8; PAGE as usize];
    hw.sysmem().read(pages[1], &mut page).unwrap();
    assert_eq!(&page[..], &data[PAGE as usize..2 * PAGE as usize]);
    assert_eq!(hw.committed_bytes(), 9 * PAGE);
    // Overwriting committed pages keeps the count; copying zeros over them releases them.
    hw.copy(DevAddr::Vram(0), DevAddr::Vram(MIB), 3 * PAGE)
        .unwrap();
    assert_eq!(hw.committed_bytes(), 9 * PAGE);
    hw.copy(DevAddr::Vram(8 * MIB), DevAddr::Gart(4 * PAGE), 3 * PAGE)
        .unwrap();
    assert_eq!(hw.committed_bytes(), 6 * PAGE);
    hw.check().unwrap();
}
