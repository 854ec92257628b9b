//! The `--trace` format of `pddgpu run` and its recorder; `pddgpu replay` reads it back.
//!
//! A trace is JSON lines (format version [`VERSION`]):
//!
//! 1. a header: `{"format": "pddgpu-trace", "version": 2, "scenario", "seed",
//!    "threads", "device": {"vram_size", "visible_size", "gtt_size"}}` — everything
//!    needed to build the same device and open one GEM file per client;
//! 2. one line per operation, in global sequence order (`seq` = 0, 1, 2, ...):
//!    `{"seq", "client", "step", "kind", "op", <request>, "result"}` where `op` and its
//!    request fields are one of
//!    - `create`: `size`, `alignment`, `domains` (uapi bits), `flags` (uapi bits);
//!    - `map_write`: `handle`, `pattern` (the byte pattern's seed, written through a
//!      CPU map of the whole BO);
//!    - `readback`: `handle`, `pattern` (map and verify the whole BO);
//!    - `pin`: `handle`, `domains`; `unpin`: `handle`; `close`: `handle`;
//!
//!    and `result` is what was observed: `{"errno": "ENOSPC"}` on failure, otherwise
//!    the created `handle` (create), the BO's `domain` and `gpu_offset` right after the
//!    operation (create, map_write, readback, pin) and `verified` (readback);
//! 3. one `{"stats": "end_state", "seq", ...}` line where the run sampled its end state
//!    (every client paused, their BOs alive), and a last `{"stats": "final", ...}` line
//!    after every file was closed, both with the device counters of [`DeviceCounters`].
//!
//! Version 1 traces (no header, one line per operation without its request) cannot be
//! replayed; the parser says so.
//!
//! Locking: while a trace is recorded, each operation *and its observation* run under
//! the recorder's lock ([`Trace::lock`]), so the recorded order is exactly the order in
//! which operations took effect on the device, even with several client threads.

use std::io::Write as _;
use std::path::Path;

use parking_lot::{Mutex, MutexGuard};
use pddgpu::device::Device;
use pddgpu::gem::File;
use pddgpu::uapi::{Domains, Handle, InfoQuery};
use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};

/// The `format` value of a trace header.
pub const FORMAT: &str = "pddgpu-trace";
/// The trace format version this build writes and replays.
pub const VERSION: u32 = 2;

/// The device sizes of a traced run (every other device setting is the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceDevice {
    /// VRAM size in bytes.
    pub vram_size: u64,
    /// CPU-visible VRAM window in bytes.
    pub visible_size: u64,
    /// GTT size in bytes.
    pub gtt_size: u64,
}

/// The first line of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceHeader {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format version ([`VERSION`]).
    pub version: u32,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario's seed.
    pub seed: u64,
    /// Client threads, i.e. GEM files (clients are numbered from 0).
    pub threads: u32,
    /// The device.
    pub device: TraceDevice,
}

impl TraceHeader {
    /// The header of a run of `scn`.
    #[must_use]
    pub fn for_scenario(scn: &crate::scenario::Scenario) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            scenario: scn.name.clone(),
            seed: scn.seed,
            threads: scn.workload.threads,
            device: TraceDevice {
                vram_size: scn.device.vram.0,
                visible_size: scn.device.visible.0,
                gtt_size: scn.device.gtt.0,
            },
        }
    }
}

/// An operation's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `GEM_CREATE`.
    Create {
        /// Size in bytes.
        size: u64,
        /// Alignment in bytes.
        alignment: u64,
        /// Allowed domains (uapi bits).
        domains: u32,
        /// Create flags (uapi bits).
        flags: u64,
    },
    /// Map the whole BO and write its pattern.
    MapWrite {
        /// The client's handle.
        handle: u32,
        /// The pattern seed.
        pattern: u8,
    },
    /// Map the whole BO and verify its pattern.
    Readback {
        /// The client's handle.
        handle: u32,
        /// The pattern seed.
        pattern: u8,
    },
    /// `GEM_OP` pin.
    Pin {
        /// The client's handle.
        handle: u32,
        /// Domains to pin in (uapi bits).
        domains: u32,
    },
    /// `GEM_OP` unpin.
    Unpin {
        /// The client's handle.
        handle: u32,
    },
    /// `GEM_CLOSE`.
    Close {
        /// The client's handle.
        handle: u32,
    },
}

impl Op {
    /// The operation's name as written in the trace.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::MapWrite { .. } => "map_write",
            Self::Readback { .. } => "readback",
            Self::Pin { .. } => "pin",
            Self::Unpin { .. } => "unpin",
            Self::Close { .. } => "close",
        }
    }
}

/// What an operation returned and where its BO sat right after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observed {
    /// The errno name on failure (`"ENOSPC"`); absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
    /// The created handle (create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<u32>,
    /// The BO's domain after the operation (`"vram"`, `"gtt"`, `"cpu"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The BO's GPU offset after the operation, if the device can address it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_offset: Option<u64>,
    /// Whether the pattern verified (readback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

impl Observed {
    /// A failure with errno name `errno`.
    #[must_use]
    pub fn failed(errno: String) -> Self {
        Self {
            errno: Some(errno),
            ..Self::default()
        }
    }

    /// A success, with `handle`'s placement read back through `GEM_INFO`.
    #[must_use]
    pub fn placed(file: &File, handle: Handle) -> Self {
        let info = file.gem_info(handle).ok();
        Self {
            domain: info.map(|i| domain_name(i.domain).to_owned()),
            gpu_offset: info.and_then(|i| i.gpu_offset),
            ..Self::default()
        }
    }
}

/// The name of a single-bit domain as traced.
#[must_use]
pub fn domain_name(d: Domains) -> &'static str {
    if d == Domains::VRAM {
        "vram"
    } else if d == Domains::GTT {
        "gtt"
    } else if d == Domains::CPU {
        "cpu"
    } else {
        "mixed"
    }
}

/// One operation line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRecord {
    /// Global sequence number (shared with [`StatsRecord::seq`]).
    pub seq: u64,
    /// The client (its GEM file), from 0.
    pub client: u32,
    /// The client's step.
    pub step: u64,
    /// The scenario's BO kind (informative).
    #[serde(default)]
    pub kind: String,
    /// The request.
    #[serde(flatten)]
    pub op: Op,
    /// The observed result.
    pub result: Observed,
}

/// The device counters compared by `replay`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCounters {
    /// VRAM in use (bytes).
    pub vram_used: u64,
    /// CPU-visible VRAM in use (bytes).
    pub vis_vram_used: u64,
    /// GTT in use (bytes).
    pub gtt_used: u64,
    /// Largest free VRAM block (bytes, `INFO` max_allocation).
    pub largest_free_vram_block: u64,
    /// BOs alive.
    pub live_bos: u64,
    /// BOs ever created.
    pub bos_created: u64,
    /// BO creations that failed.
    pub bo_create_failures: u64,
    /// Evictions from VRAM and GTT.
    pub evictions: u64,
    /// Bytes copied by the copy engine.
    pub bytes_moved: u64,
    /// Manager retries after no-space.
    pub retries: u64,
}

impl DeviceCounters {
    /// Samples `dev` (`file` answers the `INFO` query).
    #[must_use]
    pub fn sample(dev: &Device, file: Option<&File>) -> Self {
        let m = dev.mem_info();
        let s = dev.get_stats();
        Self {
            vram_used: m.vram_used,
            vis_vram_used: m.vis_vram_used,
            gtt_used: m.gtt_used,
            largest_free_vram_block: file
                .and_then(|f| f.info(InfoQuery::Memory).ok())
                .map_or(0, |i| i.vram.max_allocation),
            live_bos: s.live_bos,
            bos_created: s.bos_created,
            bo_create_failures: s.bo_create_failures,
            evictions: s.vram.counters.evictions + s.gtt.counters.evictions,
            bytes_moved: s.copy.bytes_copied,
            retries: s.vram.counters.retries + s.gtt.counters.retries,
        }
    }

    /// `(name, value)` of every counter, in declaration order.
    #[must_use]
    pub fn fields(&self) -> [(&'static str, u64); 10] {
        [
            ("vram_used", self.vram_used),
            ("vis_vram_used", self.vis_vram_used),
            ("gtt_used", self.gtt_used),
            ("largest_free_vram_block", self.largest_free_vram_block),
            ("live_bos", self.live_bos),
            ("bos_created", self.bos_created),
            ("bo_create_failures", self.bo_create_failures),
            ("evictions", self.evictions),
            ("bytes_moved", self.bytes_moved),
            ("retries", self.retries),
        ]
    }
}

/// Where a statistics line was sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatsPoint {
    /// The run's end state: every client paused with its BOs alive.
    EndState,
    /// After every file was closed.
    Final,
}

/// A statistics line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsRecord {
    /// Which sample.
    pub stats: StatsPoint,
    /// Its place in the global order (`end_state` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The BOs `(client, handle)` the run's end-state memory map then inspected, in
    /// order (`end_state` only). Inspecting reserves each BO, which bumps it to its
    /// LRU tail, so a replay inspects the same BOs in the same order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inspected: Vec<(u32, u32)>,
    /// The counters.
    #[serde(flatten)]
    pub counters: DeviceCounters,
}

/// The `--trace` recorder.
///
/// Locking: one mutex serialises the writer, the sequence counter and — through
/// [`Trace::lock`] — the traced operations themselves.
#[derive(Debug)]
pub struct Trace {
    inner: Mutex<Writer>,
}

#[derive(Debug)]
struct Writer {
    out: std::io::BufWriter<std::fs::File>,
    seq: u64,
    failed: bool,
}

/// Holds the recorder's lock: the operation done while it is held and its
/// [`TraceGuard::record`] take the next sequence number, with nothing in between.
#[derive(Debug)]
pub struct TraceGuard<'a>(MutexGuard<'a, Writer>);

impl Writer {
    fn line<T: Serialize>(&mut self, v: &T) {
        let ok = serde_json::to_string(v)
            .ok()
            .is_some_and(|s| writeln!(self.out, "{s}").is_ok());
        self.failed |= !ok;
    }
}

impl TraceGuard<'_> {
    /// Records an operation done under this guard; returns its sequence number.
    pub fn record(mut self, client: u32, step: u64, kind: &str, op: Op, result: Observed) -> u64 {
        let seq = self.0.seq;
        self.0.seq += 1;
        let rec = OpRecord {
            seq,
            client,
            step,
            kind: kind.to_owned(),
            op,
            result,
        };
        self.0.line(&rec);
        seq
    }

    /// Records a statistics sample taken under this guard.
    pub fn record_stats(
        mut self,
        point: StatsPoint,
        counters: DeviceCounters,
        inspected: Vec<(u32, u32)>,
    ) {
        let seq = match point {
            StatsPoint::EndState => {
                let s = self.0.seq;
                self.0.seq += 1;
                Some(s)
            }
            StatsPoint::Final => None,
        };
        self.0.line(&StatsRecord {
            stats: point,
            seq,
            inspected,
            counters,
        });
    }
}

impl Trace {
    /// Creates (truncates) the trace file and writes its header.
    ///
    /// # Errors
    /// [`CliError::Io`] if the file cannot be created or written.
    pub fn create(path: &Path, header: &TraceHeader) -> Result<Self> {
        let f = std::fs::File::create(path).map_err(|e| CliError::io(path, e))?;
        let mut out = std::io::BufWriter::new(f);
        let line = serde_json::to_string(header)?;
        writeln!(out, "{line}").map_err(|e| CliError::io(path, e))?;
        Ok(Self {
            inner: Mutex::new(Writer {
                out,
                seq: 0,
                failed: false,
            }),
        })
    }

    /// Takes the recorder's lock; do the operation, then [`TraceGuard::record`] it.
    pub fn lock(&self) -> TraceGuard<'_> {
        TraceGuard(self.inner.lock())
    }

    /// Flushes the file.
    ///
    /// # Errors
    /// [`CliError::Driver`] if any write or the flush failed.
    pub fn finish(&self) -> Result<()> {
        let mut w = self.inner.lock();
        if w.out.flush().is_err() || w.failed {
            return Err(CliError::Driver("writing the trace failed".to_owned()));
        }
        Ok(())
    }
}

/// A line of a trace after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceLine {
    /// An operation.
    Op(OpRecord),
    /// A statistics sample.
    Stats(StatsRecord),
}

/// A parsed trace: its header and its lines, each with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedTrace {
    /// The header.
    pub header: TraceHeader,
    /// The lines after the header, with their line numbers.
    pub lines: Vec<(usize, TraceLine)>,
}

fn malformed(line: usize, why: impl std::fmt::Display) -> CliError {
    CliError::Trace(format!("line {line}: {why}"))
}

/// Parses a trace.
///
/// Checks: line 1 is a version-[`VERSION`] header; every other line is an operation or
/// statistics line; clients are below `threads`; sequence numbers are 0, 1, 2, ... in
/// file order; the `final` statistics line, if present, is last.
///
/// # Errors
/// [`CliError::Trace`] (`EINVAL`) naming the first offending line. Linear in the text.
pub fn parse(text: &str) -> Result<ParsedTrace> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (_, first) = lines
        .next()
        .ok_or_else(|| malformed(1, "empty trace (expected a header)"))?;
    let v: serde_json::Value =
        serde_json::from_str(first).map_err(|e| malformed(1, format!("not JSON: {e}")))?;
    if v.get("format").is_none() {
        return Err(malformed(
            1,
            "no header: a version 1 trace (without requests) cannot be replayed; record it again",
        ));
    }
    let header: TraceHeader =
        serde_json::from_value(v).map_err(|e| malformed(1, format!("bad header: {e}")))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(malformed(
            1,
            format!(
                "format {:?} version {} (this build replays {FORMAT:?} version {VERSION})",
                header.format, header.version
            ),
        ));
    }
    let mut out = Vec::new();
    let mut next_seq = 0u64;
    let mut saw_final = false;
    for (n, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        if saw_final {
            return Err(malformed(n, "a line after the final statistics"));
        }
        let v: serde_json::Value =
            serde_json::from_str(l).map_err(|e| malformed(n, format!("not JSON: {e}")))?;
        let line = if v.get("op").is_some() {
            let r: OpRecord = serde_json::from_value(v)
                .map_err(|e| malformed(n, format!("bad operation: {e}")))?;
            if r.client >= header.threads {
                return Err(malformed(
                    n,
                    format!("client {} of {} clients", r.client, header.threads),
                ));
            }
            TraceLine::Op(r)
        } else if v.get("stats").is_some() {
            let r: StatsRecord = serde_json::from_value(v)
                .map_err(|e| malformed(n, format!("bad statistics: {e}")))?;
            saw_final = r.stats == StatsPoint::Final;
            if !saw_final && r.seq.is_none() {
                return Err(malformed(n, "end_state statistics without seq"));
            }
            TraceLine::Stats(r)
        } else {
            return Err(malformed(
                n,
                "neither an operation (op) nor statistics (stats)",
            ));
        };
        let seq = match &line {
            TraceLine::Op(r) => Some(r.seq),
            TraceLine::Stats(r) => r.seq,
        };
        if let Some(seq) = seq {
            if seq != next_seq {
                return Err(malformed(n, format!("seq {seq}, expected {next_seq}")));
            }
            next_seq += 1;
        }
        out.push((n, line));
    }
    Ok(ParsedTrace { header, lines: out })
}

#[cfg(test)]
mod tests;
