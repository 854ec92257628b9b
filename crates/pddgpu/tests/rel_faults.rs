//! Fault injection under a concurrent workload: metadata allocation failure in the
//! buddy allocator, node-allocation failure in the range allocator, copy-engine
//! failures during moves and evictions, the managers' error state and GPU resets
//! (followed by `Device::recover`), each switched on and off at random points while
//! client threads create, write, move, verify and close objects. Every refused call
//! must answer a documented errno and leave the client's handles as they were; every
//! object not explicitly closed must keep its exact bytes; afterwards the whole-device
//! invariants hold and nothing leaks.
//!
//! `PDDGPU_SOAK=<n>` multiplies the rounds.

#![allow(clippy::unwrap_used)]

mod gem_common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use gem_common::*;
use pddgpu::gem::File;
use pddgpu::invariants::check_device;
use pddgpu::uapi::{CreateFlags, Domains, Errno, GemOp, GemOpKind, Handle};

/// splitmix64: a reproducible stream per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn soak() -> u64 {
    std::env::var("PDDGPU_SOAK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1u64)
        .max(1)
}

/// Errnos a call may answer while faults are armed (EIO: a copy or fill failed).
const ALLOWED: [Errno; 4] = [Errno::NOMEM, Errno::NOSPC, Errno::NODEV, Errno::IO];

/// Maps `h`, retrying while an injected fault refuses it (mapping may have to move
/// the object where the CPU sees it); the faults are transient.
fn map(f: &File, h: Handle) -> pddgpu::Mapping {
    for _ in 0..10_000 {
        match f.map(h) {
            Ok(m) => return m,
            Err(e) => assert!(ALLOWED.contains(&f.errno(&e)), "map: {e:?}"),
        }
        thread::sleep(std::time::Duration::from_micros(50));
    }
    panic!("map of {h:?} refused for 0.5 s")
}

fn read_all(f: &File, h: Handle, len: usize) -> Vec<u8> {
    let mut got = vec![0u8; len];
    map(f, h).read(0, &mut got).unwrap();
    got
}

/// One client: returns (ops, refused).
fn client(dev: &Arc<pddgpu::Device>, seed: u64, rounds: u64) -> (u64, u64) {
    let f = open(dev);
    let mut rng = Rng(seed);
    let mut live: Vec<(Handle, Vec<u8>)> = Vec::new();
    let (mut ops, mut refused) = (0, 0);
    for round in 0..rounds {
        ops += 1;
        match rng.below(4) {
            0 | 1 => {
                let size = (rng.below(16) + 1) * 16 * KIB;
                let dom = [Domains::VRAM, Domains::GTT, Domains::VRAM | Domains::GTT]
                    [rng.below(3) as usize];
                let before = f.handles();
                let req = pddgpu::uapi::GemCreate::new(size, 0, dom, CreateFlags::empty()).unwrap();
                match f.gem_create(&req) {
                    Ok(h) => {
                        let data = pattern((seed as u8) ^ (round as u8), size as usize);
                        // The mapping is dropped at once: mapped objects are not
                        // evicted, and the workload wants evictions.
                        map(&f, h).write(0, &data).unwrap();
                        live.push((h, data));
                    }
                    Err(e) => {
                        assert!(ALLOWED.contains(&f.errno(&e)), "create: {e:?}");
                        assert_eq!(f.handles(), before, "failed create left a handle");
                        refused += 1;
                    }
                }
            }
            2 if !live.is_empty() => {
                // Move: pin in the other domain (a copy), then unpin.
                let (h, _) = &live[rng.below(live.len() as u64) as usize];
                let to = if rng.below(2) == 0 {
                    Domains::VRAM
                } else {
                    Domains::GTT
                };
                let pin = GemOp {
                    handle: *h,
                    op: GemOpKind::Pin(to),
                };
                match f.gem_op(&pin) {
                    Ok(()) => f
                        .gem_op(&GemOp {
                            handle: *h,
                            op: GemOpKind::Unpin,
                        })
                        .unwrap(),
                    Err(e) => {
                        let errno = f.errno(&e);
                        assert!(ALLOWED.contains(&errno), "pin: {e:?}");
                        assert_eq!(f.gem_info(*h).unwrap().pin_count, 0);
                        refused += 1;
                    }
                }
            }
            _ if !live.is_empty() => {
                let (h, _) = live.swap_remove(rng.below(live.len() as u64) as usize);
                f.gem_close(h).unwrap();
            }
            _ => {}
        }
        // Every object still open has its exact bytes.
        if round % 8 == 0 {
            for (h, data) in &live {
                assert_eq!(&read_all(&f, *h, data.len()), data, "handle {h:?}");
            }
        }
    }
    for (h, data) in &live {
        assert_eq!(&read_all(&f, *h, data.len()), data, "handle {h:?}");
    }
    (ops, refused)
}

#[test]
fn faults_at_random_points_of_a_concurrent_workload() {
    let dev = device();
    let stop = Arc::new(AtomicBool::new(false));
    let faults = Arc::new(AtomicU64::new(0));
    let resets = Arc::new(AtomicU64::new(0));
    let injector = {
        let (dev, stop, faults) = (Arc::clone(&dev), Arc::clone(&stop), Arc::clone(&faults));
        let resets = Arc::clone(&resets);
        thread::spawn(move || {
            let mut rng = Rng(0xfa17);
            while !stop.load(Ordering::Relaxed) {
                let reset = rng.below(6) == 4;
                match rng.below(6) {
                    0 => dev.vram_mgr().set_fail_alloc_after(Some(rng.below(4))),
                    1 => dev.gtt_mgr().set_max_nodes(Some(rng.below(8) as usize)),
                    2 => dev.hw().copy_engine().fail_one_in(3, rng.next()),
                    3 => dev.set_error(),
                    _ => {}
                }
                if reset {
                    // A GPU reset at a random moment: the GART is lost until recovery.
                    dev.hw().gpu_reset();
                    resets.fetch_add(1, Ordering::Relaxed);
                }
                faults.fetch_add(1, Ordering::Relaxed);
                thread::sleep(std::time::Duration::from_micros(200 + rng.below(800)));
                dev.vram_mgr().set_fail_alloc_after(None);
                dev.gtt_mgr().set_max_nodes(None);
                dev.hw().copy_engine().fail_one_in(0, 0);
                dev.clear_error();
                if reset {
                    dev.recover().unwrap();
                }
                thread::sleep(std::time::Duration::from_micros(rng.below(500)));
            }
        })
    };
    let rounds = 200 * soak();
    let workers: Vec<_> = (0..3u64)
        .map(|t| {
            let dev = Arc::clone(&dev);
            thread::spawn(move || client(&dev, 0x5eed + t, rounds))
        })
        .collect();
    let (mut ops, mut refused) = (0, 0);
    for w in workers {
        let (o, r) = w.join().unwrap();
        ops += o;
        refused += r;
    }
    stop.store(true, Ordering::Relaxed);
    injector.join().unwrap();
    dev.delayed_delete(false);
    let s = check_device(&dev, &[]).unwrap();
    assert_eq!(s.bos, 0, "{s:?}");
    assert!(dev.leak_report().is_empty());
    println!(
        "faults: {ops} ops, {refused} refused, {} faults injected ({} GPU resets), 0 violations",
        faults.load(Ordering::Relaxed),
        resets.load(Ordering::Relaxed)
    );
}

#[test]
fn shutdown_at_a_random_moment_of_a_concurrent_workload() {
    for seed in 0..3u64 {
        let dev = device();
        let workers: Vec<_> = (0..3u64)
            .map(|t| {
                let f = open(&dev);
                thread::spawn(move || {
                    let mut rng = Rng(seed * 16 + t);
                    let mut nodev = 0u64;
                    for _ in 0..200 {
                        let size = (rng.below(8) + 1) * 16 * KIB;
                        let dom = [Domains::VRAM, Domains::GTT][rng.below(2) as usize];
                        let req = pddgpu::uapi::GemCreate::new(size, 0, dom, CreateFlags::empty())
                            .unwrap();
                        match f.gem_create(&req) {
                            Ok(h) if rng.below(2) == 0 => f.gem_close(h).unwrap(),
                            Ok(_) => {}
                            Err(e) => {
                                let errno = f.errno(&e);
                                assert!(ALLOWED.contains(&errno), "create: {e:?}");
                                nodev += u64::from(errno == Errno::NODEV);
                            }
                        }
                    }
                    // The file is closed after shutdown: frees keep working.
                    (f, nodev)
                })
            })
            .collect();
        thread::sleep(std::time::Duration::from_micros(Rng(seed).below(2000)));
        dev.shutdown();
        // From now on new files and allocations are refused with ENODEV.
        let e = File::open(&dev).unwrap_err();
        assert_eq!(e.errno_with(false), Errno::NODEV);
        let (files, nodev): (Vec<_>, Vec<u64>) =
            workers.into_iter().map(|w| w.join().unwrap()).unzip();
        println!(
            "shutdown run {seed}: {} creates refused with ENODEV",
            nodev.iter().sum::<u64>()
        );
        let refs: Vec<&File> = files.iter().collect();
        check_device(&dev, &refs).unwrap();
        drop(refs);
        drop(files);
        dev.delayed_delete(false);
        assert_eq!(check_device(&dev, &[]).unwrap().bos, 0);
        assert!(dev.leak_report().is_empty(), "{}", dev.leak_report());
    }
}
