//! The explanation of the last no-space, per thread.
//!
//! TTM's errors carry no payload, yet a failed `validate` should tell the user *why*
//! (DESIGN §5 item 7). Validation runs synchronously on the caller's thread, so the
//! adapters leave each manager's latest explanation in a thread-local slot (one per
//! domain) and the BO code collects it after TTM gave up. A thread-local is the right
//! scope: the explanation belongs to this call, not to the device (a device-wide slot
//! would mix up concurrent callers).

use std::cell::RefCell;

use crate::mgr_common::{self, NoSpaceInfo};

thread_local! {
    static LAST: RefCell<Vec<NoSpaceInfo>> = const { RefCell::new(Vec::new()) };
}

/// Remembers `e`'s explanation if it is a no-space (replacing the one of its domain).
pub(super) fn record(e: &mgr_common::Error) {
    if let Some(info) = e.no_space_info() {
        LAST.with(|last| {
            let mut last = last.borrow_mut();
            last.retain(|i| i.domain != info.domain);
            last.push(info.clone());
        });
    }
}

/// Forgets what earlier calls on this thread left behind.
pub(crate) fn clear_no_space() {
    LAST.with(|last| last.borrow_mut().clear());
}

/// Takes the explanations recorded since [`clear_no_space`], in recording order.
pub(crate) fn take_no_space() -> Vec<NoSpaceInfo> {
    LAST.with(|last| core::mem::take(&mut *last.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgr_common::{Domain, Error};

    #[test]
    fn keeps_the_latest_per_domain() {
        clear_no_space();
        let mut a = NoSpaceInfo::bare(Domain::Vram);
        a.requested = 1;
        record(&Error::NoSpace(Box::new(a)));
        record(&Error::NoSpace(Box::new(NoSpaceInfo::bare(Domain::Gtt))));
        let mut b = NoSpaceInfo::bare(Domain::Vram);
        b.requested = 2;
        record(&Error::NoSpace(Box::new(b.clone())));
        record(&Error::OutOfMemory);
        let got = take_no_space();
        assert_eq!(got, vec![NoSpaceInfo::bare(Domain::Gtt), b]);
        assert!(take_no_space().is_empty());
    }
}
