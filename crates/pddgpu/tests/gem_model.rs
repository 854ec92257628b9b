//! Random sequences of GEM operations on two files against a reference model of
//! handles and object references; after every step the tables, the device invariants
//! and the memory usage agree with the model.

#![allow(clippy::unwrap_used)]

mod gem_common;

use std::collections::BTreeMap;

use gem_common::*;
use pddgpu::gem::{DmaBuf, Error, File, Mapping};
use pddgpu::uapi::{CreateFlags, Domains, GemCreate, Handle};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Create { file: usize, pages: u64, gtt: bool },
    Close { file: usize, handle: u32 },
    Export { file: usize, handle: u32 },
    Import { file: usize, export: usize },
    DropExport { export: usize },
    Map { file: usize, handle: u32 },
    Unmap { map: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..2usize, 1..64u64, any::<bool>())
            .prop_map(|(file, pages, gtt)| Op::Create { file, pages, gtt }),
        2 => (0..2usize, 0..8u32).prop_map(|(file, handle)| Op::Close { file, handle }),
        1 => (0..2usize, 1..8u32).prop_map(|(file, handle)| Op::Export { file, handle }),
        1 => (0..2usize, 0..4usize).prop_map(|(file, export)| Op::Import { file, export }),
        1 => (0..4usize).prop_map(|export| Op::DropExport { export }),
        1 => (0..2usize, 1..8u32).prop_map(|(file, handle)| Op::Map { file, handle }),
        1 => (0..4usize).prop_map(|map| Op::Unmap { map }),
    ]
}

/// The model: per file, handle → object; objects with their size and domain and the
/// number of references (handles, exports, mappings).
#[derive(Default)]
struct Model {
    next: [u32; 2],
    handles: [BTreeMap<u32, usize>; 2],
    objects: BTreeMap<usize, (u64, bool, usize)>,
    exports: Vec<usize>,
    maps: Vec<usize>,
    n_objects: usize,
}

impl Model {
    fn unref(&mut self, obj: usize) {
        let o = self.objects.get_mut(&obj).unwrap();
        o.2 -= 1;
        if o.2 == 0 {
            self.objects.remove(&obj);
        }
    }
    fn usage(&self) -> (u64, u64) {
        let mut u = (0, 0);
        for &(size, gtt, _) in self.objects.values() {
            if gtt {
                u.1 += size;
            } else {
                u.0 += size;
            }
        }
        u
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn gem_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dev = device();
        let files: [File; 2] = [open(&dev), open(&dev)];
        let mut exports: Vec<DmaBuf> = Vec::new();
        let mut maps: Vec<Mapping> = Vec::new();
        let mut m = Model { next: [1, 1], ..Model::default() };
        for op in &ops {
            match *op {
                Op::Create { file, pages, gtt } => {
                    let d = if gtt { Domains::GTT } else { Domains::VRAM };
                    let req = GemCreate::new(pages * 4096, 0, d, CreateFlags::empty()).unwrap();
                    let hd = files[file].gem_create(&req).unwrap();
                    prop_assert_eq!(hd.get(), m.next[file]);
                    m.next[file] += 1;
                    let obj = m.n_objects;
                    m.n_objects += 1;
                    m.objects.insert(obj, (pages * 4096, gtt, 1));
                    m.handles[file].insert(hd.get(), obj);
                }
                Op::Close { file, handle } => {
                    let r = Handle::new(handle)
                        .ok_or(Error::NoEntry { handle })
                        .and_then(|hd| files[file].gem_close(hd));
                    match m.handles[file].remove(&handle) {
                        Some(obj) => { prop_assert!(r.is_ok()); m.unref(obj); }
                        None => {
                            let stale = matches!(r, Err(Error::NoEntry { .. }));
                            prop_assert!(stale);
                        }
                    }
                }
                Op::Export { file, handle } => {
                    let r = files[file].export(h(handle));
                    match m.handles[file].get(&handle) {
                        Some(&obj) => {
                            exports.push(r.unwrap());
                            m.exports.push(obj);
                            m.objects.get_mut(&obj).unwrap().2 += 1;
                        }
                        None => prop_assert!(r.is_err()),
                    }
                }
                Op::Import { file, export } => {
                    if let Some(&obj) = m.exports.get(export) {
                        let hd = files[file].import(&exports[export]).unwrap();
                        let known = m.handles[file].iter().find(|(_, &o)| o == obj).map(|(&k, _)| k);
                        match known {
                            Some(k) => prop_assert_eq!(hd.get(), k),
                            None => {
                                prop_assert_eq!(hd.get(), m.next[file]);
                                m.next[file] += 1;
                                m.handles[file].insert(hd.get(), obj);
                                m.objects.get_mut(&obj).unwrap().2 += 1;
                            }
                        }
                    }
                }
                Op::DropExport { export } => {
                    if export < exports.len() {
                        drop(exports.remove(export));
                        let obj = m.exports.remove(export);
                        m.unref(obj);
                    }
                }
                Op::Map { file, handle } => {
                    let r = files[file].map(h(handle));
                    match m.handles[file].get(&handle) {
                        Some(&obj) => {
                            maps.push(r.unwrap());
                            m.maps.push(obj);
                            let o = m.objects.get_mut(&obj).unwrap();
                            o.2 += 1;
                        }
                        None => prop_assert!(r.is_err()),
                    }
                }
                Op::Unmap { map } => {
                    if map < maps.len() {
                        drop(maps.remove(map));
                        let obj = m.maps.remove(map);
                        m.unref(obj);
                    }
                }
            }
            for (f, mh) in files.iter().zip(&m.handles) {
                f.check().unwrap();
                let got: Vec<u32> = f.handles().iter().map(|hd| hd.get()).collect();
                let want: Vec<u32> = mh.keys().copied().collect();
                prop_assert_eq!(got, want);
            }
            dev.check().unwrap();
            prop_assert_eq!(dev.live_bos(), m.objects.len());
            // Mapped VRAM objects may sit anywhere in VRAM, never elsewhere: no pressure
            // here, so every object stays in its domain.
            prop_assert_eq!(usage(&dev), m.usage());
        }
        drop(maps);
        drop(exports);
        drop(files);
        prop_assert_eq!(usage(&dev), (0, 0));
        prop_assert!(dev.leak_report().is_empty());
    }
}
