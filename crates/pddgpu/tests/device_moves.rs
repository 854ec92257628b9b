//! Moves: contents survive every path (VRAM ↔ GTT with and without a GART address,
//! SYSTEM ↔ VRAM through a bounce), a copy-engine failure leaves everything as it was,
//! new BOs never show old bytes, and `VRAM_WIPE_ON_RELEASE` returns cleared memory.

#![allow(clippy::unwrap_used)]

mod common;

use common::{small_device, KIB, MIB};

use pddgpu::device::Error;
use pddgpu::mgr_common::BoKind;
use pddgpu::uapi::{CreateFlags, Domains};
use pddgpu::BoParam;
use pddgpu_ttm::MemType;

fn data(seed: u8, len: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn read(bo: &pddgpu::PddgpuBo) -> Vec<u8> {
    let mut buf = vec![0u8; bo.size() as usize];
    bo.cpu_read(0, &mut buf).unwrap();
    buf
}

#[test]
fn contents_survive_every_move_path() {
    let dev = small_device();
    // 3 MiB: more than one transfer window (2 MiB) when copied without a GART address.
    let size = 3 * MIB;
    let bo = dev.bo_create(&BoParam::new(size, Domains::VRAM)).unwrap();
    let want = data(7, size);
    bo.dev_write(0, &want).unwrap();
    let moved_before = dev.get_stats().copy.bytes_copied;
    for (domain, dev_visible) in [
        (Domains::GTT, false),
        (Domains::VRAM, true),
        (Domains::CPU, false),
        (Domains::VRAM, true),
        (Domains::CPU, false),
        (Domains::GTT, false),
    ] {
        bo.validate(domain).unwrap();
        assert_eq!(bo.domain(), Some(domain));
        assert_eq!(bo.gpu_offset().is_some(), dev_visible);
        assert!(read(&bo) == want, "contents lost moving to {domain:?}");
        dev.check().unwrap();
    }
    // GTT with a GART address: the device sees the same bytes through the GART.
    bo.alloc_gart().unwrap();
    let mut buf = vec![0u8; size as usize];
    bo.dev_read(0, &mut buf).unwrap();
    assert!(buf == want);
    bo.validate(Domains::VRAM).unwrap();
    bo.dev_read(0, &mut buf).unwrap();
    assert!(buf == want);
    assert!(dev.get_stats().copy.bytes_copied >= moved_before + 4 * size);
    assert_eq!(
        dev.hw().gart().bound_entries(),
        0,
        "no window or range left bound"
    );
    drop(bo);
    let s = dev.get_stats();
    assert_eq!((s.vram.used_size, s.gtt.used_size), (0, 0));
    dev.check().unwrap();
}

#[test]
fn copy_failure_leaves_everything_as_it_was() {
    let dev = small_device();
    let bo = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
    let want = data(3, MIB);
    bo.dev_write(0, &want).unwrap();
    let before = dev.get_stats();
    let vram_dump = dev.vram_mm_debug();
    for target in [Domains::GTT, Domains::CPU] {
        dev.hw().copy_engine().fail_next_copies(1);
        let e = bo.validate(target).unwrap_err();
        assert!(matches!(e, Error::Io(_)), "{e:?}");
        assert_eq!(e.errno(), 5);
        assert_eq!(bo.domain(), Some(Domains::VRAM));
        let mut buf = vec![0u8; MIB as usize];
        bo.dev_read(0, &mut buf).unwrap();
        assert!(buf == want);
        let after = dev.get_stats();
        assert_eq!(after.vram.used_size, before.vram.used_size);
        assert_eq!(after.gtt.used_size, 0);
        assert_eq!(dev.ttm().usage(MemType::TT), 0);
        assert_eq!(dev.vram_mm_debug(), vram_dump);
        assert_eq!(dev.hw().gart().bound_entries(), 0);
        dev.check().unwrap();
    }
    // The same move succeeds once the engine works again.
    bo.validate(Domains::GTT).unwrap();
    assert!(read(&bo) == want);

    // A failing move back from GTT keeps the BO in GTT with its pages.
    dev.hw().copy_engine().fail_next_copies(1);
    assert!(matches!(bo.validate(Domains::VRAM), Err(Error::Io(_))));
    assert_eq!(bo.domain(), Some(Domains::GTT));
    assert_eq!(dev.vram_mgr().mem_info_vram_used(), 0);
    assert!(read(&bo) == want);
    dev.check().unwrap();
}

#[test]
fn eviction_copy_failure_fails_the_evictor_and_keeps_the_victims() {
    let dev = small_device();
    let victims: Vec<_> = (0..16u8)
        .map(|i| {
            let bo = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
            bo.dev_write(0, &[i + 1; 32]).unwrap();
            bo
        })
        .collect();
    let before = dev.get_stats();
    dev.hw().copy_engine().fail_next_copies(1);
    let e = dev
        .bo_create(&BoParam::new(MIB, Domains::VRAM))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e:?}");
    let after = dev.get_stats();
    assert_eq!(after.vram.used_size, before.vram.used_size);
    assert_eq!(after.gtt.used_size, 0);
    assert_eq!(after.live_bos, 16);
    for (i, bo) in victims.iter().enumerate() {
        assert_eq!(bo.domain(), Some(Domains::VRAM));
        let mut buf = [0u8; 32];
        bo.dev_read(0, &mut buf).unwrap();
        assert_eq!(buf, [i as u8 + 1; 32]);
    }
    dev.check().unwrap();
    // Clearing a new BO's VRAM is a copy-engine job too: its failure fails the create.
    drop(victims);
    dev.hw().copy_engine().fail_next_copies(1);
    assert!(matches!(
        dev.bo_create(&BoParam::new(MIB, Domains::VRAM)),
        Err(Error::Io(_))
    ));
    assert_eq!(dev.vram_mgr().mem_info_vram_used(), 0);
    assert_eq!(dev.live_bos(), 0);
    dev.check().unwrap();
}

#[test]
fn new_bos_never_show_old_bytes_and_wipe_on_release_returns_clear_vram() {
    let dev = small_device();
    let secret = dev
        .bo_create(&BoParam::new(16 * MIB - 4 * MIB, Domains::VRAM))
        .unwrap();
    secret.dev_write(0, &[0xaa; 4096]).unwrap();
    drop(secret);
    assert_eq!(dev.vram_mgr().clear_avail(), 0);
    let next = dev
        .bo_create(&BoParam::new(12 * MIB, Domains::VRAM))
        .unwrap();
    let mut buf = vec![0xffu8; 4096];
    next.dev_read(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    drop(next);

    let wiped = dev
        .bo_create(
            &BoParam::new(2 * MIB, Domains::VRAM).with_flags(CreateFlags::VRAM_WIPE_ON_RELEASE),
        )
        .unwrap();
    wiped.dev_write(0, &[0x55; 4096]).unwrap();
    drop(wiped);
    assert_eq!(dev.vram_mgr().clear_avail(), 2 * MIB);
    // A CLEARED request takes the clear blocks and needs no fill job.
    let fills = dev.get_stats().copy.bytes_filled;
    let clean = dev
        .bo_create(&BoParam::new(2 * MIB, Domains::VRAM).with_flags(CreateFlags::VRAM_CLEARED))
        .unwrap();
    assert_eq!(dev.get_stats().copy.bytes_filled, fills);
    clean.dev_read(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    drop(clean);
    dev.check().unwrap();
}

#[test]
fn cpu_access_moves_invisible_bos_and_respects_no_cpu_access() {
    let dev = small_device();
    let bo = dev
        .bo_create(&BoParam::new(64 * KIB, Domains::VRAM))
        .unwrap();
    // Allocated from the top of VRAM: outside the 4 MiB window.
    assert_eq!(
        bo.gpu_offset(),
        Some(pddgpu::hw::DevAddr::Vram(16 * MIB - 64 * KIB))
    );
    bo.cpu_write(100, b"via the BAR").unwrap();
    let Some(pddgpu::hw::DevAddr::Vram(at)) = bo.gpu_offset() else {
        panic!("not in VRAM");
    };
    assert!(at + 64 * KIB <= 4 * MIB, "moved into the visible window");
    let mut buf = [0u8; 11];
    bo.dev_read(100, &mut buf).unwrap();
    assert_eq!(&buf, b"via the BAR");
    assert!(matches!(
        bo.cpu_read(64 * KIB - 4, &mut [0u8; 8]),
        Err(Error::InvalidArgument(_))
    ));
    let hidden = dev
        .bo_create(&BoParam::new(64 * KIB, Domains::VRAM).with_flags(CreateFlags::NO_CPU_ACCESS))
        .unwrap();
    assert!(matches!(
        hidden.cpu_read(0, &mut buf),
        Err(Error::PermissionDenied(_))
    ));
    assert_eq!(hidden.prepare_cpu_access().map_err(|e| e.errno()), Err(1));
    // Pinned BOs cannot be moved; CPU_ACCESS_REQUIRED BOs stay visible.
    let pinned = dev
        .bo_create(&BoParam {
            bo_type: BoKind::User,
            ..BoParam::new(64 * KIB, Domains::VRAM).with_flags(CreateFlags::CPU_ACCESS_REQUIRED)
        })
        .unwrap();
    pinned.pin(Domains::VRAM).unwrap();
    assert!(matches!(
        pinned.validate(Domains::GTT),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        pinned.pin(Domains::GTT),
        Err(Error::InvalidArgument(_))
    ));
    pinned.pin(Domains::VRAM).unwrap();
    assert_eq!(pinned.pin_count(), 2);
    pinned.unpin().unwrap();
    pinned.unpin().unwrap();
    assert!(matches!(pinned.unpin(), Err(Error::InvalidArgument(_))));
    // A BO pinned outside the window cannot be reached by the CPU (amdgpu: SIGBUS).
    let stuck = dev
        .bo_create(&BoParam::new(64 * KIB, Domains::VRAM))
        .unwrap();
    // Put it above the window through TTM directly (pages [1024, end) of VRAM).
    let above = pddgpu_ttm::Placement::new(vec![
        pddgpu_ttm::Place::new(MemType::VRAM).with_range(1024, 0)
    ]);
    stuck
        .ttm_bo()
        .reserve()
        .validate(&above, &mut pddgpu_ttm::OperationCtx::new())
        .unwrap();
    stuck.pin(Domains::VRAM).unwrap();
    assert!(matches!(stuck.gpu_offset(), Some(pddgpu::hw::DevAddr::Vram(a)) if a >= 4 * MIB));
    let e = stuck.cpu_read(0, &mut buf).unwrap_err();
    assert_eq!(e.errno(), 14, "{e:?}");
    stuck.unpin().unwrap();
    stuck.cpu_read(0, &mut buf).unwrap();
    assert_eq!(buf, [0; 11]);
    dev.check().unwrap();
}

#[test]
fn bad_create_arguments_are_einval() {
    let dev = small_device();
    for p in [
        BoParam::new(0, Domains::VRAM),
        BoParam::new(u64::MAX, Domains::VRAM),
        BoParam {
            byte_align: 3 * 4096,
            ..BoParam::new(4096, Domains::VRAM)
        },
        BoParam {
            priority: 4,
            ..BoParam::new(4096, Domains::VRAM)
        },
        BoParam::new(4096, Domains::empty()),
        BoParam::new(4096, Domains::VRAM)
            .with_flags(CreateFlags::CPU_ACCESS_REQUIRED | CreateFlags::NO_CPU_ACCESS),
    ] {
        let e = dev.bo_create(&p).map(|_| ()).unwrap_err();
        assert_eq!(e.errno(), 22, "{p:?}: {e:?}");
    }
    let odd = dev.bo_create(&BoParam::new(5000, Domains::GTT)).unwrap();
    assert_eq!(odd.size(), 8192);
    let aligned = dev
        .bo_create(&BoParam {
            byte_align: 256 * KIB,
            ..BoParam::new(8 * KIB, Domains::VRAM)
        })
        .unwrap();
    let Some(pddgpu::hw::DevAddr::Vram(at)) = aligned.gpu_offset() else {
        panic!("not in VRAM");
    };
    assert_eq!(at % (256 * KIB), 0);
    assert_eq!(dev.live_bos(), 2);
    dev.check().unwrap();
}

#[test]
fn visible_vram_victims_move_to_invisible_vram_first() {
    let dev = small_device();
    let victims: Vec<_> = (0..4u8)
        .map(|i| {
            let bo = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
            // CPU access moves the BO into the 4 MiB window.
            bo.cpu_write(0, &[i + 1; 16]).unwrap();
            bo
        })
        .collect();
    assert_eq!(dev.vram_mgr().mem_info_vis_vram_used(), 4 * MIB);
    let cpu = dev
        .bo_create(&BoParam::new(MIB, Domains::VRAM).with_flags(CreateFlags::CPU_ACCESS_REQUIRED))
        .unwrap();
    let Some(pddgpu::hw::DevAddr::Vram(at)) = cpu.gpu_offset() else {
        panic!("not in VRAM");
    };
    assert!(at + MIB <= 4 * MIB);
    // The victim stayed in VRAM, above the window, with its bytes; GTT was not needed.
    let moved: Vec<_> = victims
        .iter()
        .filter(|b| matches!(b.gpu_offset(), Some(pddgpu::hw::DevAddr::Vram(a)) if a >= 4 * MIB))
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].domain(), Some(Domains::VRAM));
    let s = dev.get_stats();
    assert_eq!(s.gtt.used_size, 0);
    assert_eq!(s.vram.counters.evictions, 1);
    assert_eq!(s.vram.visible_used, 4 * MIB);
    for (i, bo) in victims.iter().enumerate() {
        let mut buf = [0u8; 16];
        bo.dev_read(0, &mut buf).unwrap();
        assert_eq!(buf, [i as u8 + 1; 16]);
    }
    dev.check().unwrap();
}

#[test]
fn evictions_keep_every_vram_bo_aligned() {
    use pddgpu::hw::DevAddr;
    let dev = small_device();
    // Alignments from 64 KiB to 2^63 bytes: the larger ones have one or two aligned
    // offsets in 16 MiB of VRAM, so each new BO evicts an older one, which must land
    // aligned again (invisible VRAM) or leave VRAM, never lose its alignment.
    let aligns = [
        64 * KIB,
        1 << 63,
        MIB,
        8 * MIB,
        1 << 63,
        4 * MIB,
        8 * MIB,
        64 * KIB,
    ];
    let mut bos = Vec::new();
    for (i, &align) in aligns.iter().enumerate() {
        let mut p = BoParam::new(4 * KIB, Domains::VRAM);
        p.byte_align = align;
        let bo = dev.bo_create(&p).unwrap();
        if align == 1 << 63 {
            // A new BO prefers VRAM and evicts whatever holds the one aligned offset.
            assert_eq!(bo.gpu_offset(), Some(DevAddr::Vram(0)), "BO {i}");
        }
        bo.cpu_write(0, &[i as u8 + 1; 64]).unwrap();
        bos.push((align, bo));
        for (j, (align, bo)) in bos.iter().enumerate() {
            if let Some(DevAddr::Vram(offset)) = bo.gpu_offset() {
                assert_eq!(
                    offset % align,
                    0,
                    "BO {j} at {offset:#x}, alignment {align:#x}"
                );
            }
            let mut buf = [0u8; 64];
            bo.cpu_read(0, &mut buf).unwrap();
            assert_eq!(buf, [j as u8 + 1; 64], "BO {j} contents");
        }
    }
    // Only offset 0 is 2^63-aligned: at most one of the two such BOs is in VRAM.
    let in_vram: Vec<_> = bos
        .iter()
        .filter(|(a, _)| *a == 1 << 63)
        .filter_map(|(_, bo)| match bo.gpu_offset() {
            Some(DevAddr::Vram(offset)) => Some(offset),
            _ => None,
        })
        .collect();
    assert!(
        in_vram.len() <= 1 && in_vram.iter().all(|&o| o == 0),
        "{in_vram:?}"
    );
    dev.check().unwrap();
}
