//! Unit tests of device initialisation, the size check, sysfs and the errno mapping.

use super::*;

const MIB: u64 = 1 << 20;

#[test]
fn init_registers_both_managers_for_ttm() {
    let dev = Device::new(DeviceConfig::small()).expect("device");
    let ttm = dev.ttm();
    assert!(ttm.use_type(MemType::SYSTEM));
    assert!(ttm.use_type(MemType::VRAM));
    assert!(ttm.use_type(MemType::TT));
    assert!(!ttm.use_tt(MemType::VRAM));
    assert!(ttm.use_tt(MemType::TT));
    assert_eq!(ttm.manager_size(MemType::VRAM), Some(16 * MIB));
    assert_eq!(ttm.manager_size(MemType::TT), Some(8 * MIB));
    // The range allocator starts after the two 512-page transfer windows.
    assert_eq!(dev.gtt_mgr().gart_range(), (1024, 4096));
    assert_eq!(dev.state(), DevState::Ready);
    assert!(dev.is_healthy());
    dev.check().expect("clean");
}

#[test]
fn bad_configurations_are_refused() {
    let mut cfg = DeviceConfig::small();
    cfg.hw.page_size = 8192;
    assert!(matches!(
        Device::new(cfg),
        Err(Error::InvalidArgument("PDDGPU needs 4 KiB pages"))
    ));
    let mut cfg = DeviceConfig::small();
    cfg.gtt_size = Some(0);
    assert!(matches!(Device::new(cfg), Err(Error::InvalidArgument(_))));
    let mut cfg = DeviceConfig::small();
    cfg.hw.visible_vram_size = 32 * MIB;
    assert_eq!(Device::new(cfg).map(|_| ()).unwrap_err().errno(), 22);
}

#[test]
fn size_check_is_gtt_first_then_vram() {
    let dev = Device::new(DeviceConfig::small()).expect("device");
    assert!(dev.validate_size(8 * MIB - 4096, Domains::GTT).is_ok());
    assert!(matches!(
        dev.validate_size(8 * MIB, Domains::GTT | Domains::VRAM),
        Err(Error::TooLarge {
            size: 8388608,
            domain: Domain::Gtt,
            limit: 8388608
        })
    ));
    assert!(dev.validate_size(12 * MIB, Domains::VRAM).is_ok());
    assert!(matches!(
        dev.validate_size(16 * MIB, Domains::VRAM),
        Err(Error::TooLarge {
            domain: Domain::Vram,
            ..
        })
    ));
    assert!(dev.validate_size(1 << 40, Domains::CPU).is_ok());
}

#[test]
fn sysfs_prints_like_amdgpu() {
    let dev = Device::new(DeviceConfig::small()).expect("device");
    assert_eq!(
        dev.sysfs_attr("mem_info_vram_total").as_deref(),
        Some("16777216\n")
    );
    assert_eq!(
        dev.sysfs_attr("mem_info_vis_vram_total").as_deref(),
        Some("4194304\n")
    );
    assert_eq!(
        dev.sysfs_attr("mem_info_gtt_total").as_deref(),
        Some("8388608\n")
    );
    assert_eq!(dev.sysfs_attr("mem_info_gtt_used").as_deref(), Some("0\n"));
    assert_eq!(dev.sysfs_attr("mem_info_vram_vendor"), None);
}

#[test]
fn no_space_reaches_user_space_as_enomem_unless_propagated() {
    let dev = Device::new(DeviceConfig::small()).expect("device");
    let e = Error::NoSpace(Box::default());
    assert_eq!(dev.user_errno(&e), 12);
    assert_eq!(dev.user_errno(&Error::NoDevice("x")), 19);
    let dev = Device::new(DeviceConfig {
        propagate_enospc: true,
        ..DeviceConfig::small()
    })
    .expect("device");
    assert_eq!(dev.user_errno(&e), 28);
}

#[test]
fn shutdown_refuses_and_reports_nothing_on_an_idle_device() {
    let dev = Device::new(DeviceConfig::small()).expect("device");
    let report = dev.shutdown();
    assert!(report.is_empty(), "{report}");
    assert_eq!(dev.state(), DevState::Shutdown);
    assert!(!dev.is_healthy());
    assert!(matches!(
        dev.bo_create(&BoParam::new(4096, Domains::CPU)),
        Err(Error::NoDevice(_))
    ));
    assert!(matches!(dev.recover(), Err(Error::NoDevice(_))));
}
