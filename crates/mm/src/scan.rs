//! The eviction scan (upstream "LRU scan roster").
//!
//! A [`Scan`] borrows the allocator mutably, so no other allocator call compiles while
//! it is open. Adding a block unlinks its node from the address list (keeping the
//! node's own links) and tests whether the gap now spanning it and every scanned
//! neighbour fits the request; removal relinks in exact reverse order. The roster is a
//! stack threaded through the slots, so the scan allocates nothing, and dropping a scan
//! with blocks still added restores them.

use crate::error::{Error, Result};
use crate::mm::{InsertMode, Mm, Node, NodeInfo, Request};
use crate::slot::{State, NIL};
use crate::tree;

/// The outcome of a scan: the window that an [`InsertMode::Evict`] insert of the
/// scanned request will occupy once the overlapping nodes are evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanResult {
    /// First unit of the window; `u64::MAX` if no fit was found.
    pub hit_start: u64,
    /// One past the last unit of the window; 0 if no fit was found.
    pub hit_end: u64,
    /// The colour of the scanned request (for [`Mm::color_evict`]).
    pub color: u64,
}

impl ScanResult {
    /// Whether the scan found a window.
    #[must_use]
    pub fn is_hit(&self) -> bool {
        self.hit_start < self.hit_end
    }
}

/// An open eviction scan over an [`Mm`] (upstream `struct drm_mm_scan`).
///
/// Created by [`Mm::scan`]; see the crate docs for the protocol.
#[derive(Debug)]
pub struct Scan<'a> {
    mm: &'a mut Mm,
    req: Request,
    /// Top of the roster stack (the most recently added node).
    top: u32,
    n_blocks: usize,
    hit_start: u64,
    hit_end: u64,
}

impl Mm {
    /// Opens an eviction scan for a node of `size` units, `alignment`, `color` in
    /// `[range_start, range_end)` placed as `mode` would place it (upstream
    /// `drm_mm_scan_init_with_range`). Only [`InsertMode::High`] places the window at the
    /// top of the gap; every other mode (including `Highest`, as upstream) at the bottom.
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] if `range_start > range_end`.
    /// - [`Error::NoSpace`] if `size` is 0 or larger than the range (upstream BUGs).
    ///
    /// # Complexity
    /// O(1).
    pub fn scan(
        &mut self,
        size: u64,
        alignment: u64,
        color: u64,
        range_start: u64,
        range_end: u64,
        mode: InsertMode,
    ) -> Result<Scan<'_>> {
        if range_start > range_end {
            return Err(Error::InvalidArgument);
        }
        if size == 0 || size > range_end - range_start {
            return Err(Error::NoSpace);
        }
        let top = mode == InsertMode::High;
        Ok(Scan {
            mm: self,
            req: Request::new(size, alignment, color, range_start, range_end, top),
            top: NIL,
            n_blocks: 0,
            hit_start: u64::MAX,
            hit_end: 0,
        })
    }

    /// After a scan and the eviction of the nodes it named, the neighbour that
    /// `color_adjust` still keeps out of the window, if any (upstream
    /// `drm_mm_scan_color_evict`). Evict it and call again until `None`.
    ///
    /// Returns `None` without a colour callback, without a hit, if no hole contains the
    /// window, or if the window is blocked only by a range boundary (which cannot be
    /// evicted; the following insert then fails with `NoSpace`).
    ///
    /// # Complexity
    /// O(log n).
    #[must_use]
    pub fn color_evict(&self, hit: &ScanResult) -> Option<NodeInfo> {
        let adjust = self.color_adjust_fn()?;
        if !hit.is_hit() {
            return None;
        }
        let h = tree::floor_end(self.slots(), self.addr_root(), hit.hit_start);
        if h == NIL {
            return None;
        }
        let s = self.slot(h);
        let (mut start, mut end) = (s.end(), s.end() + s.hole_size);
        if start > hit.hit_start || end < hit.hit_end {
            return None;
        }
        let (before, after) = (self.info_of(h), self.info_of(s.next));
        adjust(
            before.as_ref(),
            after.as_ref(),
            hit.color,
            &mut start,
            &mut end,
        );
        if start > hit.hit_start {
            before
        } else if end < hit.hit_end {
            after
        } else {
            None
        }
    }
}

impl Scan<'_> {
    /// Adds `node` to the roster (upstream `drm_mm_scan_add_block`): unlinks it and
    /// tests the gap around it. Add nodes in LRU order and stop at the first `true`
    /// (adding more is allowed; a later fit replaces the window).
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] if `node` belongs to another allocator.
    /// - [`Error::Busy`] if `node` is already in the roster.
    ///
    /// On error the scan is unchanged.
    ///
    /// # Complexity
    /// O(1) (plus the colour callback).
    pub fn add_block(&mut self, node: &Node) -> Result<bool> {
        // `Mm::lookup` and the roster test in one look at the slot's state.
        if !self.mm.owns(node) {
            return Err(Error::InvalidArgument);
        }
        let i = node.index();
        let slots = self.mm.slots_mut();
        let s = slots.get_mut(i as usize).ok_or(Error::InvalidArgument)?;
        match s.state {
            State::Allocated => {}
            State::Scanned => return Err(Error::Busy),
            State::Free | State::Head => return Err(Error::InvalidArgument),
        }
        debug_assert!(
            s.start == node.start() && s.size == node.size(),
            "token of slot {i} does not match it"
        );
        s.state = State::Scanned;
        s.scan_below = self.top;
        let (prev, next) = (s.prev, s.next);
        let p = &mut slots[prev as usize];
        p.next = next;
        let hole_start = p.end();
        let n = &mut slots[next as usize];
        n.prev = prev;
        let hole_end = n.start;
        self.top = i;
        self.n_blocks += 1;
        match self.mm.fit(prev, next, hole_start, hole_end, &self.req) {
            Some(start) => {
                self.hit_start = start;
                self.hit_end = start + self.req.size;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Removes `node` from the roster (upstream `drm_mm_scan_remove_block`); nodes must
    /// leave in exactly the reverse order of addition. Returns whether `node` overlaps
    /// the window found, i.e. must be evicted (always `false` without a fit).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `node` belongs to another allocator, is not in the
    /// roster, or is not the most recently added node still in it. On error the scan
    /// is unchanged.
    ///
    /// # Complexity
    /// O(1).
    pub fn remove_block(&mut self, node: &Node) -> Result<bool> {
        // Only the top of the roster may leave, so comparing with it validates the
        // token too (tokens are unique per live node). A node's index is never `NIL`,
        // so an empty roster fails the same comparison.
        if node.index() != self.top || !self.mm.owns(node) {
            return Err(Error::InvalidArgument);
        }
        debug_assert_eq!(self.mm.lookup(node), Ok(self.top));
        self.pop();
        Ok(node.end() > self.hit_start && node.start() < self.hit_end)
    }

    /// Number of blocks currently in the roster.
    #[must_use]
    pub fn n_blocks(&self) -> usize {
        self.n_blocks
    }

    /// The window found so far (see [`ScanResult`]).
    #[must_use]
    pub fn result(&self) -> ScanResult {
        ScanResult {
            hit_start: self.hit_start,
            hit_end: self.hit_end,
            color: self.req.color,
        }
    }

    /// Closes the scan and returns the window. Blocks still in the roster are removed
    /// as if by [`remove_block`](Self::remove_block) in reverse order (so a scan that
    /// found nothing can simply be finished).
    #[must_use]
    pub fn finish(self) -> ScanResult {
        self.result()
        // `Drop` restores any remaining blocks.
    }

    /// Relinks the roster's top node into the address list.
    #[inline]
    fn pop(&mut self) {
        let i = self.top;
        let slots = self.mm.slots_mut();
        let s = &mut slots[i as usize];
        s.state = State::Allocated;
        // `scan_below` is left as it is: it means nothing outside the roster.
        let (prev, next, below) = (s.prev, s.next, s.scan_below);
        debug_assert_eq!(slots[prev as usize].next, next, "scan roster out of order");
        slots[prev as usize].next = i;
        slots[next as usize].prev = i;
        self.top = below;
        self.n_blocks -= 1;
    }
}

impl Drop for Scan<'_> {
    fn drop(&mut self) {
        while self.top != NIL {
            self.pop();
        }
    }
}
