//! The ioctl dispatcher: every malformed input gets its errno and changes nothing;
//! the DRM copy rules; replies written back exactly.

#![allow(clippy::unwrap_used)]

mod gem_common;

use gem_common::*;
use pddgpu::gem::File;
use pddgpu::uapi::abi::*;
use pddgpu::uapi::ioctl::*;
use pddgpu::uapi::{AbiBytes, CreateFlags, Domains, Errno};

fn ioctl<T: AbiBytes>(f: &File, req: u32, arg: &mut T) -> Result<(), Errno> {
    let mut bytes = vec![0u8; T::SIZE];
    arg.write_prefix(&mut bytes);
    let r = f.ioctl(u64::from(req), &mut bytes);
    *arg = T::read_prefix(&bytes);
    r
}

fn gem_create(size: u64, alignment: u64, domain: u32, flags: u64) -> drm_pddgpu_gem_create {
    drm_pddgpu_gem_create {
        size,
        alignment,
        domain,
        flags,
        handle: 0xdead,
    }
}

/// The observable state a failed ioctl must not change.
fn state(dev: &pddgpu::Device, f: &File) -> ((u64, u64), usize, usize, Vec<u32>) {
    (
        usage(dev),
        dev.live_bos(),
        f.handle_count(),
        f.handles().iter().map(|h| h.get()).collect(),
    )
}

#[test]
fn malformed_creates_are_einval_and_change_nothing() {
    let dev = device();
    let f = open(&dev);
    create(&f, 4 * KIB, Domains::GTT, CreateFlags::empty());
    let before = state(&dev, &f);
    let v = PDDGPU_GEM_DOMAIN_VRAM;
    let cases = [
        ("size 0", gem_create(0, 0, v, 0)),
        ("unknown flag", gem_create(4096, 0, v, 1 << 40)),
        ("unknown flag bit 2", gem_create(4096, 0, v, 1 << 2)),
        ("conflicting CPU flags", gem_create(4096, 0, v, 0x3)),
        ("size overflow", gem_create(u64::MAX - 10, 0, v, 0)),
        ("larger than VRAM", gem_create(65 * MIB, 0, v, 0)),
        ("larger than GTT and VRAM", gem_create(65 * MIB, 0, 0x6, 0)),
        ("alignment 3 pages", gem_create(4096, 3 * 4096, v, 0)),
        ("alignment 6", gem_create(4096, 6, v, 0)),
        ("empty domain", gem_create(4096, 0, 0, 0)),
        ("unknown domain", gem_create(4096, 0, 0x10, 0)),
    ];
    for (what, mut arg) in cases {
        let r = ioctl(&f, DRM_IOCTL_PDDGPU_GEM_CREATE, &mut arg);
        assert_eq!(r, Err(Errno::INVAL), "{what}");
        assert_eq!(arg.handle, 0xdead, "{what}: nothing copied back");
        assert_eq!(state(&dev, &f), before, "{what}");
    }
    // The next good create takes the next handle: failures used none.
    let mut ok = gem_create(4096, 0, v, 0);
    ioctl(&f, DRM_IOCTL_PDDGPU_GEM_CREATE, &mut ok).unwrap();
    assert_eq!(ok.handle, 2);
    f.check().unwrap();
    dev.check().unwrap();
}

#[test]
fn handle_errors() {
    let dev = device();
    let f = open(&dev);
    let g = open(&dev);
    create(&g, 4 * KIB, Domains::GTT, CreateFlags::empty());
    let before = state(&dev, &f);
    for handle in [0, 1, 7, u32::MAX] {
        let mut c = drm_gem_close { handle, pad: 0 };
        assert_eq!(ioctl(&f, DRM_IOCTL_GEM_CLOSE, &mut c), Err(Errno::NOENT));
        let mut i = drm_pddgpu_gem_info {
            handle,
            ..Default::default()
        };
        assert_eq!(
            ioctl(&f, DRM_IOCTL_PDDGPU_GEM_INFO, &mut i),
            Err(Errno::NOENT)
        );
        assert_eq!(i.size, 0);
        let mut m = drm_pddgpu_gem_mmap {
            handle,
            ..Default::default()
        };
        assert_eq!(
            ioctl(&f, DRM_IOCTL_PDDGPU_GEM_MMAP, &mut m),
            Err(Errno::NOENT)
        );
        let mut op = drm_pddgpu_gem_op {
            handle,
            op: PDDGPU_GEM_OP_PIN,
            value: 0x4,
        };
        assert_eq!(
            ioctl(&f, DRM_IOCTL_PDDGPU_GEM_OP, &mut op),
            Err(Errno::NOENT)
        );
    }
    assert_eq!(state(&dev, &f), before);
    assert_eq!(g.handle_count(), 1);
}

#[test]
fn op_info_and_request_errors() {
    let dev = device();
    let f = open(&dev);
    let hd = create(&f, 4 * KIB, Domains::VRAM, CreateFlags::empty());
    let before = state(&dev, &f);
    let bad_ops = [
        drm_pddgpu_gem_op {
            handle: 1,
            op: 0,
            value: 0,
        },
        drm_pddgpu_gem_op {
            handle: 1,
            op: 9,
            value: 0,
        },
        drm_pddgpu_gem_op {
            handle: 1,
            op: PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN,
            value: 0,
        },
        drm_pddgpu_gem_op {
            handle: 1,
            op: PDDGPU_GEM_OP_PIN,
            value: 0x8,
        },
        drm_pddgpu_gem_op {
            handle: 1,
            op: PDDGPU_GEM_OP_UNPIN,
            value: 1,
        },
        // Not pinned by GEM_OP.
        drm_pddgpu_gem_op {
            handle: 1,
            op: PDDGPU_GEM_OP_UNPIN,
            value: 0,
        },
    ];
    for mut op in bad_ops {
        assert_eq!(
            ioctl(&f, DRM_IOCTL_PDDGPU_GEM_OP, &mut op),
            Err(Errno::INVAL),
            "{op:?}"
        );
    }
    let mut q = drm_pddgpu_info {
        query: 7,
        ..Default::default()
    };
    assert_eq!(ioctl(&f, DRM_IOCTL_PDDGPU_INFO, &mut q), Err(Errno::INVAL));
    let mut q = drm_pddgpu_info {
        query: PDDGPU_INFO_MEMORY,
        pad: 1,
        ..Default::default()
    };
    assert_eq!(ioctl(&f, DRM_IOCTL_PDDGPU_INFO, &mut q), Err(Errno::INVAL));
    let mut m = drm_pddgpu_gem_mmap {
        handle: 1,
        pad: 3,
        offset: 0,
    };
    assert_eq!(
        ioctl(&f, DRM_IOCTL_PDDGPU_GEM_MMAP, &mut m),
        Err(Errno::INVAL)
    );
    // Request codes: an unknown DRM number, a non-DRM request, a short buffer.
    let mut buf = [0u8; 64];
    let unknown = drm_iowr::<drm_pddgpu_gem_op>(DRM_COMMAND_BASE + 0x20);
    assert_eq!(f.ioctl(u64::from(unknown), &mut buf), Err(Errno::INVAL));
    assert_eq!(f.ioctl(0x5401, &mut buf), Err(Errno::NOTTY));
    assert_eq!(
        f.ioctl(u64::from(DRM_IOCTL_PDDGPU_GEM_INFO), &mut buf[..8]),
        Err(Errno::FAULT)
    );
    assert_eq!(buf, [0u8; 64]);
    assert_eq!(state(&dev, &f), before);
    // A request sign-extended from a C int decodes like the 32-bit code.
    let mut i = [0u8; 56];
    drm_pddgpu_gem_info {
        handle: hd.get(),
        ..Default::default()
    }
    .write_prefix(&mut i);
    let sext = u64::from(DRM_IOCTL_PDDGPU_GEM_INFO) | 0xffff_ffff_0000_0000;
    f.ioctl(sext, &mut i).unwrap();
    assert_eq!(drm_pddgpu_gem_info::read_prefix(&i).size, 4 * KIB);
}

#[test]
fn no_space_is_enomem_unless_propagated() {
    for (propagate, errno) in [(false, Errno::NOMEM), (true, Errno::NOSPC)] {
        let dev = device_with(propagate);
        let f = open(&dev);
        let hd = create(&f, 48 * MIB, Domains::VRAM, CreateFlags::NO_CPU_ACCESS);
        let mut pin = drm_pddgpu_gem_op {
            handle: hd.get(),
            op: PDDGPU_GEM_OP_PIN,
            value: 0x4,
        };
        ioctl(&f, DRM_IOCTL_PDDGPU_GEM_OP, &mut pin).unwrap();
        let before = state(&dev, &f);
        let mut c = gem_create(32 * MIB, 0, PDDGPU_GEM_DOMAIN_VRAM, 0);
        assert_eq!(ioctl(&f, DRM_IOCTL_PDDGPU_GEM_CREATE, &mut c), Err(errno));
        assert_eq!(state(&dev, &f), before);
        dev.check().unwrap();
    }
}

#[test]
fn older_shorter_create_reads_zero_flags() {
    let dev = device();
    let f = open(&dev);
    // DRM_IOWR(0x40, 24 bytes): a caller without the `flags` field.
    let old = drm_iowr::<[u8; 24]>(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_CREATE);
    let mut arg = [0u8; 24];
    gem_create(4096, 0, PDDGPU_GEM_DOMAIN_GTT, 0).write_prefix(&mut arg);
    f.ioctl(u64::from(old), &mut arg).unwrap();
    let got = drm_pddgpu_gem_create::read_prefix(&arg);
    assert_eq!(got.handle, 1);
    let info = f.gem_info(h(1)).unwrap();
    assert_eq!(info.flags, CreateFlags::empty());
}

#[test]
fn replies_are_exact() {
    let dev = device();
    let f = open(&dev);
    let mut c = drm_pddgpu_gem_create {
        size: 5000,
        alignment: 64 * KIB,
        domain: PDDGPU_GEM_DOMAIN_VRAM | PDDGPU_GEM_DOMAIN_GTT,
        handle: 0,
        flags: PDDGPU_GEM_CREATE_TOPDOWN,
    };
    ioctl(&f, DRM_IOCTL_PDDGPU_GEM_CREATE, &mut c).unwrap();
    assert_eq!(c.handle, 1);
    let mut i = drm_pddgpu_gem_info {
        handle: 1,
        ..Default::default()
    };
    ioctl(&f, DRM_IOCTL_PDDGPU_GEM_INFO, &mut i).unwrap();
    assert_eq!(
        i,
        drm_pddgpu_gem_info {
            handle: 1,
            pad: 0,
            size: 8192,
            alignment: 64 * KIB,
            flags: PDDGPU_GEM_CREATE_TOPDOWN,
            // TOPDOWN: the highest 64 KiB-aligned 8 KiB of VRAM.
            gpu_offset: 64 * MIB - 64 * KIB,
            domain: PDDGPU_GEM_DOMAIN_VRAM,
            preferred_domain: PDDGPU_GEM_DOMAIN_VRAM | PDDGPU_GEM_DOMAIN_GTT,
            pin_count: 0,
            map_count: 0,
        }
    );
    let mut op = drm_pddgpu_gem_op {
        handle: 1,
        op: PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN,
        value: u64::from(PDDGPU_GEM_DOMAIN_GTT),
    };
    ioctl(&f, DRM_IOCTL_PDDGPU_GEM_OP, &mut op).unwrap();
    let mut op = drm_pddgpu_gem_op {
        handle: 1,
        op: PDDGPU_GEM_OP_PIN,
        value: 0x2,
    };
    ioctl(&f, DRM_IOCTL_PDDGPU_GEM_OP, &mut op).unwrap();
    ioctl(&f, DRM_IOCTL_PDDGPU_GEM_INFO, &mut i).unwrap();
    assert_eq!(i.domain, PDDGPU_GEM_DOMAIN_GTT);
    assert_eq!(i.preferred_domain, PDDGPU_GEM_DOMAIN_GTT);
    assert_eq!(i.pin_count, 1);
    let mut m = drm_pddgpu_gem_mmap {
        handle: 1,
        ..Default::default()
    };
    ioctl(&f, DRM_IOCTL_PDDGPU_GEM_MMAP, &mut m).unwrap();
    assert_eq!(m.offset, pddgpu::gem::MMAP_OFFSET_START);
    let mut cl = drm_gem_close { handle: 1, pad: 0 };
    ioctl(&f, DRM_IOCTL_GEM_CLOSE, &mut cl).unwrap();
    assert_eq!(
        usage(&dev),
        (0, 0),
        "a pinned object is released with its handle"
    );
    assert_eq!(ioctl(&f, DRM_IOCTL_GEM_CLOSE, &mut cl), Err(Errno::NOENT));
}
