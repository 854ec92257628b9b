//! Setup shared by the device tests: the small simulated device most of them run on.

// Each test binary includes this module and uses its own part of it.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use pddgpu::device::{Device, DeviceConfig};

/// One KiB.
pub const KIB: u64 = 1 << 10;
/// One MiB.
pub const MIB: u64 = 1 << 20;

/// The deterministic small device of [`DeviceConfig::small`].
pub fn small_config() -> DeviceConfig {
    DeviceConfig::small()
}

/// A device built from [`small_config`].
pub fn small_device() -> Arc<Device> {
    Device::new(small_config()).expect("small device")
}
