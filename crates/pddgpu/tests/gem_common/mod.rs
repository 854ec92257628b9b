//! Helpers shared by the GEM tests.

#![allow(dead_code)] // each test file uses its own subset

use std::sync::Arc;

use pddgpu::device::{Device, DeviceConfig};
use pddgpu::gem::{File, OpenFile};
use pddgpu::hw::HwConfig;
use pddgpu::mgr_common::RetryPolicy;
use pddgpu::uapi::{CreateFlags, Domains, GemCreate, Handle};

pub(crate) const KIB: u64 = 1 << 10;
pub(crate) const MIB: u64 = 1 << 20;

/// A small device: 64 MiB VRAM (16 MiB visible), 64 MiB GTT, no retry sleeps.
pub(crate) fn device() -> Arc<Device> {
    device_with(false)
}

pub(crate) fn device_with(propagate_enospc: bool) -> Arc<Device> {
    Device::new(DeviceConfig {
        hw: HwConfig {
            vram_size: 64 * MIB,
            visible_vram_size: 16 * MIB,
            gtt_size: 64 * MIB,
            sys_mem_size: 256 * MIB,
            page_size: 4096,
        },
        vram_retry: RetryPolicy::NONE,
        gtt_retry: RetryPolicy::NONE,
        propagate_enospc,
        ..DeviceConfig::default()
    })
    .unwrap()
}

pub(crate) fn open(dev: &Arc<Device>) -> File {
    dev.open().unwrap()
}

pub(crate) fn create(file: &File, size: u64, domains: Domains, flags: CreateFlags) -> Handle {
    file.gem_create(&GemCreate::new(size, 0, domains, flags).unwrap())
        .unwrap()
}

/// VRAM + GTT bytes in use.
pub(crate) fn usage(dev: &Device) -> (u64, u64) {
    let m = dev.mem_info();
    (m.vram_used, m.gtt_used)
}

pub(crate) fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed) | 1)
        .collect()
}

pub(crate) fn h(raw: u32) -> Handle {
    Handle::new(raw).unwrap()
}
