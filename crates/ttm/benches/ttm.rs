//! TTM hot paths: create + validate + destroy of small BOs, and validation that
//! has to evict. Run with `cargo bench -p pddgpu-ttm`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use pddgpu_ttm::{
    BoInfo, BoParams, Device, DeviceConfig, DeviceFuncs, MemType, MoveArgs, MoveError,
    OperationCtx, PageSource, Placement, RangeManager, Resource, Result, PAGE_SIZE,
};

/// Copies nothing; pages come from a bump counter and are cached by the pool.
#[derive(Debug, Default)]
struct NullDriver {
    next: AtomicU64,
}

impl DeviceFuncs for NullDriver {
    fn evict_flags(&self, _bo: &BoInfo, res: &Resource) -> Placement {
        if res.mem_type() == MemType::VRAM {
            Placement::single(MemType::TT)
        } else {
            Placement::single(MemType::SYSTEM)
        }
    }
    fn move_bo(&self, _args: &MoveArgs<'_>) -> core::result::Result<(), MoveError> {
        Ok(())
    }
}

impl PageSource for NullDriver {
    fn alloc_pages(&self, order: u8) -> Result<u64> {
        let bytes = PAGE_SIZE << order;
        Ok(self.next.fetch_add(bytes, Ordering::Relaxed))
    }
    fn free_pages(&self, _dma_addr: u64, _order: u8) {}
    fn clear_pages(&self, _dma_addr: u64, _order: u8) {}
}

fn device(vram_pages: u64, tt_pages: u64) -> Arc<Device> {
    let drv = Arc::new(NullDriver::default());
    let dev = Device::new(drv.clone(), drv, DeviceConfig::default());
    let vram = Arc::new(RangeManager::new(vram_pages).expect("vram"));
    let tt = Arc::new(RangeManager::new(tt_pages).expect("tt"));
    dev.set_manager(MemType::VRAM, vram, false, vram_pages)
        .expect("vram");
    dev.set_manager(MemType::TT, tt, true, tt_pages)
        .expect("tt");
    dev
}

fn create_validate_destroy(c: &mut Criterion) {
    let dev = device(1 << 20, 1 << 20);
    for (name, t) in [
        ("system", MemType::SYSTEM),
        ("tt", MemType::TT),
        ("vram", MemType::VRAM),
    ] {
        let placement = Placement::single(t);
        c.bench_function(&format!("create_validate_destroy_4k_{name}"), |b| {
            b.iter(|| {
                let mut ctx = OperationCtx::new();
                let bo = dev
                    .bo_init_validate(BoParams::new(PAGE_SIZE), &placement, &mut ctx)
                    .expect("bo");
                black_box(&bo);
            });
        });
    }
}

fn validate_with_eviction(c: &mut Criterion) {
    // 64 pages of VRAM full of 4-page BOs: every new BO evicts the oldest to TT.
    let dev = device(64, 1 << 20);
    let vram = Placement::single(MemType::VRAM);
    let mut live = std::collections::VecDeque::new();
    for _ in 0..16 {
        let bo = dev
            .bo_init_validate(
                BoParams::new(4 * PAGE_SIZE),
                &vram,
                &mut OperationCtx::new(),
            )
            .expect("bo");
        live.push_back(bo);
    }
    c.bench_function("validate_evicting_16k_vram", |b| {
        b.iter(|| {
            let bo = dev
                .bo_init_validate(
                    BoParams::new(4 * PAGE_SIZE),
                    &vram,
                    &mut OperationCtx::new(),
                )
                .expect("bo");
            live.push_back(bo);
            live.pop_front();
        });
    });
}

criterion_group!(benches, create_validate_destroy, validate_with_eviction);
criterion_main!(benches);
