//! Stateful fuzzing of the buddy allocator: the input is a program of operations run against a
//! reference model with every invariant checked after every step
//! (`pddgpu::invariants::fuzz::buddy_run`). A violation aborts with its description.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = pddgpu::invariants::fuzz::buddy_run(data) {
        panic!("{v}");
    }
});
