//! Unit tests: request translation and the state re-check under the manager lock.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::mgr_common::{BoDesc, BoFlags, Place};

const MIB: u64 = 1 << 20;

fn params(place: Place, bo: BoDesc) -> Params {
    Params::new(
        &AllocRequest::new(place, bo),
        &VramConfig::new(64 * MIB, 16 * MIB),
    )
    .unwrap()
}

#[test]
fn min_block_size_follows_the_amdgpu_rule() {
    // Page alignment, raised to 2 MiB for 2 MiB multiples.
    let p = params(Place::ANY, BoDesc::new(4096));
    assert_eq!((p.min_block_size, p.flags), (4096, AllocFlags::empty()));
    assert_eq!(
        params(Place::ANY, BoDesc::new(6 * MIB)).min_block_size,
        2 * MIB
    );
    assert_eq!(
        params(Place::ANY, BoDesc::new(3 * MIB)).min_block_size,
        4096
    );
    // An alignment above 2 MiB becomes the pages per block.
    let big = BoDesc {
        page_alignment: 1024,
        ..BoDesc::new(8 * MIB)
    };
    assert_eq!(params(Place::ANY, big).min_block_size, 4 * MIB);
    let odd = BoDesc {
        page_alignment: 1024,
        ..BoDesc::new(6 * MIB)
    };
    assert_eq!(params(Place::ANY, odd).min_block_size, 4 * MIB);
    // Contiguous: unlimited pages per block, so only the alignment; the fallback uses 2 MiB.
    let c = BoDesc {
        flags: BoFlags::VRAM_CONTIGUOUS,
        ..BoDesc::new(6 * MIB)
    };
    let p = params(Place::ANY, c);
    assert_eq!(
        (p.min_block_size, p.fallback_min_block_size),
        (4096, 2 * MIB)
    );
    assert_eq!(p.flags, AllocFlags::CONTIGUOUS);
    assert!(!p.place_contiguous);
}

#[test]
fn place_becomes_a_buddy_window() {
    let p = params(Place::range(0, 0), BoDesc::new(4096));
    assert_eq!(
        (p.start, p.end, p.flags),
        (0, 64 * MIB, AllocFlags::empty())
    );
    let p = params(Place::range(0, 16384), BoDesc::new(4096));
    assert_eq!(
        (p.start, p.end, p.flags),
        (0, 64 * MIB, AllocFlags::empty())
    );
    let p = params(Place::range(1, u64::MAX), BoDesc::new(4096));
    assert_eq!(
        (p.start, p.end, p.flags),
        (4096, 64 * MIB, AllocFlags::RANGE)
    );
    let p = params(
        Place::range(0, 256).with(PlaceFlags::TOPDOWN | PlaceFlags::CONTIGUOUS),
        BoDesc {
            flags: BoFlags::VRAM_CLEARED,
            ..BoDesc::new(4096)
        },
    );
    assert_eq!((p.start, p.end), (0, MIB));
    assert_eq!(
        p.flags,
        AllocFlags::RANGE | AllocFlags::TOPDOWN | AllocFlags::CONTIGUOUS | AllocFlags::CLEAR
    );
    assert!(p.place_contiguous);
    let cfg = VramConfig::new(64 * MIB, 16 * MIB);
    let r = AllocRequest::new(Place::range(u64::MAX, 0), BoDesc::new(4096));
    assert!(matches!(
        Params::new(&r, &cfg),
        Err(Error::InvalidArgument(_))
    ));
    let r = AllocRequest::new(
        Place::ANY,
        BoDesc {
            page_alignment: u64::MAX,
            ..BoDesc::new(4096)
        },
    );
    assert!(matches!(
        Params::new(&r, &cfg),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_state_change_while_waiting_for_the_lock_refuses_the_allocation() {
    let mgr = Arc::new(
        VramManager::new(
            VramConfig {
                retry: RetryPolicy::NONE,
                ..VramConfig::new(64 * MIB, 16 * MIB)
            },
            Arc::new(DeviceState::new()),
        )
        .unwrap(),
    );
    let guard = mgr.inner.lock();
    let m2 = Arc::clone(&mgr);
    let t = std::thread::spawn(move || m2.alloc(&AllocRequest::new(Place::ANY, BoDesc::new(MIB))));
    // The allocation charges its size after the first state check, before the lock.
    while mgr.mem_info_vram_used() != MIB {
        std::thread::sleep(Duration::from_millis(1));
    }
    mgr.set_error();
    drop(guard);
    let e = t.join().unwrap().unwrap_err();
    assert!(
        matches!(
            e,
            Error::NoDevice {
                reason: "manager in error state",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(mgr.mem_info_vram_used(), 0);
    assert_eq!(mgr.live_count(), 0);
    mgr.check().unwrap();
}

#[test]
fn manager_and_resource_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<VramManager>();
    check::<VramResource>();
}
