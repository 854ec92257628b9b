//! Unit tests of the uapi: request codes against hand-computed numbers, every
//! validation error with its exact errno, round trips, and property tests of the checks
//! and the decoder against small reference models.

use proptest::prelude::*;

use super::abi::*;
use super::ioctl::*;
use super::*;

const EINVAL: i32 = 22;
const ENOENT: i32 = 2;
const ENOTTY: i32 = 25;

fn create(size: u64, alignment: u64, domain: u32, flags: u64) -> drm_pddgpu_gem_create {
    drm_pddgpu_gem_create {
        size,
        alignment,
        flags,
        domain,
        handle: 0,
    }
}

/// Asserts that `got` failed with exactly `want`, reporting an unexpected success and a
/// wrong error separately.
#[track_caller]
fn expect_err<T: core::fmt::Debug>(got: Result<T>, want: UapiError, errno: i32) {
    match got {
        Ok(v) => panic!("expected {want:?}, got success {v:?}"),
        Err(e) => {
            assert_eq!(e, want, "wrong error");
            assert_eq!(e.errno().raw_os_error(), errno, "wrong errno for {e:?}");
        }
    }
}

// ---------------------------------------------------------------------------------
// Request codes.

#[test]
fn drm_core_constants_are_linux_values() {
    assert_eq!(DRM_IOCTL_BASE, b'd');
    assert_eq!(DRM_COMMAND_BASE, 0x40);
    assert_eq!(DRM_COMMAND_END, 0xa0);
}

#[test]
fn ioctl_numbers_match_hand_computed_encoding() {
    // _IOC: dir << 30 | size << 16 | 'd' << 8 | nr, with _IOC_WRITE = 1, _IOC_READ = 2.
    assert_eq!(DRM_IOCTL_GEM_CLOSE, 0x4008_6409); // (1 << 30) | (8 << 16) | 0x6409
    assert_eq!(DRM_IOCTL_PDDGPU_GEM_CREATE, 0xc020_6440); // (3 << 30) | (32 << 16)
    assert_eq!(DRM_IOCTL_PDDGPU_GEM_MMAP, 0xc010_6441); // 16 bytes
    assert_eq!(DRM_IOCTL_PDDGPU_GEM_INFO, 0xc038_6442); // 56 bytes
    assert_eq!(DRM_IOCTL_PDDGPU_GEM_OP, 0xc010_6443); // 16 bytes
    assert_eq!(DRM_IOCTL_PDDGPU_INFO, 0xc068_6444); // 104 bytes
    assert_eq!(drm_iowr::<[u8; 24]>(0x4f), 0xc018_644f);
    assert_eq!(drm_iow::<u64>(0x01), 0x4008_6401);
}

#[test]
fn ioctl_table_is_consistent() {
    let want = [
        (Ioctl::GemClose, 0x09, 8, "DRM_IOCTL_GEM_CLOSE"),
        (Ioctl::GemCreate, 0x40, 32, "DRM_IOCTL_PDDGPU_GEM_CREATE"),
        (Ioctl::GemMmap, 0x41, 16, "DRM_IOCTL_PDDGPU_GEM_MMAP"),
        (Ioctl::GemInfo, 0x42, 56, "DRM_IOCTL_PDDGPU_GEM_INFO"),
        (Ioctl::GemOp, 0x43, 16, "DRM_IOCTL_PDDGPU_GEM_OP"),
        (Ioctl::Info, 0x44, 104, "DRM_IOCTL_PDDGPU_INFO"),
    ];
    assert_eq!(Ioctl::ALL.len(), want.len());
    for (ioctl, (w, nr, size, name)) in Ioctl::ALL.into_iter().zip(want) {
        assert_eq!(ioctl, w);
        assert_eq!(ioctl.nr(), nr, "{name}");
        assert_eq!(ioctl.arg_size(), size, "{name}");
        assert_eq!(ioctl.name(), name);
        assert_eq!(
            ioc_size(ioctl.cmd()),
            u32::try_from(size).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn decode_every_ioctl_exactly() {
    for ioctl in Ioctl::ALL {
        let size = ioctl.arg_size();
        let out = if ioctl == Ioctl::GemClose { 0 } else { size };
        assert_eq!(
            Ioctl::decode(ioctl.cmd()),
            Ok(IoctlCmd {
                ioctl,
                copy_in: size,
                copy_out: out
            }),
            "{}",
            ioctl.name()
        );
    }
}

#[test]
fn decode_follows_drm_copy_sizes() {
    // An older, shorter GEM_CREATE (24 bytes): copy 24 each way, the rest reads as 0.
    let short = Ioctl::decode(0xc018_6440).unwrap();
    assert_eq!(
        (short.ioctl, short.copy_in, short.copy_out),
        (Ioctl::GemCreate, 24, 24)
    );
    // A longer one (48 bytes): only the structure is copied.
    let long = Ioctl::decode(0xc030_6440).unwrap();
    assert_eq!((long.copy_in, long.copy_out), (32, 32));
    // _IOR: nothing copied in, so the ioctl sees an all-zero structure.
    let read_only = Ioctl::decode(0x8020_6440).unwrap();
    assert_eq!((read_only.copy_in, read_only.copy_out), (0, 32));
    // _IOW: nothing copied back.
    let write_only = Ioctl::decode(0x4020_6440).unwrap();
    assert_eq!((write_only.copy_in, write_only.copy_out), (32, 0));
    // _IO: neither.
    let none = Ioctl::decode(0x0000_6440).unwrap();
    assert_eq!((none.copy_in, none.copy_out), (0, 0));
    // GEM_CLOSE is _IOW upstream: an _IOWR caller still gets nothing copied back.
    let close = Ioctl::decode(0xc008_6409).unwrap();
    assert_eq!(
        (close.ioctl, close.copy_in, close.copy_out),
        (Ioctl::GemClose, 8, 0)
    );
}

#[test]
fn decode_rejects_unknown_requests() {
    // Not a DRM request: ENOTTY.
    expect_err(
        Ioctl::decode(0x5401), // TCGETS
        UapiError::NotDrmIoctl { cmd: 0x5401 },
        ENOTTY,
    );
    expect_err(
        Ioctl::decode(0xc020_6540),
        UapiError::NotDrmIoctl { cmd: 0xc020_6540 },
        ENOTTY,
    );
    // DRM numbers outside the table: EINVAL, as drm_ioctl().
    for cmd in [
        0xc020_6445,
        0xc020_649f,
        0xc020_64a0,
        0xc020_643f,
        0xc024_6400,
        0x6409 + 1,
    ] {
        expect_err(Ioctl::decode(cmd), UapiError::UnknownIoctl { cmd }, EINVAL);
    }
}

// ---------------------------------------------------------------------------------
// Domains and flags.

#[test]
fn domain_and_flag_bits_are_stable() {
    assert_eq!(Domains::CPU.bits(), 0x1);
    assert_eq!(Domains::GTT.bits(), 0x2);
    assert_eq!(Domains::VRAM.bits(), 0x4);
    assert_eq!(Domains::all().bits(), PDDGPU_GEM_DOMAIN_MASK);
    assert_eq!(CreateFlags::CPU_ACCESS_REQUIRED.bits(), 0x1);
    assert_eq!(CreateFlags::NO_CPU_ACCESS.bits(), 0x2);
    assert_eq!(CreateFlags::VRAM_CLEARED.bits(), 0x8);
    assert_eq!(CreateFlags::TOPDOWN.bits(), 0x10);
    assert_eq!(CreateFlags::VRAM_CONTIGUOUS.bits(), 0x20);
    assert_eq!(CreateFlags::VRAM_WIPE_ON_RELEASE.bits(), 0x200);
    assert_eq!(CreateFlags::all().bits(), PDDGPU_GEM_CREATE_FLAGS_MASK);
    assert_eq!(PDDGPU_GEM_CREATE_FLAGS_MASK, 0x23b);
}

#[test]
fn domains_from_raw() {
    assert_eq!(Domains::from_raw(0x7), Ok(Domains::all()));
    assert_eq!(Domains::from_raw(0x2), Ok(Domains::GTT));
    expect_err(Domains::from_raw(0), UapiError::EmptyDomain, EINVAL);
    expect_err(
        Domains::from_raw(0x8),
        UapiError::UnknownDomain { bits: 0x8 },
        EINVAL,
    );
    expect_err(
        Domains::from_raw(0xc),
        UapiError::UnknownDomain { bits: 0x8 },
        EINVAL,
    );
    expect_err(
        Domains::from_raw(1 << 32 | 0x4),
        UapiError::UnknownDomain { bits: 1 << 32 },
        EINVAL,
    );
    expect_err(
        Domains::from_raw(u64::MAX),
        UapiError::UnknownDomain { bits: !0x7 },
        EINVAL,
    );
}

#[test]
fn create_flags_from_raw() {
    assert_eq!(CreateFlags::from_raw(0), Ok(CreateFlags::empty()));
    assert_eq!(
        CreateFlags::from_raw(0x238),
        Ok(CreateFlags::VRAM_CLEARED
            | CreateFlags::TOPDOWN
            | CreateFlags::VRAM_CONTIGUOUS
            | CreateFlags::VRAM_WIPE_ON_RELEASE)
    );
    for bit in [0x4, 0x40, 0x80, 0x100, 0x400, 1 << 63] {
        expect_err(
            CreateFlags::from_raw(bit | 0x1),
            UapiError::UnknownFlags { bits: bit },
            EINVAL,
        );
    }
    expect_err(
        CreateFlags::from_raw(0x3),
        UapiError::ConflictingFlags,
        EINVAL,
    );
}

// ---------------------------------------------------------------------------------
// GEM_CREATE.

#[test]
fn gem_create_accepts_the_seed_requests() {
    let vram = create(
        1024 * 1024,
        0,
        PDDGPU_GEM_DOMAIN_VRAM,
        PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS,
    );
    let req = GemCreate::try_from(&vram).unwrap();
    assert_eq!(req.size(), 0x10_0000);
    assert_eq!(req.num_pages(), 256);
    assert_eq!(req.alignment(), 4096);
    assert_eq!(req.page_alignment(), 1);
    assert_eq!(req.domains(), Domains::VRAM);
    assert_eq!(req.flags(), CreateFlags::VRAM_CONTIGUOUS);

    let gtt = create(1024 * 1024, 0, PDDGPU_GEM_DOMAIN_GTT, 0);
    let req = GemCreate::try_from(&gtt).unwrap();
    assert_eq!(
        (req.size(), req.domains(), req.flags()),
        (0x10_0000, Domains::GTT, CreateFlags::empty())
    );
}

#[test]
fn gem_create_rounds_size_and_alignment() {
    let cases = [
        // size, alignment -> size, alignment
        (1, 0, 4096, 4096),
        (4096, 1, 4096, 4096),
        (4097, 2048, 8192, 4096),
        (4096, 4096, 4096, 4096),
        (12288, 1 << 21, 12288, 1 << 21),
        (u64::MAX - 4095, 1 << 63, u64::MAX - 4095, 1 << 63),
    ];
    for (size, alignment, want_size, want_alignment) in cases {
        let req = GemCreate::try_from(&create(size, alignment, 0x4, 0)).unwrap();
        assert_eq!(
            (req.size(), req.alignment()),
            (want_size, want_alignment),
            "{size:#x} {alignment:#x}"
        );
        assert_eq!(req.page_alignment(), want_alignment / 4096);
    }
}

#[test]
fn gem_create_rejects_every_malformed_field() {
    let ok = create(4096, 0, PDDGPU_GEM_DOMAIN_GTT, 0);
    let cases = [
        (
            create(4096, 0, 0x2, 0x4),
            UapiError::UnknownFlags { bits: 0x4 },
        ),
        (
            create(4096, 0, 0x2, 1 << 63),
            UapiError::UnknownFlags { bits: 1 << 63 },
        ),
        (create(4096, 0, 0x2, 0x3), UapiError::ConflictingFlags),
        (create(0, 0, 0x2, 0), UapiError::ZeroSize),
        (
            create(u64::MAX, 0, 0x2, 0),
            UapiError::SizeOverflow { size: u64::MAX },
        ),
        (
            create(u64::MAX - 4094, 0, 0x2, 0),
            UapiError::SizeOverflow {
                size: u64::MAX - 4094,
            },
        ),
        (
            create(4096, 3, 0x2, 0),
            UapiError::BadAlignment { alignment: 3 },
        ),
        (
            create(4096, 6144, 0x2, 0),
            UapiError::BadAlignment { alignment: 6144 },
        ),
        (
            create(4096, u64::MAX, 0x2, 0),
            UapiError::BadAlignment {
                alignment: u64::MAX,
            },
        ),
        (create(4096, 0, 0, 0), UapiError::EmptyDomain),
        (
            create(4096, 0, 0x8, 0),
            UapiError::UnknownDomain { bits: 0x8 },
        ),
        (
            create(4096, 0, 0x80000004, 0),
            UapiError::UnknownDomain { bits: 0x80000000 },
        ),
    ];
    for (raw, want) in cases {
        expect_err(GemCreate::try_from(&raw), want, EINVAL);
    }
    assert!(GemCreate::try_from(&ok).is_ok());
}

#[test]
fn gem_create_reports_the_first_failure_in_design_order() {
    // Everything wrong: the flags are reported first.
    let all_bad = create(0, 3, 0x8, 0x4);
    expect_err(
        GemCreate::try_from(&all_bad),
        UapiError::UnknownFlags { bits: 0x4 },
        EINVAL,
    );
    // Then the size, before the alignment and the domain.
    let raw = create(0, 3, 0x8, 0);
    expect_err(GemCreate::try_from(&raw), UapiError::ZeroSize, EINVAL);
    // Then the alignment, before the domain.
    let raw = create(1, 3, 0x8, 0);
    expect_err(
        GemCreate::try_from(&raw),
        UapiError::BadAlignment { alignment: 3 },
        EINVAL,
    );
    // Unknown domain bits before emptiness.
    let raw = create(1, 0, 0x8, 0);
    expect_err(
        GemCreate::try_from(&raw),
        UapiError::UnknownDomain { bits: 0x8 },
        EINVAL,
    );
}

#[test]
fn gem_create_ignores_the_output_handle() {
    let raw = drm_pddgpu_gem_create {
        handle: 0xdead_beef,
        ..create(4096, 0, 0x4, 0)
    };
    assert_eq!(
        GemCreate::try_from(&raw).unwrap(),
        GemCreate::try_from(&create(4096, 0, 0x4, 0)).unwrap()
    );
}

#[test]
fn gem_create_new_checks_like_the_c_path() {
    expect_err(
        GemCreate::new(4096, 0, Domains::empty(), CreateFlags::empty()),
        UapiError::EmptyDomain,
        EINVAL,
    );
    expect_err(
        GemCreate::new(
            4096,
            0,
            Domains::GTT,
            CreateFlags::CPU_ACCESS_REQUIRED | CreateFlags::NO_CPU_ACCESS,
        ),
        UapiError::ConflictingFlags,
        EINVAL,
    );
    expect_err(
        GemCreate::new(0, 0, Domains::GTT, CreateFlags::empty()),
        UapiError::ZeroSize,
        EINVAL,
    );
}

#[test]
fn gem_create_round_trips_through_c() {
    let req = GemCreate::new(
        3 * 4096,
        1 << 16,
        Domains::VRAM | Domains::GTT,
        CreateFlags::VRAM_CLEARED | CreateFlags::TOPDOWN,
    )
    .unwrap();
    let raw = drm_pddgpu_gem_create::from(&req);
    assert_eq!(
        raw,
        drm_pddgpu_gem_create {
            size: 0x3000,
            alignment: 0x1_0000,
            flags: 0x18,
            domain: 0x6,
            handle: 0
        }
    );
    assert_eq!(GemCreate::try_from(&raw), Ok(req));
}

#[test]
fn gem_create_check_limits() {
    let limits = DomainLimits {
        cpu: 1 << 40,
        gtt: 8 << 30,
        vram: 4 << 30,
    };
    let req = |size, domains| GemCreate::new(size, 0, domains, CreateFlags::empty()).unwrap();
    assert_eq!(req(4 << 30, Domains::VRAM).check_limits(&limits), Ok(()));
    expect_err(
        req((4 << 30) + 4096, Domains::VRAM).check_limits(&limits),
        UapiError::TooLarge {
            size: (4 << 30) + 4096,
            limit: 4 << 30,
        },
        EINVAL,
    );
    // Fits GTT though not VRAM: the object can live somewhere it asked for.
    assert_eq!(
        req(6 << 30, Domains::VRAM | Domains::GTT).check_limits(&limits),
        Ok(())
    );
    expect_err(
        req(9 << 30, Domains::VRAM | Domains::GTT).check_limits(&limits),
        UapiError::TooLarge {
            size: 9 << 30,
            limit: 8 << 30,
        },
        EINVAL,
    );
    assert_eq!(req(9 << 30, Domains::CPU).check_limits(&limits), Ok(()));
}

// ---------------------------------------------------------------------------------
// Handle requests.

#[test]
fn handles_are_never_zero() {
    assert_eq!(Handle::new(0), None);
    assert_eq!(Handle::new(7).map(Handle::get), Some(7));
    assert_eq!(Handle::try_from(u32::MAX).map(Handle::get), Ok(u32::MAX));
    expect_err(Handle::try_from(0), UapiError::NullHandle, ENOENT);
}

#[test]
fn handle_requests_check_handle_then_pad() {
    let h1 = Handle::new(1).unwrap();
    assert_eq!(
        GemMmap::try_from(&drm_pddgpu_gem_mmap {
            handle: 1,
            pad: 0,
            offset: 0x1234
        }),
        Ok(GemMmap { handle: h1 })
    );
    expect_err(
        GemMmap::try_from(&drm_pddgpu_gem_mmap {
            handle: 0,
            pad: 1,
            offset: 0,
        }),
        UapiError::NullHandle,
        ENOENT,
    );
    expect_err(
        GemMmap::try_from(&drm_pddgpu_gem_mmap {
            handle: 1,
            pad: 1,
            offset: 0,
        }),
        UapiError::NonZeroPadding {
            field: "pad",
            value: 1,
        },
        EINVAL,
    );

    let info = drm_pddgpu_gem_info {
        handle: 1,
        size: 99,
        domain: 0xff,
        ..Default::default()
    };
    assert_eq!(GemInfo::try_from(&info), Ok(GemInfo { handle: h1 }));
    expect_err(
        GemInfo::try_from(&drm_pddgpu_gem_info { pad: 0x80, ..info }),
        UapiError::NonZeroPadding {
            field: "pad",
            value: 0x80,
        },
        EINVAL,
    );
    expect_err(
        GemInfo::try_from(&drm_pddgpu_gem_info { handle: 0, ..info }),
        UapiError::NullHandle,
        ENOENT,
    );

    assert_eq!(
        GemClose::try_from(&drm_gem_close { handle: 1, pad: 0 }),
        Ok(GemClose { handle: h1 })
    );
    expect_err(
        GemClose::try_from(&drm_gem_close { handle: 0, pad: 0 }),
        UapiError::NullHandle,
        ENOENT,
    );
    expect_err(
        GemClose::try_from(&drm_gem_close {
            handle: 1,
            pad: u32::MAX,
        }),
        UapiError::NonZeroPadding {
            field: "pad",
            value: u64::from(u32::MAX),
        },
        EINVAL,
    );
}

#[test]
fn gem_info_reply_round_trips() {
    let reply = GemInfoReply {
        size: 0x20_0000,
        alignment: 0x1000,
        flags: CreateFlags::VRAM_CONTIGUOUS,
        gpu_offset: Some(0x4000_0000),
        domain: Domains::VRAM,
        preferred_domains: Domains::VRAM | Domains::GTT,
        pin_count: 2,
        map_count: 1,
    };
    let mut raw = drm_pddgpu_gem_info {
        handle: 5,
        ..Default::default()
    };
    reply.write_to(&mut raw);
    assert_eq!(
        raw,
        drm_pddgpu_gem_info {
            handle: 5,
            pad: 0,
            size: 0x20_0000,
            alignment: 0x1000,
            flags: 0x20,
            gpu_offset: 0x4000_0000,
            domain: 0x4,
            preferred_domain: 0x6,
            pin_count: 2,
            map_count: 1,
        }
    );
    assert_eq!(GemInfoReply::try_from(&raw), Ok(reply));

    let unbound = GemInfoReply {
        gpu_offset: None,
        domain: Domains::CPU,
        ..reply
    };
    unbound.write_to(&mut raw);
    assert_eq!(raw.gpu_offset, u64::MAX);
    assert_eq!(raw.gpu_offset, PDDGPU_GEM_INVALID_OFFSET);
    assert_eq!(GemInfoReply::try_from(&raw), Ok(unbound));
    raw.flags = 0x4;
    expect_err(
        GemInfoReply::try_from(&raw),
        UapiError::UnknownFlags { bits: 0x4 },
        EINVAL,
    );
}

// ---------------------------------------------------------------------------------
// GEM_OP.

#[test]
fn gem_op_decodes_each_operation() {
    let h = Handle::new(3).unwrap();
    let op = |op, value| drm_pddgpu_gem_op {
        handle: 3,
        op,
        value,
    };
    let cases = [
        (op(1, 0x2), GemOpKind::SetPreferredDomain(Domains::GTT)),
        (op(1, 0x7), GemOpKind::SetPreferredDomain(Domains::all())),
        (op(2, 0x4), GemOpKind::Pin(Domains::VRAM)),
        (op(2, 0x6), GemOpKind::Pin(Domains::VRAM | Domains::GTT)),
        (op(3, 0), GemOpKind::Unpin),
    ];
    for (raw, kind) in cases {
        let req = GemOp::try_from(&raw).unwrap();
        assert_eq!(
            req,
            GemOp {
                handle: h,
                op: kind
            }
        );
        assert_eq!(drm_pddgpu_gem_op::from(&req), raw, "round trip");
    }
}

#[test]
fn gem_op_rejects_bad_input() {
    let op = |handle, op, value| drm_pddgpu_gem_op { handle, op, value };
    expect_err(
        GemOp::try_from(&op(0, 1, 0x4)),
        UapiError::NullHandle,
        ENOENT,
    );
    for code in [0, 4, 0x10, u32::MAX] {
        expect_err(
            GemOp::try_from(&op(1, code, 0x4)),
            UapiError::UnknownOp { op: code },
            EINVAL,
        );
    }
    expect_err(
        GemOp::try_from(&op(1, 1, 0)),
        UapiError::EmptyDomain,
        EINVAL,
    );
    expect_err(
        GemOp::try_from(&op(1, 2, 0)),
        UapiError::EmptyDomain,
        EINVAL,
    );
    expect_err(
        GemOp::try_from(&op(1, 1, 0x10)),
        UapiError::UnknownDomain { bits: 0x10 },
        EINVAL,
    );
    expect_err(
        GemOp::try_from(&op(1, 2, 1 << 40 | 0x4)),
        UapiError::UnknownDomain { bits: 1 << 40 },
        EINVAL,
    );
    expect_err(
        GemOp::try_from(&op(1, 3, 1)),
        UapiError::BadOpValue { op: 3, value: 1 },
        EINVAL,
    );
}

// ---------------------------------------------------------------------------------
// INFO.

#[test]
fn info_query_checks_query_then_pad() {
    let raw = drm_pddgpu_info {
        query: PDDGPU_INFO_MEMORY,
        pad: 0,
        memory: drm_pddgpu_memory_info {
            vram: drm_pddgpu_heap_info {
                total_heap_size: 7,
                ..Default::default()
            },
            ..Default::default()
        },
    };
    assert_eq!(InfoQuery::try_from(&raw), Ok(InfoQuery::Memory));
    expect_err(
        InfoQuery::try_from(&drm_pddgpu_info { query: 0, ..raw }),
        UapiError::UnknownQuery { query: 0 },
        EINVAL,
    );
    expect_err(
        InfoQuery::try_from(&drm_pddgpu_info {
            query: 2,
            pad: 1,
            ..raw
        }),
        UapiError::UnknownQuery { query: 2 },
        EINVAL,
    );
    expect_err(
        InfoQuery::try_from(&drm_pddgpu_info { pad: 1, ..raw }),
        UapiError::NonZeroPadding {
            field: "pad",
            value: 1,
        },
        EINVAL,
    );
}

#[test]
fn memory_info_round_trips() {
    let heap = |base: u64| HeapInfo {
        total_heap_size: base,
        usable_heap_size: base - 0x1000,
        heap_usage: base / 4,
        max_allocation: base / 2,
    };
    let info = MemoryInfo {
        vram: heap(4 << 30),
        cpu_accessible_vram: heap(256 << 20),
        gtt: heap(8 << 30),
    };
    let mut raw = drm_pddgpu_info {
        query: PDDGPU_INFO_MEMORY,
        ..Default::default()
    };
    info.write_to(&mut raw);
    assert_eq!(raw.query, 1);
    assert_eq!(raw.pad, 0);
    assert_eq!(
        raw.memory.cpu_accessible_vram,
        drm_pddgpu_heap_info {
            total_heap_size: 0x1000_0000,
            usable_heap_size: 0x0fff_f000,
            heap_usage: 0x0400_0000,
            max_allocation: 0x0800_0000,
        }
    );
    assert_eq!(raw.memory.gtt.total_heap_size, 0x2_0000_0000);
    assert_eq!(MemoryInfo::from(raw.memory), info);
}

#[test]
fn errno_values_are_linux_values() {
    assert_eq!(UapiError::ZeroSize.errno(), Errno::INVAL);
    assert_eq!(UapiError::NullHandle.errno(), Errno::NOENT);
    assert_eq!(UapiError::NotDrmIoctl { cmd: 0 }.errno(), Errno::NOTTY);
    assert_eq!(Errno::INVAL.raw_os_error(), EINVAL);
    assert_eq!(Errno::NOENT.raw_os_error(), ENOENT);
    assert_eq!(Errno::NOTTY.raw_os_error(), ENOTTY);
    assert_eq!(
        UapiError::NonZeroPadding {
            field: "pad",
            value: 3
        }
        .to_string(),
        "reserved field `pad` is 0x3, must be 0"
    );
}

// ---------------------------------------------------------------------------------
// Byte images.

#[test]
fn gem_create_byte_image_has_the_c_offsets() {
    let raw = drm_pddgpu_gem_create {
        size: 0x1111_1111_1111_1111,
        alignment: 0x2222_2222_2222_2222,
        domain: 0x3333_3333,
        handle: 0x4444_4444,
        flags: 0x5555_5555_5555_5555,
    };
    let mut image = [0xeeu8; 32];
    raw.write_prefix(&mut image);
    let mut want = Vec::new();
    want.extend_from_slice(&0x1111_1111_1111_1111u64.to_ne_bytes());
    want.extend_from_slice(&0x2222_2222_2222_2222u64.to_ne_bytes());
    want.extend_from_slice(&0x3333_3333u32.to_ne_bytes());
    want.extend_from_slice(&0x4444_4444u32.to_ne_bytes());
    want.extend_from_slice(&0x5555_5555_5555_5555u64.to_ne_bytes());
    assert_eq!(image.as_slice(), want.as_slice());
    assert_eq!(drm_pddgpu_gem_create::read_prefix(&image), raw);
}

#[test]
fn short_and_long_images_follow_the_prefix_rule() {
    let raw = drm_pddgpu_gem_create {
        size: 0x1000,
        alignment: 0x2000,
        domain: 0x4,
        handle: 9,
        flags: 0x20,
    };
    let mut image = [0u8; 40];
    raw.write_prefix(&mut image);
    assert_eq!(
        &image[32..],
        &[0u8; 8],
        "nothing written past the structure"
    );
    // 24 bytes: size, alignment, domain, handle; flags reads as zero.
    assert_eq!(
        drm_pddgpu_gem_create::read_prefix(&image[..24]),
        drm_pddgpu_gem_create { flags: 0, ..raw }
    );
    // A field cut in the middle keeps its first bytes.
    let cut = drm_pddgpu_gem_create::read_prefix(&image[..12]);
    assert_eq!(cut.size, 0x1000);
    assert_eq!(
        cut.alignment,
        u64::read_prefix(&0x2000u64.to_ne_bytes()[..4])
    );
    assert_eq!((cut.domain, cut.handle, cut.flags), (0, 0, 0));
    assert_eq!(
        drm_pddgpu_gem_create::read_prefix(&[]),
        drm_pddgpu_gem_create::default()
    );
    // Writing to a short buffer writes the prefix only.
    let mut short = [0xeeu8; 10];
    raw.write_prefix(&mut short);
    assert_eq!(&short[..], &image[..10]);
}

/// Every byte image of `T` round-trips, and a prefix reads as the image with the rest
/// zeroed.
fn check_image<T: AbiBytes + PartialEq + core::fmt::Debug>(bytes: &[u8], cut: usize) {
    assert!(bytes.len() >= T::SIZE);
    let image = &bytes[..T::SIZE];
    let value = T::read_prefix(image);
    let mut out = vec![0u8; T::SIZE];
    value.write_prefix(&mut out);
    assert_eq!(out, image, "round trip");
    let cut = cut % (T::SIZE + 1);
    let mut zeroed = image.to_vec();
    zeroed[cut..].fill(0);
    assert_eq!(T::read_prefix(&image[..cut]), T::read_prefix(&zeroed));
    let mut partial = vec![0xa5u8; T::SIZE];
    value.write_prefix(&mut partial[..cut]);
    assert_eq!(&partial[..cut], &image[..cut]);
    assert!(
        partial[cut..].iter().all(|&b| b == 0xa5),
        "wrote past the prefix"
    );
}

// ---------------------------------------------------------------------------------
// Property tests against reference models.

/// The GEM_CREATE rules written out plainly: the expected outcome of a raw request as
/// (size, alignment, domain, flags) or the error.
fn create_model(raw: &drm_pddgpu_gem_create) -> Result<(u64, u64, u32, u64)> {
    const KNOWN_FLAGS: u64 = 0x1 | 0x2 | 0x8 | 0x10 | 0x20 | 0x200;
    if raw.flags & !KNOWN_FLAGS != 0 {
        return Err(UapiError::UnknownFlags {
            bits: raw.flags & !KNOWN_FLAGS,
        });
    }
    if raw.flags & 0x3 == 0x3 {
        return Err(UapiError::ConflictingFlags);
    }
    if raw.size == 0 {
        return Err(UapiError::ZeroSize);
    }
    let pages = raw.size / 4096 + u64::from(raw.size % 4096 != 0);
    if u128::from(pages) * 4096 > u128::from(u64::MAX) {
        return Err(UapiError::SizeOverflow { size: raw.size });
    }
    let alignment = match raw.alignment {
        0 => 4096,
        a if a.count_ones() == 1 => a.max(4096),
        a => return Err(UapiError::BadAlignment { alignment: a }),
    };
    if raw.domain & !0x7 != 0 {
        return Err(UapiError::UnknownDomain {
            bits: u64::from(raw.domain & !0x7),
        });
    }
    if raw.domain == 0 {
        return Err(UapiError::EmptyDomain);
    }
    Ok((pages * 4096, alignment, raw.domain, raw.flags))
}

fn size_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        1u64..=(1 << 32),
        (u64::MAX - 8192)..=u64::MAX,
        any::<u64>(),
    ]
}

fn alignment_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), (0u32..64).prop_map(|s| 1u64 << s), any::<u64>()]
}

fn flags_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        (0u64..=PDDGPU_GEM_CREATE_FLAGS_MASK).prop_map(|f| f & PDDGPU_GEM_CREATE_FLAGS_MASK),
        (0u32..64).prop_map(|s| 1u64 << s),
        any::<u64>(),
    ]
}

fn domain_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..=7, (0u32..32).prop_map(|s| 1u32 << s), any::<u32>()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn gem_create_agrees_with_model(
        size in size_strategy(),
        alignment in alignment_strategy(),
        flags in flags_strategy(),
        domain in domain_strategy(),
        handle in any::<u32>(),
    ) {
        let raw = drm_pddgpu_gem_create { size, alignment, flags, domain, handle };
        let got = GemCreate::try_from(&raw);
        let want = create_model(&raw);
        match (got, want) {
            (Ok(req), Ok((size, alignment, domain, flags))) => {
                prop_assert_eq!(req.size(), size);
                prop_assert_eq!(req.alignment(), alignment);
                prop_assert_eq!(req.domains().bits(), domain);
                prop_assert_eq!(req.flags().bits(), flags);
                prop_assert_eq!(req.size() % 4096, 0);
                prop_assert!(req.size() >= raw.size && req.size() - raw.size < 4096);
                // The C form of a checked request checks to the same request.
                prop_assert_eq!(GemCreate::try_from(&drm_pddgpu_gem_create::from(&req)), Ok(req));
            }
            (Err(e), Err(w)) => {
                prop_assert_eq!(e, w);
                prop_assert_eq!(e.errno(), Errno::INVAL);
            }
            (got, want) => prop_assert!(false, "got {:?}, model says {:?}", got, want),
        }
    }

    #[test]
    fn decode_agrees_with_model(cmd in prop_oneof![
        any::<u32>(),
        // DRM requests with random direction, size and number.
        (0u32..4, 0u32..0x4000, 0u32..0x100).prop_map(|(d, s, n)| d << 30 | s << 16 | 0x6400 | n),
    ]) {
        let (dir, size, ty, nr) = (cmd >> 30, (cmd >> 16) & 0x3fff, (cmd >> 8) & 0xff, cmd & 0xff);
        let table = [(0x09, 8, false), (0x40, 32, true), (0x41, 16, true), (0x42, 56, true),
                     (0x43, 16, true), (0x44, 104, true)];
        let got = Ioctl::decode(cmd);
        if ty != 0x64 {
            prop_assert_eq!(got, Err(UapiError::NotDrmIoctl { cmd }));
        } else if let Some(&(_, arg, out)) = table.iter().find(|t| t.0 == nr) {
            let d = got.unwrap();
            prop_assert_eq!(d.ioctl.nr(), nr);
            let copy = usize::try_from(size).unwrap().min(arg);
            prop_assert_eq!(d.copy_in, if dir & 1 != 0 { copy } else { 0 });
            prop_assert_eq!(d.copy_out, if dir & 2 != 0 && out { copy } else { 0 });
        } else {
            prop_assert_eq!(got, Err(UapiError::UnknownIoctl { cmd }));
        }
    }

    #[test]
    fn every_byte_image_round_trips(bytes in prop::collection::vec(any::<u8>(), 104), cut in 0usize..200) {
        check_image::<drm_gem_close>(&bytes, cut);
        check_image::<drm_pddgpu_gem_create>(&bytes, cut);
        check_image::<drm_pddgpu_gem_mmap>(&bytes, cut);
        check_image::<drm_pddgpu_gem_info>(&bytes, cut);
        check_image::<drm_pddgpu_gem_op>(&bytes, cut);
        check_image::<drm_pddgpu_heap_info>(&bytes, cut);
        check_image::<drm_pddgpu_memory_info>(&bytes, cut);
        check_image::<drm_pddgpu_info>(&bytes, cut);
        for ioctl in Ioctl::ALL {
            prop_assert!(ioctl.arg_size() <= bytes.len());
        }
    }

    #[test]
    fn gem_op_never_panics_and_round_trips(handle in any::<u32>(), op in 0u32..6, value in prop_oneof![0u64..16, any::<u64>()]) {
        let raw = drm_pddgpu_gem_op { handle, op, value };
        match GemOp::try_from(&raw) {
            Ok(req) => prop_assert_eq!(drm_pddgpu_gem_op::from(&req), raw),
            Err(e) => prop_assert!(matches!(e.errno().raw_os_error(), EINVAL | ENOENT)),
        }
    }
}
