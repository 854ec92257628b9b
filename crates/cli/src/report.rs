//! The report of `pddgpu run`: the data model, its JSON form and the text summary.
//!
//! The model is plain data, independent of the driver: the run engine fills it from the
//! device's counters and the clients' own records, then [`RunReport::render_text`] prints
//! the summary and `serde_json` writes the `--json` file.
//!
//! # JSON schema (`"schema": "pddgpu-run-report/1"`)
//!
//! ```text
//! {
//!   "schema": "pddgpu-run-report/1",
//!   "scenario": string, "seed": u64, "threads": u32, "elapsed_secs": f64,
//!   "device": { "vram_size": u64, "visible_size": u64, "gtt_size": u64 },   // bytes
//!   "ops": { "total": u64, "creates": u64, "frees": u64, "maps": u64,
//!            "revalidations": u64, "readbacks": u64 },
//!   "create_latency_ns": { "count": u64, "p50": u64, "p99": u64, "max": u64 },
//!   "evictions": u64, "bytes_moved": u64, "retries": u64,
//!   "failures": { "total": u64, "by_errno": { "ENOSPC": u64, ... } },
//!   "peak_usage": { "vram": u64, "visible_vram": u64, "gtt": u64 },        // bytes
//!   "end_state": { "vram_used": u64, "vram_free": u64, "largest_free_vram_block": u64,
//!                  "fragmentation": f64, "gtt_used": u64 },
//!   "integrity": { "ok": bool, "verified_bos": u64, "verified_bytes": u64,
//!                  "mismatches": u64, "first_mismatch": string | null }
//! }
//! ```
//!
//! `fragmentation` is `1 - largest_free_vram_block / vram_free` (0 when nothing is free
//! or all free space is one block): the share of free VRAM a single contiguous request
//! cannot use. Percentiles are nearest-rank over every successful create.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::scenario::ByteSize;

/// The schema id written in every report.
pub const SCHEMA: &str = "pddgpu-run-report/1";

/// Everything `pddgpu run` reports (see the module docs for the JSON form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The scenario's name.
    pub scenario: String,
    /// The seed the run used.
    pub seed: u64,
    /// Client threads.
    pub threads: u32,
    /// Wall time of the run in seconds.
    pub elapsed_secs: f64,
    /// The simulated device.
    pub device: DeviceSizes,
    /// Operation counts.
    pub ops: OpCounts,
    /// Latency of successful `GEM_CREATE` calls.
    pub create_latency_ns: LatencySummary,
    /// BOs evicted by TTM to make room.
    pub evictions: u64,
    /// Bytes copied by the copy engine (moves and evictions).
    pub bytes_moved: u64,
    /// Manager retries after `NoSpace`.
    pub retries: u64,
    /// Failed operations.
    pub failures: Failures,
    /// High-water marks.
    pub peak_usage: PeakUsage,
    /// The device at the end of the run, before teardown.
    pub end_state: EndState,
    /// Pattern verification.
    pub integrity: Integrity,
}

/// Device sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSizes {
    /// VRAM size.
    pub vram_size: u64,
    /// CPU-visible VRAM window.
    pub visible_size: u64,
    /// GTT size.
    pub gtt_size: u64,
}

/// Operation counts; `total` is the sum of the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpCounts {
    /// All operations.
    pub total: u64,
    /// Successful creations.
    pub creates: u64,
    /// Frees (`GEM_CLOSE`).
    pub frees: u64,
    /// CPU maps.
    pub maps: u64,
    /// Re-validations into the preferred domain.
    pub revalidations: u64,
    /// Pattern read-backs.
    pub readbacks: u64,
}

/// Count, median, 99th percentile and maximum of a latency sample, in ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median (nearest rank).
    pub p50: u64,
    /// 99th percentile (nearest rank).
    pub p99: u64,
    /// Largest sample.
    pub max: u64,
}

impl LatencySummary {
    /// Summarises `samples` (sorted in place); all zero when empty.
    ///
    /// # Complexity
    /// O(n log n).
    pub fn from_samples(samples: &mut [u64]) -> Self {
        samples.sort_unstable();
        Self {
            count: samples.len() as u64,
            p50: nearest_rank(samples, 50),
            p99: nearest_rank(samples, 99),
            max: samples.last().copied().unwrap_or(0),
        }
    }
}

/// The nearest-rank `pct` percentile of sorted `v`: the value at rank `ceil(pct/100·n)`.
fn nearest_rank(v: &[u64], pct: usize) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = (pct * v.len()).div_ceil(100).max(1);
    v[rank.min(v.len()) - 1]
}

/// Failed operations by errno name (`"ENOSPC"`, `"ENOMEM"`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failures {
    /// Sum of `by_errno`.
    pub total: u64,
    /// Count per errno name.
    pub by_errno: BTreeMap<String, u64>,
}

impl Failures {
    /// Counts one failure with errno `name`.
    pub fn record(&mut self, name: &str) {
        self.total += 1;
        *self.by_errno.entry(name.to_owned()).or_default() += 1;
    }
}

/// High-water marks in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeakUsage {
    /// VRAM.
    pub vram: u64,
    /// CPU-visible VRAM.
    pub visible_vram: u64,
    /// GTT.
    pub gtt: u64,
}

/// The device at the end of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndState {
    /// VRAM in use.
    pub vram_used: u64,
    /// Free VRAM.
    pub vram_free: u64,
    /// Largest free contiguous VRAM range.
    pub largest_free_vram_block: u64,
    /// [`fragmentation`] of VRAM.
    pub fragmentation: f64,
    /// GTT in use.
    pub gtt_used: u64,
}

/// `1 - largest / free`: the share of free space one contiguous request cannot use
/// (0 when `free` is 0 or `largest >= free`).
#[must_use]
pub fn fragmentation(largest: u64, free: u64) -> f64 {
    if free == 0 || largest >= free {
        return 0.0;
    }
    1.0 - largest as f64 / free as f64
}

/// Pattern verification: every BO's bytes are checked on read-back and before freeing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integrity {
    /// No mismatch anywhere (and at least nothing left unverified).
    pub ok: bool,
    /// BOs whose pattern was verified at least once.
    pub verified_bos: u64,
    /// Bytes compared.
    pub verified_bytes: u64,
    /// BOs whose pattern did not match.
    pub mismatches: u64,
    /// The first mismatch, described (BO, offset, expected and found byte).
    pub first_mismatch: Option<String>,
}

impl RunReport {
    /// The text summary `pddgpu run` prints.
    #[must_use]
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let d = &self.device;
        let _ = writeln!(
            s,
            "scenario {} (seed {}), {} client thread(s), {:.1} s",
            self.scenario, self.seed, self.threads, self.elapsed_secs
        );
        let _ = writeln!(
            s,
            "device   VRAM {} (visible {}), GTT {}",
            human(d.vram_size),
            human(d.visible_size),
            human(d.gtt_size)
        );
        let o = &self.ops;
        let _ = writeln!(
            s,
            "ops      {} total: {} creates, {} frees, {} maps, {} revalidations, {} readbacks",
            o.total, o.creates, o.frees, o.maps, o.revalidations, o.readbacks
        );
        let l = &self.create_latency_ns;
        let _ = writeln!(
            s,
            "create   p50 {}  p99 {}  max {}  ({} samples)",
            human_ns(l.p50),
            human_ns(l.p99),
            human_ns(l.max),
            l.count
        );
        let _ = writeln!(
            s,
            "evict    {} evictions, {} moved, {} retries",
            self.evictions,
            human(self.bytes_moved),
            self.retries
        );
        let _ = write!(s, "failures {}", self.failures.total);
        if !self.failures.by_errno.is_empty() {
            let parts: Vec<String> = self
                .failures
                .by_errno
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = write!(s, " ({})", parts.join(", "));
        }
        let _ = writeln!(s);
        let p = &self.peak_usage;
        let _ = writeln!(
            s,
            "peak     VRAM {} ({:.0}%), visible {}, GTT {} ({:.0}%)",
            human(p.vram),
            percent(p.vram, d.vram_size),
            human(p.visible_vram),
            human(p.gtt),
            percent(p.gtt, d.gtt_size)
        );
        let e = &self.end_state;
        let _ = writeln!(
            s,
            "end      VRAM used {}, free {}, largest free block {}, fragmentation {:.1}%; GTT used {}",
            human(e.vram_used),
            human(e.vram_free),
            human(e.largest_free_vram_block),
            e.fragmentation * 100.0,
            human(e.gtt_used)
        );
        let i = &self.integrity;
        if i.ok {
            let _ = writeln!(
                s,
                "integrity OK: {} BOs verified ({})",
                i.verified_bos,
                human(i.verified_bytes)
            );
        } else {
            let _ = writeln!(
                s,
                "integrity FAILED: {} of {} BOs mismatched; first: {}",
                i.mismatches,
                i.verified_bos,
                i.first_mismatch.as_deref().unwrap_or("-")
            );
        }
        s
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// A byte count for people: exact binary units when they divide it (`"256 MiB"`),
/// else one decimal (`"1.5 GiB"`, `"3.2 KiB"`), bytes below 1 KiB.
#[must_use]
pub fn human(bytes: u64) -> String {
    const UNITS: [(u32, &str); 4] = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
    for (shift, unit) in UNITS {
        let m = 1u64 << shift;
        if bytes >= m {
            if bytes % m == 0 {
                return ByteSize(bytes).to_string();
            }
            return format!("{:.1} {unit}", bytes as f64 / m as f64);
        }
    }
    format!("{bytes} B")
}

/// A duration in ns for people: `"850 ns"`, `"12.3 µs"`, `"4.1 ms"`, `"1.20 s"`.
#[must_use]
pub fn human_ns(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.2} s", ns as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests;
