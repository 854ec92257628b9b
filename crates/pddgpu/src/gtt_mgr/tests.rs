//! Unit tests: the state re-check under the manager lock.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::hw::HwConfig;
use crate::mgr_common::BoDesc;

#[test]
fn a_shutdown_while_waiting_for_the_lock_refuses_the_allocation() {
    let hw = Arc::new(
        SimHw::new(HwConfig {
            gtt_size: 16 << 20,
            ..HwConfig::default()
        })
        .unwrap(),
    );
    let dev = Arc::new(DeviceState::new());
    let mgr = Arc::new(
        GttManager::new(
            GttConfig {
                size: 8 << 20,
                retry: RetryPolicy::NONE,
            },
            hw,
            Arc::clone(&dev),
        )
        .unwrap(),
    );
    let guard = mgr.inner.lock();
    let m2 = Arc::clone(&mgr);
    let t = std::thread::spawn(move || {
        m2.alloc(
            &AllocRequest::new(Place::range(0, 4096), BoDesc::new(8192)),
            None,
        )
    });
    while mgr.mem_info_gtt_used() != 8192 {
        std::thread::sleep(Duration::from_millis(1));
    }
    dev.shutdown();
    drop(guard);
    let e = t.join().unwrap().unwrap_err();
    assert!(
        matches!(
            e,
            Error::NoDevice {
                reason: "device is shutting down",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(mgr.mem_info_gtt_used(), 0);
    assert_eq!(mgr.free_gart_pages(), 3072);
    mgr.check().unwrap();
}

#[test]
fn manager_and_resource_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<GttManager>();
    check::<GttResource>();
}
