//! Hostile clients: one that never closes anything, one that drops its file with live
//! mappings, one that reaches for other clients' objects or for stale memory. Each is
//! contained: the others keep their exact bytes, nothing leaks, no foreign byte shows.

#![allow(clippy::unwrap_used)]

mod gem_common;

use std::sync::Arc;
use std::thread;

use gem_common::*;
use pddgpu::gem::Error;
use pddgpu::invariants::{check_device, CheckSummary};
use pddgpu::uapi::{CreateFlags, Domains, Errno};

#[test]
fn a_client_that_never_closes_is_reclaimed_at_file_close() {
    let dev = device();
    let hog = open(&dev);
    let polite = open(&dev);
    // The hog takes handles in both domains and never closes one.
    for i in 0..16u64 {
        let d = if i % 2 == 0 {
            Domains::VRAM
        } else {
            Domains::GTT
        };
        create(&hog, 256 * KIB, d, CreateFlags::empty());
    }
    // A polite client still works beside it, and its bytes survive.
    let mine = create(&polite, 64 * KIB, Domains::VRAM, CreateFlags::empty());
    let data = pattern(7, 64 * 1024);
    polite.map(mine).unwrap().write(0, &data).unwrap();
    let s = check_device(&dev, &[&hog, &polite]).unwrap();
    assert_eq!((s.bos, s.handles), (17, 17));
    // The hog's file is closed (process exit): every object goes with it.
    drop(hog);
    let s = check_device(&dev, &[&polite]).unwrap();
    assert_eq!(
        (s.bos, s.handles, s.vram_bytes, s.gtt_bytes),
        (1, 1, 64 * KIB, 0)
    );
    let mut got = vec![0u8; data.len()];
    polite.map(mine).unwrap().read(0, &mut got).unwrap();
    assert_eq!(got, data);
    drop(polite);
    assert_eq!(check_device(&dev, &[]).unwrap(), CheckSummary::default());
    assert!(dev.leak_report().is_empty());
}

#[test]
fn dropping_a_file_with_live_mappings_keeps_them_valid_then_frees() {
    let dev = device();
    let f = open(&dev);
    let a = create(&f, 32 * KIB, Domains::VRAM, CreateFlags::empty());
    let b = create(&f, 32 * KIB, Domains::GTT, CreateFlags::empty());
    let ma = f.map(a).unwrap();
    let mb = f.map(b).unwrap();
    ma.write(0, &pattern(1, 32 * 1024)).unwrap();
    mb.write(0, &pattern(2, 32 * 1024)).unwrap();
    drop(f);
    // The mappings keep their objects (as a VMA keeps its GEM object): still readable.
    let s = check_device(&dev, &[]).unwrap();
    assert_eq!((s.bos, s.handles), (2, 0));
    let mut got = vec![0u8; 32 * 1024];
    ma.read(0, &mut got).unwrap();
    assert_eq!(got, pattern(1, 32 * 1024));
    mb.read(0, &mut got).unwrap();
    assert_eq!(got, pattern(2, 32 * 1024));
    drop(ma);
    assert_eq!(check_device(&dev, &[]).unwrap().bos, 1);
    drop(mb);
    assert_eq!(check_device(&dev, &[]).unwrap(), CheckSummary::default());
    assert!(dev.leak_report().is_empty());
}

#[test]
fn files_dropped_mid_run_by_threads_leave_nothing() {
    let dev = device();
    let survivor = open(&dev);
    let kept = create(&survivor, 128 * KIB, Domains::GTT, CreateFlags::empty());
    let data = pattern(9, 128 * 1024);
    survivor.map(kept).unwrap().write(0, &data).unwrap();
    let workers: Vec<_> = (0..4u8)
        .map(|t| {
            let dev = Arc::clone(&dev);
            thread::spawn(move || {
                for round in 0..8u8 {
                    let f = open(&dev);
                    let mut maps = Vec::new();
                    for i in 0..4u64 {
                        let d = if (i + u64::from(t)) % 2 == 0 {
                            Domains::VRAM
                        } else {
                            Domains::GTT
                        };
                        let hd = create(&f, (i + 1) * 16 * KIB, d, CreateFlags::empty());
                        let m = f.map(hd).unwrap();
                        m.write(0, &pattern(t ^ round, 4096)).unwrap();
                        maps.push(m);
                    }
                    // Half the time the file goes first, with the maps still live.
                    if round % 2 == 0 {
                        drop(f);
                        drop(maps);
                    } else {
                        drop(maps);
                        drop(f);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let s = check_device(&dev, &[&survivor]).unwrap();
    assert_eq!(
        (s.bos, s.handles, s.gtt_bytes, s.vram_bytes),
        (1, 1, 128 * KIB, 0)
    );
    let mut got = vec![0u8; data.len()];
    survivor.map(kept).unwrap().read(0, &mut got).unwrap();
    assert_eq!(got, data);
}

#[test]
fn another_clients_objects_are_out_of_reach() {
    let dev = device();
    let victim = open(&dev);
    let attacker = open(&dev);
    let secret = create(&victim, 16 * KIB, Domains::VRAM, CreateFlags::empty());
    victim
        .map(secret)
        .unwrap()
        .write(0, &pattern(0x5a, 16 * 1024))
        .unwrap();
    let offset = victim.gem_mmap(secret).unwrap();
    // Same handle number, different file: nothing there.
    for e in [
        attacker.gem_info(secret).unwrap_err(),
        attacker.map(secret).unwrap_err(),
        attacker.gem_close(secret).unwrap_err(),
        attacker.gem_mmap(secret).unwrap_err(),
    ] {
        assert!(matches!(e, Error::NoEntry { handle: 1 }), "{e:?}");
        assert_eq!(attacker.errno(&e), Errno::NOENT);
    }
    // The victim's fake offset means nothing in the attacker's file.
    let e = attacker.map_offset(offset, 4096).unwrap_err();
    assert_eq!(attacker.errno(&e), Errno::INVAL, "{e:?}");
    // The attacker's own handle 1 is its own object, zero-filled.
    let own = create(&attacker, 16 * KIB, Domains::VRAM, CreateFlags::empty());
    assert_eq!(own.get(), 1);
    let mut got = vec![0xffu8; 16 * 1024];
    attacker.map(own).unwrap().read(0, &mut got).unwrap();
    assert!(got.iter().all(|&x| x == 0));
    // The victim is untouched.
    victim.map(secret).unwrap().read(0, &mut got).unwrap();
    assert_eq!(got, pattern(0x5a, 16 * 1024));
    check_device(&dev, &[&victim, &attacker]).unwrap();
}

#[test]
fn freed_memory_is_never_visible_to_the_next_owner() {
    for domain in [Domains::VRAM, Domains::GTT] {
        let dev = device();
        let victim = open(&dev);
        let attacker = open(&dev);
        // Fill most of the domain with secrets, then free them all.
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let hd = create(&victim, MIB, domain, CreateFlags::empty());
                victim
                    .map(hd)
                    .unwrap()
                    .write(0, &vec![0xa0 | i as u8; MIB as usize])
                    .unwrap();
                hd
            })
            .collect();
        for hd in handles {
            victim.gem_close(hd).unwrap();
        }
        // Whatever the attacker now gets is the same memory, and it reads zeros.
        for _ in 0..32 {
            let hd = create(&attacker, MIB, domain, CreateFlags::empty());
            let mut got = vec![0xffu8; MIB as usize];
            attacker.map(hd).unwrap().read(0, &mut got).unwrap();
            assert!(
                got.iter().all(|&x| x == 0),
                "{domain:?}: stale byte visible"
            );
        }
        check_device(&dev, &[&victim, &attacker]).unwrap();
    }
}
