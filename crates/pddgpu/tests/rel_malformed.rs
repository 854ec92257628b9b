//! The malformed-ioctl corpus: every field at 0, at its maximum, off by one; wrong,
//! freed and foreign handles; overflowing sizes and alignments; bad request codes.
//! Each case asserts its exact errno, that nothing was copied back, and that no
//! state changed (usage, live BOs, both files' handle tables, the invariant summary).

#![allow(clippy::unwrap_used)]

mod gem_common;

use gem_common::*;
use pddgpu::gem::File;
use pddgpu::invariants::{check_device, CheckSummary};
use pddgpu::uapi::abi::*;
use pddgpu::uapi::ioctl::*;
use pddgpu::uapi::{AbiBytes, CreateFlags, Domains, Errno, GemCreate};

fn bytes<T: AbiBytes>(arg: &T) -> Vec<u8> {
    let mut b = vec![0u8; T::SIZE];
    arg.write_prefix(&mut b);
    b
}

fn create(size: u64, alignment: u64, domain: u32, flags: u64) -> Vec<u8> {
    bytes(&drm_pddgpu_gem_create {
        size,
        alignment,
        domain,
        flags,
        handle: 0xdead,
    })
}

fn close(handle: u32, pad: u32) -> Vec<u8> {
    bytes(&drm_gem_close { handle, pad })
}

fn info(handle: u32, pad: u32) -> Vec<u8> {
    bytes(&drm_pddgpu_gem_info {
        handle,
        pad,
        size: 0xdead,
        ..Default::default()
    })
}

fn mmap(handle: u32, pad: u32) -> Vec<u8> {
    bytes(&drm_pddgpu_gem_mmap {
        handle,
        pad,
        offset: 0xdead,
    })
}

fn op(handle: u32, op: u32, value: u64) -> Vec<u8> {
    bytes(&drm_pddgpu_gem_op { handle, op, value })
}

fn query(query: u32, pad: u32) -> Vec<u8> {
    bytes(&drm_pddgpu_info {
        query,
        pad,
        ..Default::default()
    })
}

type Snapshot = (
    (u64, u64),
    usize,
    Vec<u32>,
    Vec<u32>,
    CheckSummary,
    Vec<(u32, u32, u32)>,
);

fn snapshot(dev: &pddgpu::Device, f: &File, g: &File) -> Snapshot {
    let pins = f
        .handles()
        .iter()
        .map(|&hd| {
            let i = f.gem_info(hd).unwrap();
            (hd.get(), i.pin_count, i.preferred_domains.bits())
        })
        .collect();
    (
        usage(dev),
        dev.live_bos(),
        f.handles().iter().map(|h| h.get()).collect(),
        g.handles().iter().map(|h| h.get()).collect(),
        check_device(dev, &[f, g]).unwrap(),
        pins,
    )
}

#[test]
fn corpus_of_malformed_ioctls() {
    let dev = device();
    let f = open(&dev);
    let g = open(&dev);
    // f: handle 1 (VRAM), handle 2 (GTT), handle 3 closed (freed). g: handles 1..=4.
    let vram = gem_common::create(&f, 64 * KIB, Domains::VRAM, CreateFlags::empty());
    let gtt = gem_common::create(&f, 16 * KIB, Domains::GTT, CreateFlags::empty());
    let freed = gem_common::create(&f, 4 * KIB, Domains::GTT, CreateFlags::empty());
    f.gem_close(freed).unwrap();
    for _ in 0..4 {
        gem_common::create(&g, 4 * KIB, Domains::GTT, CreateFlags::empty());
    }
    let (v, t) = (vram.get(), gtt.get());
    let fr = freed.get();
    let foreign = 4; // live in g only
    let next = 4; // the next handle f would hand out
    assert_eq!((v, t, fr), (1, 2, 3));
    let d_vram = u64::from(PDDGPU_GEM_DOMAIN_VRAM);
    let vd = PDDGPU_GEM_DOMAIN_VRAM;

    let c = DRM_IOCTL_PDDGPU_GEM_CREATE;
    let cl = DRM_IOCTL_GEM_CLOSE;
    let i = DRM_IOCTL_PDDGPU_GEM_INFO;
    let m = DRM_IOCTL_PDDGPU_GEM_MMAP;
    let o = DRM_IOCTL_PDDGPU_GEM_OP;
    let q = DRM_IOCTL_PDDGPU_INFO;
    let (inval, noent) = (Errno::INVAL, Errno::NOENT);
    let cases: Vec<(&str, u32, Vec<u8>, Errno)> = vec![
        // GEM_CREATE: size.
        ("create size 0", c, create(0, 0, vd, 0), inval),
        ("create size max", c, create(u64::MAX, 0, vd, 0), inval),
        (
            "create size rounds past max",
            c,
            create(u64::MAX - 10, 0, vd, 0),
            inval,
        ),
        (
            "create size VRAM + 1 page",
            c,
            create(64 * MIB + 4096, 0, vd, 0),
            inval,
        ),
        ("create size 1 << 63", c, create(1 << 63, 0, vd, 0), inval),
        // GEM_CREATE: alignment.
        (
            "create alignment max",
            c,
            create(4096, u64::MAX, vd, 0),
            inval,
        ),
        (
            "create alignment page + 1",
            c,
            create(4096, 4097, vd, 0),
            inval,
        ),
        (
            "create alignment page - 1",
            c,
            create(4096, 4095, vd, 0),
            inval,
        ),
        ("create alignment 3", c, create(4096, 3, vd, 0), inval),
        (
            "create alignment 3 pages",
            c,
            create(4096, 3 * 4096, vd, 0),
            inval,
        ),
        // GEM_CREATE: domain.
        ("create domain 0", c, create(4096, 0, 0, 0), inval),
        ("create domain max", c, create(4096, 0, u32::MAX, 0), inval),
        ("create domain next bit", c, create(4096, 0, 0x10, 0), inval),
        (
            "create domain top bit",
            c,
            create(4096, 0, 1 << 31, 0),
            inval,
        ),
        (
            "create domain VRAM|unknown",
            c,
            create(4096, 0, vd | 0x8, 0),
            inval,
        ),
        // GEM_CREATE: flags.
        ("create flags max", c, create(4096, 0, vd, u64::MAX), inval),
        (
            "create flags top bit",
            c,
            create(4096, 0, vd, 1 << 63),
            inval,
        ),
        (
            "create flags bit 40",
            c,
            create(4096, 0, vd, 1 << 40),
            inval,
        ),
        ("create flags bit 2", c, create(4096, 0, vd, 1 << 2), inval),
        (
            "create flags CPU conflict",
            c,
            create(4096, 0, vd, 0x3),
            inval,
        ),
        // GEM_CLOSE.
        ("close handle 0", cl, close(0, 0), noent),
        ("close handle max", cl, close(u32::MAX, 0), noent),
        ("close freed handle", cl, close(fr, 0), noent),
        ("close next handle", cl, close(next, 0), noent),
        ("close foreign handle", cl, close(foreign, 0), noent),
        ("close pad 1", cl, close(v, 1), inval),
        ("close pad max", cl, close(v, u32::MAX), inval),
        // GEM_INFO.
        ("info handle 0", i, info(0, 0), noent),
        ("info handle max", i, info(u32::MAX, 0), noent),
        ("info freed handle", i, info(fr, 0), noent),
        ("info next handle", i, info(next, 0), noent),
        ("info foreign handle", i, info(foreign, 0), noent),
        ("info pad 1", i, info(v, 1), inval),
        ("info pad max", i, info(t, u32::MAX), inval),
        // GEM_MMAP.
        ("mmap handle 0", m, mmap(0, 0), noent),
        ("mmap handle max", m, mmap(u32::MAX, 0), noent),
        ("mmap freed handle", m, mmap(fr, 0), noent),
        ("mmap next handle", m, mmap(next, 0), noent),
        ("mmap foreign handle", m, mmap(foreign, 0), noent),
        ("mmap pad 1", m, mmap(v, 1), inval),
        ("mmap pad max", m, mmap(t, u32::MAX), inval),
        // GEM_OP.
        ("op handle 0", o, op(0, PDDGPU_GEM_OP_PIN, d_vram), noent),
        (
            "op handle max",
            o,
            op(u32::MAX, PDDGPU_GEM_OP_PIN, d_vram),
            noent,
        ),
        (
            "op freed handle",
            o,
            op(fr, PDDGPU_GEM_OP_PIN, d_vram),
            noent,
        ),
        (
            "op foreign handle",
            o,
            op(foreign, PDDGPU_GEM_OP_PIN, d_vram),
            noent,
        ),
        ("op next handle", o, op(next, PDDGPU_GEM_OP_UNPIN, 0), noent),
        ("op 0", o, op(v, 0, d_vram), inval),
        (
            "op one past UNPIN",
            o,
            op(v, PDDGPU_GEM_OP_UNPIN + 1, 0),
            inval,
        ),
        ("op max", o, op(v, u32::MAX, 0), inval),
        ("op pin domain 0", o, op(v, PDDGPU_GEM_OP_PIN, 0), inval),
        (
            "op pin domain max",
            o,
            op(v, PDDGPU_GEM_OP_PIN, u64::MAX),
            inval,
        ),
        (
            "op pin domain past u32",
            o,
            op(v, PDDGPU_GEM_OP_PIN, 1 << 32 | d_vram),
            inval,
        ),
        (
            "op set preferred 0",
            o,
            op(v, PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN, 0),
            inval,
        ),
        (
            "op set preferred unknown",
            o,
            op(t, PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN, 0x10),
            inval,
        ),
        ("op unpin value 1", o, op(v, PDDGPU_GEM_OP_UNPIN, 1), inval),
        (
            "op unpin not pinned",
            o,
            op(v, PDDGPU_GEM_OP_UNPIN, 0),
            inval,
        ),
        // INFO.
        ("info query 0", q, query(0, 0), inval),
        (
            "info query one past MEMORY",
            q,
            query(PDDGPU_INFO_MEMORY + 1, 0),
            inval,
        ),
        ("info query max", q, query(u32::MAX, 0), inval),
        ("info pad 1", q, query(PDDGPU_INFO_MEMORY, 1), inval),
        // Request codes.
        (
            "unknown driver nr",
            drm_iowr::<drm_pddgpu_gem_op>(DRM_COMMAND_BASE + 0x20),
            op(v, 0, 0),
            inval,
        ),
        ("not a DRM ioctl", 0x5401, op(v, 0, 0), Errno::NOTTY),
        (
            "op set preferred max",
            o,
            op(t, PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN, u64::MAX),
            inval,
        ),
        (
            "create VRAM+GTT bigger than both",
            c,
            create(129 * MIB, 0, vd | PDDGPU_GEM_DOMAIN_GTT, 0),
            inval,
        ),
    ];
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let before = snapshot(&dev, &f, &g);
    for (what, req, arg, errno) in &cases {
        let mut buf = arg.clone();
        let r = f.ioctl(u64::from(*req), &mut buf);
        assert_eq!(r, Err(*errno), "{what}");
        assert_eq!(&buf, arg, "{what}: nothing copied back");
        assert_eq!(snapshot(&dev, &f, &g), before, "{what}");
    }
    // Short argument buffers: the copy-in faults before anything is decoded.
    for req in [c, cl, i, m, o, q] {
        let mut short = vec![0u8; 4];
        assert_eq!(
            f.ioctl(u64::from(req), &mut short),
            Err(Errno::FAULT),
            "{req:#x}"
        );
        assert_eq!(short, vec![0u8; 4]);
    }
    assert_eq!(snapshot(&dev, &f, &g), before);
    // The next good create takes handle 4: failures consumed no handle.
    let mut ok = create(4096, 0, vd, 0);
    f.ioctl(u64::from(c), &mut ok).unwrap();
    assert_eq!(drm_pddgpu_gem_create::read_prefix(&ok).handle, next);
    check_device(&dev, &[&f, &g]).unwrap();
}

/// An alignment far above the object (up to `1 << 63`) is not malformed: offset 0 is
/// aligned to every power of two, so it is the one slot such an object can take, and
/// pddgpu honours it there instead of silently dropping it. A second such object evicts
/// the first; a plain object goes elsewhere.
#[test]
fn huge_alignments_are_accepted_and_honoured_at_offset_zero() {
    let dev = device();
    let f = open(&dev);
    let huge = |align| {
        let req = GemCreate::new(4096, align, Domains::VRAM, CreateFlags::empty()).unwrap();
        f.gem_create(&req).unwrap()
    };
    let a = huge(1 << 63);
    let info = f.gem_info(a).unwrap();
    assert_eq!(
        (info.alignment, info.gpu_offset, info.domain),
        (1 << 63, Some(0), Domains::VRAM)
    );
    assert_eq!(usage(&dev), (4096, 0));

    // 1 TiB alignment on a 64 MiB VRAM: offset 0 again, so `a` is evicted to GTT.
    let b = huge(1 << 40);
    assert_eq!(f.gem_info(b).unwrap().gpu_offset, Some(0));
    assert_eq!(f.gem_info(a).unwrap().domain, Domains::GTT);
    assert_eq!(usage(&dev), (4096, 4096));

    // A plain page is not pushed out of VRAM by, nor placed over, the aligned object.
    let c = f
        .gem_create(&GemCreate::new(4096, 0, Domains::VRAM, CreateFlags::empty()).unwrap())
        .unwrap();
    let c_offset = f.gem_info(c).unwrap().gpu_offset.unwrap();
    assert_ne!(c_offset, 0);
    assert_eq!(f.gem_info(b).unwrap().gpu_offset, Some(0));
    assert_eq!(usage(&dev), (8192, 4096));

    // In GTT the alignment is kept for the GART range once one is needed.
    let g = f
        .gem_create(&GemCreate::new(4096, 1 << 63, Domains::GTT, CreateFlags::empty()).unwrap())
        .unwrap();
    assert_eq!(f.gem_info(g).unwrap().domain, Domains::GTT);
    check_device(&dev, &[&f]).unwrap();

    for h in [a, b, c, g] {
        f.gem_close(h).unwrap();
    }
    assert_eq!(usage(&dev), (0, 0));
    check_device(&dev, &[&f]).unwrap();
}
