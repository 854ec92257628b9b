//! The manager state machine and the device-wide shutdown flag.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::{Domain, Error, Result};

/// The state of a memory manager (seed 004 `PDDGPU_*_MGR_STATE_*`).
///
/// The discriminants are the seed's flag values, so logs and statistics read the same as
/// the C driver's. Exactly one state holds at a time (the seed ORs flags together, which
/// lets READY|ERROR still pass its readiness test; ours cannot).
///
/// Transitions: `Initializing → Ready` ([`StateCell::mark_ready`]), `Ready → Error`
/// ([`StateCell::set_error`]), `Error → Ready` ([`StateCell::clear_error`] or a successful
/// `recover()`), and anything `→ Shutdown` ([`StateCell::shutdown`]), which is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MgrState {
    /// Built but not yet serving allocations.
    Initializing = 0x01,
    /// Serving allocations.
    Ready = 0x02,
    /// Shut down: allocations refused for good; frees still return space.
    Shutdown = 0x04,
    /// An error was reported (`set_error`): allocations refused until `clear_error` or
    /// `recover`; frees still return space.
    Error = 0x08,
}

impl MgrState {
    /// The seed's flag value of this state (`PDDGPU_VRAM_MGR_STATE_*`).
    #[must_use]
    pub const fn bits(self) -> u32 {
        self as u32
    }

    fn from_bits(bits: u32) -> Self {
        match bits {
            0x01 => Self::Initializing,
            0x02 => Self::Ready,
            0x04 => Self::Shutdown,
            // Only the four values above are ever stored.
            _ => Self::Error,
        }
    }
}

impl fmt::Display for MgrState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Initializing => "initializing",
            Self::Ready => "ready",
            Self::Shutdown => "shutdown",
            Self::Error => "error",
        })
    }
}

/// One manager's state, in a single atomic.
///
/// # Synchronization
///
/// Lock-free. Transitions are compare-and-swap loops, so two racing transitions resolve to
/// one of the legal orders; `Shutdown` can never be left.
#[derive(Debug)]
pub struct StateCell {
    bits: AtomicU32,
}

impl Default for StateCell {
    fn default() -> Self {
        Self::new()
    }
}

impl StateCell {
    /// A new cell in [`MgrState::Initializing`].
    #[must_use]
    pub const fn new() -> Self {
        Self {
            bits: AtomicU32::new(MgrState::Initializing as u32),
        }
    }

    /// The current state.
    #[must_use]
    pub fn get(&self) -> MgrState {
        MgrState::from_bits(self.bits.load(Ordering::Acquire))
    }

    /// Whether a `domain` manager in this state may allocate on `device`: `Ok` when the
    /// device is not shutting down and the state is READY, else the `NoDevice` error
    /// (`ENODEV`) naming why. Managers call it before taking their lock and again under
    /// it, so a state change that races an allocation is seen.
    ///
    /// # Errors
    /// [`Error::NoDevice`] as described.
    pub fn check_usable(&self, device: &DeviceState, domain: Domain) -> Result<()> {
        let reason = if device.is_shutdown() {
            tracing::debug!("device is shutting down, refusing {domain} allocation");
            "device is shutting down"
        } else {
            match self.get() {
                MgrState::Ready => return Ok(()),
                MgrState::Initializing => "manager not ready",
                MgrState::Error => "manager in error state",
                MgrState::Shutdown => "manager shut down",
            }
        };
        Err(Error::NoDevice { domain, reason })
    }

    /// True when the manager serves allocations (state READY).
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.get() == MgrState::Ready
    }

    // Moves `from → to` if the current state is one of `from`; returns the previous state.
    fn transition(&self, from: &[MgrState], to: MgrState) -> Result<MgrState, MgrState> {
        let mut cur = self.bits.load(Ordering::Acquire);
        loop {
            let state = MgrState::from_bits(cur);
            if !from.contains(&state) {
                return Err(state);
            }
            match self.bits.compare_exchange_weak(
                cur,
                to as u32,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(state),
                Err(now) => cur = now,
            }
        }
    }

    /// `Initializing` or `Error` → `Ready`. Returns false (and changes nothing) in any
    /// other state: a shut-down manager stays down.
    pub fn mark_ready(&self) -> bool {
        self.transition(
            &[MgrState::Initializing, MgrState::Error, MgrState::Ready],
            MgrState::Ready,
        )
        .is_ok()
    }

    /// `Ready` → `Error` (seed `set_error`). Returns true if the state changed to `Error`
    /// now; an `Initializing` manager also enters `Error`; `Shutdown` is kept.
    pub fn set_error(&self) -> bool {
        self.transition(&[MgrState::Ready, MgrState::Initializing], MgrState::Error)
            .is_ok()
    }

    /// `Error` → `Ready` (seed `clear_error`). Returns true if the state changed.
    pub fn clear_error(&self) -> bool {
        self.transition(&[MgrState::Error], MgrState::Ready).is_ok()
    }

    /// Any state → `Shutdown`. Returns the previous state.
    pub fn shutdown(&self) -> MgrState {
        MgrState::from_bits(self.bits.swap(MgrState::Shutdown as u32, Ordering::AcqRel))
    }
}

/// Device-wide lifecycle shared by every manager of one device (seed
/// `pdev->device_state & PDDGPU_DEVICE_STATE_SHUTDOWN`).
///
/// Managers hold it in an `Arc` and refuse allocations once it is shut down, even if their
/// own state is still READY.
///
/// # Synchronization
///
/// One atomic flag; lock-free.
#[derive(Debug, Default)]
pub struct DeviceState {
    shutdown: AtomicBool,
}

impl DeviceState {
    /// A device that is up.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            shutdown: AtomicBool::new(false),
        }
    }

    /// Marks the device as shutting down; permanent.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
    }

    /// True once [`DeviceState::shutdown`] was called.
    #[must_use]
    pub fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_state_machine() {
        let s = StateCell::new();
        assert_eq!(s.get(), MgrState::Initializing);
        assert!(!s.is_ready());
        assert!(!s.clear_error());
        assert!(s.mark_ready());
        assert!(s.is_ready());
        assert!(s.set_error());
        assert_eq!(s.get(), MgrState::Error);
        assert!(!s.set_error());
        assert!(s.clear_error());
        assert!(s.is_ready());
        assert_eq!(s.shutdown(), MgrState::Ready);
        assert!(!s.mark_ready());
        assert!(!s.set_error());
        assert!(!s.clear_error());
        assert_eq!(s.get(), MgrState::Shutdown);
        assert_eq!(MgrState::Error.bits(), 0x08);
    }

    #[test]
    fn device_shutdown_is_sticky() {
        let d = DeviceState::new();
        assert!(!d.is_shutdown());
        d.shutdown();
        assert!(d.is_shutdown());
    }
}
