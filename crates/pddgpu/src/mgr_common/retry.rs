//! Bounded retry on no-space, waiting on a "space was freed" signal.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// How often and how long a manager retries an allocation that found no space.
///
/// Each retry first waits until another thread frees space in the same manager, at most
/// `wait`; it never sleeps blindly and never holds the manager lock while waiting. TTM
/// eviction, not waiting, is the main answer to a full domain, so benchmarks and the TTM
/// glue may use [`RetryPolicy::NONE`].
///
/// # Upstream
///
/// Seed 004 retries with `msleep` (VRAM: `RETRY_COUNT` 3 tries, 10 ms; GTT: 3 tries, 5 ms)
/// and its counter counts *attempts*: 3 tries are 1 attempt + 2 retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = fail at once).
    pub retries: u32,
    /// Longest wait for freed space before each retry.
    pub wait: Duration,
}

impl RetryPolicy {
    /// Seed 004 VRAM defaults: 3 tries (2 retries), 10 ms each.
    pub const VRAM_DEFAULT: Self = Self {
        retries: 2,
        wait: Duration::from_millis(10),
    };
    /// Seed 004 GTT defaults: 3 tries (2 retries), 5 ms each.
    pub const GTT_DEFAULT: Self = Self {
        retries: 2,
        wait: Duration::from_millis(5),
    };
    /// No retry: the first no-space is final.
    pub const NONE: Self = Self {
        retries: 0,
        wait: Duration::ZERO,
    };
}

/// A "space was freed" signal: a generation number bumped by every free, and a condition
/// variable for threads waiting for the next bump.
///
/// Protocol (no lost wake-ups): an allocator reads [`SpaceSignal::generation`] *before*
/// its attempt; on no-space it calls [`SpaceSignal::wait_for_free`] with that value, which
/// returns at once if a free happened since. A freeing thread bumps the generation after
/// the space is back and only takes the mutex when someone is waiting.
///
/// # Synchronization
///
/// `generation` and `waiters` are sequentially consistent atomics; `lock` only orders a
/// waiter's check-then-sleep against a notifier, it protects no data.
#[derive(Debug, Default)]
pub(crate) struct SpaceSignal {
    generation: AtomicU64,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    cond: Condvar,
}

impl SpaceSignal {
    /// The current generation; read it before an allocation attempt.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Announces that space was freed (or that waiters should re-check the state).
    pub(crate) fn notify(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) != 0 {
            // Taking the lock orders this notification after a waiter's check: the waiter
            // either saw the new generation or is already parked on `cond`.
            drop(self.lock.lock());
            self.cond.notify_all();
        }
    }

    /// Waits until the generation differs from `seen` or `timeout` passes; returns true if
    /// space was freed since `seen`.
    pub(crate) fn wait_for_free(&self, seen: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock();
        while self.generation.load(Ordering::SeqCst) == seen {
            if self.cond.wait_until(&mut guard, deadline).timed_out() {
                break;
            }
        }
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        self.generation.load(Ordering::SeqCst) != seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn wait_returns_at_once_when_a_free_already_happened() {
        let s = SpaceSignal::default();
        let seen = s.generation();
        s.notify();
        assert!(s.wait_for_free(seen, Duration::from_secs(10)));
    }

    #[test]
    fn wait_times_out_without_a_free() {
        let s = SpaceSignal::default();
        let seen = s.generation();
        let t = Instant::now();
        assert!(!s.wait_for_free(seen, Duration::from_millis(5)));
        assert!(t.elapsed() >= Duration::from_millis(5));
    }

    #[test]
    fn another_thread_wakes_the_waiter() {
        let s = Arc::new(SpaceSignal::default());
        let seen = s.generation();
        let s2 = Arc::clone(&s);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            s2.notify();
        });
        assert!(s.wait_for_free(seen, Duration::from_secs(10)));
        t.join().unwrap();
    }
}
