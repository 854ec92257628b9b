//! Debug dumps (debugfs `amdgpu_vram_mm` / `amdgpu_gtt_mm`) and sysfs counters for a
//! known layout, byte for byte.

#![allow(clippy::unwrap_used)]

mod common;

use common::{small_device, KIB, MIB};

use pddgpu::hw::DevAddr;
use pddgpu::mgr_common::BoKind;
use pddgpu::uapi::{CreateFlags, Domains};
use pddgpu::BoParam;

#[test]
fn vram_and_gtt_dumps_for_a_known_layout() {
    let dev = small_device();
    // 2 MiB: 2 MiB blocks from the top of VRAM.
    let a = dev
        .bo_create(&BoParam::new(2 * MIB, Domains::VRAM))
        .unwrap();
    // 64 KiB for the CPU: the lowest free block of the visible window.
    let b = dev
        .bo_create(
            &BoParam::new(64 * KIB, Domains::VRAM).with_flags(CreateFlags::CPU_ACCESS_REQUIRED),
        )
        .unwrap();
    // A kernel GTT BO gets a GART address right after the transfer windows; a user one
    // gets none and does not appear in the range allocator's dump.
    let k = dev
        .bo_create(&BoParam {
            bo_type: BoKind::Kernel,
            ..BoParam::new(64 * KIB, Domains::GTT)
        })
        .unwrap();
    let u = dev
        .bo_create(&BoParam::new(128 * KIB, Domains::GTT))
        .unwrap();
    assert_eq!(a.gpu_offset(), Some(DevAddr::Vram(14 * MIB)));
    assert_eq!(b.gpu_offset(), Some(DevAddr::Vram(0)));
    assert_eq!(k.gpu_offset(), Some(DevAddr::Gart(1024 * 4096)));
    assert_eq!(u.gpu_offset(), None);

    assert_eq!(
        dev.vram_mm_debug(),
        "  use_type: 1\n\
         \x20 use_tt: 0\n\
         \x20 size: 16777216\n\
         \x20 usage: 2162688\n\
         \x20 vis usage:65536\n\
         default_page_size: 4KiB\n\
         chunk_size: 4KiB, total: 16MiB, free: 13MiB, clear_free: 0MiB\n\
         order-12 free:        0 KiB, blocks: 0\n\
         order-11 free:        0 KiB, blocks: 0\n\
         order-10 free:        8 MiB, blocks: 2\n\
         order- 9 free:        4 MiB, blocks: 2\n\
         order- 8 free:        1 MiB, blocks: 1\n\
         order- 7 free:      512 KiB, blocks: 1\n\
         order- 6 free:      256 KiB, blocks: 1\n\
         order- 5 free:      128 KiB, blocks: 1\n\
         order- 4 free:       64 KiB, blocks: 1\n\
         order- 3 free:        0 KiB, blocks: 0\n\
         order- 2 free:        0 KiB, blocks: 0\n\
         order- 1 free:        0 KiB, blocks: 0\n\
         order- 0 free:        0 KiB, blocks: 0\n\
         reserved:\n"
    );
    assert_eq!(
        dev.gtt_mm_debug(),
        "  use_type: 1\n\
         \x20 use_tt: 1\n\
         \x20 size: 8388608\n\
         \x20 usage: 196608\n\
         0x0000000000000400-0x0000000000000410: 16: used\n\
         0x0000000000000410-0x0000000000001000: 3056: free\n\
         total: 3072, used 16 free 3056\n"
    );
    let sysfs: Vec<String> = [
        "mem_info_vram_total",
        "mem_info_vram_used",
        "mem_info_vis_vram_total",
        "mem_info_vis_vram_used",
        "mem_info_gtt_total",
        "mem_info_gtt_used",
    ]
    .iter()
    .map(|n| dev.sysfs_attr(n).unwrap())
    .collect();
    assert_eq!(
        sysfs,
        [
            "16777216\n",
            "2162688\n",
            "4194304\n",
            "65536\n",
            "8388608\n",
            "196608\n"
        ]
    );
    drop((a, b, k, u));
    assert_eq!(
        dev.gtt_mm_debug(),
        "  use_type: 1\n  use_tt: 1\n  size: 8388608\n  usage: 0\n\
         0x0000000000000400-0x0000000000001000: 3072: free\n\
         total: 3072, used 0 free 3072\n"
    );
    dev.check().unwrap();
}
