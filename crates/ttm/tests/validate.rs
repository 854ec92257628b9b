//! Validation scenarios through the public API, each with exact expectations.

mod common;

use std::sync::atomic::Ordering;

use common::{setup, setup_with, TestDriver, KIB};
use pddgpu_ttm::{
    errno, AllocationFlags, BoParams, DeviceConfig, Error, MemType, OperationCtx, Place,
    PlaceFlags, Placement, PAGE_SIZE,
};

fn place(t: MemType) -> Place {
    Place::new(t)
}

#[test]
fn validate_into_current_placement_moves_nothing() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(16 * KIB)).unwrap();
    let mut ctx = OperationCtx::new();
    {
        let mut r = bo.reserve();
        r.validate(&Placement::single(MemType::SYSTEM), &mut ctx)
            .unwrap();
        // The initial placement counts once, as upstream's init validate does.
        assert_eq!(ctx.bytes_moved, 16 * KIB);
        assert_eq!(r.resource().unwrap().mem_type(), MemType::SYSTEM);
        let tt = r.tt().expect("SYSTEM BOs always have a TT after validate");
        assert!(!tt.is_populated());
        assert_eq!(tt.num_pages(), 4);
    }
    s.check();
    let mut ctx = OperationCtx::new();
    bo.reserve()
        .validate(&Placement::single(MemType::SYSTEM), &mut ctx)
        .unwrap();
    assert_eq!(ctx.bytes_moved, 0);
    assert_eq!(s.drv.moves.load(Ordering::Relaxed), 1);
}

#[test]
fn validate_system_to_tt_to_vram_populates_and_copies() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(16 * KIB)).unwrap();
    let mut r = bo.reserve();
    let mut ctx = OperationCtx::new();
    r.validate(&Placement::single(MemType::SYSTEM), &mut ctx)
        .unwrap();
    s.drv.write_bo(&mut r, 7).unwrap();
    assert!(r.tt().unwrap().is_populated());

    let mut ctx = OperationCtx::new();
    r.validate(&Placement::single(MemType::TT), &mut ctx)
        .unwrap();
    assert_eq!(ctx.bytes_moved, 16 * KIB);
    assert_eq!(r.resource().unwrap().mem_type(), MemType::TT);
    assert_eq!(r.resource().unwrap().start(), 0);
    assert_eq!(r.tt().unwrap().pages().len(), 4);
    assert_eq!(s.drv.read_bo(&r), TestDriver::expected(7, 4));

    let mut ctx = OperationCtx::new();
    r.validate(&Placement::single(MemType::VRAM), &mut ctx)
        .unwrap();
    assert_eq!(ctx.bytes_moved, 16 * KIB);
    assert_eq!(r.resource().unwrap().mem_type(), MemType::VRAM);
    assert!(r.tt().is_none(), "VRAM BOs drop their TT");
    assert_eq!(s.drv.read_bo(&r), TestDriver::expected(7, 4));
    drop(r);
    assert_eq!(s.dev.usage(MemType::VRAM), 16 * KIB);
    assert_eq!(s.dev.usage(MemType::TT), 0);
    s.check();
}

#[test]
fn validate_system_to_vram_moves_size_bytes() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(20 * KIB)).unwrap();
    let mut r = bo.reserve();
    r.validate(
        &Placement::single(MemType::SYSTEM),
        &mut OperationCtx::new(),
    )
    .unwrap();
    s.drv.write_bo(&mut r, 9).unwrap();
    assert_eq!(s.drv.outstanding_pages(), 5);
    let mut ctx = OperationCtx::new();
    r.validate(&Placement::single(MemType::VRAM), &mut ctx)
        .unwrap();
    assert_eq!(ctx.bytes_moved, 20 * KIB);
    assert_eq!(r.resource().unwrap().mem_type(), MemType::VRAM);
    assert!(r.tt().is_none());
    assert_eq!(s.drv.read_bo(&r), TestDriver::expected(9, 5));
    // The TT's pages went back to the pool.
    assert_eq!(s.dev.pool().cached_pages(), 5);
    drop(r);
    assert_eq!(s.dev.usage(MemType::SYSTEM), 0);
    assert_eq!(s.dev.usage(MemType::VRAM), 20 * KIB);
    s.check();
}

#[test]
fn fini_manager_evicts_and_uninstalls() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    let mut r = bo.reserve();
    r.validate(&Placement::single(MemType::VRAM), &mut OperationCtx::new())
        .unwrap();
    s.drv.write_bo(&mut r, 4).unwrap();
    drop(r);
    let pinned = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    let mut r = pinned.reserve();
    r.validate(&Placement::single(MemType::PRIV), &mut OperationCtx::new())
        .unwrap();
    r.pin().unwrap();
    drop(r);
    assert_eq!(s.dev.fini_manager(MemType::PRIV).unwrap_err(), Error::Busy);
    assert!(!s.dev.use_type(MemType::PRIV));
    assert!(s.dev.manager(MemType::PRIV).is_some());
    s.dev.fini_manager(MemType::VRAM).unwrap();
    assert!(s.dev.manager(MemType::VRAM).is_none());
    let r = bo.reserve();
    assert_eq!(r.resource().unwrap().mem_type(), MemType::TT);
    assert_eq!(s.drv.read_bo(&r), TestDriver::expected(4, 2));
}

#[test]
fn fresh_bo_into_tt_populates_zeroed_pages() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    let mut r = bo.reserve();
    let mut ctx = OperationCtx::new();
    r.validate(&Placement::single(MemType::TT), &mut ctx)
        .unwrap();
    assert_eq!(ctx.bytes_moved, 8 * KIB);
    assert!(r.tt().unwrap().is_populated());
    assert_eq!(s.drv.read_bo(&r), vec![0, 0]);
    assert_eq!(s.drv.outstanding_pages(), 2);
}

#[test]
fn unregistered_memory_type_is_no_space_and_enomem_for_user_space() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(4 * KIB)).unwrap();
    let mut ctx = OperationCtx::new();
    let placement = Placement::single(MemType::new(5).unwrap());
    let err = bo.reserve().validate(&placement, &mut ctx).unwrap_err();
    assert_eq!(err, Error::NoSpace);
    assert_eq!(err.errno(), errno::ENOSPC);
    assert_eq!(s.dev.user_errno(err), errno::ENOMEM);
    assert_eq!(ctx.bytes_moved, 0);
    assert!(bo.reserve().resource().is_none());

    let config = DeviceConfig {
        flags: AllocationFlags::PROPAGATE_ENOSPC,
        ..DeviceConfig::default()
    };
    let s2 = setup_with(64, 64, 64, config);
    assert_eq!(s2.dev.user_errno(Error::NoSpace), errno::ENOSPC);
    assert_eq!(s2.dev.user_errno(Error::Busy), errno::EBUSY);
}

#[test]
fn unused_memory_type_is_skipped() {
    let s = setup(64, 64, 64);
    s.dev.set_use_type(MemType::VRAM, false).unwrap();
    let bo = s.dev.create_bo(BoParams::new(4 * KIB)).unwrap();
    let mut ctx = OperationCtx::new();
    let placement = Placement::new(vec![place(MemType::VRAM), place(MemType::TT)]);
    bo.reserve().validate(&placement, &mut ctx).unwrap();
    assert_eq!(bo.reserve().resource().unwrap().mem_type(), MemType::TT);
    assert_eq!(s.vram.allocs.load(Ordering::Relaxed), 0);
}

#[test]
fn pinned_bo_with_incompatible_placement_is_invalid_argument() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    let mut r = bo.reserve();
    let mut ctx = OperationCtx::new();
    r.validate(&Placement::single(MemType::VRAM), &mut ctx)
        .unwrap();
    r.pin().unwrap();
    let mut ctx = OperationCtx::new();
    assert_eq!(
        r.validate(&Placement::single(MemType::TT), &mut ctx),
        Err(Error::InvalidArgument)
    );
    assert_eq!(ctx.bytes_moved, 0);
    // Compatible placements are fine while pinned.
    r.validate(
        &Placement::new(vec![place(MemType::TT), place(MemType::VRAM)]),
        &mut ctx,
    )
    .unwrap();
    assert_eq!(r.resource().unwrap().mem_type(), MemType::VRAM);
    assert_eq!(s.dev.unevictable_order(), vec![bo.id()]);
    assert_eq!(s.dev.lru_order(MemType::VRAM), Vec::<u64>::new());
    r.unpin().unwrap();
    assert_eq!(r.unpin(), Err(Error::InvalidArgument));
    drop(r);
    assert_eq!(s.dev.lru_order(MemType::VRAM), vec![bo.id()]);
    s.check();
}

#[test]
fn desired_vram_full_falls_back_to_priv() {
    let s = setup(64, 64, 64);
    s.vram.always_nospace.store(true, Ordering::Relaxed);
    let bo = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    let placement = Placement::new(vec![
        place(MemType::VRAM).with_flags(PlaceFlags::DESIRED),
        place(MemType::PRIV).with_flags(PlaceFlags::FALLBACK),
    ]);
    let mut ctx = OperationCtx::new();
    let mut r = bo.reserve();
    r.validate(&placement, &mut ctx).unwrap();
    assert_eq!(r.resource().unwrap().mem_type(), MemType::PRIV);
    assert_eq!(r.resource().unwrap().placement(), PlaceFlags::FALLBACK);
    // Pass 1 tried VRAM once; pass 2 skipped the DESIRED place.
    assert_eq!(s.vram.allocs.load(Ordering::Relaxed), 1);
    assert_eq!(s.prv.allocs.load(Ordering::Relaxed), 1);
    // Re-validating: pass 1 finds VRAM still full and PRIV (FALLBACK) not
    // compatible; pass 2's compatibility check accepts PRIV: nothing moves.
    let mut ctx = OperationCtx::new();
    r.validate(&placement, &mut ctx).unwrap();
    assert_eq!(ctx.bytes_moved, 0);
    assert_eq!(s.vram.allocs.load(Ordering::Relaxed), 2);
    drop(r);
    s.check();
}

#[test]
fn manager_error_other_than_no_space_aborts() {
    let s = setup(64, 64, 64);
    *s.vram.fail_with.lock() = Some(Error::OutOfMemory);
    let bo = s.dev.create_bo(BoParams::new(4 * KIB)).unwrap();
    let placement = Placement::new(vec![place(MemType::VRAM), place(MemType::TT)]);
    let mut ctx = OperationCtx::new();
    assert_eq!(
        bo.reserve().validate(&placement, &mut ctx),
        Err(Error::OutOfMemory)
    );
    assert_eq!(s.tt.allocs.load(Ordering::Relaxed), 0);
    assert_eq!(s.dev.usage(MemType::VRAM), 0);
    s.check();
}

#[test]
fn temporary_resource_is_never_compatible() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(4 * KIB)).unwrap();
    let mut r = bo.reserve();
    let mut ctx = OperationCtx::new();
    let tmp = Placement::single(MemType::TT).places()[0].with_flags(PlaceFlags::TEMPORARY);
    let res = r.mem_space(&Placement::new(vec![tmp]), &mut ctx).unwrap();
    assert_eq!(res.placement(), PlaceFlags::TEMPORARY);
    r.assign_resource(res).unwrap();
    assert_eq!(s.dev.usage(MemType::TT), 4 * KIB);
    r.validate(&Placement::single(MemType::TT), &mut ctx)
        .unwrap();
    assert_eq!(ctx.bytes_moved, 4 * KIB, "moved out of the bounce resource");
    assert_eq!(r.resource().unwrap().placement(), PlaceFlags::empty());
    assert_eq!(s.dev.usage(MemType::TT), 4 * KIB);
    drop(r);
    s.check();
}

#[test]
fn contiguous_place_needs_contiguous_resource() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    let mut r = bo.reserve();
    let mut ctx = OperationCtx::new();
    r.validate(&Placement::single(MemType::VRAM), &mut ctx)
        .unwrap();
    assert_eq!(r.resource().unwrap().start(), 0);
    let contig = Placement::new(vec![place(MemType::VRAM).with_flags(PlaceFlags::CONTIGUOUS)]);
    let mut ctx = OperationCtx::new();
    r.validate(&contig, &mut ctx).unwrap();
    assert_eq!(ctx.bytes_moved, 8 * KIB);
    assert_eq!(r.resource().unwrap().start(), 2);
    assert_eq!(r.resource().unwrap().placement(), PlaceFlags::CONTIGUOUS);
    let mut ctx = OperationCtx::new();
    r.validate(&contig, &mut ctx).unwrap();
    assert_eq!(ctx.bytes_moved, 0);
    drop(r);
    s.check();
}

#[test]
fn failed_move_leaves_bo_and_accounting_unchanged() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    let mut r = bo.reserve();
    let mut ctx = OperationCtx::new();
    r.validate(&Placement::single(MemType::VRAM), &mut ctx)
        .unwrap();
    s.drv.write_bo(&mut r, 3).unwrap();
    s.drv.fail_moves.store(true, Ordering::Relaxed);
    assert_eq!(
        r.validate(&Placement::single(MemType::TT), &mut ctx),
        Err(Error::Io)
    );
    assert_eq!(r.resource().unwrap().mem_type(), MemType::VRAM);
    assert!(
        r.tt().is_none(),
        "the TT created for the failed move is gone"
    );
    assert_eq!(s.dev.usage(MemType::TT), 0);
    assert_eq!(s.drv.outstanding_pages(), s.dev.pool().cached_pages());
    s.drv.fail_moves.store(false, Ordering::Relaxed);
    assert_eq!(s.drv.read_bo(&r), TestDriver::expected(3, 2));
    drop(r);
    s.check();
}

#[test]
fn multihop_vram_to_system_counts_twice() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(12 * KIB)).unwrap();
    let mut r = bo.reserve();
    let mut ctx = OperationCtx::new();
    r.validate(&Placement::single(MemType::VRAM), &mut ctx)
        .unwrap();
    s.drv.write_bo(&mut r, 11).unwrap();
    let mut ctx = OperationCtx::new();
    r.validate(&Placement::single(MemType::SYSTEM), &mut ctx)
        .unwrap();
    assert_eq!(ctx.bytes_moved, 2 * 12 * KIB);
    assert_eq!(s.drv.hops.load(Ordering::Relaxed), 1);
    assert_eq!(r.resource().unwrap().mem_type(), MemType::SYSTEM);
    assert!(r.tt().unwrap().is_populated());
    assert_eq!(s.drv.read_bo(&r), TestDriver::expected(11, 3));
    drop(r);
    assert_eq!(s.dev.usage(MemType::TT), 0, "the bounce resource is freed");
    assert_eq!(s.dev.usage(MemType::VRAM), 0);
    s.check();
}

#[test]
fn empty_placement_purges_even_pinned() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    let mut r = bo.reserve();
    let mut ctx = OperationCtx::new();
    r.validate(&Placement::single(MemType::TT), &mut ctx)
        .unwrap();
    s.drv.write_bo(&mut r, 5).unwrap();
    r.pin().unwrap();
    r.validate(&Placement::default(), &mut ctx).unwrap();
    assert!(r.resource().is_none());
    let tt = r.tt().unwrap();
    assert!(!tt.is_populated());
    assert!(tt.zero_alloc());
    assert_eq!(s.drv.read_bo(&r), vec![0, 0]);
    assert_eq!(s.dev.usage(MemType::TT), 0);
    r.unpin().unwrap();
    drop(r);
    s.check();
}

#[test]
fn bad_bo_parameters_are_rejected() {
    let s = setup(64, 64, 64);
    assert_eq!(
        s.dev.create_bo(BoParams::new(0)).unwrap_err(),
        Error::InvalidArgument
    );
    assert_eq!(
        s.dev.create_bo(BoParams::new(100)).unwrap_err(),
        Error::InvalidArgument
    );
    let p = BoParams {
        priority: 4,
        ..BoParams::new(PAGE_SIZE)
    };
    assert_eq!(s.dev.create_bo(p).unwrap_err(), Error::InvalidArgument);
    assert_eq!(MemType::new(9), Err(Error::InvalidArgument));
}

#[test]
fn bo_init_validate_destroys_bo_on_failure() {
    let s = setup(4, 4, 4);
    let mut ctx = OperationCtx::new();
    let err = s
        .dev
        .bo_init_validate(
            BoParams::new(8 * 4 * KIB),
            &Placement::single(MemType::VRAM),
            &mut ctx,
        )
        .unwrap_err();
    assert_eq!(err, Error::NoSpace);
    assert_eq!(s.drv.released.load(Ordering::Relaxed), 1);
    let bo = s
        .dev
        .bo_init_validate(
            BoParams::new(8 * KIB),
            &Placement::single(MemType::VRAM),
            &mut ctx,
        )
        .unwrap();
    assert_eq!(bo.reserve().resource().unwrap().start(), 0);
    drop(bo);
    assert_eq!(s.dev.usage(MemType::VRAM), 0);
    s.check();
}

#[test]
fn out_of_pages_fails_cleanly() {
    let s = setup(64, 64, 64);
    s.drv.set_page_limit(Some(3));
    let bo = s.dev.create_bo(BoParams::new(16 * KIB)).unwrap();
    let mut ctx = OperationCtx::new();
    assert_eq!(
        bo.reserve()
            .validate(&Placement::single(MemType::TT), &mut ctx),
        Err(Error::OutOfMemory)
    );
    assert_eq!(s.drv.outstanding_pages(), s.dev.pool().cached_pages());
    assert_eq!(s.dev.usage(MemType::TT), 0);
    assert!(bo.reserve().resource().is_none());
    s.check();
}

#[test]
fn manager_debug_uses_upstream_format() {
    let s = setup(64, 32, 16);
    let bo = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    let mut ctx = OperationCtx::new();
    bo.reserve()
        .validate(&Placement::single(MemType::TT), &mut ctx)
        .unwrap();
    let mut out = String::new();
    s.dev.manager_debug(MemType::TT, &mut out).unwrap();
    assert_eq!(
        out,
        "  use_type: 1\n  use_tt: 1\n  size: 131072\n  usage: 8192\n\
         0x0000000000000000-0x0000000000000002: 2: used\ntotal: 32, used 2 free 30\n"
    );
    let mut out = String::new();
    s.dev.manager_debug(MemType::SYSTEM, &mut out).unwrap();
    assert_eq!(out, "  use_type: 1\n  use_tt: 1\n  size: 0\n  usage: 0\n");
    let mut out = String::new();
    let placement = Placement::new(vec![place(MemType::PRIV).with_flags(PlaceFlags::TOPDOWN)]);
    s.dev.mem_space_debug(&placement, &mut out).unwrap();
    assert_eq!(
        out,
        "  placement[0]=0x00000002 (3)\n  use_type: 1\n  use_tt: 0\n  size: 65536\n  usage: 0\n\
         total: 16, used 0 free 16\n"
    );
}

#[test]
fn set_and_take_manager() {
    let s = setup(64, 64, 64);
    assert_eq!(
        s.dev.set_manager(MemType::VRAM, s.vram.clone(), false, 1),
        Err(Error::Busy)
    );
    assert_eq!(
        s.dev.take_manager(MemType::SYSTEM).unwrap_err(),
        Error::Busy
    );
    let bo = s.dev.create_bo(BoParams::new(4 * KIB)).unwrap();
    let mut ctx = OperationCtx::new();
    bo.reserve()
        .validate(&Placement::single(MemType::PRIV), &mut ctx)
        .unwrap();
    assert_eq!(s.dev.take_manager(MemType::PRIV).unwrap_err(), Error::Busy);
    s.dev.evict_all(MemType::PRIV).unwrap();
    assert_eq!(bo.reserve().resource().unwrap().mem_type(), MemType::SYSTEM);
    s.dev.take_manager(MemType::PRIV).unwrap();
    assert!(s.dev.manager(MemType::PRIV).is_none());
    assert!(!s.dev.use_type(MemType::PRIV));
    assert_eq!(
        s.dev.take_manager(MemType::PRIV).unwrap_err(),
        Error::NotFound
    );
    assert_eq!(s.dev.evict_all(MemType::PRIV), Err(Error::NotFound));
    assert!(s.dev.use_tt(MemType::TT));
    assert_eq!(s.dev.manager_size(MemType::VRAM), Some(64 * PAGE_SIZE));
}

#[test]
fn busy_bo_with_no_wait_gpu_is_not_moved() {
    let s = setup(64, 64, 64);
    let bo = s.dev.create_bo(BoParams::new(8 * KIB)).unwrap();
    let mut r = bo.reserve();
    r.validate(&Placement::single(MemType::VRAM), &mut OperationCtx::new())
        .unwrap();
    s.drv.write_bo(&mut r, 6).unwrap();
    bo.set_busy();
    let mut ctx = OperationCtx::new();
    ctx.no_wait_gpu = true;
    assert_eq!(
        r.validate(&Placement::single(MemType::TT), &mut ctx),
        Err(Error::Busy)
    );
    assert_eq!(ctx.bytes_moved, 0);
    assert_eq!(r.resource().unwrap().mem_type(), MemType::VRAM);
    assert_eq!(s.dev.usage(MemType::TT), 0);
    bo.signal_idle();
    assert!(bo.is_idle());
    r.validate(&Placement::single(MemType::TT), &mut ctx)
        .unwrap();
    assert_eq!(s.drv.read_bo(&r), TestDriver::expected(6, 2));
    drop(r);
    s.check();
}

#[test]
fn failed_bounce_leaves_bo_in_place() {
    // The TT bounce cannot fit a 16 KiB BO: the VRAM → SYSTEM move fails with the
    // bounce's no-space and nothing changes.
    let s = setup(64, 2, 0);
    let bo = s.dev.create_bo(BoParams::new(16 * KIB)).unwrap();
    let mut r = bo.reserve();
    r.validate(&Placement::single(MemType::VRAM), &mut OperationCtx::new())
        .unwrap();
    s.drv.write_bo(&mut r, 8).unwrap();
    let mut ctx = OperationCtx::new();
    assert_eq!(
        r.validate(&Placement::single(MemType::SYSTEM), &mut ctx),
        Err(Error::NoSpace)
    );
    assert_eq!(ctx.bytes_moved, 0);
    assert_eq!(r.resource().unwrap().mem_type(), MemType::VRAM);
    assert_eq!(s.drv.read_bo(&r), TestDriver::expected(8, 4));
    assert_eq!(s.dev.usage(MemType::SYSTEM), 0);
    assert_eq!(s.dev.usage(MemType::TT), 0);
    drop(r);
    s.check();
}
