//! The allocator has no internal locking: callers share it behind a lock, as the VRAM
//! manager does. This checks that it is `Send + Sync` and stays consistent when threads
//! take turns on it, and that a block made by one allocator is refused by another even
//! when handed across threads.

use std::sync::{Arc, Mutex};
use std::thread;

use pddgpu_buddy::{AllocFlags, Block, BuddyAllocator, Error, FreeFlags};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn shared_behind_a_mutex() {
    assert_send_sync::<BuddyAllocator>();
    assert_send_sync::<Block>();
    const SIZE: u64 = 64 << 20;
    let mm = Arc::new(Mutex::new(BuddyAllocator::new(SIZE, 4096).expect("new")));
    let workers: Vec<_> = (0..4u64)
        .map(|t| {
            let mm = Arc::clone(&mm);
            thread::spawn(move || {
                let mut mine: Vec<Vec<Block>> = Vec::new();
                let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ t;
                for i in 0..2000u64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let mut guard = mm.lock().expect("lock");
                    if mine.len() > 16 || (i % 3 == 2 && !mine.is_empty()) {
                        let blocks = mine.swap_remove((x % mine.len() as u64) as usize);
                        let flags = if x & 1 == 0 {
                            FreeFlags::CLEARED
                        } else {
                            FreeFlags::empty()
                        };
                        guard.free_blocks(blocks, flags).expect("free");
                    } else {
                        let size = (1 + x % 64) * 4096;
                        let flags = if x & 2 == 0 {
                            AllocFlags::CLEAR
                        } else {
                            AllocFlags::empty()
                        };
                        match guard.alloc_blocks(0, SIZE, size, 4096, flags) {
                            Ok(blocks) => {
                                assert_eq!(blocks.iter().map(|b| b.size()).sum::<u64>(), size);
                                mine.push(blocks);
                            }
                            Err(e) => assert_eq!(e, Error::NoSpace),
                        }
                    }
                    if i % 256 == 0 {
                        guard.check().expect("invariants");
                    }
                }
                mine
            })
        })
        .collect();
    let mut left = Vec::new();
    for w in workers {
        left.extend(w.join().expect("worker"));
    }
    let mut mm = Arc::try_unwrap(mm)
        .expect("sole owner")
        .into_inner()
        .expect("lock");
    mm.check().expect("invariants");
    // A block handed to another thread and another allocator is refused there.
    let mut other = BuddyAllocator::new(SIZE, 4096).expect("new");
    if let Some(blocks) = left.pop() {
        let foreign = thread::spawn(move || {
            let r = other.free_blocks(blocks, FreeFlags::empty());
            (r, other.avail())
        });
        let (r, avail) = foreign.join().expect("thread");
        assert_eq!((r, avail), (Err(Error::InvalidArgument), SIZE));
    }
    for blocks in left {
        mm.free_blocks(blocks, FreeFlags::empty()).expect("free");
    }
    mm.check().expect("invariants");
    let leak = mm.fini().expect_err("the refused block is still allocated");
    assert_eq!(leak.n_blocks as usize, leak.blocks.len());
    assert!(leak.bytes > 0);
}
