//! The lifecycle and usage core that both memory managers embed.
//!
//! A VRAM and a GTT manager differ in their allocator and in what a resource holds; their
//! life (READY → ERROR ⇄ READY → SHUTDOWN, the device-wide shutdown flag, the
//! space-freed signal that retrying allocations wait on, the statistics and the usage
//! counter) is the same, and is written once here. Each manager keeps one [`MgrCore`]
//! and forwards its public `state`/`set_error`/`clear_error`/`shutdown` to it, so the
//! two managers log, refuse and recover in exactly the same way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{
    AllocRequest, DeviceState, Domain, Error, MgrCounters, MgrState, NoSpaceCause, Result,
    RetryPolicy, SpaceSignal, StateCell,
};

/// The shared lifecycle of one manager: its domain, the device it serves, its state, the
/// space-freed signal, its counters and its usage.
///
/// # Synchronization
/// Lock-free: atomics and the signal's own condition variable. Callers that must order
/// a state change against their allocator (e.g. `recover`) hold their manager lock
/// around the calls that say so.
#[derive(Debug)]
pub(crate) struct MgrCore {
    domain: Domain,
    device: Arc<DeviceState>,
    state: StateCell,
    signal: SpaceSignal,
    counters: MgrCounters,
    /// Usage in bytes: committed bytes plus charges of requests being placed.
    used: AtomicU64,
}

impl MgrCore {
    /// A core in state INITIALIZING with zero usage; [`MgrCore::mark_ready`] makes it
    /// serve allocations.
    pub(crate) fn new(domain: Domain, device: Arc<DeviceState>) -> Self {
        Self {
            domain,
            device,
            state: StateCell::new(),
            signal: SpaceSignal::default(),
            counters: MgrCounters::default(),
            used: AtomicU64::new(0),
        }
    }

    /// INITIALIZING (or ERROR) → READY. False if the manager was shut down meanwhile.
    pub(crate) fn mark_ready(&self) -> bool {
        self.state.mark_ready()
    }

    /// The device lifecycle this manager serves.
    pub(crate) fn device(&self) -> &DeviceState {
        &self.device
    }

    /// The statistics.
    pub(crate) fn counters(&self) -> &MgrCounters {
        &self.counters
    }

    /// The usage counter (committed bytes plus charges in flight).
    pub(crate) fn used(&self) -> &AtomicU64 {
        &self.used
    }

    /// The space-freed signal: notified by every free, waited on by retries.
    pub(crate) fn signal(&self) -> &SpaceSignal {
        &self.signal
    }

    /// `Ok` if the device is up and the manager READY, else `ENODEV` naming why.
    ///
    /// # Errors
    /// [`Error::NoDevice`] as described.
    pub(crate) fn check_usable(&self) -> Result<()> {
        self.state.check_usable(&self.device, self.domain)
    }

    /// The current state.
    pub(crate) fn state(&self) -> MgrState {
        self.state.get()
    }

    /// READY → ERROR (seed `set_error`), logged once per transition.
    pub(crate) fn set_error(&self) {
        if self.state.set_error() {
            tracing::error!("{} manager entered error state", self.domain);
        }
    }

    /// ERROR → READY without verification (seed `clear_error`), logged once.
    pub(crate) fn clear_error(&self) {
        if self.state.clear_error() {
            tracing::info!("{} manager error state cleared", self.domain);
        }
    }

    /// Any state → SHUTDOWN, then wakes every thread waiting to retry so that it fails
    /// with `ENODEV` at once instead of sleeping out its timeout.
    pub(crate) fn shutdown(&self) {
        self.state.shutdown();
        self.signal.notify();
        tracing::info!("{} manager shut down", self.domain);
    }

    /// The generation of the space-freed signal, to pass to
    /// [`MgrCore::wait_for_space`] (read it *before* the attempt that may fail).
    pub(crate) fn space_generation(&self) -> u64 {
        self.signal.generation()
    }

    /// Waits up to `wait` for space to be freed after generation `seen`, and counts a
    /// retry.
    pub(crate) fn wait_for_space(&self, seen: u64, wait: Duration) {
        self.counters.retried();
        self.signal.wait_for_free(seen, wait);
    }

    /// Runs `attempt` until it succeeds, fails with anything but no-space, or `policy`
    /// says to give up (the bounded retries of DESIGN.md §5.4): before each attempt the
    /// manager must be usable, and after a no-space it waits (never holding a lock) for
    /// space freed since the attempt started. A usage-limit refusal against a usage
    /// figure handed in by TTM (`req.usage`) is final at once, since waiting cannot
    /// change it. The final no-space error records the number of attempts.
    ///
    /// # Errors
    /// [`Error::NoDevice`] once the manager is not usable; the attempt's own errors.
    pub(crate) fn retry_alloc<T>(
        &self,
        req: &AllocRequest,
        policy: RetryPolicy,
        mut attempt: impl FnMut() -> Result<T>,
    ) -> Result<T> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            self.check_usable()?;
            let seen = self.signal.generation();
            match attempt() {
                Err(Error::NoSpace(mut info)) => {
                    let can_change =
                        !(info.cause == NoSpaceCause::UsageLimit && req.usage.is_some());
                    if attempts > policy.retries || !can_change {
                        info.attempts = attempts;
                        return Err(Error::NoSpace(info));
                    }
                    self.counters.retried();
                    tracing::debug!(
                        "{} allocation failed, retrying ({attempts}/{})",
                        self.domain,
                        policy.retries.saturating_add(1)
                    );
                    self.signal.wait_for_free(seen, policy.wait);
                }
                other => return other,
            }
        }
    }

    /// Counts an allocation's outcome and logs a failure: as an error, except a no-space
    /// without retries configured, which is the TTM path where no-space starts eviction
    /// and is no error yet.
    pub(crate) fn note_alloc<T>(&self, result: &Result<T>, policy: RetryPolicy) {
        match result {
            Ok(_) => self.counters.allocated(),
            Err(e) => {
                self.counters.failed();
                if e.is_no_space() && policy.retries == 0 {
                    tracing::debug!("{} allocation failed: {e}", self.domain);
                } else {
                    tracing::error!("{} allocation failed: {e}", self.domain);
                }
            }
        }
    }

    /// The first step of every `recover()`: a shut-down device or manager is not
    /// recovered.
    ///
    /// # Errors
    /// [`Error::NoDevice`] (`ENODEV`) if the device or the manager is shut down.
    pub(crate) fn check_recoverable(&self) -> Result<()> {
        tracing::debug!("Recovering {} manager", self.domain);
        if self.device.is_shutdown() || self.state.get() == MgrState::Shutdown {
            tracing::error!(
                "Device is shutting down, cannot recover {} manager",
                self.domain
            );
            return Err(self.shut_down());
        }
        Ok(())
    }

    /// Replaces the committed part of the usage: `*committed` becomes `recomputed` and
    /// the usage moves by the difference only, since it also holds the charges of
    /// requests in flight. Call under the manager lock that guards `committed`.
    pub(crate) fn rebase_committed(&self, committed: &mut u64, recomputed: u64) {
        let old = *committed;
        if recomputed >= old {
            self.used.fetch_add(recomputed - old, Ordering::AcqRel);
        } else {
            self.used.fetch_sub(old - recomputed, Ordering::AcqRel);
        }
        *committed = recomputed;
    }

    /// The last step of every `recover()`: READY again, and waiters are woken to retry
    /// on the repaired allocator. Call after releasing the manager lock.
    ///
    /// # Errors
    /// [`Error::NoDevice`] if the manager was shut down while it recovered.
    pub(crate) fn finish_recover(&self) -> Result<()> {
        if !self.state.mark_ready() {
            return Err(self.shut_down());
        }
        self.signal.notify();
        tracing::info!("{} manager recovered successfully", self.domain);
        Ok(())
    }

    fn shut_down(&self) -> Error {
        Error::NoDevice {
            domain: self.domain,
            reason: "shut down",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_and_recover_steps() {
        let device = Arc::new(DeviceState::new());
        let core = MgrCore::new(Domain::Gtt, device.clone());
        assert_eq!(core.state(), MgrState::Initializing);
        assert!(matches!(
            core.check_usable(),
            Err(Error::NoDevice {
                domain: Domain::Gtt,
                reason: "manager not ready"
            })
        ));
        assert!(core.mark_ready());
        assert!(core.check_usable().is_ok());
        core.set_error();
        assert_eq!(core.state(), MgrState::Error);
        assert!(core.check_recoverable().is_ok());
        assert!(core.finish_recover().is_ok());
        assert_eq!(core.state(), MgrState::Ready);
        core.set_error();
        core.clear_error();
        assert_eq!(core.state(), MgrState::Ready);

        // Usage moves by the correction only: 100 in flight stay charged.
        let mut committed = 500;
        core.used().store(600, Ordering::Relaxed);
        core.rebase_committed(&mut committed, 200);
        assert_eq!((committed, core.used().load(Ordering::Relaxed)), (200, 300));
        core.rebase_committed(&mut committed, 700);
        assert_eq!((committed, core.used().load(Ordering::Relaxed)), (700, 800));

        let seen = core.space_generation();
        core.shutdown();
        assert!(core.space_generation() > seen, "shutdown wakes waiters");
        assert_eq!(core.state(), MgrState::Shutdown);
        let down = |r: Result<()>| {
            matches!(
                r,
                Err(Error::NoDevice {
                    domain: Domain::Gtt,
                    reason: "shut down"
                })
            )
        };
        assert!(down(core.check_recoverable()));
        assert!(down(core.finish_recover()));
        assert_eq!(core.counters().snapshot().retries, 0);
        core.wait_for_space(core.space_generation(), Duration::from_millis(1));
        assert_eq!(core.counters().snapshot().retries, 1);
        assert!(!device.is_shutdown());
    }
}
