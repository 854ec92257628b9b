//! A vector of `Copy` values kept inline up to a fixed count and on the heap beyond.
//!
//! Placements, a TT's page chunks and the page list of a small BO hold a handful of
//! entries; storing them inline saves a heap allocation per BO creation (BASELINE.md:
//! malloc/free dominate small-object paths). Larger lists spill to a `Vec` once.

use core::fmt;
use core::hash::{Hash, Hasher};

/// Up to `N` values of `T` inline, more on the heap.
///
/// # Invariants
/// `Inline { len, .. }` has `len <= N`; only `buf[..len]` is meaningful (the rest is
/// filler). `Heap` is used only once more than `N` values were stored.
#[derive(Clone)]
pub(crate) enum InlineVec<T: Copy, const N: usize> {
    Inline { len: usize, buf: [T; N] },
    Heap(Vec<T>),
}

impl<T: Copy, const N: usize> InlineVec<T, N> {
    /// An empty vector; `fill` only initialises the unused inline slots.
    pub(crate) const fn new(fill: T) -> Self {
        InlineVec::Inline {
            len: 0,
            buf: [fill; N],
        }
    }

    /// An empty vector with room for `n` values, allocating up front if `n > N`.
    ///
    /// # Errors
    /// `None` if the heap allocation fails.
    pub(crate) fn try_with_capacity(n: usize, fill: T) -> Option<Self> {
        if n <= N {
            return Some(Self::new(fill));
        }
        let mut v = Vec::new();
        v.try_reserve_exact(n).ok()?;
        Some(InlineVec::Heap(v))
    }

    /// The values.
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            InlineVec::Inline { len, buf } => &buf[..*len],
            InlineVec::Heap(v) => v,
        }
    }

    /// The values, mutably.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            InlineVec::Inline { len, buf } => &mut buf[..*len],
            InlineVec::Heap(v) => v,
        }
    }

    /// Appends `value`, moving to the heap when the inline room is full.
    pub(crate) fn push(&mut self, value: T) {
        match self {
            InlineVec::Inline { len, buf } if *len < N => {
                buf[*len] = value;
                *len += 1;
            }
            InlineVec::Inline { buf, .. } => {
                let mut v = Vec::with_capacity(2 * N + 1);
                v.extend_from_slice(buf);
                v.push(value);
                *self = InlineVec::Heap(v);
            }
            InlineVec::Heap(v) => v.push(value),
        }
    }
}

impl<T: Copy + fmt::Debug, const N: usize> fmt::Debug for InlineVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Copy + PartialEq, const N: usize> PartialEq for InlineVec<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Copy + Eq, const N: usize> Eq for InlineVec<T, N> {}

impl<T: Copy + Hash, const N: usize> Hash for InlineVec<T, N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_to_the_heap_past_the_inline_room() {
        let mut v: InlineVec<u64, 2> = InlineVec::new(0);
        assert!(v.as_slice().is_empty());
        v.push(7);
        v.push(8);
        assert!(matches!(v, InlineVec::Inline { len: 2, .. }));
        v.push(9);
        assert!(matches!(v, InlineVec::Heap(_)));
        assert_eq!(v.as_slice(), [7, 8, 9]);
        v.as_mut_slice()[0] = 1;
        assert_eq!(format!("{v:?}"), "[1, 8, 9]");
        let mut w: InlineVec<u64, 2> = InlineVec::try_with_capacity(3, 0).unwrap();
        assert!(matches!(w, InlineVec::Heap(_)));
        for x in [1, 8, 9] {
            w.push(x);
        }
        assert_eq!(v, w);
        assert_ne!(v, InlineVec::new(0));
        assert!(matches!(
            InlineVec::<u64, 2>::try_with_capacity(2, 0),
            Some(InlineVec::Inline { len: 0, .. })
        ));
    }
}
