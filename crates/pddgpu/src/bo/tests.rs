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
