//! Small holes by exact size: one most-recent-first list per size, found through a
//! two-level bitmap (the segregated-fit idea of TLSF, exact instead of approximate).
//!
//! Together with the size treap (holes of [`SMALL`] units and more) this is upstream's
//! `holes_size` order: sizes ascending, the most recently added hole first among equal
//! sizes. A list per size gives that order for free, and adding, removing and finding
//! the smallest fitting size are O(1), which is what the churn of small nodes needs.

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::slot::{Slot, NIL};

/// Holes smaller than this live in the buckets; the others in the size treap.
pub(crate) const SMALL: u64 = 4096;

const WORDS: usize = (SMALL as usize) / 64;

/// The per-size lists. A hole's `by_size.left`/`right` link its list (previous = more
/// recent, next = older) while it is here.
///
/// # Invariants
/// - `heads[s]` is the most recent hole of size `s`, or `NIL`.
/// - Bit `s % 64` of `words[s / 64]` is set iff `heads[s] != NIL`; bit `w` of `summary`
///   is set iff `words[w] != 0`.
#[derive(Debug)]
pub(crate) struct Buckets {
    heads: Vec<u32>,
    words: [u64; WORDS],
    summary: u64,
}

/// `SMALL` must be a multiple of 64 and at most 64 words, for the two-level bitmap.
const _: () = assert!(SMALL % 64 == 0 && WORDS <= 64);

impl Buckets {
    /// Empty buckets; the table is allocated fallibly.
    pub(crate) fn new() -> Result<Self> {
        let mut heads = Vec::new();
        heads
            .try_reserve_exact(SMALL as usize)
            .map_err(|_| Error::OutOfMemory)?;
        heads.resize(SMALL as usize, NIL);
        Ok(Self {
            heads,
            words: [0; WORDS],
            summary: 0,
        })
    }

    #[inline(always)]
    fn set(&mut self, s: usize) {
        self.words[s / 64] |= 1 << (s % 64);
        self.summary |= 1 << (s / 64);
    }

    #[inline(always)]
    fn clear(&mut self, s: usize) {
        self.words[s / 64] &= !(1 << (s % 64));
        if self.words[s / 64] == 0 {
            self.summary &= !(1 << (s / 64));
        }
    }

    /// Pushes hole `i` (its `hole_size` < `SMALL`) as the most recent of its size.
    #[inline(always)]
    pub(crate) fn push(&mut self, slots: &mut [Slot], i: u32) {
        let s = slots[i as usize].hole_size as usize;
        let head = self.heads[s];
        slots[i as usize].by_size.left = NIL;
        slots[i as usize].by_size.right = head;
        if head == NIL {
            self.set(s);
        } else {
            slots[head as usize].by_size.left = i;
        }
        self.heads[s] = i;
    }

    /// Unlinks hole `i` from its list.
    #[inline(always)]
    pub(crate) fn remove(&mut self, slots: &mut [Slot], i: u32) {
        let s = slots[i as usize].hole_size as usize;
        let (p, n) = (
            slots[i as usize].by_size.left,
            slots[i as usize].by_size.right,
        );
        if p == NIL {
            self.heads[s] = n;
            if n == NIL {
                self.clear(s);
            }
        } else {
            slots[p as usize].by_size.right = n;
        }
        if n != NIL {
            slots[n as usize].by_size.left = p;
        }
    }

    /// The smallest non-empty size `>= s`, if any below `SMALL`.
    #[inline]
    fn first_size_from(&self, s: u64) -> Option<usize> {
        if s >= SMALL {
            return None;
        }
        // INVARIANT: s < SMALL, so it fits in usize on every target.
        let s = s as usize;
        let (w, b) = (s / 64, s % 64);
        let word = self.words[w] & (!0u64 << b);
        if word != 0 {
            return Some(w * 64 + word.trailing_zeros() as usize);
        }
        let above = if w + 1 < 64 {
            self.summary & (!0u64 << (w + 1))
        } else {
            0
        };
        if above == 0 {
            return None;
        }
        let w = above.trailing_zeros() as usize;
        Some(w * 64 + self.words[w].trailing_zeros() as usize)
    }

    /// The most recent hole of the smallest size `>= s` (`NIL` if none is small).
    #[inline]
    pub(crate) fn first_fit(&self, s: u64) -> u32 {
        self.first_size_from(s).map_or(NIL, |s| self.heads[s])
    }

    /// The hole after `i` in size order within the buckets (`NIL` past the largest).
    #[inline]
    pub(crate) fn next(&self, slots: &[Slot], i: u32) -> u32 {
        let n = slots[i as usize].by_size.right;
        if n != NIL {
            return n;
        }
        self.first_fit(slots[i as usize].hole_size + 1)
    }

    /// A hole of the largest small size (`NIL` if the buckets are empty).
    pub(crate) fn largest(&self) -> u32 {
        if self.summary == 0 {
            return NIL;
        }
        let w = 63 - self.summary.leading_zeros() as usize;
        self.heads[w * 64 + 63 - self.words[w].leading_zeros() as usize]
    }

    /// Checks the lists against `slots` and the bitmaps; returns the number of holes.
    pub(crate) fn check(
        &self,
        slots: &[Slot],
    ) -> core::result::Result<usize, alloc::string::String> {
        let mut count = 0;
        for (s, &head) in self.heads.iter().enumerate() {
            let bit = self.words[s / 64] & (1 << (s % 64)) != 0;
            if bit != (head != NIL) {
                return Err(alloc::format!(
                    "bucket {s}: bitmap bit {bit} but head {head}"
                ));
            }
            let (mut i, mut prev, mut seq) = (head, NIL, u64::MAX);
            while i != NIL {
                let sl = &slots[i as usize];
                if sl.hole_size != s as u64 {
                    return Err(alloc::format!(
                        "slot {i} with hole {} in bucket {s}",
                        sl.hole_size
                    ));
                }
                if sl.by_size.left != prev || sl.hole_seq >= seq {
                    return Err(alloc::format!("bucket {s} list broken at slot {i}"));
                }
                seq = sl.hole_seq;
                count += 1;
                if count > slots.len() {
                    return Err(alloc::format!("bucket {s} list cycles"));
                }
                prev = i;
                i = sl.by_size.right;
            }
        }
        for (w, &word) in self.words.iter().enumerate() {
            if (self.summary & (1 << w) != 0) != (word != 0) {
                return Err(alloc::format!("summary bit {w} disagrees with its word"));
            }
        }
        Ok(count)
    }
}
