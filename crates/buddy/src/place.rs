//! Placement: the allocation algorithm (upstream `gpu_buddy_alloc_blocks` and its helpers):
//! validation, the exact-range shortcut, rounding, the greedy block loop with its
//! fallback orders and force-merge, trimming, and try-harder for contiguous requests.
//! Everything that changes the tree runs inside a [`session`](BuddyAllocator::session),
//! so a failure anywhere is undone.

use alloc::vec::Vec;

use crate::arena::{State, NIL};
use crate::search::{orders_from, Class};
use crate::{AllocFlags, Block, BuddyAllocator, Error, Result};

/// A validated request in upstream terms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) size: u64,
    pub(crate) min_block_size: u64,
    pub(crate) flags: AllocFlags,
    /// Whether `start + size == end` means "exactly this span" (always upstream; not for
    /// `Window::Any`/`TopDown`, which carry no span).
    pub(crate) exact_shortcut: bool,
    /// Window force-merge may work in (upstream passes `start`/`end` even without RANGE).
    pub(crate) merge: (u64, u64),
}

/// The rounded request the greedy loop serves.
#[derive(Debug, Clone, Copy)]
struct Greedy {
    start: u64,
    end: u64,
    /// Rounded size.
    size: u64,
    min_block_size: u64,
    min_order: u32,
    flags: AllocFlags,
    merge: (u64, u64),
}

#[inline]
fn ilog2(x: u64) -> u32 {
    63 - x.leading_zeros()
}

impl BuddyAllocator {
    /// Upstream `gpu_buddy_alloc_blocks`: appends the blocks to `out`. Kept out of
    /// line: the one entry of every allocation, which instruction-count measurements
    /// bracket.
    #[inline(never)]
    pub(crate) fn alloc_params(&mut self, p: &Params, out: &mut Vec<Block>) -> Result<()> {
        let chunk = self.chunk_size();
        // Validation, in upstream's order.
        if p.size < chunk
            || p.min_block_size < chunk
            || !p.min_block_size.is_power_of_two()
            || (p.start | p.end | p.size) & (chunk - 1) != 0
            || p.end > self.size
            || p.start >= self.size
            || p.size > self.size - p.start
        {
            return Err(Error::InvalidArgument);
        }
        // The exact-range shortcut, whatever the flags (reservations use it).
        if p.exact_shortcut && p.start + p.size == p.end {
            if (p.start | p.end) & (p.min_block_size - 1) != 0 {
                return Err(Error::InvalidArgument);
            }
            let (start, end) = (p.start, p.end);
            return self.session(out, |a, out| a.alloc_exact(start, end, out));
        }
        if p.size == p.min_block_size
            && !p
                .flags
                .intersects(AllocFlags::RANGE | AllocFlags::CONTIGUOUS)
        {
            if let Some(result) = self.alloc_single(p.size, p.flags, out) {
                return result;
            }
        }
        self.alloc_general(p, out)
    }

    /// Everything but validation, the exact-range shortcut and the single-block fast
    /// path: rounding, the greedy loop, force-merge, try-harder. Out of line so that
    /// the fast path does not pay for its frame.
    #[inline(never)]
    fn alloc_general(&mut self, p: &Params, out: &mut Vec<Block>) -> Result<()> {
        let range = p.flags.contains(AllocFlags::RANGE);
        let contiguous = p.flags.contains(AllocFlags::CONTIGUOUS);
        // Upstream turns `end - 1` into U64_MAX for an empty window; we refuse it.
        if range && p.end <= p.start {
            return Err(Error::InvalidArgument);
        }
        // Rounding.
        let (size, min_block_size) = if contiguous {
            match p.size.checked_next_power_of_two() {
                Some(s) => (s, s),
                None => (u64::MAX, u64::MAX),
            }
        } else if p.size < p.min_block_size && p.size.is_power_of_two() {
            // Offset-aligned: min_block_size only aligns the offset.
            (p.size, p.min_block_size)
        } else {
            let mask = p.min_block_size - 1;
            match p.size.checked_add(mask) {
                Some(s) => (s & !mask, p.min_block_size),
                None => (u64::MAX, p.min_block_size),
            }
        };
        let too_big = size == u64::MAX
            || size > self.size
            || ilog2(size >> self.chunk_shift) > self.max_order;
        if too_big {
            if contiguous && !range {
                let (orig, min) = (p.size, p.min_block_size);
                return self.session(out, |a, out| a.try_harder(orig, min, out));
            }
            return Err(Error::InvalidArgument);
        }
        let g = Greedy {
            start: p.start,
            end: p.end,
            size,
            min_block_size,
            min_order: ilog2(min_block_size) - self.chunk_shift,
            flags: p.flags,
            merge: p.merge,
        };
        let original = (p.size, p.min_block_size);
        self.session(out, |a, out| a.alloc_greedy(&g, original, out))
    }

    /// The common request in one step: a power-of-two `size` equal to `min_block_size`,
    /// anywhere (best fit or TOPDOWN), no CONTIGUOUS. The general path would serve it with
    /// exactly one block of `size`, found by the same search and split the same way, and
    /// nothing to trim; this skips its bookkeeping, and the undo journal too when the
    /// block found has the wanted order (then nothing can fail after the search). `None`
    /// when the general path must decide (a size beyond `max_order`, or no free block:
    /// force-merge, errors).
    #[inline]
    fn alloc_single(
        &mut self,
        size: u64,
        flags: AllocFlags,
        out: &mut Vec<Block>,
    ) -> Option<Result<()>> {
        let order = ilog2(size) - self.chunk_shift;
        if order > self.max_order {
            return None;
        }
        let pref = Class::preferred(flags.contains(AllocFlags::CLEAR));
        let b = if flags.contains(AllocFlags::TOPDOWN) {
            self.find_highest(pref, orders_from(order))
        } else {
            self.find_best_fit(pref, order)
        };
        // The other index is searched best-fit, TOPDOWN or not (upstream).
        let b = b.or_else(|| self.find_best_fit(pref.other(), order))?;
        if self.node(b).order() == order {
            if let Err(e) = crate::state::reserve(out, 1) {
                return Some(Err(e));
            }
            self.unset_free(b, State::Allocated);
            out.push(self.token(b));
            return Some(Ok(()));
        }
        // Split keeping the upper half.
        let target = self.span(b).1 - size;
        Some(self.session(out, |a, out| a.carve(b, target, order, out)))
    }

    /// The main loop: greedy blocks, largest first, down to `min_order`; then trim.
    fn alloc_greedy(
        &mut self,
        g: &Greedy,
        original: (u64, u64),
        out: &mut Vec<Block>,
    ) -> Result<()> {
        let contiguous = g.flags.contains(AllocFlags::CONTIGUOUS);
        let range = g.flags.contains(AllocFlags::RANGE);
        let mut pages = g.size >> self.chunk_shift;
        let mut order = ilog2(pages);
        loop {
            order = order.min(ilog2(pages));
            loop {
                if self.alloc_one(g, order, out)? {
                    break;
                }
                let fallback = if g.size < g.min_block_size || order == g.min_order {
                    order
                } else {
                    order -= 1;
                    continue;
                };
                if self.clear_avail != 0
                    && self.force_merge(g.merge.0, g.merge.1, fallback, true)?
                    && self.alloc_one(g, fallback, out)?
                {
                    order = fallback;
                    break;
                }
                if contiguous && !range {
                    return self.try_harder(original.0, original.1, out);
                }
                return Err(Error::NoSpace);
            }
            pages -= 1 << order;
            if pages == 0 {
                break;
            }
        }
        let (original_size, _) = original;
        if !g.flags.contains(AllocFlags::TRIM_DISABLE) && original_size != g.size {
            if let Some(last) = out.pop() {
                // One block: trim it to the request; several: the last one by the excess.
                let trim_size = last.size() - (g.size - original_size);
                let idx = last.idx;
                let offset = last.offset;
                drop(last);
                self.trim_into(idx, offset, trim_size, out)?;
            }
        }
        Ok(())
    }

    /// One block of exactly `order` (upstream `__gpu_buddy_alloc_blocks`): range,
    /// offset-aligned or free-index search, then split down and take. `false` if no
    /// block was found.
    fn alloc_one(&mut self, g: &Greedy, order: u32, out: &mut Vec<Block>) -> Result<bool> {
        let clear = g.flags.contains(AllocFlags::CLEAR);
        let found = if g.flags.contains(AllocFlags::RANGE) {
            // A compatible pass, then one ignoring the clear state.
            let first = if clear {
                self.find_range_slot_clear_root(order, g.start, g.end)
            } else {
                self.find_range_slot(Class::Dirty, order, g.start, g.end)
            };
            first.or_else(|| self.find_range_slot(Class::Any, order, g.start, g.end))
        } else if g.size < g.min_block_size {
            self.find_offset_aligned(order, g.min_block_size, clear)
        } else {
            let pref = Class::preferred(clear);
            let b = if g.flags.contains(AllocFlags::TOPDOWN) {
                self.find_highest(pref, orders_from(order))
            } else {
                self.find_best_fit(pref, order)
            };
            // The other index is searched best-fit, TOPDOWN or not (upstream).
            b.or_else(|| self.find_best_fit(pref.other(), order))
                .map(|b| {
                    // Split keeping the upper half.
                    let (_, end) = self.span(b);
                    (b, end - self.order_size(order))
                })
        };
        match found {
            // A block of the wanted order needs no split (the common case of churn).
            Some((b, _)) if self.node(b).order() == order => {
                self.take(b, out)?;
                Ok(true)
            }
            Some((b, target)) => {
                self.carve(b, target, order, out)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Upstream `gpu_buddy_offset_aligned_allocation`'s search: smallest order first,
    /// the search switching between the clear and dirty index at every miss. Returns the
    /// block and the target offset (the highest aligned slot in it).
    fn find_offset_aligned(&self, order: u32, align: u64, clear: bool) -> Option<(u32, u64)> {
        let mut class = Class::preferred(clear);
        for tmp in order..=self.max_order {
            let mut b = self.find_aligned(class, tmp, align);
            if b.is_none() {
                class = class.other();
                b = self.find_aligned(class, tmp, align);
            }
            if let Some(b) = b {
                let (s, e) = self.span(b);
                let target = if e - s >= align { e - align } else { s };
                return Some((b, target));
            }
        }
        None
    }

    /// Force-merge (upstream `__force_merge`): in each free index (clear first), for
    /// orders `min_order - 1` down to 0, highest block first, merge free blocks lying in
    /// `[lo, hi)` whose buddy is free (so of the other clear state) upward into dirty
    /// blocks. `true` as soon as a merge reaches `min_order`.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] if the journal cannot grow (only with `journal`).
    pub(crate) fn force_merge(
        &mut self,
        lo: u64,
        hi: u64,
        min_order: u32,
        journal: bool,
    ) -> Result<bool> {
        if min_order == 0 || min_order > self.max_order {
            return Ok(false);
        }
        for class in [Class::Clear, Class::Dirty] {
            for order in (0..min_order).rev() {
                let mut below = hi;
                while let Some(b) = self.find_highest_within(class, 1 << order, lo, below) {
                    below = self.node(b).offset();
                    if self.node(b).parent == NIL
                        || self.node(self.sibling(b)).state() != State::Free
                    {
                        continue;
                    }
                    if journal {
                        self.journal
                            .try_reserve(self.max_order as usize + 1)
                            .map_err(|_| Error::OutOfMemory)?;
                    }
                    let merged = self.force_merge_block(b, journal);
                    if self.node(merged).order() >= min_order {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// Walks `[start, end)` as upstream `__alloc_range` does (ascending DFS) without
    /// changing anything. `Err(filled)` if it would fail with `-ENOSPC`, `filled` being
    /// the bytes upstream would have allocated from `start` before failing.
    pub(crate) fn probe_exact(&self, start: u64, end: u64) -> core::result::Result<(), u64> {
        // Upstream consults clear_avail as it allocates; follow it.
        let mut clear_avail = self.clear_avail;
        let mut stack = [0u32; 64];
        for root in 0..self.n_roots {
            let mut sp = 0;
            stack[sp] = root;
            sp += 1;
            while sp > 0 {
                sp -= 1;
                let n = stack[sp];
                let (s, e) = self.span(n);
                if e <= start || s >= end {
                    continue;
                }
                let node = self.node(n);
                match node.state() {
                    State::Allocated | State::Unused => return Err(s.max(start) - start),
                    State::Free => {
                        if node.is_clear() {
                            clear_avail = clear_avail.saturating_sub(e.min(end) - s.max(start));
                        }
                    }
                    State::Split => {
                        if s >= start && e <= end && clear_avail == 0 {
                            // Without clear memory a contained split block must hold an
                            // allocated descendant: upstream fails here.
                            return Err(s - start);
                        }
                        stack[sp] = node.left + 1;
                        stack[sp + 1] = node.left;
                        sp += 2;
                    }
                }
            }
        }
        if end > self.size {
            return Err(self.size.saturating_sub(start));
        }
        Ok(())
    }

    /// Allocates exactly `[start, end)` (upstream `__alloc_range`): the free blocks
    /// covering it, splitting the ones that stick out, in ascending order.
    ///
    /// # Errors
    /// [`Error::NoSpace`] if any byte is allocated; [`Error::OutOfMemory`].
    pub(crate) fn alloc_exact(&mut self, start: u64, end: u64, out: &mut Vec<Block>) -> Result<()> {
        if self.probe_exact(start, end).is_err() {
            return Err(Error::NoSpace);
        }
        for root in 0..self.n_roots {
            self.exact_from(root, start, end, out)?;
        }
        Ok(())
    }

    /// The mutating walk of an exact range below `top` (the probe said it fits).
    fn exact_from(&mut self, top: u32, start: u64, end: u64, out: &mut Vec<Block>) -> Result<()> {
        let mut stack = [0u32; 64];
        let mut sp = 1;
        stack[0] = top;
        while sp > 0 {
            sp -= 1;
            let n = stack[sp];
            let (s, e) = self.span(n);
            if e <= start || s >= end {
                continue;
            }
            match self.node(n).state() {
                State::Free if s >= start && e <= end => {
                    self.take(n, out)?;
                }
                State::Free => {
                    let left = self.split(n)?;
                    stack[sp] = left + 1;
                    stack[sp + 1] = left;
                    sp += 2;
                }
                State::Split => {
                    let left = self.node(n).left;
                    stack[sp] = left + 1;
                    stack[sp + 1] = left;
                    sp += 2;
                }
                State::Allocated | State::Unused => return Err(Error::NoSpace),
            }
        }
        Ok(())
    }

    /// Trims allocated block `b` to `[start, start + size)` (inside it): `b` becomes
    /// free and the span is allocated out of it as an exact range; the rest stays free
    /// below `b` (upstream `gpu_buddy_block_trim`, where the parent link is cut so the
    /// rest cannot merge above `b`; we never merge while allocating).
    pub(crate) fn trim_into(
        &mut self,
        b: u32,
        start: u64,
        size: u64,
        out: &mut Vec<Block>,
    ) -> Result<()> {
        self.release(b)?;
        self.exact_from(b, start, start + size, out)
    }

    /// Upstream `__alloc_contig_try_harder` with the 2026 alignment fix
    /// (CVE-2026-72244): for each free block of order `floor(log2(size))`, clear index
    /// first, highest first, try `size` bytes growing right from it, else shifted left
    /// by what was missing; every candidate start is rounded down to `min_block_size`
    /// and exactly `size` bytes are allocated.
    fn try_harder(&mut self, size: u64, min_block_size: u64, out: &mut Vec<Block>) -> Result<()> {
        let order = ilog2(size) - self.chunk_shift;
        if order == 0 || order > self.max_order {
            return Err(Error::NoSpace);
        }
        let align = !(min_block_size - 1);
        for class in [Class::Clear, Class::Dirty] {
            let mut below = u64::MAX;
            while let Some(b) = self.find_highest_within(class, 1 << order, 0, below) {
                let rhs = self.node(b).offset();
                below = rhs;
                let candidate = match self.probe_exact(rhs, rhs.saturating_add(size)) {
                    Ok(()) if rhs & !align == 0 => Some(rhs),
                    Ok(()) => Some(rhs & align),
                    Err(filled) => {
                        let missing = size - filled;
                        (missing <= rhs).then(|| (rhs - missing) & align)
                    }
                };
                let Some(start) = candidate else { continue };
                let end = start.saturating_add(size);
                if start == rhs || self.probe_exact(start, end).is_ok() {
                    return self.alloc_exact(start, end, out);
                }
            }
        }
        Err(Error::NoSpace)
    }
}
