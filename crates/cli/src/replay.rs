//! `pddgpu replay`: re-issue a recorded trace and report where the outcome differs.
//!
//! The device is rebuilt from the trace header (same sizes, every other setting the
//! default), one GEM [`File`] is opened per recorded client, and every operation is
//! issued on the calling thread, through the public `File` API, in the trace's global
//! sequence order. After each one the same observation as the recorder's is made (the
//! errno, the created handle, the BO's domain and GPU offset, the readback verdict) and
//! compared with the recorded result; at the `end_state` and `final` statistics lines
//! the device counters are sampled and compared too.
//!
//! A run with one client is deterministic, so its replay is identical. With several
//! clients the recorder serialised the operations (each ran under the trace lock), so
//! the recorded order is exactly the order in which they took effect and the replay
//! issues them in that order, which reproduces the outcome; what could still differ is
//! work the device did asynchronously to the operations (a delayed delete of a BO
//! released while busy) landing at another point. Every operation whose result
//! differs is reported as a [`Divergence`].
//!
//! Handles are per client: a recorded handle is translated to the handle the replayed
//! create returned (kept after a close, so a stale use fails the same way). An
//! operation on a handle the client never created in the replay (its create diverged
//! into a failure) is reported as a divergence and skipped.
//!
//! Cost: linear in the trace, plus the driver's work for each operation.

use std::collections::HashMap;
use std::fmt::Write as _;

use pddgpu::gem::{File, OpenFile};
use pddgpu::uapi::{CreateFlags, Domains, GemCreate, GemOp, GemOpKind, Handle};

use crate::error::{CliError, Result};
use crate::run::{new_device, regions_of, verify_pattern, write_pattern};
use crate::stress::errno_name;
use crate::trace::{
    DeviceCounters, Observed, Op, OpRecord, ParsedTrace, StatsPoint, TraceHeader, TraceLine,
};

/// An operation or statistics sample whose replayed outcome differs from the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The trace line (1-based).
    pub line: usize,
    /// Its sequence number, if it has one.
    pub seq: Option<u64>,
    /// What differed: `"create (client 0)"`, `"final statistics"`, ...
    pub what: String,
    /// The recorded outcome, as JSON.
    pub recorded: String,
    /// The replayed outcome, as JSON.
    pub replayed: String,
}

/// The recorded and replayed counters at one statistics line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsComparison {
    /// Which sample.
    pub point: StatsPoint,
    /// As recorded.
    pub recorded: DeviceCounters,
    /// As replayed.
    pub replayed: DeviceCounters,
}

/// The outcome of a replay.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// The trace header.
    pub header: TraceHeader,
    /// Operations issued.
    pub operations: u64,
    /// Every divergence, in trace order.
    pub divergences: Vec<Divergence>,
    /// Every statistics line, compared.
    pub stats: Vec<StatsComparison>,
    /// The device invariant check after the replay (`Err` describes the violation).
    pub check: std::result::Result<(), String>,
}

impl ReplayReport {
    /// True if nothing diverged and the device invariants hold.
    #[must_use]
    pub fn identical(&self) -> bool {
        self.divergences.is_empty() && self.check.is_ok()
    }

    /// The text `pddgpu replay` prints; lists at most `max_divergences` divergences.
    #[must_use]
    pub fn render_text(&self, max_divergences: usize) -> String {
        let h = &self.header;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "trace: scenario {}, seed {}, {} client(s), VRAM {} B ({} B visible), GTT {} B",
            h.scenario,
            h.seed,
            h.threads,
            h.device.vram_size,
            h.device.visible_size,
            h.device.gtt_size
        );
        let _ = writeln!(
            s,
            "operations: {} replayed, {} diverged",
            self.operations,
            self.divergences.len()
        );
        for d in self.divergences.iter().take(max_divergences) {
            let seq = d.seq.map_or_else(String::new, |q| format!(", seq {q}"));
            let _ = writeln!(
                s,
                "  divergence at line {}{seq}: {}: recorded {}, replayed {}",
                d.line, d.what, d.recorded, d.replayed
            );
        }
        if self.divergences.len() > max_divergences {
            let _ = writeln!(
                s,
                "  ... and {} more",
                self.divergences.len() - max_divergences
            );
        }
        for c in &self.stats {
            let name = match c.point {
                StatsPoint::EndState => "end-state",
                StatsPoint::Final => "final",
            };
            let verdict = if c.recorded == c.replayed {
                "identical"
            } else {
                "DIFFERENT"
            };
            let _ = writeln!(s, "{name} statistics: {verdict}");
            let _ = writeln!(s, "  {:<24} {:>14} {:>14}", "", "recorded", "replayed");
            for ((k, a), (_, b)) in c.recorded.fields().iter().zip(c.replayed.fields()) {
                let mark = if *a == b { "" } else { "  <- differs" };
                let _ = writeln!(s, "  {k:<24} {a:>14} {b:>14}{mark}");
            }
        }
        if let Err(e) = &self.check {
            let _ = writeln!(s, "device invariants: {e}");
        }
        let verdict = if self.identical() {
            "identical (every result, placement and statistic)"
        } else {
            "DIVERGED"
        };
        let _ = writeln!(s, "verdict: {verdict}");
        s
    }
}

fn json(o: &Observed) -> String {
    serde_json::to_string(o).unwrap_or_else(|_| format!("{o:?}"))
}

fn counters_json(c: &DeviceCounters) -> String {
    serde_json::to_string(c).unwrap_or_else(|_| format!("{c:?}"))
}

/// The replay state: the device's files and each client's handle translation.
struct Replayer {
    files: Vec<File>,
    handles: HashMap<(u32, u32), Handle>,
    divergences: Vec<Divergence>,
}

impl Replayer {
    fn failed(file: &File, e: &pddgpu::gem::Error) -> Observed {
        Observed::failed(errno_name(file.errno(e).raw_os_error()))
    }

    /// Issues one recorded operation; returns what was observed, or `None` if it could
    /// not be issued (its handle does not exist here), which is itself a divergence.
    fn issue(&mut self, line: usize, r: &OpRecord) -> Result<Option<Observed>> {
        let Some(file) = usize::try_from(r.client)
            .ok()
            .and_then(|i| self.files.get(i))
        else {
            return Err(CliError::Trace(format!(
                "line {line}: client {} has no file",
                r.client
            )));
        };
        let lookup = |h: u32| self.handles.get(&(r.client, h)).copied();
        let seen = match r.op {
            Op::Create {
                size,
                alignment,
                domains,
                flags,
            } => {
                let bad = |e: pddgpu::uapi::UapiError| {
                    CliError::Trace(format!("line {line}: invalid create request: {e}"))
                };
                let req = GemCreate::new(
                    size,
                    alignment,
                    Domains::from_raw(u64::from(domains)).map_err(bad)?,
                    CreateFlags::from_raw(flags).map_err(bad)?,
                )
                .map_err(bad)?;
                match file.gem_create(&req) {
                    Ok(h) => {
                        let mut seen = Observed::placed(file, h);
                        seen.handle = Some(h.get());
                        if let Some(rec) = r.result.handle {
                            self.handles.insert((r.client, rec), h);
                        }
                        seen
                    }
                    Err(e) => Self::failed(file, &e),
                }
            }
            Op::MapWrite { handle, pattern } => {
                let Some(h) = lookup(handle) else {
                    return Ok(None);
                };
                match write_pattern(file, h, file.gem_info(h).map_or(0, |i| i.size), pattern) {
                    Ok(()) => Observed::placed(file, h),
                    Err(e) => Self::failed(file, &e),
                }
            }
            Op::Readback { handle, pattern } => {
                let Some(h) = lookup(handle) else {
                    return Ok(None);
                };
                let size = file.gem_info(h).map_or(0, |i| i.size);
                match verify_pattern(file, h, size, pattern) {
                    Ok(bad) => {
                        let mut seen = Observed::placed(file, h);
                        seen.verified = Some(bad.is_none());
                        seen
                    }
                    Err(e) => Self::failed(file, &e),
                }
            }
            Op::Pin { handle, domains } => {
                let Some(h) = lookup(handle) else {
                    return Ok(None);
                };
                let d = Domains::from_raw(u64::from(domains))
                    .map_err(|e| CliError::Trace(format!("line {line}: invalid pin: {e}")))?;
                match file.gem_op(&GemOp {
                    handle: h,
                    op: GemOpKind::Pin(d),
                }) {
                    Ok(()) => Observed::placed(file, h),
                    Err(e) => Self::failed(file, &e),
                }
            }
            Op::Unpin { handle } => {
                let Some(h) = lookup(handle) else {
                    return Ok(None);
                };
                match file.gem_op(&GemOp {
                    handle: h,
                    op: GemOpKind::Unpin,
                }) {
                    Ok(()) => Observed::default(),
                    Err(e) => Self::failed(file, &e),
                }
            }
            Op::Close { handle } => {
                let Some(h) = lookup(handle) else {
                    return Ok(None);
                };
                // The translation stays: a later use of the stale handle must fail as
                // it did in the run (or hit the same reuse).
                match file.gem_close(h) {
                    Ok(()) => Observed::default(),
                    Err(e) => Self::failed(file, &e),
                }
            }
        };
        Ok(Some(seen))
    }
}

/// Replays `trace` (see the module docs).
///
/// # Errors
/// [`CliError::InvalidArgument`] if the driver refuses the header's device;
/// [`CliError::Driver`] if a file cannot be opened; [`CliError::Trace`] (`EINVAL`,
/// naming the line) for a request no run records (an invalid create or pin). A
/// divergence is not an error: it is in the report.
pub fn replay(trace: &ParsedTrace) -> Result<ReplayReport> {
    let dev = new_device(&trace.header.device)?;
    let files: Vec<File> = (0..trace.header.threads)
        .map(|_| dev.open())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| CliError::Driver(format!("open: {e}")))?;
    let mut rp = Replayer {
        files,
        handles: HashMap::new(),
        divergences: Vec::new(),
    };
    let mut operations = 0u64;
    let mut stats = Vec::new();
    for (line, l) in &trace.lines {
        match l {
            TraceLine::Op(r) => {
                operations += 1;
                let what = format!("{} (client {})", r.op.name(), r.client);
                match rp.issue(*line, r)? {
                    Some(seen) if seen == r.result => {}
                    Some(seen) => rp.divergences.push(Divergence {
                        line: *line,
                        seq: Some(r.seq),
                        what,
                        recorded: json(&r.result),
                        replayed: json(&seen),
                    }),
                    None => rp.divergences.push(Divergence {
                        line: *line,
                        seq: Some(r.seq),
                        what,
                        recorded: json(&r.result),
                        replayed: "not issued: the handle does not exist in the replay".to_owned(),
                    }),
                }
            }
            TraceLine::Stats(s) => {
                if s.stats == StatsPoint::Final {
                    // The run samples its final statistics after every file is closed.
                    rp.files.clear();
                }
                let replayed = DeviceCounters::sample(&dev, rp.files.first());
                if replayed != s.counters {
                    rp.divergences.push(Divergence {
                        line: *line,
                        seq: s.seq,
                        what: match s.stats {
                            StatsPoint::EndState => "end-state statistics".to_owned(),
                            StatsPoint::Final => "final statistics".to_owned(),
                        },
                        recorded: counters_json(&s.counters),
                        replayed: counters_json(&replayed),
                    });
                }
                stats.push(StatsComparison {
                    point: s.stats,
                    recorded: s.counters,
                    replayed,
                });
                // The run drew its memory map here; its reservations bump the LRU.
                let live: Vec<_> = s
                    .inspected
                    .iter()
                    .filter_map(|&(c, h)| {
                        let live = rp.handles.get(&(c, h)).copied();
                        live.map(|h| (c, h, String::new()))
                    })
                    .collect();
                let _ = regions_of(&rp.files, &live);
            }
        }
    }
    rp.files.clear();
    dev.delayed_delete(false);
    let check = dev.check();
    let _leaks = dev.shutdown();
    Ok(ReplayReport {
        header: trace.header.clone(),
        operations,
        divergences: rp.divergences,
        stats,
        check,
    })
}

#[cfg(test)]
mod tests;
