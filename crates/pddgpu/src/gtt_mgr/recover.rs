//! Verification against the registry of live resources, recovery (re-binding the GART
//! after a reset), and the damage hook that lets tests exercise recovery.

use core::sync::atomic::Ordering;

use pddgpu_mm::Mm;

#[cfg(feature = "fault-injection")]
use super::GttDamage;
use super::{GttManager, GttRecoverReport, Inner};
use crate::mgr_common::{Domain, Error, Result};

impl GttManager {
    /// Verifies the range allocator and the accounting against the registry.
    ///
    /// Checks: the allocator's own `check()`; the registry; the allocator's nodes are
    /// exactly the registered GART spans, each still owning its token; committed usage is
    /// the sum of live sizes and usage is at least that.
    ///
    /// # Errors
    /// [`Error::Corrupted`] naming the first violation.
    pub fn check(&self) -> Result<()> {
        let inner = self.inner.lock();
        self.verify(&inner).map_err(|detail| Error::Corrupted {
            domain: Domain::Gtt,
            detail,
        })
    }

    fn verify(&self, inner: &Inner) -> Result<(), String> {
        inner
            .mm
            .check()
            .map_err(|e| format!("range allocator check: {e}"))?;
        inner.live.check()?;
        let mut spans = Vec::new();
        let mut committed = 0u64;
        for (id, live) in inner.live.iter() {
            committed += live.size;
            if let Some(span) = live.span {
                if live.node.is_none() {
                    return Err(format!("resource {id} lost its node"));
                }
                spans.push(span);
            }
        }
        spans.sort_unstable();
        let nodes: Vec<(u64, u64)> = inner.mm.nodes().map(|n| (n.start, n.size)).collect();
        if nodes != spans {
            return Err(format!(
                "range allocator holds {} nodes, live resources {} GART spans (first difference at {:?})",
                nodes.len(),
                spans.len(),
                nodes.iter().zip(&spans).find(|(a, b)| a != b).map(|(a, _)| *a)
            ));
        }
        if committed != inner.committed {
            return Err(format!(
                "committed usage {} != {committed} from live resources",
                inner.committed
            ));
        }
        let used = self.core.used().load(Ordering::Acquire);
        if used < committed {
            return Err(format!("usage {used} below committed {committed}"));
        }
        Ok(())
    }

    /// Brings the manager back to READY after an error or a GPU reset (DESIGN.md §5.4,
    /// upstream `amdgpu_gtt_mgr_recover`).
    ///
    /// Verifies the range allocator ([`GttManager::check`]); if it is damaged, builds a
    /// fresh one holding exactly the live GART spans; recomputes usage from the live
    /// resources; re-binds every live resource's pages into the GART (a reset wiped the
    /// table); then READY. Live resources stay valid.
    ///
    /// # Errors
    /// [`Error::NoDevice`] if the device or manager is shut down; [`Error::Corrupted`] if
    /// live spans overlap; [`Error::Hw`] if the GART refuses a re-bind (ERROR state).
    pub fn recover(&self) -> Result<GttRecoverReport> {
        self.core.check_recoverable()?;
        let mut inner = self.inner.lock();
        let damage = self.verify(&inner).err();
        if let Some(d) = &damage {
            tracing::error!("GTT range allocator damaged ({d}), rebuilding from live resources");
            if let Err(e) = self.rebuild(&mut inner) {
                drop(inner);
                self.set_error();
                return Err(e);
            }
        }
        let committed: u64 = inner.live.iter().map(|(_, l)| l.size).sum();
        self.core.rebase_committed(&mut inner.committed, committed);
        // Re-bind under the lock, as upstream does: a concurrent free must not see its
        // pages re-bound after it unbound them.
        let mut rebound = 0;
        let mut failed = None;
        for (_, live) in inner.live.iter() {
            if let (Some((start, _)), Some(pages)) = (live.span, &live.pages) {
                if let Err(e) = self.hw.gart().bind(start, pages) {
                    failed = Some(e);
                    break;
                }
                rebound += 1;
            }
        }
        if let Some(e) = failed {
            drop(inner);
            self.set_error();
            return Err(e.into());
        }
        let live = inner.live.len();
        drop(inner);
        self.core.finish_recover()?;
        Ok(GttRecoverReport {
            damage,
            live,
            rebound,
        })
    }

    /// Replaces the range allocator by a fresh one holding exactly the live spans. All or
    /// nothing: on failure the old allocator stays.
    fn rebuild(&self, inner: &mut Inner) -> Result<()> {
        let mut fresh = Mm::new(self.mm_start, self.mm_pages)?;
        let mut nodes = Vec::new();
        nodes
            .try_reserve(inner.live.len())
            .map_err(|_| Error::OutOfMemory)?;
        for (id, live) in inner.live.iter() {
            if let Some((start, size)) = live.span {
                let node = fresh
                    .reserve(start, size, 0)
                    .map_err(|e| Error::Corrupted {
                        domain: Domain::Gtt,
                        detail: format!("live span {start:#x}+{size} cannot be re-reserved: {e}"),
                    })?;
                nodes.push((id, node));
            }
        }
        for (id, node) in nodes {
            if let Some(live) = inner.live.get_mut(id) {
                live.node = Some(node);
            }
        }
        let old = core::mem::replace(&mut inner.mm, fresh);
        // The old allocator's bookkeeping is what was wrong; its tokens were replaced.
        let _ = old.fini();
        Ok(())
    }

    /// Damages the range allocator on purpose so that tests can exercise
    /// [`GttManager::recover`]: see [`GttDamage`]. Test-only (`fault-injection`
    /// feature).
    ///
    /// # Errors
    /// [`Error::NotFound`] if the resource is not live or has no GART address.
    #[cfg(feature = "fault-injection")]
    pub fn inject_damage(&self, damage: GttDamage) -> Result<()> {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        match damage {
            GttDamage::ForgetAllocation(id) => {
                let live = inner
                    .live
                    .get_mut(id)
                    .ok_or(Error::NotFound("no such resource"))?;
                let node = live
                    .node
                    .take()
                    .ok_or(Error::NotFound("resource has no GART address"))?;
                let _ = inner.mm.remove(node);
            }
        }
        Ok(())
    }
}
