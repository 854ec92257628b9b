//! Intrusive treaps over the slot arena.
//!
//! Two trees thread through every [`Slot`]: the address tree (the nodes followed by a
//! hole, keyed by node end = hole start, augmented with the largest hole per subtree, as
//! upstream's `holes_addr` with `subtree_max_hole`) and the hole-size tree (holes of
//! `buckets::SMALL` units or more, keyed by hole size then recency, as upstream's
//! `holes_size`). A treap keeps both balanced in expectation: a slot's priority is a
//! fixed hash of its index (handed over with the position when one node takes another's
//! place), so the shape does not depend on the insertion order and no random state is
//! needed.
//!
//! All operations are O(log n) expected; links are `u32` indices, [`NIL`] = none.

use core::cmp::Ordering;

use crate::slot::{Links, Slot, NIL};

/// A fresh heap priority for slot `i`: a fixed mix of the index (parents have higher
/// or equal values). Stored in the slot; a node that takes another's place in the
/// address tree takes its priority too.
pub(crate) fn prio_of(i: u32) -> u16 {
    let mut x = u64::from(i).wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    // INVARIANT: only the top 16 bits are kept; truncation is the intent here.
    (x >> 48) as u16
}

/// The stored priority of slot `i`.
#[inline]
fn prio(slots: &[Slot], i: u32) -> u16 {
    slots[i as usize].prio
}

/// One intrusive tree: which links it uses, its order and its augmentation.
pub(crate) trait Tree {
    /// This tree's links in `s`.
    fn links(s: &Slot) -> &Links;
    /// This tree's links in `s`, mutably.
    fn links_mut(s: &mut Slot) -> &mut Links;
    /// Total order of the tree's keys.
    fn cmp(a: &Slot, b: &Slot) -> Ordering;
    /// Whether [`update`](Self::update) does anything (if not, no walk to the root).
    const AUGMENTED: bool;
    /// Recomputes the augmentation of `i` from its own value and its children.
    #[inline]
    fn update(_slots: &mut [Slot], _i: u32) {}
    /// After `x` was rotated above its former parent `p`: fixes both augmentations.
    #[inline]
    fn rotated(slots: &mut [Slot], p: u32, x: u32) {
        Self::update(slots, p);
        Self::update(slots, x);
    }
    /// After slot `i` left the tree (links already cleared).
    #[inline]
    fn detached(_s: &mut Slot) {}
    /// After the subtree at `i` changed below it (a child attached or spliced out):
    /// the augmentation is carried up (`lazy`: marked stale, see [`mark`]).
    #[inline]
    fn changed(_slots: &mut [Slot], _i: u32, _lazy: bool) {}
}

/// Upstream `holes_addr`: the nodes followed by a hole, by end address (= hole start).
#[derive(Debug)]
pub(crate) struct AddrTree;

impl Tree for AddrTree {
    const AUGMENTED: bool = true;
    #[inline]
    fn links(s: &Slot) -> &Links {
        &s.addr
    }
    #[inline]
    fn links_mut(s: &mut Slot) -> &mut Links {
        &mut s.addr
    }
    #[inline]
    fn cmp(a: &Slot, b: &Slot) -> Ordering {
        a.end().cmp(&b.end())
    }
    #[inline]
    fn update(slots: &mut [Slot], i: u32) {
        let s = &slots[i as usize];
        let mut m = s.hole_size;
        let (l, r) = (s.addr.left, s.addr.right);
        if l != NIL {
            m = m.max(slots[l as usize].max_hole);
        }
        if r != NIL {
            m = m.max(slots[r as usize].max_hole);
        }
        slots[i as usize].max_hole = m;
    }
    #[inline]
    fn rotated(slots: &mut [Slot], p: u32, x: u32) {
        // The subtree of `x` now is the former subtree of `p`: stale iff that was.
        if slots[p as usize].dirty {
            slots[x as usize].dirty = true;
        } else {
            Self::update(slots, p);
            Self::update(slots, x);
        }
    }
    #[inline]
    fn detached(s: &mut Slot) {
        s.dirty = false;
    }
    #[inline]
    fn changed(slots: &mut [Slot], i: u32, lazy: bool) {
        fix(slots, i, lazy);
    }
}

/// Upstream `holes_size`: holes by size ascending; among equal sizes the most recently
/// added first (upstream walks the same order from the other end).
#[derive(Debug)]
pub(crate) struct SizeTree;

impl Tree for SizeTree {
    const AUGMENTED: bool = false;
    #[inline]
    fn links(s: &Slot) -> &Links {
        &s.by_size
    }
    #[inline]
    fn links_mut(s: &mut Slot) -> &mut Links {
        &mut s.by_size
    }
    #[inline]
    fn cmp(a: &Slot, b: &Slot) -> Ordering {
        a.hole_size
            .cmp(&b.hole_size)
            .then_with(|| b.hole_seq.cmp(&a.hole_seq))
    }
}

#[inline]
fn l<T: Tree>(slots: &[Slot], i: u32) -> Links {
    *T::links(&slots[i as usize])
}

#[inline]
fn lm<T: Tree>(slots: &mut [Slot], i: u32) -> &mut Links {
    T::links_mut(&mut slots[i as usize])
}

/// Recomputes the augmentation of `i` and carries the change up, stopping as soon as
/// an ancestor is provably unaffected: a grown value only needs comparing with the
/// parent's, and a shrunk one only matters if it was the parent's maximum.
pub(crate) fn propagate(slots: &mut [Slot], i: u32) {
    if i == NIL {
        return;
    }
    let old = slots[i as usize].max_hole;
    AddrTree::update(slots, i);
    carry(slots, i, old);
}

/// Carries the change of `i`'s augmentation from `old` to its current value up to the
/// ancestors (see [`propagate`]). The direction never changes on the way up, so a
/// growth and a shrink each have their own, simpler walk.
#[inline(always)]
fn carry(slots: &mut [Slot], i: u32, old: u64) {
    let new = slots[i as usize].max_hole;
    if new > old {
        carry_grow(slots, i, new);
    } else if new < old {
        carry_shrink(slots, i, old, new);
    }
}

/// A maximum grown to `new` below `i`'s parent: every ancestor whose maximum is smaller
/// takes it; the first one at least as large ends the walk (its ancestors already are).
#[inline(always)]
fn carry_grow(slots: &mut [Slot], i: u32, new: u64) {
    let mut p = slots[i as usize].addr.parent;
    while p != NIL {
        let ps = &mut slots[p as usize];
        if ps.max_hole >= new {
            return;
        }
        ps.max_hole = new;
        p = ps.addr.parent;
    }
}

/// The maximum of `i`'s subtree shrunk from `old` to `new`: only a parent whose maximum
/// was `old` may change (recomputed from its own hole, `new` and the other child's);
/// the walk ends at the first parent that keeps its value.
#[inline(always)]
fn carry_shrink(slots: &mut [Slot], mut i: u32, mut old: u64, mut new: u64) {
    let mut p = slots[i as usize].addr.parent;
    while p != NIL {
        let ps = &slots[p as usize];
        let pm = ps.max_hole;
        if pm != old {
            return;
        }
        let sibling = if ps.addr.left == i {
            ps.addr.right
        } else {
            ps.addr.left
        };
        let mut m = ps.hole_size.max(new);
        if sibling != NIL {
            m = m.max(slots[sibling as usize].max_hole);
        }
        if m == pm {
            return;
        }
        let next = ps.addr.parent;
        slots[p as usize].max_hole = m;
        old = pm;
        new = m;
        i = p;
        p = next;
    }
}

/// After the hole of `i` or the subtree below it changed: in eager mode recomputes
/// `i` and carries the change up ([`propagate`]); in lazy mode only marks `i` and its
/// ancestors stale ([`mark`]), to be recomputed by [`clean`] before the next search.
#[inline(always)]
pub(crate) fn fix(slots: &mut [Slot], i: u32, lazy: bool) {
    if lazy {
        mark(slots, i);
    } else {
        propagate(slots, i);
    }
}

/// Marks `i` and its ancestors stale, stopping at the first one already stale (its
/// ancestors are too). O(1) amortized over a run of updates without searches: a path
/// is marked once, however many of its holes change.
#[inline(always)]
pub(crate) fn mark(slots: &mut [Slot], mut i: u32) {
    while i != NIL && !slots[i as usize].dirty {
        slots[i as usize].dirty = true;
        i = slots[i as usize].addr.parent;
    }
}

/// Recomputes every stale `max_hole` of the address tree (the stale slots form a
/// subtree at the root), children before parents, so that the whole tree is exact
/// again. O(stale slots).
pub(crate) fn clean(slots: &mut [Slot], root: u32) {
    if root == NIL || !slots[root as usize].dirty {
        return;
    }
    let mut t = root;
    loop {
        let lk = slots[t as usize].addr;
        if lk.left != NIL && slots[lk.left as usize].dirty {
            t = lk.left;
        } else if lk.right != NIL && slots[lk.right as usize].dirty {
            t = lk.right;
        } else {
            AddrTree::update(slots, t);
            slots[t as usize].dirty = false;
            if t == root {
                return;
            }
            t = lk.parent;
        }
    }
}

/// Replaces `old` by `new` as the child of `parent` (or as the root).
#[inline]
fn replace_child<T: Tree>(slots: &mut [Slot], root: &mut u32, parent: u32, old: u32, new: u32) {
    if parent == NIL {
        *root = new;
    } else if l::<T>(slots, parent).left == old {
        lm::<T>(slots, parent).left = new;
    } else {
        lm::<T>(slots, parent).right = new;
    }
}

/// Rotates `x` above its parent.
#[inline(always)]
fn rotate_up<T: Tree>(slots: &mut [Slot], root: &mut u32, x: u32) {
    let p = l::<T>(slots, x).parent;
    let g = l::<T>(slots, p).parent;
    if l::<T>(slots, p).left == x {
        let b = l::<T>(slots, x).right;
        lm::<T>(slots, p).left = b;
        if b != NIL {
            lm::<T>(slots, b).parent = p;
        }
        lm::<T>(slots, x).right = p;
    } else {
        let b = l::<T>(slots, x).left;
        lm::<T>(slots, p).right = b;
        if b != NIL {
            lm::<T>(slots, b).parent = p;
        }
        lm::<T>(slots, x).left = p;
    }
    lm::<T>(slots, p).parent = x;
    lm::<T>(slots, x).parent = g;
    replace_child::<T>(slots, root, g, p, x);
    T::rotated(slots, p, x);
}

/// Inserts unlinked slot `i` (its key and augmentation inputs already set).
pub(crate) fn insert<T: Tree>(slots: &mut [Slot], root: &mut u32, i: u32) {
    *lm::<T>(slots, i) = Links::NONE;
    T::update(slots, i);
    let mut parent = NIL;
    let mut t = *root;
    let mut go_left = false;
    while t != NIL {
        parent = t;
        go_left = T::cmp(&slots[i as usize], &slots[t as usize]) == Ordering::Less;
        t = if go_left {
            l::<T>(slots, t).left
        } else {
            l::<T>(slots, t).right
        };
    }
    lm::<T>(slots, i).parent = parent;
    if parent == NIL {
        *root = i;
    } else if go_left {
        lm::<T>(slots, parent).left = i;
    } else {
        lm::<T>(slots, parent).right = i;
    }
    if T::AUGMENTED {
        T::changed(slots, parent, false);
    }
    let pi = prio(slots, i);
    loop {
        let p = l::<T>(slots, i).parent;
        if p == NIL || prio(slots, p) >= pi {
            break;
        }
        rotate_up::<T>(slots, root, i);
    }
}

/// Inserts unlinked node `i` into the address tree as the in-order successor of
/// `after`, whose own hole was just changed as well (an insert splits the hole of
/// `after`): `after` is an ancestor of the attach point, so one walk recomputes the
/// path up to it and carries the combined change further up.
///
/// `lazy`: the path is only marked stale (see [`mark`]).
pub(crate) fn addr_insert_after(
    slots: &mut [Slot],
    root: &mut u32,
    after: u32,
    i: u32,
    lazy: bool,
) {
    let old_after = slots[after as usize].max_hole;
    slots[i as usize].addr = Links::NONE;
    slots[i as usize].dirty = false;
    AddrTree::update(slots, i);
    let r = slots[after as usize].addr.right;
    let parent = if r == NIL {
        slots[after as usize].addr.right = i;
        after
    } else {
        let f = first::<AddrTree>(slots, r);
        slots[f as usize].addr.left = i;
        f
    };
    slots[i as usize].addr.parent = parent;
    if lazy {
        // `after` is `parent` or one of its ancestors.
        mark(slots, parent);
    } else {
        // Below `after` the path only gained `i`'s hole; `after` also lost part of its.
        let upper = slots[i as usize].max_hole;
        let mut t = parent;
        while t != after {
            let s = &mut slots[t as usize];
            s.max_hole = s.max_hole.max(upper);
            t = s.addr.parent;
        }
        AddrTree::update(slots, after);
        carry(slots, after, old_after);
    }
    let pi = prio(slots, i);
    loop {
        let p = slots[i as usize].addr.parent;
        if p == NIL || prio(slots, p) >= pi {
            break;
        }
        rotate_up::<AddrTree>(slots, root, i);
    }
}

/// Inserts node `i` (its hole already set) into the address tree by a descent on its
/// end address; the generic [`insert`] with the key read once. `lazy`: the path is
/// only marked stale.
pub(crate) fn addr_insert(slots: &mut [Slot], root: &mut u32, i: u32, lazy: bool) {
    slots[i as usize].addr = Links::NONE;
    slots[i as usize].dirty = false;
    slots[i as usize].max_hole = slots[i as usize].hole_size;
    let key = slots[i as usize].end();
    let mut parent = NIL;
    let mut t = *root;
    let mut go_left = false;
    while t != NIL {
        parent = t;
        let s = &slots[t as usize];
        go_left = key < s.end();
        t = if go_left { s.addr.left } else { s.addr.right };
    }
    slots[i as usize].addr.parent = parent;
    if parent == NIL {
        *root = i;
    } else if go_left {
        slots[parent as usize].addr.left = i;
    } else {
        slots[parent as usize].addr.right = i;
    }
    if parent != NIL {
        fix(slots, parent, lazy);
    }
    let pi = prio(slots, i);
    loop {
        let p = slots[i as usize].addr.parent;
        if p == NIL || prio(slots, p) >= pi {
            break;
        }
        rotate_up::<AddrTree>(slots, root, i);
    }
}

/// Puts `new` (not in the tree) exactly where `old` is (in the tree) and takes `old`
/// out: the caller guarantees that no key lies between theirs, so the order holds; the
/// priority moves along, so the heap order holds. Then recomputes `new`'s augmentation
/// and carries the change up (`lazy`: marks it stale). O(1) plus the augmentation walk.
#[inline(always)]
pub(crate) fn addr_replace(slots: &mut [Slot], root: &mut u32, old: u32, new: u32, lazy: bool) {
    let lk = slots[old as usize].addr;
    let old_max = slots[old as usize].max_hole;
    slots[new as usize].addr = lk;
    slots[new as usize].prio = slots[old as usize].prio;
    slots[new as usize].dirty = slots[old as usize].dirty;
    slots[old as usize].addr = Links::NONE;
    slots[old as usize].dirty = false;
    if lk.left != NIL {
        slots[lk.left as usize].addr.parent = new;
    }
    if lk.right != NIL {
        slots[lk.right as usize].addr.parent = new;
    }
    replace_child::<AddrTree>(slots, root, lk.parent, old, new);
    if lazy {
        mark(slots, new);
    } else {
        AddrTree::update(slots, new);
        carry(slots, new, old_max);
    }
}

/// Removes node `i` from the address tree while its predecessor `prev` takes over
/// its range as hole (`prev`'s hole becomes `prev_hole`), without rotations: two
/// neighbours in key order never both have a child on the side facing each other.
///
/// - `i` has no left child: `prev` is an ancestor of `i`; `i` is spliced out (at most
///   one child) and the path from its parent up to `prev` is recomputed.
/// - Otherwise `prev` is the rightmost slot of `i`'s left subtree (no right child): it
///   is spliced out of its place and takes `i`'s (links and treap priority, so the heap
///   order holds); the path from its old parent up to its new place is recomputed.
///
/// Either way the change is then carried further up from the top of that path (`lazy`:
/// the path is only marked stale). `prev` must not be in the size treap (its priority
/// may change).
pub(crate) fn addr_remove_merge(
    slots: &mut [Slot],
    root: &mut u32,
    i: u32,
    prev: u32,
    prev_hole: u64,
    lazy: bool,
) {
    let li = slots[i as usize].addr;
    slots[prev as usize].hole_size = prev_hole;
    // The lowest changed slot, and the slot at the top of the path (whose old value the
    // carry starts from).
    let (low, high, old) = if li.left == NIL {
        if li.right != NIL {
            slots[li.right as usize].addr.parent = li.parent;
        }
        replace_child::<AddrTree>(slots, root, li.parent, i, li.right);
        (li.parent, prev, slots[prev as usize].max_hole)
    } else {
        let lp = slots[prev as usize].addr;
        debug_assert!(lp.right == NIL, "predecessor with a right child");
        let left = if lp.parent == i {
            lp.left
        } else {
            slots[lp.parent as usize].addr.right = lp.left;
            li.left
        };
        if lp.left != NIL {
            slots[lp.left as usize].addr.parent = lp.parent;
        }
        let (old, prio, dirty) = {
            let s = &slots[i as usize];
            (s.max_hole, s.prio, s.dirty)
        };
        let p = &mut slots[prev as usize];
        p.addr = Links {
            parent: li.parent,
            left,
            right: li.right,
        };
        p.prio = prio;
        p.dirty = dirty;
        if left != NIL {
            slots[left as usize].addr.parent = prev;
        }
        if li.right != NIL {
            slots[li.right as usize].addr.parent = prev;
        }
        replace_child::<AddrTree>(slots, root, li.parent, i, prev);
        let low = if lp.parent == i { prev } else { lp.parent };
        (low, prev, old)
    };
    slots[i as usize].addr = Links::NONE;
    slots[i as usize].dirty = false;
    if lazy {
        // `high` is on the path from `low` up.
        mark(slots, low);
        return;
    }
    let mut t = low;
    while t != NIL {
        AddrTree::update(slots, t);
        if t == high {
            carry(slots, high, old);
            return;
        }
        t = slots[t as usize].addr.parent;
    }
}

/// Removes linked slot `i` from the tree (`lazy`: augmentation marked stale only).
pub(crate) fn remove<T: Tree>(slots: &mut [Slot], root: &mut u32, i: u32, lazy: bool) {
    // Rotate `i` down until it has at most one child.
    loop {
        let li = l::<T>(slots, i);
        if li.left == NIL || li.right == NIL {
            break;
        }
        let c = if prio(slots, li.left) > prio(slots, li.right) {
            li.left
        } else {
            li.right
        };
        rotate_up::<T>(slots, root, c);
    }
    let li = l::<T>(slots, i);
    let child = if li.left != NIL { li.left } else { li.right };
    if child != NIL {
        lm::<T>(slots, child).parent = li.parent;
    }
    replace_child::<T>(slots, root, li.parent, i, child);
    *lm::<T>(slots, i) = Links::NONE;
    T::detached(&mut slots[i as usize]);
    if T::AUGMENTED && li.parent != NIL {
        T::changed(slots, li.parent, lazy);
    }
}

/// Leftmost slot of the subtree at `t` (`NIL` if empty).
pub(crate) fn first<T: Tree>(slots: &[Slot], mut t: u32) -> u32 {
    if t == NIL {
        return NIL;
    }
    loop {
        let left = l::<T>(slots, t).left;
        if left == NIL {
            return t;
        }
        t = left;
    }
}

/// Rightmost slot of the subtree at `t` (`NIL` if empty).
pub(crate) fn last<T: Tree>(slots: &[Slot], mut t: u32) -> u32 {
    if t == NIL {
        return NIL;
    }
    loop {
        let right = l::<T>(slots, t).right;
        if right == NIL {
            return t;
        }
        t = right;
    }
}

/// In-order successor of `i` (`NIL` after the last).
pub(crate) fn next<T: Tree>(slots: &[Slot], mut i: u32) -> u32 {
    let right = l::<T>(slots, i).right;
    if right != NIL {
        return first::<T>(slots, right);
    }
    loop {
        let p = l::<T>(slots, i).parent;
        if p == NIL || l::<T>(slots, p).left == i {
            return p;
        }
        i = p;
    }
}

/// In-order predecessor of `i` (`NIL` before the first).
pub(crate) fn prev<T: Tree>(slots: &[Slot], mut i: u32) -> u32 {
    let left = l::<T>(slots, i).left;
    if left != NIL {
        return last::<T>(slots, left);
    }
    loop {
        let p = l::<T>(slots, i).parent;
        if p == NIL || l::<T>(slots, p).right == i {
            return p;
        }
        i = p;
    }
}

// --- Address-tree searches pruned by the max-hole augmentation -----------------------

/// The augmentation of subtree `t`; only meaningful on a clean tree (see [`clean`]).
#[inline]
fn max_hole(slots: &[Slot], t: u32) -> u64 {
    if t == NIL {
        0
    } else {
        debug_assert!(!slots[t as usize].dirty, "search on a stale address tree");
        slots[t as usize].max_hole
    }
}

/// The lowest-addressed slot with `hole_size >= size` in the subtree at `t`, which must
/// contain one (`max_hole >= size`).
///
/// A child's slot is looked up once: the one tested for `max_hole` is the one stepped to.
#[inline(always)]
fn first_fit_in(slots: &[Slot], mut t: u32, size: u64) -> u32 {
    let mut s = &slots[t as usize];
    loop {
        let l = s.addr.left;
        if l != NIL {
            let ls = &slots[l as usize];
            debug_assert!(!ls.dirty, "search on a stale address tree");
            if ls.max_hole >= size {
                (t, s) = (l, ls);
                continue;
            }
        }
        if s.hole_size >= size {
            return t;
        }
        t = s.addr.right;
        s = &slots[t as usize];
    }
}

/// The highest-addressed slot with `hole_size >= size` in the subtree at `t`, which
/// must contain one.
#[inline(always)]
fn last_fit_in(slots: &[Slot], mut t: u32, size: u64) -> u32 {
    let mut s = &slots[t as usize];
    loop {
        let r = s.addr.right;
        if r != NIL {
            let rs = &slots[r as usize];
            debug_assert!(!rs.dirty, "search on a stale address tree");
            if rs.max_hole >= size {
                (t, s) = (r, rs);
                continue;
            }
        }
        if s.hole_size >= size {
            return t;
        }
        t = s.addr.left;
        s = &slots[t as usize];
    }
}

/// The lowest-addressed slot of the whole tree with `hole_size >= size` (`NIL` if none).
pub(crate) fn first_fit(slots: &[Slot], root: u32, size: u64) -> u32 {
    if max_hole(slots, root) >= size {
        first_fit_in(slots, root, size)
    } else {
        NIL
    }
}

/// The next slot after `i` in address order whose hole is at least `size`, skipping
/// subtrees without one (upstream `next_hole_low_addr`).
#[inline(always)]
pub(crate) fn next_fit(slots: &[Slot], mut i: u32, size: u64) -> u32 {
    let mut s = &slots[i as usize];
    if max_hole(slots, s.addr.right) >= size {
        return first_fit_in(slots, s.addr.right, size);
    }
    // Climbing, the parent's slot becomes the current one without a second lookup.
    loop {
        let p = s.addr.parent;
        if p == NIL {
            return NIL;
        }
        let ps = &slots[p as usize];
        if ps.addr.left == i {
            if ps.hole_size >= size {
                return p;
            }
            if max_hole(slots, ps.addr.right) >= size {
                return first_fit_in(slots, ps.addr.right, size);
            }
        }
        (i, s) = (p, ps);
    }
}

/// The previous slot before `i` in address order whose hole is at least `size`
/// (upstream `next_hole_high_addr`).
#[inline(always)]
pub(crate) fn prev_fit(slots: &[Slot], mut i: u32, size: u64) -> u32 {
    let mut s = &slots[i as usize];
    if max_hole(slots, s.addr.left) >= size {
        return last_fit_in(slots, s.addr.left, size);
    }
    // Climbing, the parent's slot becomes the current one without a second lookup.
    loop {
        let p = s.addr.parent;
        if p == NIL {
            return NIL;
        }
        let ps = &slots[p as usize];
        if ps.addr.right == i {
            if ps.hole_size >= size {
                return p;
            }
            if max_hole(slots, ps.addr.left) >= size {
                return last_fit_in(slots, ps.addr.left, size);
            }
        }
        (i, s) = (p, ps);
    }
}

/// The last slot whose end (= hole start) is `<= addr`, i.e. the owner of the hole
/// that contains `addr` if any hole does (`NIL` if `addr` is below the range).
pub(crate) fn floor_end(slots: &[Slot], root: u32, addr: u64) -> u32 {
    let mut found = NIL;
    let mut t = root;
    while t != NIL {
        let s = &slots[t as usize];
        if s.end() <= addr {
            found = t;
            t = s.addr.right;
        } else {
            t = s.addr.left;
        }
    }
    found
}

/// The last slot whose end (= hole start) is `< addr`.
pub(crate) fn below_end(slots: &[Slot], root: u32, addr: u64) -> u32 {
    let mut found = NIL;
    let mut t = root;
    while t != NIL {
        let s = &slots[t as usize];
        if s.end() < addr {
            found = t;
            t = s.addr.right;
        } else {
            t = s.addr.left;
        }
    }
    found
}

/// The smallest hole of at least `size` in the size tree (most recent among equals).
pub(crate) fn best_fit(slots: &[Slot], root: u32, size: u64) -> u32 {
    let mut found = NIL;
    let mut t = root;
    while t != NIL {
        let s = &slots[t as usize];
        if s.hole_size >= size {
            found = t;
            t = s.by_size.left;
        } else {
            t = s.by_size.right;
        }
    }
    found
}

/// Whether parent `p` and child `c` respect the treap's heap order (for `check`).
pub(crate) fn heap_ok(slots: &[Slot], p: u32, c: u32) -> bool {
    prio(slots, p) >= prio(slots, c)
}
