//! GEM create + close of small GTT objects, single threaded (DESIGN §7: "well under a
//! microsecond per op"), through the Rust API and through the C ABI's `pddgpu_ioctl`.
//!
//! `cargo bench -p pddgpu-ffi --bench gem_create_close`: prints the median of 7 runs of
//! 20 000 create+close pairs each, in nanoseconds per pair, for the GEM API, the BO
//! layer underneath it alone (what GEM adds is the difference), and the C ABI.

use std::hint::black_box;
use std::time::Instant;

use pddgpu::gem::OpenFile;
use pddgpu::mgr_common::RetryPolicy;
use pddgpu::uapi::abi::{drm_gem_close, drm_pddgpu_gem_create, PDDGPU_GEM_DOMAIN_GTT};
use pddgpu::uapi::ioctl::{DRM_IOCTL_GEM_CLOSE, DRM_IOCTL_PDDGPU_GEM_CREATE};
use pddgpu::uapi::{CreateFlags, Domains, GemCreate};
use pddgpu::{BoParam, Device, DeviceConfig};
use pddgpu_ffi::{pddgpu_close, pddgpu_ioctl, pddgpu_open};

const PAIRS: u32 = 20_000;
const RUNS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dev = Device::new(DeviceConfig {
        vram_retry: RetryPolicy::NONE,
        gtt_retry: RetryPolicy::NONE,
        ..DeviceConfig::default()
    })
    .expect("device");
    let file = dev.open().expect("file");
    let req = GemCreate::new(4096, 0, Domains::GTT, CreateFlags::empty()).expect("request");
    let rust: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..PAIRS {
                let h = file.gem_create(black_box(&req)).expect("create");
                file.gem_close(h).expect("close");
            }
            t.elapsed().as_nanos() as f64 / f64::from(PAIRS)
        })
        .collect();
    println!(
        "rust API   GEM_CREATE+GEM_CLOSE 4 KiB GTT: {:7.1} ns/pair (median of {RUNS})",
        median(rust)
    );

    let param = BoParam::new(4096, Domains::GTT);
    let bo_layer: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..PAIRS {
                drop(dev.bo_create(black_box(&param)).expect("bo"));
            }
            t.elapsed().as_nanos() as f64 / f64::from(PAIRS)
        })
        .collect();
    println!(
        "BO layer   bo_create+drop (no GEM)       : {:7.1} ns/pair (median of {RUNS})",
        median(bo_layer)
    );

    // SAFETY: a NULL config asks for the defaults.
    let fd = unsafe { pddgpu_open(core::ptr::null()) };
    assert!(fd >= 0);
    let c_abi: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..PAIRS {
                let mut create = drm_pddgpu_gem_create {
                    size: 4096,
                    domain: PDDGPU_GEM_DOMAIN_GTT,
                    ..Default::default()
                };
                // SAFETY: `create` is a live, writable argument of the request's size.
                let r = unsafe {
                    pddgpu_ioctl(
                        fd,
                        DRM_IOCTL_PDDGPU_GEM_CREATE.into(),
                        core::ptr::addr_of_mut!(create).cast(),
                    )
                };
                assert_eq!(r, 0);
                let mut close = drm_gem_close {
                    handle: create.handle,
                    pad: 0,
                };
                // SAFETY: as above.
                let r = unsafe {
                    pddgpu_ioctl(
                        fd,
                        DRM_IOCTL_GEM_CLOSE.into(),
                        core::ptr::addr_of_mut!(close).cast(),
                    )
                };
                assert_eq!(r, 0);
            }
            t.elapsed().as_nanos() as f64 / f64::from(PAIRS)
        })
        .collect();
    println!(
        "C ABI      GEM_CREATE+GEM_CLOSE 4 KiB GTT: {:7.1} ns/pair (median of {RUNS})",
        median(c_abi)
    );
    assert_eq!(pddgpu_close(fd), 0);
}
