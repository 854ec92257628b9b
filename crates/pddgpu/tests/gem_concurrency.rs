//! Several clients on real threads creating, mapping, writing, verifying, sharing and
//! closing objects at once; at the end nothing is left and every invariant holds.

#![allow(clippy::unwrap_used)]

mod gem_common;

use std::sync::{Arc, Barrier};
use std::thread;

use gem_common::*;
use pddgpu::uapi::{CreateFlags, Domains};

#[test]
fn clients_on_threads_create_map_verify_close() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 40;
    let dev = device();
    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let dev = Arc::clone(&dev);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let f = open(&dev);
                barrier.wait();
                let mut live = Vec::new();
                for r in 0..ROUNDS {
                    let size = ((r % 5) as u64 + 1) * 64 * KIB;
                    let domains = match (t + r) % 3 {
                        0 => Domains::VRAM,
                        1 => Domains::GTT,
                        _ => Domains::VRAM | Domains::GTT,
                    };
                    let hd = create(&f, size, domains, CreateFlags::empty());
                    let data = pattern((t * 31 + r) as u8, size as usize);
                    f.map(hd).unwrap().write(0, &data).unwrap();
                    live.push((hd, data));
                    if live.len() > 4 {
                        let (old, want) = live.remove(0);
                        let mut got = vec![0u8; want.len()];
                        f.map(old).unwrap().read(0, &mut got).unwrap();
                        assert_eq!(got, want, "thread {t} round {r}");
                        f.gem_close(old).unwrap();
                    }
                    f.check().unwrap();
                }
                for (hd, want) in &live {
                    let mut got = vec![0u8; want.len()];
                    f.map(*hd).unwrap().read(0, &mut got).unwrap();
                    assert_eq!(&got, want);
                }
                // Hand one object to the next thread's world through an export.
                let shared = f.export(live[0].0).unwrap();
                (f, shared)
            })
        })
        .collect();
    let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(dev.live_bos(), THREADS * 4, "four live objects per client");
    let (files, shared): (Vec<_>, Vec<_>) = results.into_iter().unzip();
    drop(files);
    assert_eq!(dev.live_bos(), THREADS, "exports keep their objects");
    let g = open(&dev);
    for buf in &shared {
        g.import(buf).unwrap();
    }
    drop(shared);
    assert_eq!(g.handle_count(), THREADS);
    drop(g);
    assert_eq!(usage(&dev), (0, 0));
    assert!(dev.leak_report().is_empty());
    dev.check().unwrap();
}
