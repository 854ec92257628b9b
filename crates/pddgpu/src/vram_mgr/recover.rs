//! Verification against the registry of live allocations, recovery, and the damage hook
//! that lets tests exercise recovery.

use core::sync::atomic::Ordering;

use pddgpu_buddy::{AllocFlags, BlockState, BuddyAllocator};

#[cfg(feature = "fault-injection")]
use super::VramDamage;
use super::{Inner, RecoverReport, VramManager};
use crate::mgr_common::{Domain, Error, Result, PAGE_SIZE};

impl VramManager {
    /// Verifies the allocator and the accounting against the registry of live allocations.
    ///
    /// Checks: the buddy's own `check()`; the registry's structure; every live allocation
    /// still owns one token per block; allocated bytes in the buddy equal the live and
    /// reserved bytes; committed usage and `vis_usage` equal their sums; usage is at least
    /// the committed bytes.
    ///
    /// # Errors
    /// [`Error::Corrupted`] naming the first violation.
    pub fn check(&self) -> Result<()> {
        let inner = self.inner.lock();
        self.verify(&inner).map_err(|detail| Error::Corrupted {
            domain: Domain::Vram,
            detail,
        })
    }

    fn verify(&self, inner: &Inner) -> Result<(), String> {
        inner
            .buddy
            .check()
            .map_err(|e| format!("buddy check: {e:?}"))?;
        inner.live.check()?;
        let mut block_bytes = 0u64;
        let mut committed = 0u64;
        let mut visible = 0u64;
        for (id, live) in inner.live.iter() {
            if live.blocks.len() != live.spans.len() {
                return Err(format!(
                    "allocation {id} owns {} of its {} blocks",
                    live.blocks.len(),
                    live.spans.len()
                ));
            }
            block_bytes += live.spans.iter().map(|s| s.1).sum::<u64>();
            committed += live.size;
            visible += live.visible;
        }
        for r in &inner.reserved {
            block_bytes += r.size;
            committed += r.size;
            visible += r.visible;
        }
        // Every allocated block of the buddy must be a live block or a reserved one.
        let mut held: Vec<(u64, u64)> = inner
            .live
            .iter()
            .flat_map(|(_, l)| l.spans.iter().copied())
            .collect();
        for r in &inner.reserved {
            held.extend(r.blocks.iter().map(|b| (b.offset(), b.size())));
        }
        held.sort_unstable();
        let mut allocated = Vec::new();
        inner.buddy.for_each_block(|b| {
            if b.state == BlockState::Allocated {
                allocated.push((b.offset, b.size));
            }
        });
        allocated.sort_unstable();
        if allocated != held {
            let first = allocated
                .iter()
                .zip(&held)
                .find(|(a, b)| a != b)
                .map(|(a, b)| (*a, *b));
            return Err(format!(
                "buddy has {} blocks ({} bytes) allocated, live resources and reservations hold {} ({} bytes); \
                 first difference {first:?}",
                allocated.len(),
                inner.buddy.size() - inner.buddy.avail(),
                held.len(),
                block_bytes
            ));
        }
        if committed != inner.committed {
            return Err(format!(
                "committed usage {} != {committed} from live allocations",
                inner.committed
            ));
        }
        let vis = self.vis_usage.load(Ordering::Acquire);
        if vis != visible {
            return Err(format!(
                "vis_usage {vis} != {visible} from live allocations"
            ));
        }
        let used = self.core.used().load(Ordering::Acquire);
        if used < committed {
            return Err(format!("usage {used} below committed {committed}"));
        }
        Ok(())
    }

    /// Brings the manager back to READY after an error or a GPU reset (DESIGN.md §5.4).
    ///
    /// Verifies the allocator ([`VramManager::check`]); if it is damaged, builds a fresh
    /// one and re-allocates every live block and reserved range at its recorded place
    /// (free memory comes back dirty); recomputes usage and `vis_usage` from the live
    /// allocations; retries pending reservations; then READY. Live resources stay valid.
    ///
    /// # Errors
    /// [`Error::NoDevice`] if the device or manager is shut down; [`Error::Corrupted`] if
    /// the live allocations themselves overlap (the manager stays in ERROR);
    /// [`Error::OutOfMemory`] if a new allocator cannot be built (ERROR too).
    pub fn recover(&self) -> Result<RecoverReport> {
        self.core.check_recoverable()?;
        let mut inner = self.inner.lock();
        let damage = self.verify(&inner).err();
        if let Some(d) = &damage {
            tracing::error!("VRAM allocator damaged ({d}), rebuilding from live allocations");
            if let Err(e) = self.rebuild(&mut inner) {
                drop(inner);
                self.set_error();
                return Err(e);
            }
        }
        // Recompute the statistics from the live allocations.
        let mut committed = 0;
        let mut visible = 0;
        for (_, live) in inner.live.iter() {
            committed += live.size;
            visible += live.visible;
        }
        for r in &inner.reserved {
            committed += r.size;
            visible += r.visible;
        }
        self.core.rebase_committed(&mut inner.committed, committed);
        self.vis_usage.store(visible, Ordering::Release);
        self.do_reserve(&mut inner);
        let live = inner.live.len();
        drop(inner);
        self.core.finish_recover()?;
        Ok(RecoverReport { damage, live })
    }

    /// Replaces the allocator by a fresh one holding exactly the live blocks and reserved
    /// ranges. All or nothing: on failure the old allocator stays.
    fn rebuild(&self, inner: &mut Inner) -> Result<()> {
        let mut fresh = BuddyAllocator::new(self.config.size, PAGE_SIZE).map_err(Error::from)?;
        let take = |fresh: &mut BuddyAllocator, start: u64, size: u64| {
            fresh
                .alloc_blocks(start, start + size, size, PAGE_SIZE, AllocFlags::empty())
                .map_err(|e| Error::Corrupted {
                    domain: Domain::Vram,
                    detail: format!("live range {start:#x}+{size} cannot be re-allocated: {e:?}"),
                })
        };
        let mut reserved = Vec::new();
        reserved
            .try_reserve(inner.reserved.len())
            .map_err(|_| Error::OutOfMemory)?;
        for r in &inner.reserved {
            reserved.push(take(&mut fresh, r.start, r.size)?);
        }
        let mut live = Vec::new();
        live.try_reserve(inner.live.len())
            .map_err(|_| Error::OutOfMemory)?;
        for (id, l) in inner.live.iter() {
            let mut blocks = Vec::new();
            blocks
                .try_reserve(l.spans.len())
                .map_err(|_| Error::OutOfMemory)?;
            for &(start, size) in &l.spans {
                blocks.append(&mut take(&mut fresh, start, size)?);
            }
            live.push((id, blocks));
        }
        // Commit: nothing below can fail.
        for (r, blocks) in inner.reserved.iter_mut().zip(reserved) {
            r.blocks = blocks;
        }
        for (id, blocks) in live {
            if let Some(l) = inner.live.get_mut(id) {
                l.blocks = blocks;
            }
        }
        let old = core::mem::replace(&mut inner.buddy, fresh);
        // The old allocator's bookkeeping is what was wrong; its tokens were replaced.
        let _ = old.fini();
        Ok(())
    }

    /// Damages the allocator on purpose so that tests can exercise
    /// [`VramManager::recover`]: see [`VramDamage`]. Test-only (`fault-injection`
    /// feature).
    ///
    /// # Errors
    /// [`Error::NotFound`] if the allocation is not live.
    #[cfg(feature = "fault-injection")]
    pub fn inject_damage(&self, damage: VramDamage) -> Result<()> {
        let mut inner = self.inner.lock();
        match damage {
            VramDamage::ForgetAllocation(id) => {
                let inner = &mut *inner;
                let live = inner
                    .live
                    .get_mut(id)
                    .ok_or(Error::NotFound("no such allocation"))?;
                let blocks = core::mem::take(&mut live.blocks);
                let _ = inner
                    .buddy
                    .free_blocks(blocks, pddgpu_buddy::FreeFlags::empty());
            }
        }
        Ok(())
    }
}
