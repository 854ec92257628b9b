//! CPU access through mappings, eviction never moving a mapped object, no foreign
//! bytes in new objects, wipe-on-release, and exact INFO numbers.

#![allow(clippy::unwrap_used)]

mod gem_common;

use gem_common::*;
use pddgpu::gem::Error;
use pddgpu::uapi::{
    CreateFlags, Domains, Errno, GemCreate, GemOp, GemOpKind, HeapInfo, InfoQuery, MemoryInfo,
};

#[test]
fn mapping_moves_into_the_visible_window_and_eviction_never_moves_it() {
    let dev = device();
    let f = open(&dev);
    let hd = create(&f, MIB, Domains::VRAM | Domains::GTT, CreateFlags::empty());
    // A fresh VRAM hands out its top, above the 16 MiB window.
    assert_eq!(f.gem_info(hd).unwrap().gpu_offset, Some(63 * MIB));
    let m = f.map(hd).unwrap();
    let at = f.gem_info(hd).unwrap();
    assert_eq!(at.domain, Domains::VRAM);
    assert!(at.gpu_offset.unwrap() + MIB <= 16 * MIB, "{at:?}");
    assert_eq!(at.map_count, 1);
    let data = pattern(3, MIB as usize);
    m.write(0, &data).unwrap();
    // Pressure: fill the rest of VRAM with pinned objects, then ask for more; only
    // the mapped object could make room, and it must not move.
    for _ in 0..7 {
        let filler = create(&f, 9 * MIB, Domains::VRAM, CreateFlags::empty());
        let pin = GemOp {
            handle: filler,
            op: GemOpKind::Pin(Domains::VRAM),
        };
        f.gem_op(&pin).unwrap();
    }
    assert_eq!(dev.mem_info().vram_used, 64 * MIB);
    let req = GemCreate::new(MIB, 0, Domains::VRAM, CreateFlags::empty()).unwrap();
    let e = f.gem_create(&req).unwrap_err();
    assert_eq!(f.errno(&e), Errno::NOMEM);
    let still = f.gem_info(hd).unwrap();
    assert_eq!((still.domain, still.gpu_offset), (at.domain, at.gpu_offset));
    let mut got = vec![0u8; MIB as usize];
    m.read(0, &mut got).unwrap();
    assert_eq!(got, data);
    // Unmapped, the same request evicts it to GTT, contents intact.
    drop(m);
    assert_eq!(f.gem_info(hd).unwrap().map_count, 0);
    f.gem_create(&req).unwrap();
    assert_eq!(f.gem_info(hd).unwrap().domain, Domains::GTT);
    f.map(hd).unwrap().read(0, &mut got).unwrap();
    assert_eq!(got, data);
    dev.check().unwrap();
}

#[test]
fn mapping_bounds_and_permissions() {
    let dev = device();
    let f = open(&dev);
    let hd = create(&f, 8 * KIB, Domains::GTT, CreateFlags::empty());
    let m = f.map(hd).unwrap();
    assert_eq!(m.len(), 8 * KIB);
    let mut buf = [0u8; 16];
    for (offset, len) in [(8 * KIB - 8, 16usize), (8 * KIB, 1), (u64::MAX, 1)] {
        let e = m.read(offset, &mut buf[..len]).unwrap_err();
        assert!(matches!(e, Error::OutOfBounds { .. }), "{e:?}");
        assert_eq!(f.errno(&e), Errno::INVAL);
        assert!(m.write(offset, &buf[..len]).is_err());
    }
    m.write(8 * KIB - 16, &[7u8; 16]).unwrap();
    let secret = create(&f, 4 * KIB, Domains::VRAM, CreateFlags::NO_CPU_ACCESS);
    let e = f.map(secret).unwrap_err();
    assert_eq!(f.errno(&e), Errno::PERM);
    assert_eq!(f.errno(&f.gem_mmap(secret).unwrap_err()), Errno::PERM);
    assert_eq!(f.gem_info(secret).unwrap().map_count, 0);
}

#[test]
fn new_objects_never_show_previous_bytes() {
    for domains in [Domains::VRAM, Domains::GTT] {
        let dev = device();
        let f = open(&dev);
        let size = 256 * KIB;
        let a = create(&f, size, domains, CreateFlags::CPU_ACCESS_REQUIRED);
        let where_a = f.gem_info(a).unwrap().gpu_offset;
        f.map(a)
            .unwrap()
            .write(0, &pattern(9, size as usize))
            .unwrap();
        f.gem_close(a).unwrap();
        let b = create(&f, size, domains, CreateFlags::CPU_ACCESS_REQUIRED);
        assert_eq!(
            f.gem_info(b).unwrap().gpu_offset,
            where_a,
            "same space again"
        );
        let mut got = vec![0xffu8; size as usize];
        f.map(b).unwrap().read(0, &mut got).unwrap();
        assert!(
            got.iter().all(|&x| x == 0),
            "{domains:?}: old bytes visible"
        );
    }
}

#[test]
fn wipe_on_release_returns_cleared_blocks() {
    let dev = device();
    let f = open(&dev);
    let size = 512 * KIB;
    let plain = create(&f, size, Domains::VRAM, CreateFlags::CPU_ACCESS_REQUIRED);
    let wipe = create(
        &f,
        size,
        Domains::VRAM,
        CreateFlags::CPU_ACCESS_REQUIRED | CreateFlags::VRAM_WIPE_ON_RELEASE,
    );
    for hd in [plain, wipe] {
        f.map(hd)
            .unwrap()
            .write(0, &pattern(1, size as usize))
            .unwrap();
    }
    let wipe_at = f.gem_info(wipe).unwrap().gpu_offset.unwrap();
    let clear0 = dev.vram_mgr().clear_avail();
    f.gem_close(plain).unwrap();
    assert_eq!(
        dev.vram_mgr().clear_avail(),
        clear0,
        "plain release is dirty"
    );
    f.gem_close(wipe).unwrap();
    assert_eq!(
        dev.vram_mgr().clear_avail(),
        clear0 + size,
        "wiped release is clear"
    );
    let mut got = vec![0xffu8; size as usize];
    dev.hw().vram().cpu_read(wipe_at, &mut got).unwrap();
    assert!(got.iter().all(|&x| x == 0), "the VRAM itself is zeroed");
    dev.check().unwrap();
}

#[test]
fn info_reports_exact_heaps() {
    let dev = device();
    let f = open(&dev);
    let heap = |total, usage, max| HeapInfo {
        total_heap_size: total,
        usable_heap_size: total,
        heap_usage: usage,
        max_allocation: max,
    };
    assert_eq!(
        f.info(InfoQuery::Memory).unwrap(),
        MemoryInfo {
            vram: heap(64 * MIB, 0, 64 * MIB),
            cpu_accessible_vram: heap(16 * MIB, 0, 16 * MIB),
            // The GART less the copy engine's two 2 MiB windows.
            gtt: heap(64 * MIB, 0, 60 * MIB),
        }
    );
    create(&f, 3 * MIB, Domains::VRAM, CreateFlags::CPU_ACCESS_REQUIRED);
    create(&f, 5 * MIB, Domains::GTT, CreateFlags::empty());
    let hv = create(&f, 8 * MIB, Domains::VRAM, CreateFlags::empty());
    let info = f.info(InfoQuery::Memory).unwrap();
    // 3 MiB at the bottom of the window (a range allocation starts low); the 8 MiB
    // object takes the smallest free block that fits, [8 MiB, 16 MiB), also visible.
    assert_eq!(info.vram.heap_usage, 11 * MIB);
    assert_eq!(info.cpu_accessible_vram.heap_usage, 11 * MIB);
    assert_eq!(info.gtt.heap_usage, 5 * MIB);
    // Free: [3, 4), [4, 8), [16, 32), [32, 64) MiB.
    assert_eq!(info.vram.max_allocation, 32 * MIB);
    assert_eq!(info.cpu_accessible_vram.max_allocation, 4 * MIB);
    assert_eq!(info.gtt.max_allocation, 59 * MIB);
    // The sysfs counters agree.
    let mem = dev.mem_info();
    assert_eq!(
        (mem.vram_used, mem.vis_vram_used, mem.gtt_used),
        (11 * MIB, 11 * MIB, 5 * MIB)
    );
    f.gem_close(hv).unwrap();
    assert_eq!(f.info(InfoQuery::Memory).unwrap().vram.heap_usage, 3 * MIB);
}

#[test]
fn zeroing_is_skipped_exactly_when_the_blocks_are_clear() {
    let dev = device();
    let f = open(&dev);
    let size = 256 * KIB;
    let cpu = CreateFlags::CPU_ACCESS_REQUIRED;
    let filled = || dev.get_stats().copy.bytes_filled;
    // Dirty memory: released without a wipe, then taken again; it must be zeroed.
    let a = create(&f, size, Domains::VRAM, cpu);
    let at = f.gem_info(a).unwrap().gpu_offset;
    f.map(a)
        .unwrap()
        .write(0, &pattern(5, size as usize))
        .unwrap();
    f.gem_close(a).unwrap();
    let before = filled();
    let b = create(&f, size, Domains::VRAM, cpu);
    assert_eq!(f.gem_info(b).unwrap().gpu_offset, at);
    assert_eq!(filled() - before, size, "dirty blocks are zeroed");
    let mut got = vec![0xffu8; size as usize];
    f.map(b).unwrap().read(0, &mut got).unwrap();
    assert!(got.iter().all(|&x| x == 0));
    f.gem_close(b).unwrap();
    // Wiped memory comes back clear: a VRAM_CLEARED object there needs no zeroing.
    let w = create(
        &f,
        size,
        Domains::VRAM,
        cpu | CreateFlags::VRAM_WIPE_ON_RELEASE,
    );
    assert_eq!(f.gem_info(w).unwrap().gpu_offset, at);
    f.map(w)
        .unwrap()
        .write(0, &pattern(6, size as usize))
        .unwrap();
    f.gem_close(w).unwrap();
    let before = filled();
    let c = create(&f, size, Domains::VRAM, cpu | CreateFlags::VRAM_CLEARED);
    assert_eq!(f.gem_info(c).unwrap().gpu_offset, at);
    assert_eq!(filled(), before, "clear blocks are not zeroed again");
    f.map(c).unwrap().read(0, &mut got).unwrap();
    assert!(got.iter().all(|&x| x == 0));
}
