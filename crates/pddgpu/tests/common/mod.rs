//! Setup shared by the device tests: the small simulated device most of them run on.

// Each test binary includes this module and uses its own part of it.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use pddgpu::device::{Device, DeviceConfig};
use pddgpu::hw::HwConfig;
use pddgpu::mgr_common::RetryPolicy;

/// One KiB.
pub const KIB: u64 = 1 << 10;
/// One MiB.
pub const MIB: u64 = 1 << 20;

/// 16 MiB of VRAM (the first 4 MiB CPU-visible), a 16 MiB GART under an 8 MiB GTT
/// limit, 64 MiB of system memory, and managers that answer no-space at once (no
/// retries), so that every outcome is deterministic.
pub fn small_config() -> DeviceConfig {
    DeviceConfig {
        hw: HwConfig {
            vram_size: 16 * MIB,
            visible_vram_size: 4 * MIB,
            gtt_size: 16 * MIB,
            sys_mem_size: 64 * MIB,
            page_size: 4096,
        },
        gtt_size: Some(8 * MIB),
        vram_retry: RetryPolicy::NONE,
        gtt_retry: RetryPolicy::NONE,
        ..DeviceConfig::default()
    }
}

/// A device built from [`small_config`].
pub fn small_device() -> Arc<Device> {
    Device::new(small_config()).expect("small device")
}
