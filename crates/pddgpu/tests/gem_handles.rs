//! Handle lifetimes, per-file handle spaces, refcounting through export/import and
//! mappings, and file teardown.

#![allow(clippy::unwrap_used)]

mod gem_common;

use gem_common::*;
use pddgpu::gem::Error;
use pddgpu::uapi::{CreateFlags, Domains, Errno};

#[test]
fn handles_start_at_one_and_are_never_reused() {
    let dev = device();
    let f = open(&dev);
    let a = create(&f, 4 * KIB, Domains::VRAM, CreateFlags::empty());
    let b = create(&f, 8 * KIB, Domains::GTT, CreateFlags::empty());
    assert_eq!((a.get(), b.get()), (1, 2));
    f.gem_close(a).unwrap();
    let c = create(&f, 4 * KIB, Domains::VRAM, CreateFlags::empty());
    assert_eq!(c.get(), 3, "a closed handle value is not handed out again");
    assert_eq!(f.handles(), vec![h(2), h(3)]);
    // Stale: closed handle 1 names nothing.
    let e = f.gem_info(a).unwrap_err();
    assert!(matches!(e, Error::NoEntry { handle: 1 }), "{e:?}");
    assert_eq!(f.errno(&e), Errno::NOENT);
    assert!(matches!(f.gem_close(a), Err(Error::NoEntry { handle: 1 })));
    f.check().unwrap();
    dev.check().unwrap();
}

#[test]
fn handles_are_per_file() {
    let dev = device();
    let f1 = open(&dev);
    let f2 = open(&dev);
    let a = create(&f1, 4 * KIB, Domains::VRAM, CreateFlags::empty());
    let b = create(&f2, 12 * KIB, Domains::GTT, CreateFlags::empty());
    assert_eq!((a.get(), b.get()), (1, 1));
    assert_eq!(f1.gem_info(a).unwrap().size, 4 * KIB);
    assert_eq!(f2.gem_info(b).unwrap().size, 12 * KIB);
    let c = create(&f2, 4 * KIB, Domains::GTT, CreateFlags::empty());
    assert!(matches!(f1.gem_info(c), Err(Error::NoEntry { handle: 2 })));
    assert!(matches!(f1.gem_close(c), Err(Error::NoEntry { handle: 2 })));
    assert!(matches!(f1.map(c), Err(Error::NoEntry { handle: 2 })));
    assert_eq!(f2.handle_count(), 2);
}

#[test]
fn dropping_a_file_releases_everything() {
    let dev = device();
    let keep = open(&dev);
    let kept = create(&keep, 64 * KIB, Domains::VRAM, CreateFlags::empty());
    let f = open(&dev);
    for i in 0..8 {
        let d = if i % 2 == 0 {
            Domains::VRAM
        } else {
            Domains::GTT
        };
        create(&f, (i + 1) * 4 * KIB, d, CreateFlags::empty());
    }
    let off = f.gem_mmap(h(1)).unwrap();
    assert_eq!(dev.live_bos(), 9);
    drop(f);
    assert_eq!(dev.live_bos(), 1);
    assert_eq!(usage(&dev), (64 * KIB, 0));
    assert!(off >= pddgpu::gem::MMAP_OFFSET_START);
    keep.gem_close(kept).unwrap();
    assert_eq!(usage(&dev), (0, 0));
    assert!(dev.leak_report().is_empty());
    dev.check().unwrap();
}

#[test]
fn export_import_refcounts_the_object() {
    let dev = device();
    let a = open(&dev);
    let b = open(&dev);
    let ha = create(&a, 128 * KIB, Domains::VRAM, CreateFlags::empty());
    a.map(ha).unwrap().write(0, b"shared").unwrap();
    let buf = a.export(ha).unwrap();
    assert_eq!(buf.size(), 128 * KIB);
    a.gem_close(ha).unwrap();
    // The export keeps it alive.
    assert_eq!(usage(&dev).0, 128 * KIB);
    let _filler = create(&b, 4 * KIB, Domains::GTT, CreateFlags::empty());
    let hb = b.import(&buf).unwrap();
    assert_eq!(hb.get(), 2);
    // Importing the same object again gives the same handle.
    assert_eq!(b.import(&buf).unwrap(), hb);
    drop(buf);
    assert_eq!(usage(&dev).0, 128 * KIB);
    let mut got = [0u8; 6];
    b.map(hb).unwrap().read(0, &mut got).unwrap();
    assert_eq!(&got, b"shared");
    // The import into a's file is a new handle there (its old one is stale).
    let buf = b.export(hb).unwrap();
    let ha2 = a.import(&buf).unwrap();
    assert_eq!(ha2.get(), 2);
    drop(buf);
    b.gem_close(hb).unwrap();
    assert_eq!(usage(&dev).0, 128 * KIB);
    a.gem_close(ha2).unwrap();
    assert_eq!(usage(&dev).0, 0, "freed with the last reference");
    a.check().unwrap();
    b.check().unwrap();
    dev.check().unwrap();
}

#[test]
fn import_from_another_device_is_einval() {
    let d1 = device();
    let d2 = device();
    let f1 = open(&d1);
    let f2 = open(&d2);
    let hd = create(&f1, 4 * KIB, Domains::GTT, CreateFlags::empty());
    let buf = f1.export(hd).unwrap();
    let e = f2.import(&buf).unwrap_err();
    assert!(matches!(e, Error::ForeignDevice));
    assert_eq!(f2.errno(&e), Errno::INVAL);
    assert_eq!(f2.handle_count(), 0);
}

#[test]
fn a_mapping_keeps_the_object_alive() {
    let dev = device();
    let f = open(&dev);
    let hd = create(&f, 64 * KIB, Domains::GTT, CreateFlags::empty());
    let m = f.map(hd).unwrap();
    m.write(100, b"abc").unwrap();
    f.gem_close(hd).unwrap();
    drop(f);
    assert_eq!(usage(&dev).1, 64 * KIB);
    let mut got = [0u8; 3];
    m.read(100, &mut got).unwrap();
    assert_eq!(&got, b"abc");
    assert_eq!(m.object().map_count(), 1);
    drop(m);
    assert_eq!(usage(&dev), (0, 0));
    assert_eq!(dev.live_bos(), 0);
}

#[test]
fn mmap_offsets_are_per_object_and_revoked_on_close() {
    let dev = device();
    let f = open(&dev);
    let a = create(&f, 8 * KIB, Domains::GTT, CreateFlags::empty());
    let b = create(&f, 4 * KIB, Domains::GTT, CreateFlags::empty());
    let oa = f.gem_mmap(a).unwrap();
    let ob = f.gem_mmap(b).unwrap();
    assert_eq!(oa, pddgpu::gem::MMAP_OFFSET_START);
    assert_eq!(ob, oa + 8 * KIB);
    assert_eq!(f.gem_mmap(a).unwrap(), oa);
    f.map_offset(oa + 4 * KIB, 4 * KIB)
        .unwrap()
        .write(0, b"x")
        .unwrap();
    let mut got = [0u8; 1];
    f.map(a).unwrap().read(4 * KIB, &mut got).unwrap();
    assert_eq!(&got, b"x");
    assert!(matches!(
        f.map_offset(oa, 12 * KIB),
        Err(Error::BadMmapRange { .. })
    ));
    assert!(matches!(
        f.map_offset(oa + 1, 4 * KIB),
        Err(Error::BadMmapRange { .. })
    ));
    assert!(matches!(
        f.map_offset(ob, 0),
        Err(Error::BadMmapRange { .. })
    ));
    f.gem_close(a).unwrap();
    assert!(matches!(
        f.map_offset(oa, 4 * KIB),
        Err(Error::BadMmapRange { .. })
    ));
    f.check().unwrap();
    // Another file does not see this file's offsets.
    let g = open(&dev);
    assert!(matches!(
        g.map_offset(ob, 4 * KIB),
        Err(Error::BadMmapRange { .. })
    ));
}

#[test]
fn shutdown_refuses_new_files_and_objects_but_close_works() {
    let dev = device();
    let f = open(&dev);
    let hd = create(&f, 64 * KIB, Domains::GTT, CreateFlags::empty());
    let report = dev.shutdown();
    assert_eq!(report.bos.len(), 1);
    let e = pddgpu::gem::open(&dev).unwrap_err();
    assert_eq!(f.errno(&e), Errno::NODEV);
    let req = pddgpu::uapi::GemCreate::new(4096, 0, Domains::GTT, CreateFlags::empty()).unwrap();
    let e = f.gem_create(&req).unwrap_err();
    assert_eq!(f.errno(&e), Errno::NODEV);
    assert_eq!(f.handles(), vec![hd]);
    f.gem_close(hd).unwrap();
    assert!(dev.leak_report().is_empty());
    assert_eq!(usage(&dev), (0, 0));
}
