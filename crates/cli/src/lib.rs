//! # `pddgpu`, the command
//!
//! DOC: Overview
//!
//! The `pddgpu` binary drives the pddgpu stack from the command line. This library holds
//! everything the subcommands are made of, each part independent of the others and of
//! the driver, so it can be tested on its own:
//!
//! - [`bench`](mod@bench): `pddgpu bench`, the allocator workloads of `BASELINE.md` (through
//!   `pddgpu-bench`, the same code as the criterion benches) as a table next to the Linux
//!   C figures, and the `--json` report; [`compare`] adds columns for the
//!   `offset-allocator` and `range-alloc` crates where a workload fits them.
//! - [`scenario`]: the TOML scenario files of `pddgpu run` (`scenarios/*.toml`), their
//!   schema and validation; `scenarios/default.toml` is built in.
//! - [`report`]: the run report (operations, create latency percentiles, evictions,
//!   bytes moved, peak usage, end-state fragmentation, integrity verdict), its JSON
//!   schema and the text summary.
//! - [`map_svg`]: the SVG picture of the VRAM and GTT maps from a plain
//!   [`map_svg::MemoryMapSnapshot`].
//! - [`progress`]: progress bars, hidden when stdout is not a terminal.
//! - [`run`]: `pddgpu run`, a scenario's clients on threads through the public GEM
//!   `File` API, producing the [`report::RunReport`].
//! - [`trace`]: the `run --trace` JSON-lines format (header, operations with their
//!   requests and observed results, statistics) and its recorder and parser.
//! - [`replay`]: `pddgpu replay`, a trace re-issued through the GEM `File` API in its
//!   recorded global order, with every divergence reported.
//! - [`stress`]: `pddgpu stress`, the seed-004 test (threads × create/close through the
//!   public GEM `File` API) with the device's invariant and leak checks.
//!
//! Cost: `bench` runs each workload `--reps` times; the largest, B1, allocates and frees
//! 4 M blocks (about 0.5 s and 400 MB of block metadata per repetition on pddgpu's
//! buddy allocator). Everything else is linear in its input.
//!
//! Locking: nothing here is shared between threads; the benchmark workloads run one at a
//! time on the calling thread so they do not disturb each other's timings.
//!
//! Errors: [`error::CliError`] carries the Linux errno of each failure
//! ([`error::CliError::errno`]); the binary prints the message and exits with status 1
//! (usage errors exit with clap's status 2).

#![forbid(unsafe_code)]

pub mod bench;
pub mod compare;
pub mod error;
pub mod map_svg;
pub mod progress;
pub mod replay;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stress;
pub mod trace;

pub use error::{CliError, Result};
