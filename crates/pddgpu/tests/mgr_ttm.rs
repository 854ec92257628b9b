//! The VRAM and GTT managers plugged into TTM: placement, eviction, dumps and
//! accounting through the `ResourceManager` adapters.

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pddgpu::gtt_mgr::{GttConfig, GttManager, GttResource, INVALID_OFFSET};
use pddgpu::hw::{HwConfig, SimHw};
use pddgpu::mgr_common::{DeviceState, RetryPolicy};
use pddgpu::uapi::abi::PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS;
use pddgpu::vram_mgr::{VramConfig, VramManager, VramResource};
use pddgpu_ttm::{
    BoInfo, BoParams, Device, DeviceConfig, DeviceFuncs, MemType, MoveArgs, MoveError,
    OperationCtx, PageSource, Place, PlaceFlags, Placement, Resource,
};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// A driver that evicts to SYSTEM and moves nothing (contents are not the point here).
#[derive(Debug, Default)]
struct Driver {
    next_page: AtomicU64,
}

impl DeviceFuncs for Driver {
    fn evict_flags(&self, _bo: &BoInfo, _res: &Resource) -> Placement {
        Placement::single(MemType::SYSTEM)
    }
    fn move_bo(&self, _args: &MoveArgs<'_>) -> Result<(), MoveError> {
        Ok(())
    }
}

impl PageSource for Driver {
    fn alloc_pages(&self, order: u8) -> pddgpu_ttm::Result<u64> {
        Ok(self.next_page.fetch_add(4096 << order, Ordering::Relaxed) + (1 << 40))
    }
    fn free_pages(&self, _dma_addr: u64, _order: u8) {}
    fn clear_pages(&self, _dma_addr: u64, _order: u8) {}
}

struct Stack {
    dev: Arc<Device>,
    vram: Arc<VramManager>,
    gtt: Arc<GttManager>,
}

/// 16 MiB VRAM (4 MiB visible), GART of 4096 pages, GTT limit 8 MiB; no retries.
fn stack() -> Stack {
    let drv = Arc::new(Driver::default());
    let dev = Device::new(drv.clone(), drv, DeviceConfig::default());
    let state = Arc::new(DeviceState::new());
    let hw = Arc::new(
        SimHw::new(HwConfig {
            vram_size: 16 * MIB,
            visible_vram_size: 4 * MIB,
            gtt_size: 16 * MIB,
            sys_mem_size: 16 * MIB,
            page_size: 4096,
        })
        .unwrap(),
    );
    let vram = Arc::new(
        VramManager::new(
            VramConfig {
                retry: RetryPolicy::NONE,
                ..VramConfig::new(16 * MIB, 4 * MIB)
            },
            Arc::clone(&state),
        )
        .unwrap(),
    );
    let gtt = Arc::new(
        GttManager::new(
            GttConfig {
                size: 8 * MIB,
                retry: RetryPolicy::NONE,
            },
            hw,
            state,
        )
        .unwrap(),
    );
    dev.set_manager(MemType::VRAM, vram.clone(), false, 16 * MIB)
        .unwrap();
    dev.set_manager(MemType::TT, gtt.clone(), true, 8 * MIB)
        .unwrap();
    Stack { dev, vram, gtt }
}

#[test]
fn vram_bo_through_ttm() {
    let s = stack();
    let mut ctx = OperationCtx::default();
    let params = BoParams {
        driver_flags: PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS,
        ..BoParams::new(2 * MIB)
    };
    let bo = s
        .dev
        .bo_init_validate(params, &Placement::single(MemType::VRAM), &mut ctx)
        .unwrap();
    {
        let r = bo.reserve();
        let res = r.resource().unwrap();
        assert_eq!(res.mem_type(), MemType::VRAM);
        assert_eq!(res.start(), (14 * MIB) >> 12);
        assert!(res.placement().contains(PlaceFlags::CONTIGUOUS));
        let vres = res.private::<VramResource>().unwrap();
        assert_eq!(vres.blocks()[0].offset, 14 * MIB);
    }
    assert_eq!(s.vram.mem_info_vram_used(), 2 * MIB);
    assert_eq!(s.dev.usage(MemType::VRAM), 2 * MIB);
    let mut text = String::new();
    s.dev.manager_debug(MemType::VRAM, &mut text).unwrap();
    assert_eq!(
        text,
        "  use_type: 1\n  use_tt: 0\n  size: 16777216\n  usage: 2097152\n\
         \x20 vis usage:0\n\
         default_page_size: 4KiB\n\
         chunk_size: 4KiB, total: 16MiB, free: 14MiB, clear_free: 0MiB\n\
         order-12 free:        0 KiB, blocks: 0\n\
         order-11 free:        8 MiB, blocks: 1\n\
         order-10 free:        4 MiB, blocks: 1\n\
         order- 9 free:        2 MiB, blocks: 1\n\
         order- 8 free:        0 KiB, blocks: 0\n\
         order- 7 free:        0 KiB, blocks: 0\n\
         order- 6 free:        0 KiB, blocks: 0\n\
         order- 5 free:        0 KiB, blocks: 0\n\
         order- 4 free:        0 KiB, blocks: 0\n\
         order- 3 free:        0 KiB, blocks: 0\n\
         order- 2 free:        0 KiB, blocks: 0\n\
         order- 1 free:        0 KiB, blocks: 0\n\
         order- 0 free:        0 KiB, blocks: 0\n\
         reserved:\n"
    );
    // A place in the visible window is not compatible: validation moves the BO.
    let visible = Placement::new(vec![Place::new(MemType::VRAM).with_range(0, 1024)]);
    let mut ctx = OperationCtx::default();
    bo.reserve().validate(&visible, &mut ctx).unwrap();
    assert_eq!(ctx.bytes_moved, 2 * MIB);
    assert_eq!(s.vram.mem_info_vis_vram_used(), 2 * MIB);
    assert_eq!(s.vram.mem_info_vram_used(), 2 * MIB);
    s.dev.check().unwrap();
    drop(bo);
    assert_eq!(s.vram.mem_info_vram_used(), 0);
    assert_eq!(s.dev.usage(MemType::VRAM), 0);
    s.vram.check().unwrap();
}

#[test]
fn vram_no_space_makes_ttm_evict() {
    let s = stack();
    let mut ctx = OperationCtx::default();
    let vram = Placement::single(MemType::VRAM);
    let bos: Vec<_> = (0..4)
        .map(|_| {
            s.dev
                .bo_init_validate(BoParams::new(4 * MIB), &vram, &mut ctx)
                .unwrap()
        })
        .collect();
    assert_eq!(s.vram.avail(), 0);
    let fifth = s
        .dev
        .bo_init_validate(BoParams::new(4 * MIB), &vram, &mut ctx)
        .unwrap();
    // The least recently used BO went to SYSTEM; the rest stayed.
    assert_eq!(
        bos[0].reserve().resource().unwrap().mem_type(),
        MemType::SYSTEM
    );
    for bo in &bos[1..] {
        assert_eq!(bo.reserve().resource().unwrap().mem_type(), MemType::VRAM);
    }
    assert_eq!(
        fifth.reserve().resource().unwrap().mem_type(),
        MemType::VRAM
    );
    assert_eq!(s.vram.mem_info_vram_used(), 16 * MIB);
    assert!(s.vram.counters().snapshot().failures >= 1);
    s.dev.check().unwrap();
    drop(bos);
    drop(fifth);
    assert_eq!(s.vram.mem_info_vram_used(), 0);
    s.dev.check().unwrap();
}

#[test]
fn gtt_bos_get_a_gart_address_only_when_the_place_asks() {
    let s = stack();
    let mut ctx = OperationCtx::default();
    let plain = s
        .dev
        .bo_init_validate(
            BoParams::new(64 * KIB),
            &Placement::single(MemType::TT),
            &mut ctx,
        )
        .unwrap();
    let gart_place = Placement::new(vec![Place::new(MemType::TT).with_range(0, 4096)]);
    let mapped = s
        .dev
        .bo_init_validate(BoParams::new(64 * KIB), &gart_place, &mut ctx)
        .unwrap();
    {
        let r = plain.reserve();
        let res = r.resource().unwrap();
        assert_eq!(res.start(), INVALID_OFFSET);
        assert!(!res.private::<GttResource>().unwrap().has_gart_addr());
    }
    assert_eq!(mapped.reserve().resource().unwrap().start(), 1024);
    assert_eq!(s.gtt.mem_info_gtt_used(), 128 * KIB);
    // An address-less BO is not compatible with a place that needs GART: it moves.
    plain.reserve().validate(&gart_place, &mut ctx).unwrap();
    assert_eq!(plain.reserve().resource().unwrap().start(), 1040);
    let mut text = String::new();
    s.dev.manager_debug(MemType::TT, &mut text).unwrap();
    assert_eq!(
        text,
        "  use_type: 1\n  use_tt: 1\n  size: 8388608\n  usage: 131072\n\
         0x0000000000000400-0x0000000000000410: 16: used\n\
         0x0000000000000410-0x0000000000000420: 16: used\n\
         0x0000000000000420-0x0000000000001000: 3040: free\n\
         total: 3072, used 32 free 3040\n"
    );
    s.dev.check().unwrap();
    drop(plain);
    drop(mapped);
    assert_eq!(s.gtt.mem_info_gtt_used(), 0);
    assert_eq!(s.gtt.free_gart_pages(), 3072);
    s.dev.check().unwrap();
}
