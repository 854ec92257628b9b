//! The allocator under a caller's lock, as the GTT and TTM range managers use it: many
//! threads inserting and removing concurrently must leave it consistent and clean.

use std::sync::{Arc, Mutex};
use std::thread;

use pddgpu_mm::{InsertMode, Mm, Node};

/// `Mm` must be shareable behind a lock (it is `Send + Sync`).
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Mm>();
    assert_send_sync::<Node>();
};

#[test]
fn threads_insert_and_remove_under_a_lock() {
    const THREADS: u64 = 8;
    const ROUNDS: u64 = 1000;
    let mm = Arc::new(Mutex::new(Mm::new(0, 1 << 20).expect("valid range")));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let mm = Arc::clone(&mm);
            thread::spawn(move || {
                let mut mine: Vec<Node> = Vec::new();
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                for r in 0..ROUNDS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let mut mm = mm.lock().expect("lock");
                    if x % 3 == 0 && !mine.is_empty() {
                        let n = mine.swap_remove((x as usize / 3) % mine.len());
                        mm.remove(n).expect("own node");
                    } else {
                        let mode = [
                            InsertMode::Best,
                            InsertMode::Low,
                            InsertMode::High,
                            InsertMode::Evict,
                        ][(r % 4) as usize];
                        let n = mm.insert(1 + x % 64, 1 << (x % 4), t, mode).expect("room");
                        assert_eq!(n.color(), t);
                        mine.push(n);
                    }
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<Node> = Vec::new();
    for w in workers {
        all.extend(w.join().expect("worker"));
    }
    let mut mm = Arc::try_unwrap(mm)
        .expect("sole owner")
        .into_inner()
        .expect("lock");
    mm.check().expect("invariants after the threads");
    assert_eq!(mm.n_nodes(), all.len());
    assert_eq!(mm.used(), all.iter().map(Node::size).sum::<u64>());
    for n in all {
        mm.remove(n).expect("own node");
    }
    mm.check().expect("invariants after cleanup");
    assert_eq!(mm.holes().collect::<Vec<_>>(), [(0, 1 << 20)]);
    assert!(mm.fini().is_ok());
}
