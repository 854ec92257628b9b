//! Property test: random operation sequences against a simple interval model that
//! predicts every placement exactly (hole order per mode, colour, range, alignment,
//! hole recency), with `check()` and a full comparison after every step.

// Test code: a failed unwrap is a test failure with its location.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use pddgpu_mm::{Error, InsertMode, Mm, Node, NodeInfo};
use proptest::prelude::*;

const MM_START: u64 = 16;
/// Small range: only small holes (size-bucket index).
const MM_SIZE: u64 = 1024;
/// Large range: holes on both sides of the bucket/treap boundary (4096 units).
const MM_SIZE_LARGE: u64 = 3 * 4096 + 5;

const MODES: [InsertMode; 6] = [
    InsertMode::Best,
    InsertMode::Low,
    InsertMode::High,
    InsertMode::Evict,
    InsertMode::Lowest,
    InsertMode::Highest,
];

/// The colour rule both sides use: one unit of guard next to another colour.
fn guard(
    before: Option<&NodeInfo>,
    after: Option<&NodeInfo>,
    color: u64,
    s: &mut u64,
    e: &mut u64,
) {
    if before.is_some_and(|n| n.color != color) {
        *s += 1;
    }
    if after.is_some_and(|n| n.color != color) {
        *e -= 1;
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        size: u64,
        align: u64,
        color: u64,
        range: (u64, u64),
        mode: InsertMode,
    },
    Reserve {
        start: u64,
        size: u64,
        color: u64,
    },
    Remove {
        idx: usize,
    },
}

/// Nodes and holes as plain maps; holes carry the step at which they were created.
#[derive(Debug, Default)]
struct Model {
    end: u64,
    nodes: BTreeMap<u64, NodeInfo>,
    holes: BTreeMap<u64, (u64, u64)>, // start -> (end, seq)
    seq: u64,
    colored: bool,
}

impl Model {
    fn new(colored: bool, size: u64) -> Self {
        let mut m = Self {
            colored,
            end: MM_START + size,
            ..Self::default()
        };
        m.add_hole(MM_START, MM_START + size);
        m
    }

    fn add_hole(&mut self, s: u64, e: u64) {
        self.seq += 1;
        self.holes.insert(s, (e, self.seq));
    }

    fn before(&self, hs: u64) -> Option<NodeInfo> {
        self.nodes
            .range(..hs)
            .next_back()
            .map(|(_, n)| *n)
            .filter(|n| n.start + n.size == hs)
    }

    fn after(&self, he: u64) -> Option<NodeInfo> {
        self.nodes.get(&he).copied()
    }

    /// The drm_mm fitting rule, written out plainly.
    // One parameter per request field keeps it comparable with the upstream code.
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &self,
        hs: u64,
        he: u64,
        size: u64,
        align: u64,
        color: u64,
        (rs, re): (u64, u64),
        top: bool,
    ) -> Option<u64> {
        let (mut cs, mut ce) = (hs, he);
        if self.colored {
            guard(
                self.before(hs).as_ref(),
                self.after(he).as_ref(),
                color,
                &mut cs,
                &mut ce,
            );
        }
        let lo = cs.max(rs);
        let hi = ce.min(re);
        if hi <= lo || hi - lo < size {
            return None;
        }
        let mut start = if top { hi - size } else { lo };
        if align > 1 {
            let rem = start % align;
            if rem != 0 {
                start -= rem;
                if !top {
                    start = start.checked_add(align)?;
                }
                if start < lo || start >= hi || hi - start < size {
                    return None;
                }
            }
        }
        Some(start)
    }

    fn insert(
        &self,
        size: u64,
        align: u64,
        color: u64,
        (rs, re): (u64, u64),
        mode: InsertMode,
    ) -> Result<u64, Error> {
        if rs > re {
            return Err(Error::InvalidArgument);
        }
        if size == 0 || re - rs < size {
            return Err(Error::NoSpace);
        }
        let fits: Vec<(u64, u64, u64)> = self
            .holes
            .iter()
            .map(|(&s, &(e, q))| (s, e, q))
            .filter(|&(s, e, _)| e - s >= size)
            .collect();
        let top = matches!(mode, InsertMode::High | InsertMode::Highest);
        let try_hole =
            |&(s, e, _): &(u64, u64, u64)| self.fit(s, e, size, align, color, (rs, re), top);
        let found = match mode {
            InsertMode::Best => {
                let mut c = fits.clone();
                c.sort_by_key(|&(s, e, q)| (e - s, std::cmp::Reverse(q)));
                c.iter().find_map(try_hole)
            }
            InsertMode::Evict => {
                let mut c: Vec<_> = self.holes.iter().map(|(&s, &(e, q))| (s, e, q)).collect();
                c.sort_by_key(|&(_, _, q)| std::cmp::Reverse(q));
                c.iter().find_map(try_hole)
            }
            InsertMode::Low | InsertMode::Lowest => {
                let once = mode == InsertMode::Lowest;
                let mut r = None;
                for h in fits.iter().filter(|h| h.1 > rs) {
                    if h.0 >= re {
                        break;
                    }
                    r = try_hole(h);
                    if r.is_some() || once {
                        break;
                    }
                }
                r
            }
            InsertMode::High | InsertMode::Highest => {
                let once = mode == InsertMode::Highest;
                let mut r = None;
                for h in fits.iter().rev().filter(|h| h.0 < re) {
                    if h.1 <= rs {
                        break;
                    }
                    r = try_hole(h);
                    if r.is_some() || once {
                        break;
                    }
                }
                r
            }
        };
        found.ok_or(Error::NoSpace)
    }

    fn reserve_ok(&self, start: u64, size: u64, color: u64) -> bool {
        let Some(end) = start.checked_add(size).filter(|_| size != 0) else {
            return false;
        };
        let Some((&hs, &(he, _))) = self.holes.range(..=start).next_back() else {
            return false;
        };
        if end > he {
            return false;
        }
        let (mut cs, mut ce) = (hs, he);
        if self.colored {
            guard(
                self.before(hs).as_ref(),
                self.after(he).as_ref(),
                color,
                &mut cs,
                &mut ce,
            );
        }
        cs <= start && ce >= end
    }

    fn commit(&mut self, start: u64, size: u64, color: u64) {
        let (&hs, &(he, _)) = self.holes.range(..=start).next_back().expect("hole");
        assert!(start + size <= he);
        self.holes.remove(&hs);
        if start > hs {
            self.add_hole(hs, start);
        }
        if start + size < he {
            self.add_hole(start + size, he);
        }
        self.nodes.insert(start, NodeInfo { start, size, color });
    }

    fn remove(&mut self, start: u64) {
        let n = self.nodes.remove(&start).expect("node");
        let end = n.start + n.size;
        let he = self.holes.remove(&end).map_or(end, |(e, _)| e);
        let before = self
            .holes
            .iter()
            .find(|(_, &(e, _))| e == start)
            .map(|(&s, _)| s);
        let hs = match before {
            Some(s) => {
                self.holes.remove(&s);
                s
            }
            None => start,
        };
        self.add_hole(hs, he);
    }

    fn compare(&self, mm: &Mm) {
        mm.check().expect("invariants");
        let holes: Vec<(u64, u64)> = self.holes.iter().map(|(&s, &(e, _))| (s, e)).collect();
        assert_eq!(mm.holes().collect::<Vec<_>>(), holes);
        let nodes: Vec<NodeInfo> = self.nodes.values().copied().collect();
        assert_eq!(mm.nodes().collect::<Vec<_>>(), nodes);
        let mut recency: Vec<(u64, u64, u64)> =
            self.holes.iter().map(|(&s, &(e, q))| (q, s, e)).collect();
        recency.sort_unstable_by(|a, b| b.cmp(a));
        let recency: Vec<(u64, u64)> = recency.into_iter().map(|(_, s, e)| (s, e)).collect();
        assert_eq!(mm.holes_by_recency().collect::<Vec<_>>(), recency);
        let used: u64 = self.nodes.values().map(|n| n.size).sum();
        assert_eq!((mm.used(), mm.free()), (used, self.end - MM_START - used));
        let largest = self.holes.iter().map(|(&s, &(e, _))| e - s).max();
        assert_eq!(mm.largest_hole().map(|(s, e)| e - s), largest);
    }
}

fn op(mm_size: u64) -> impl Strategy<Value = Op> {
    let coord = 0..MM_START + mm_size + 16;
    let range = prop_oneof![
        Just((0, u64::MAX)),
        (coord.clone(), coord.clone()).prop_map(|(a, b)| (a.min(b), a.max(b))),
        (coord.clone(), coord.clone()).prop_map(|(a, b)| (a, b)), // may be inverted
    ];
    let size = prop_oneof![
        8 => 1..48u64,
        1 => 1..600u64,
        1 => 1..mm_size / 2 + 2,
        1 => Just(0u64),
        1 => Just(u64::MAX),
    ];
    let align = prop::sample::select(vec![0u64, 1, 2, 3, 4, 7, 8, 16, 64, 1 << 63, u64::MAX]);
    prop_oneof![
        5 => (size.clone(), align, 0..3u64, range, 0..6usize).prop_map(|(size, align, color, range, m)| {
            Op::Insert { size, align, color, range, mode: MODES[m] }
        }),
        2 => (coord, size, 0..3u64).prop_map(|(start, size, color)| Op::Reserve { start, size, color }),
        4 => any::<usize>().prop_map(|idx| Op::Remove { idx }),
    ]
}

/// Mostly `Best`/`Evict` inserts over the whole range, so that long runs of updates
/// leave the address tree's augmentation stale (lazy mode) until an occasional
/// `Low`/`High`/restricted search cleans it up; sizes and alignments as [`op`].
fn op_rare_address_searches(mm_size: u64) -> impl Strategy<Value = Op> {
    let coord = 0..MM_START + mm_size + 16;
    let range = prop_oneof![
        40 => Just((0, u64::MAX)),
        1 => (coord.clone(), coord.clone()).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ];
    let mode = prop_oneof![
        30 => Just(InsertMode::Best),
        30 => Just(InsertMode::Evict),
        1 => Just(InsertMode::Low),
        1 => Just(InsertMode::High),
        1 => Just(InsertMode::Lowest),
        1 => Just(InsertMode::Highest),
    ];
    let size = prop_oneof![8 => 1..48u64, 1 => 1..600u64, 1 => 1..mm_size / 2 + 2];
    let align = prop::sample::select(vec![0u64, 1, 2, 3, 8, 64]);
    prop_oneof![
        5 => (size.clone(), align, 0..3u64, range, mode).prop_map(|(size, align, color, range, mode)| {
            Op::Insert { size, align, color, range, mode }
        }),
        1 => (coord, size, 0..3u64).prop_map(|(start, size, color)| Op::Reserve { start, size, color }),
        5 => any::<usize>().prop_map(|idx| Op::Remove { idx }),
    ]
}

fn run(ops: &[Op], colored: bool, mm_size: u64) {
    let mut mm = Mm::new(MM_START, mm_size).unwrap();
    if colored {
        mm.set_color_adjust(Some(Box::new(guard)));
    }
    let mut model = Model::new(colored, mm_size);
    let mut live: Vec<Node> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Insert {
                size,
                align,
                color,
                range,
                mode,
            } => {
                let want = model.insert(size, align, color, range, mode);
                let got = mm.insert_in_range(size, align, color, range.0, range.1, mode);
                match (want, got) {
                    (Ok(s), Ok(n)) => {
                        assert_eq!(
                            (n.start(), n.size(), n.color()),
                            (s, size, color),
                            "step {step}: {op:?}"
                        );
                        model.commit(s, size, color);
                        live.push(n);
                    }
                    (Err(w), Err(g)) => assert_eq!(w, g, "step {step}: {op:?}"),
                    (w, g) => panic!(
                        "step {step}: {op:?}: model {w:?}, mm {:?}",
                        g.map(|n| n.start())
                    ),
                }
            }
            Op::Reserve { start, size, color } => {
                let ok = model.reserve_ok(start, size, color);
                match mm.reserve(start, size, color) {
                    Ok(n) => {
                        assert!(ok, "step {step}: {op:?} should fail");
                        model.commit(start, size, color);
                        live.push(n);
                    }
                    Err(e) => {
                        assert!(!ok, "step {step}: {op:?} should succeed");
                        assert_eq!(e, Error::NoSpace);
                    }
                }
            }
            Op::Remove { idx } => {
                if !live.is_empty() {
                    let n = live.swap_remove(idx % live.len());
                    model.remove(n.start());
                    mm.remove(n).unwrap();
                }
            }
        }
        model.compare(&mm);
    }
    for n in live {
        mm.remove(n).unwrap();
    }
    mm.check().unwrap();
    assert!(mm.fini().is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn matches_the_interval_model(ops in prop::collection::vec(op(MM_SIZE), 1..200)) {
        run(&ops, false, MM_SIZE);
    }

    #[test]
    fn matches_the_interval_model_with_colours(ops in prop::collection::vec(op(MM_SIZE), 1..200)) {
        run(&ops, true, MM_SIZE);
    }

    #[test]
    fn matches_the_interval_model_large(ops in prop::collection::vec(op(MM_SIZE_LARGE), 1..200)) {
        run(&ops, false, MM_SIZE_LARGE);
    }

    #[test]
    fn matches_the_interval_model_with_rare_address_searches(
        ops in prop::collection::vec(op_rare_address_searches(MM_SIZE_LARGE), 1..400)
    ) {
        run(&ops, false, MM_SIZE_LARGE);
    }

    #[test]
    fn matches_the_interval_model_large_with_colours(
        ops in prop::collection::vec(op(MM_SIZE_LARGE), 1..200)
    ) {
        run(&ops, true, MM_SIZE_LARGE);
    }
}
