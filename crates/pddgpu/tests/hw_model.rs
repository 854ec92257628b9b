//! Simulated hardware against a flat reference model (proptest).
//!
//! The model keeps VRAM and every system page as plain byte vectors and the GART as a
//! `Vec<Option<sys page>>`; a device range is resolved page by page through it. Random
//! device writes, CPU writes, copies (including overlapping and aliased ones), fills,
//! binds, unbinds and resets are applied to both; after every step the hardware's
//! `check()` must pass, every byte must agree, errors must agree exactly, and the
//! committed memory must equal the number of non-zero pages (laziness, exactly).

// Helpers outside #[test] fns unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use pddgpu::hw::{DevAddr, DmaAddr, HwConfig, HwError, SimHw};
use proptest::prelude::*;

const PAGE: u64 = 4096;
const VRAM_PAGES: u64 = 20; // crosses a 16-page slot group
const VISIBLE_PAGES: u64 = 17;
const GART_PAGES: u64 = 8;
const SYS_PAGES: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    DevWrite(DevAddr, Vec<u8>),
    CpuWrite(u64, Vec<u8>),
    Copy(DevAddr, DevAddr, u64),
    Fill(DevAddr, u64, u8),
    Bind(u64, usize),
    Unbind(u64),
    Reset,
}

struct Model {
    vram: Vec<u8>,
    sys: Vec<Vec<u8>>,
    gart: Vec<Option<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Loc {
    Vram(usize),
    Sys(usize, usize),
}

impl Model {
    /// Resolves a device range to byte locations, or the error the hardware must give.
    fn resolve(&self, addr: DevAddr, len: u64) -> Result<Vec<Loc>, HwError> {
        match addr {
            DevAddr::Vram(off) => {
                if off.checked_add(len).map_or(true, |e| e > VRAM_PAGES * PAGE) {
                    return Err(HwError::VramOutOfRange {
                        offset: off,
                        len,
                        vram_size: VRAM_PAGES * PAGE,
                    });
                }
                Ok((off..off + len).map(|a| Loc::Vram(a as usize)).collect())
            }
            DevAddr::Gart(off) => {
                if off.checked_add(len).map_or(true, |e| e > GART_PAGES * PAGE) {
                    return Err(HwError::GartOutOfRange {
                        first_page: off / PAGE,
                        count: (off + len.max(1) - 1) / PAGE - off / PAGE + 1,
                        num_entries: GART_PAGES,
                    });
                }
                (off..off + len)
                    .map(|a| match self.gart[(a / PAGE) as usize] {
                        Some(s) => Ok(Loc::Sys(s, (a % PAGE) as usize)),
                        None => Err(HwError::GartFault {
                            gart_page: a / PAGE,
                        }),
                    })
                    .collect()
            }
        }
    }

    fn get(&self, l: Loc) -> u8 {
        match l {
            Loc::Vram(a) => self.vram[a],
            Loc::Sys(s, o) => self.sys[s][o],
        }
    }

    fn set(&mut self, l: Loc, v: u8) {
        match l {
            Loc::Vram(a) => self.vram[a] = v,
            Loc::Sys(s, o) => self.sys[s][o] = v,
        }
    }

    fn nonzero_pages(&self) -> u64 {
        let v = self
            .vram
            .chunks(PAGE as usize)
            .filter(|p| p.iter().any(|&b| b != 0));
        let s = self.sys.iter().filter(|p| p.iter().any(|&b| b != 0));
        (v.count() + s.count()) as u64
    }
}

fn dev_addr() -> impl Strategy<Value = DevAddr> {
    prop_oneof![
        // Mostly in range, sometimes just past the end.
        (0..VRAM_PAGES * PAGE + 16).prop_map(DevAddr::Vram),
        (0..GART_PAGES * PAGE + 16).prop_map(DevAddr::Gart),
        // Page aligned, for whole-page transfers.
        (0..=VRAM_PAGES).prop_map(|p| DevAddr::Vram(p * PAGE)),
        (0..=GART_PAGES).prop_map(|p| DevAddr::Gart(p * PAGE)),
    ]
}

fn len() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..16u64,
        4090..4102u64,
        0..3 * PAGE,
        (1..4u64).prop_map(|n| n * PAGE)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (dev_addr(), len()).prop_flat_map(|(a, n)| {
            prop::collection::vec(prop_oneof![Just(0u8), any::<u8>()], n as usize)
                .prop_map(move |d| Op::DevWrite(a, d))
        }),
        1 => (0..VISIBLE_PAGES * PAGE + 8, 0..64usize).prop_flat_map(|(o, n)| {
            prop::collection::vec(any::<u8>(), n).prop_map(move |d| Op::CpuWrite(o, d))
        }),
        4 => (dev_addr(), dev_addr(), len()).prop_map(|(s, d, n)| Op::Copy(s, d, n)),
        2 => (dev_addr(), len(), prop_oneof![Just(0u8), any::<u8>()])
            .prop_map(|(d, n, v)| Op::Fill(d, n, v)),
        2 => (0..GART_PAGES, 0..SYS_PAGES).prop_map(|(g, s)| Op::Bind(g, s)),
        1 => (0..GART_PAGES).prop_map(Op::Unbind),
        1 => Just(Op::Reset),
    ]
}

fn apply(hw: &SimHw, m: &mut Model, sys: &[DmaAddr], op: &Op) {
    match op {
        Op::DevWrite(a, data) => {
            let want = m.resolve(*a, data.len() as u64);
            let got = hw.dev_write(*a, data);
            match want {
                Ok(locs) => {
                    got.unwrap();
                    for (l, &b) in locs.into_iter().zip(data) {
                        m.set(l, b);
                    }
                }
                Err(e) => assert_eq!(got, Err(e)),
            }
        }
        Op::CpuWrite(o, data) => {
            let got = hw.vram().cpu_write(*o, data);
            if o + data.len() as u64 <= VISIBLE_PAGES * PAGE {
                got.unwrap();
                m.vram[*o as usize..*o as usize + data.len()].copy_from_slice(data);
            } else {
                assert_eq!(
                    got,
                    Err(HwError::NotCpuVisible {
                        offset: *o,
                        len: data.len() as u64,
                        visible_size: VISIBLE_PAGES * PAGE
                    })
                );
            }
        }
        Op::Copy(s, d, n) => {
            let want = m.resolve(*s, *n).and_then(|s| Ok((s, m.resolve(*d, *n)?)));
            let got = hw.copy(*s, *d, *n);
            match want {
                Ok((src, dst)) => {
                    got.unwrap();
                    // memmove: read everything first.
                    let bytes: Vec<u8> = src.iter().map(|&l| m.get(l)).collect();
                    for (l, b) in dst.into_iter().zip(bytes) {
                        m.set(l, b);
                    }
                }
                Err(e) => assert_eq!(got, Err(e)),
            }
        }
        Op::Fill(d, n, v) => {
            let want = m.resolve(*d, *n);
            let got = hw.fill(*d, *n, *v);
            match want {
                Ok(locs) => {
                    got.unwrap();
                    for l in locs {
                        m.set(l, *v);
                    }
                }
                Err(e) => assert_eq!(got, Err(e)),
            }
        }
        Op::Bind(g, s) => {
            hw.gart().bind(*g, &[sys[*s]]).unwrap();
            m.gart[*g as usize] = Some(*s);
        }
        Op::Unbind(g) => {
            hw.gart().unbind(*g, 1).unwrap();
            m.gart[*g as usize] = None;
        }
        Op::Reset => {
            hw.gpu_reset();
            m.gart.iter_mut().for_each(|e| *e = None);
        }
    }
}

fn compare(hw: &SimHw, m: &Model, sys: &[DmaAddr]) {
    hw.check().unwrap();
    let mut vram = vec![0u8; m.vram.len()];
    hw.vram().dev_read(0, &mut vram).unwrap();
    assert!(vram == m.vram, "VRAM differs from the model");
    for (i, &addr) in sys.iter().enumerate() {
        let mut page = vec![0u8; PAGE as usize];
        hw.sysmem().read(addr, &mut page).unwrap();
        assert!(page == m.sys[i], "system page {i} differs from the model");
    }
    for (g, e) in m.gart.iter().enumerate() {
        assert_eq!(hw.gart().translate(g as u64).ok(), e.map(|s| sys[s]));
    }
    assert_eq!(hw.committed_bytes(), m.nonzero_pages() * PAGE, "laziness");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn hardware_agrees_with_flat_model(ops in prop::collection::vec(op(), 1..40)) {
        let hw = SimHw::new(HwConfig {
            vram_size: VRAM_PAGES * PAGE,
            visible_vram_size: VISIBLE_PAGES * PAGE,
            gtt_size: GART_PAGES * PAGE,
            sys_mem_size: 64 * PAGE,
            page_size: PAGE,
        })
        .unwrap();
        // Six system pages on both sides of a slot-group boundary (pages 0, 5, 14..18).
        let all: Vec<DmaAddr> = (0..18).map(|_| hw.sysmem().alloc_pages(0).unwrap()).collect();
        let keep = [0, 5, 14, 15, 16, 17];
        for (i, &p) in all.iter().enumerate() {
            if !keep.contains(&i) {
                hw.sysmem().free_pages(p, 0).unwrap();
            }
        }
        let sys: Vec<DmaAddr> = keep.iter().map(|&i| all[i]).collect();
        let mut m = Model {
            vram: vec![0; (VRAM_PAGES * PAGE) as usize],
            sys: vec![vec![0; PAGE as usize]; SYS_PAGES],
            gart: vec![None; GART_PAGES as usize],
        };
        // Start with GART page g bound to system page g % SYS_PAGES (two aliases).
        for g in 0..GART_PAGES {
            apply(&hw, &mut m, &sys, &Op::Bind(g, g as usize % SYS_PAGES));
        }
        for op in &ops {
            apply(&hw, &mut m, &sys, op);
            compare(&hw, &m, &sys);
        }
    }
}
