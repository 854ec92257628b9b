//! GPU reset and recovery: live GTT BOs with GART addresses become unreachable by the
//! device after a reset, and `recover` makes every one readable through the GART again
//! with its original bytes, statistics unchanged.

#![allow(clippy::unwrap_used)]

mod common;

use common::{small_device, KIB};

use pddgpu::device::Error;
use pddgpu::gtt_mgr::GttDamage;
use pddgpu::hw::{DevAddr, HwError};
use pddgpu::mgr_common::{BoKind, MgrState};
use pddgpu::uapi::Domains;
use pddgpu::BoParam;

fn data(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|b| (b * 13 + i * 101 + 7) as u8).collect()
}

#[test]
fn recover_rebinds_every_live_gart_range() {
    let dev = small_device();
    const N: usize = 8;
    let mut bos = Vec::new();
    for i in 0..N {
        let size = (i as u64 + 1) * 16 * KIB;
        // Half kernel BOs (GART address at creation), half user BOs given one later.
        let bo = if i % 2 == 0 {
            dev.bo_create(&BoParam {
                bo_type: BoKind::Kernel,
                ..BoParam::new(size, Domains::GTT)
            })
            .unwrap()
        } else {
            let bo = dev.bo_create(&BoParam::new(size, Domains::GTT)).unwrap();
            assert_eq!(
                bo.gpu_offset(),
                None,
                "user GTT BOs start without an address"
            );
            bo.alloc_gart().unwrap();
            bo
        };
        assert!(matches!(bo.gpu_offset(), Some(DevAddr::Gart(_))));
        bo.cpu_write(0, &data(i, size as usize)).unwrap();
        bos.push(bo);
    }
    // A VRAM BO rides along.
    let vbo = dev
        .bo_create(&BoParam::new(64 * KIB, Domains::VRAM))
        .unwrap();
    vbo.dev_write(0, &data(99, 4096)).unwrap();
    for (i, bo) in bos.iter().enumerate() {
        let mut buf = vec![0u8; bo.size() as usize];
        bo.dev_read(0, &mut buf).unwrap();
        assert_eq!(buf, data(i, buf.len()));
    }
    let bound = dev.hw().gart().bound_entries();
    assert_eq!(bound, (1..=N as u64).map(|k| k * 4).sum::<u64>());
    let before = dev.get_stats();
    let dump_before = dev.gtt_mm_debug();

    dev.hw().gpu_reset();
    assert!(dev.hw().vram_lost());
    assert_eq!(dev.hw().gart().bound_entries(), 0);
    for bo in &bos {
        let mut buf = [0u8; 16];
        assert!(matches!(
            bo.dev_read(0, &mut buf),
            Err(Error::Hw(HwError::GartFault { .. }))
        ));
    }

    let report = dev.recover().unwrap();
    assert!(report.vram_lost);
    assert_eq!(report.gtt.damage, None);
    assert_eq!(report.gtt.live, N);
    assert_eq!(report.gtt.rebound, N);
    assert_eq!(report.vram.live, 1);
    assert!(!dev.hw().vram_lost());
    assert_eq!(dev.hw().gart().bound_entries(), bound);
    for (i, bo) in bos.iter().enumerate() {
        let mut buf = vec![0u8; bo.size() as usize];
        bo.dev_read(0, &mut buf).unwrap();
        assert_eq!(buf, data(i, buf.len()), "BO {i} after recovery");
    }
    let mut buf = vec![0u8; 4096];
    vbo.dev_read(0, &mut buf).unwrap();
    assert_eq!(buf, data(99, 4096));
    let after = dev.get_stats();
    assert_eq!(after.vram.used_size, before.vram.used_size);
    assert_eq!(after.vram.visible_used, before.vram.visible_used);
    assert_eq!(after.gtt.used_size, before.gtt.used_size);
    assert_eq!(after.live_bos, before.live_bos);
    assert_eq!(dev.gtt_mm_debug(), dump_before);
    // Free VRAM was marked dirty: nothing claims to be clear any more.
    assert_eq!(dev.vram_mgr().clear_avail(), 0);
    dev.check().unwrap();
    drop(bos);
    drop(vbo);
    assert_eq!(dev.hw().gart().bound_entries(), 0);
    assert!(dev.shutdown().is_empty());
}

#[test]
fn recover_rebuilds_a_damaged_gart_allocator() {
    let dev = small_device();
    let a = dev
        .bo_create(&BoParam {
            bo_type: BoKind::Kernel,
            ..BoParam::new(64 * KIB, Domains::GTT)
        })
        .unwrap();
    a.cpu_write(0, b"survives").unwrap();
    // Find a's allocation in the manager and make the allocator forget it.
    let (start, id) = {
        let r = a.ttm_bo().reserve();
        let res = r.resource().unwrap();
        let backing = res.private::<pddgpu::ttm_glue::GttBacking>().unwrap();
        assert!(backing.is_bound());
        (backing.start(), backing.id())
    };
    assert_eq!(start, 1024);
    dev.gtt_mgr()
        .inject_damage(GttDamage::ForgetAllocation(id))
        .unwrap();
    assert!(dev.check().is_err());
    dev.hw().gpu_reset();
    let report = dev.recover().unwrap();
    assert!(report.gtt.damage.is_some());
    assert_eq!(report.gtt.rebound, 1);
    assert_eq!(dev.gtt_mgr().state(), MgrState::Ready);
    dev.check().unwrap();
    let mut buf = [0u8; 8];
    a.dev_read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"survives");
    // A new BO does not land on a's pages.
    let b = dev
        .bo_create(&BoParam {
            bo_type: BoKind::Kernel,
            ..BoParam::new(64 * KIB, Domains::GTT)
        })
        .unwrap();
    assert_eq!(b.gpu_offset(), Some(DevAddr::Gart((1024 + 16) * 4096)));
    drop(a);
    drop(b);
    dev.check().unwrap();
}
