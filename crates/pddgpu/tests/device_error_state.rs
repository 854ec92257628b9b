//! Error state: `set_error` refuses allocations with `ENODEV` while frees keep working
//! with exact accounting; `recover` brings the device back to READY.

#![allow(clippy::unwrap_used)]

mod common;

use common::{small_device, KIB, MIB};

use pddgpu::device::Error;
use pddgpu::mgr_common::MgrState;
use pddgpu::uapi::Domains;
use pddgpu::BoParam;

#[test]
fn error_state_refuses_allocations_but_not_frees() {
    let dev = small_device();
    let v1 = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)).unwrap();
    let v2 = dev
        .bo_create(&BoParam::new(256 * KIB, Domains::VRAM))
        .unwrap();
    let g1 = dev
        .bo_create(&BoParam::new(128 * KIB, Domains::GTT))
        .unwrap();
    v2.cpu_write(0, b"still here").unwrap();

    dev.set_error();
    assert_eq!(dev.vram_mgr().state(), MgrState::Error);
    assert_eq!(dev.gtt_mgr().state(), MgrState::Error);
    assert!(!dev.is_healthy());
    for domain in [Domains::VRAM, Domains::GTT, Domains::VRAM | Domains::GTT] {
        let e = dev
            .bo_create(&BoParam::new(64 * KIB, domain))
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, Error::NoDevice(_)), "{domain:?}: {e:?}");
        assert_eq!(e.errno(), 19);
        assert_eq!(dev.user_errno(&e), 19);
    }
    // Moving an existing BO into a refusing domain fails and leaves it in place.
    assert!(matches!(v2.validate(Domains::GTT), Err(Error::NoDevice(_))));
    assert_eq!(v2.domain(), Some(Domains::VRAM));
    let s = dev.get_stats();
    assert_eq!(s.vram.used_size, MIB + 256 * KIB);
    assert_eq!(s.gtt.used_size, 128 * KIB);
    assert_eq!(s.bo_create_failures, 3);

    // Frees never skip, whatever the state.
    drop(v1);
    drop(g1);
    let s = dev.get_stats();
    assert_eq!(s.vram.used_size, 256 * KIB);
    assert_eq!(s.gtt.used_size, 0);
    assert_eq!(dev.ttm().usage(pddgpu_ttm::MemType::VRAM), 256 * KIB);
    assert_eq!(dev.vram_mgr().avail(), 16 * MIB - 256 * KIB);
    dev.check().unwrap();

    let report = dev.recover().unwrap();
    assert!(!report.vram_lost);
    assert_eq!(report.vram.damage, None);
    assert_eq!(report.vram.live, 1);
    assert_eq!(dev.vram_mgr().state(), MgrState::Ready);
    assert_eq!(dev.gtt_mgr().state(), MgrState::Ready);
    assert!(dev.is_healthy());
    let g2 = dev
        .bo_create(&BoParam::new(128 * KIB, Domains::GTT))
        .unwrap();
    v2.validate(Domains::GTT).unwrap();
    let mut buf = [0u8; 10];
    v2.cpu_read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"still here");

    // clear_error alone also re-opens allocation.
    dev.set_error();
    dev.clear_error();
    let v3 = dev
        .bo_create(&BoParam::new(64 * KIB, Domains::VRAM))
        .unwrap();
    drop((v2, g2, v3));
    let s = dev.get_stats();
    assert_eq!((s.vram.used_size, s.gtt.used_size, s.live_bos), (0, 0, 0));
    dev.check().unwrap();
}
