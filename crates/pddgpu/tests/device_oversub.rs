//! Oversubscription: twice VRAM's worth of BOs with data patterns written through the
//! CPU, re-validated into VRAM in random order; every BO reads back intact through the
//! CPU and through the device.

#![allow(clippy::unwrap_used)]

use pddgpu::device::{Device, DeviceConfig};
use pddgpu::hw::HwConfig;
use pddgpu::mgr_common::RetryPolicy;
use pddgpu::uapi::Domains;
use pddgpu::BoParam;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const N: usize = 32;
const SIZE: u64 = MIB;

/// Byte `off` of BO `i`: distinct per BO and per position.
fn pattern(i: usize, off: u64) -> u8 {
    ((off / 4096 * 7 + off % 251 + i as u64 * 31) % 256) as u8
}

fn expect(i: usize) -> Vec<u8> {
    (0..SIZE).map(|off| pattern(i, off)).collect()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn twice_vram_worth_survives_random_revalidation() {
    let dev = Device::new(DeviceConfig {
        hw: HwConfig {
            vram_size: 16 * MIB,
            visible_vram_size: 8 * MIB,
            gtt_size: 64 * MIB,
            sys_mem_size: 128 * MIB,
            page_size: 4096,
        },
        gtt_size: Some(24 * MIB),
        vram_retry: RetryPolicy::NONE,
        gtt_retry: RetryPolicy::NONE,
        ..DeviceConfig::default()
    })
    .unwrap();
    let bos: Vec<_> = (0..N)
        .map(|i| {
            let bo = dev
                .bo_create(&BoParam::new(SIZE, Domains::VRAM | Domains::GTT))
                .unwrap();
            bo.cpu_write(0, &expect(i)).unwrap();
            bo
        })
        .collect();
    // 32 MiB of BOs in 16 MiB of VRAM: at least half are outside VRAM.
    assert!(dev.get_stats().gtt.used_size >= 16 * MIB);
    dev.check().unwrap();

    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut buf = vec![0u8; SIZE as usize];
    for round in 0..3 * N {
        let i = (rng.next() % N as u64) as usize;
        bos[i].validate(Domains::VRAM).unwrap();
        assert_eq!(bos[i].domain(), Some(Domains::VRAM));
        // What the device sees, without moving anything.
        bos[i].dev_read(0, &mut buf).unwrap();
        assert!(
            buf == expect(i),
            "round {round}: BO {i} corrupted (device read)"
        );
        // Spot-check another BO wherever it is now, through the CPU (this may move it
        // into the visible window).
        let j = (rng.next() % N as u64) as usize;
        let off = rng.next() % (SIZE - 4 * KIB);
        let mut small = [0u8; 64];
        bos[j].cpu_read(off, &mut small).unwrap();
        let want: Vec<u8> = (off..off + 64).map(|o| pattern(j, o)).collect();
        assert_eq!(small[..], want[..], "round {round}: BO {j} at {off:#x}");
    }
    for (i, bo) in bos.iter().enumerate() {
        bo.cpu_read(0, &mut buf).unwrap();
        assert!(buf == expect(i), "final: BO {i} corrupted (CPU read)");
    }

    let s = dev.get_stats();
    assert!(s.vram.counters.evictions > 0, "{:?}", s.vram.counters);
    assert!(s.vram.counters.bytes_moved >= s.vram.counters.evictions * SIZE);
    assert!(s.gtt.counters.bytes_moved > 0);
    assert_eq!(s.vram.used_size + s.gtt.used_size, 32 * MIB);
    dev.check().unwrap();
    drop(bos);
    let s = dev.get_stats();
    assert_eq!((s.vram.used_size, s.gtt.used_size, s.live_bos), (0, 0, 0));
    assert_eq!(dev.hw().gart().bound_entries(), 0);
    dev.check().unwrap();
}
