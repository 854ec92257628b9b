//! Unit tests of the placement rules and the BO argument checks.

use super::*;

const VIS: u32 = 1024;
const GART: u32 = 4096;

fn places(
    domains: Domains,
    flags: CreateFlags,
    kind: BoKind,
    placed: bool,
) -> Vec<(MemType, u32, u32, PlaceFlags)> {
    placement_from_domain(domains, flags, kind, VIS, GART, placed)
        .places()
        .iter()
        .map(|p| (p.mem_type, p.fpfn, p.lpfn, p.flags))
        .collect()
}

#[test]
fn vram_gtt_cpu_in_amdgpu_order() {
    assert_eq!(
        places(
            Domains::CPU | Domains::GTT | Domains::VRAM,
            CreateFlags::empty(),
            BoKind::User,
            false
        ),
        vec![
            (MemType::VRAM, 0, 0, PlaceFlags::empty()),
            (MemType::TT, 0, 0, PlaceFlags::empty()),
            (MemType::SYSTEM, 0, 0, PlaceFlags::empty()),
        ]
    );
}

#[test]
fn cpu_access_limits_vram_to_the_visible_window() {
    assert_eq!(
        places(
            Domains::VRAM,
            CreateFlags::CPU_ACCESS_REQUIRED | CreateFlags::TOPDOWN,
            BoKind::User,
            false
        ),
        vec![(MemType::VRAM, 0, VIS, PlaceFlags::TOPDOWN)]
    );
}

#[test]
fn contiguous_is_a_place_flag_only_for_kernel_bos() {
    assert_eq!(
        places(
            Domains::VRAM,
            CreateFlags::VRAM_CONTIGUOUS,
            BoKind::User,
            false
        ),
        vec![(MemType::VRAM, 0, 0, PlaceFlags::empty())]
    );
    assert_eq!(
        places(
            Domains::VRAM,
            CreateFlags::VRAM_CONTIGUOUS,
            BoKind::Kernel,
            false
        ),
        vec![(MemType::VRAM, 0, 0, PlaceFlags::CONTIGUOUS)]
    );
}

#[test]
fn kernel_gtt_bos_get_a_gart_address() {
    assert_eq!(
        places(Domains::GTT, CreateFlags::empty(), BoKind::Kernel, false),
        vec![(MemType::TT, 0, GART, PlaceFlags::empty())]
    );
    assert_eq!(
        places(Domains::GTT, CreateFlags::empty(), BoKind::User, false),
        vec![(MemType::TT, 0, 0, PlaceFlags::empty())]
    );
}

#[test]
fn gtt_is_a_fallback_only_for_placed_bos_that_may_use_vram() {
    let both = Domains::VRAM | Domains::GTT;
    assert_eq!(
        places(both, CreateFlags::empty(), BoKind::User, true)[1],
        (MemType::TT, 0, 0, PlaceFlags::FALLBACK)
    );
    assert_eq!(
        places(both, CreateFlags::empty(), BoKind::User, false)[1],
        (MemType::TT, 0, 0, PlaceFlags::empty())
    );
    assert_eq!(
        places(Domains::GTT, CreateFlags::empty(), BoKind::User, true),
        vec![(MemType::TT, 0, 0, PlaceFlags::empty())]
    );
}

#[test]
fn empty_domain_is_system() {
    assert_eq!(
        places(Domains::empty(), CreateFlags::empty(), BoKind::User, false),
        vec![(MemType::SYSTEM, 0, 0, PlaceFlags::empty())]
    );
}

#[test]
fn extents_split_at_block_and_page_boundaries() {
    let blocks = [
        crate::vram_mgr::VramBlock {
            offset: 0x10000,
            size: 0x2000,
            clear: false,
        },
        crate::vram_mgr::VramBlock {
            offset: 0x4000,
            size: 0x1000,
            clear: true,
        },
    ];
    assert_eq!(
        vram_extents(&blocks, 0x1800, 0x1000).expect("in range"),
        vec![(0x11800, 0x800), (0x4000, 0x800)]
    );
    assert!(vram_extents(&blocks, 0x2800, 0x1000).is_err());
    let pages = [0x1000_0000_0000u64, 0x1000_0000_8000];
    assert_eq!(
        page_extents(&pages, 0xffe, 4).expect("in range"),
        vec![
            (DmaAddr::new(0x1000_0000_0ffe), 2),
            (DmaAddr::new(0x1000_0000_8000), 2)
        ]
    );
    assert!(page_extents(&pages, 0x1ffe, 4).is_err());
}

#[test]
fn reused_gtt_pages_never_show_old_bytes() {
    use crate::device::{Device, DeviceConfig};
    let dev = Device::new(DeviceConfig::default()).unwrap();
    let user = |dev: &Arc<Device>| {
        dev.bo_create(&BoParam::new(PAGE_SIZE, Domains::GTT))
            .unwrap()
    };
    // Never written: released without clearing, nothing was ever committed.
    drop(user(&dev));
    assert_eq!(dev.hw().sysmem().committed_bytes(), 0);
    // Written by the CPU: the page is cleared on release, and the next BO, which gets
    // the same page from the pool, reads zeros.
    let secret = user(&dev);
    secret.cpu_write(0, &[0xaa; 64]).unwrap();
    assert!(dev.hw().sysmem().committed_bytes() > 0);
    drop(secret);
    assert_eq!(dev.hw().sysmem().committed_bytes(), 0);
    let next = user(&dev);
    let mut buf = [0xffu8; 64];
    next.cpu_read(0, &mut buf).unwrap();
    assert_eq!(buf, [0; 64]);
    drop(next);
    // Written by the device through a GART binding (a kernel BO gets an address).
    let kernel = dev
        .bo_create(&BoParam {
            bo_type: BoKind::Kernel,
            ..BoParam::new(PAGE_SIZE, Domains::GTT)
        })
        .unwrap();
    kernel.dev_write(0, &[0x55; 64]).unwrap();
    drop(kernel);
    assert_eq!(dev.hw().sysmem().committed_bytes(), 0);
    let next = user(&dev);
    next.cpu_read(0, &mut buf).unwrap();
    assert_eq!(buf, [0; 64]);
    drop(next);
    assert!(dev.leak_report().is_empty());
    dev.check().unwrap();
}
