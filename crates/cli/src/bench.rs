//! `pddgpu bench`: the allocator workloads of `BASELINE.md` next to the Linux figures.
//!
//! Every workload is run through [`pddgpu_bench`], the one definition shared with the
//! criterion benches, so the figures printed here are those of the same code, RNG and
//! policies. A workload is repeated `reps` times on a fresh allocator and summarised by
//! its median and minimum ns/op (the `BASELINE.md` statistic; with an even number of
//! repetitions the upper median is taken).
//!
//! B1's two phases come from one run (the free phase needs the filled heap), so when
//! both `B1 alloc` and `B1 free` are selected each repetition runs B1 once.
//!
//! The optional comparison columns ([`crate::compare`]) run the same recipes on the
//! `offset-allocator` and `range-alloc` crates where a workload fits them.

use std::fmt::Write as _;

use pddgpu_bench::buddy::{self, BuddyWorkload};
use pddgpu_bench::mm::{self, MmWorkload};
use pddgpu_bench::result::WorkloadResult;
use serde::{Deserialize, Serialize};

use crate::compare::{self, Competitor};
use crate::error::{CliError, Result};

/// One workload of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadId {
    /// A buddy allocator workload (B1-B6 and the B4 heap-size variants).
    Buddy(BuddyWorkload),
    /// A range allocator workload (M1-M4 and the wide M3).
    Mm(MmWorkload),
}

/// The rows of `BASELINE.md`, in its order: what `pddgpu bench` runs by default.
pub const BASELINE: [WorkloadId; 13] = [
    WorkloadId::Buddy(BuddyWorkload::B1Alloc),
    WorkloadId::Buddy(BuddyWorkload::B1Free),
    WorkloadId::Buddy(BuddyWorkload::B2),
    WorkloadId::Buddy(BuddyWorkload::B3),
    WorkloadId::Buddy(BuddyWorkload::B4),
    WorkloadId::Buddy(BuddyWorkload::B4Hi),
    WorkloadId::Buddy(BuddyWorkload::B5),
    WorkloadId::Buddy(BuddyWorkload::B5t),
    WorkloadId::Buddy(BuddyWorkload::B6),
    WorkloadId::Mm(MmWorkload::M1),
    WorkloadId::Mm(MmWorkload::M2),
    WorkloadId::Mm(MmWorkload::M3),
    WorkloadId::Mm(MmWorkload::M4),
];

/// The scaling variants (no Linux figure: compare them with B4 and M3), run only when
/// named with `--only`.
pub const SCALING: [WorkloadId; 3] = [
    WorkloadId::Buddy(BuddyWorkload::B4Heap1G),
    WorkloadId::Buddy(BuddyWorkload::B4Heap64G),
    WorkloadId::Mm(MmWorkload::M3Wide),
];

impl WorkloadId {
    /// Every workload, in table order.
    pub fn all() -> impl Iterator<Item = Self> {
        BASELINE.into_iter().chain(SCALING)
    }

    /// The id printed in the table and the JSON report (`"B1 alloc"`, `"B4hi"`, `"M3"`).
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            Self::Buddy(BuddyWorkload::B4Heap1G) => "B4x1G",
            Self::Buddy(BuddyWorkload::B4Heap64G) => "B4x64G",
            Self::Buddy(w) => w.name(),
            Self::Mm(w) => w.name(),
        }
    }

    /// What the workload does, in one line.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Buddy(BuddyWorkload::B1Alloc) => "fill 16 GiB with 4 KiB blocks",
            Self::Buddy(BuddyWorkload::B1Free) => "free them in random order",
            Self::Buddy(BuddyWorkload::B2) => "churn, power-of-two 4 KiB-2 MiB",
            Self::Buddy(BuddyWorkload::B3) => "churn, any 4 KiB multiple <= 8 MiB",
            Self::Buddy(BuddyWorkload::B4) => "range [0, 256 MiB) on a fragmented heap",
            Self::Buddy(BuddyWorkload::B4Hi) => "range at the top 256 MiB",
            Self::Buddy(BuddyWorkload::B4Heap1G) => "B4 on a 1 GiB heap",
            Self::Buddy(BuddyWorkload::B4Heap64G) => "B4 on a 64 GiB heap",
            Self::Buddy(BuddyWorkload::B5) => "64 MiB CONTIGUOUS + free on the B4 heap",
            Self::Buddy(BuddyWorkload::B5t) => "48 MiB CONTIGUOUS, try-harder path",
            Self::Buddy(BuddyWorkload::B6) => "B2 with TOPDOWN",
            Self::Mm(MmWorkload::M1) => "drm_mm churn, size 1-512, BEST",
            Self::Mm(MmWorkload::M2) => "as M1, alignment 1-64, LOW",
            Self::Mm(MmWorkload::M3) => "range [0, 65536), BEST, fragmented",
            Self::Mm(MmWorkload::M3Wide) => "M3 on a 16x larger range",
            Self::Mm(MmWorkload::M4) => "scan + evict + EVICT-insert, 4096 pages",
        }
    }

    /// The Linux C median ns/op from `BASELINE.md`, if it has one.
    #[must_use]
    pub fn linux_ns_per_op(self) -> Option<f64> {
        match self {
            Self::Buddy(w) => w.linux_ns_per_op(),
            Self::Mm(w) => w.linux_ns_per_op(),
        }
    }

    /// The workloads a name given to `--only` stands for.
    ///
    /// Names are compared ignoring case, spaces, `-` and `_`, so `B1alloc`, `b1-alloc`
    /// and `"B1 alloc"` are the same; `B1` stands for both of B1's phases.
    ///
    /// # Errors
    /// [`CliError::UnknownWorkload`] if the name matches no workload.
    pub fn parse(name: &str) -> Result<Vec<Self>> {
        let key = normalise(name);
        if key == "b1" {
            return Ok(vec![
                Self::Buddy(BuddyWorkload::B1Alloc),
                Self::Buddy(BuddyWorkload::B1Free),
            ]);
        }
        Self::all()
            .find(|w| normalise(w.id()) == key)
            .map(|w| vec![w])
            .ok_or_else(|| CliError::UnknownWorkload {
                name: name.to_owned(),
                known: Self::all().map(Self::id).collect::<Vec<_>>().join(", "),
            })
    }
}

fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Parses a `--only` list (`"B2,M1"`) into workloads in table order, without duplicates.
///
/// # Errors
/// [`CliError::UnknownWorkload`] for a name that matches no workload,
/// [`CliError::InvalidArgument`] for an empty list or an empty item.
pub fn parse_selection(list: &str) -> Result<Vec<WorkloadId>> {
    let mut chosen = Vec::new();
    for item in list.split(',') {
        if item.trim().is_empty() {
            return Err(CliError::InvalidArgument(format!(
                "--only {list:?}: empty workload name"
            )));
        }
        chosen.extend(WorkloadId::parse(item.trim())?);
    }
    Ok(WorkloadId::all().filter(|w| chosen.contains(w)).collect())
}

/// The summary of one workload over its repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Which workload.
    pub workload: WorkloadId,
    /// Median ns/op over the repetitions.
    pub ns_per_op_median: f64,
    /// Fastest repetition's ns/op.
    pub ns_per_op_min: f64,
    /// Timed operations of one repetition (identical in every repetition: the
    /// workloads are deterministic).
    pub ops: u64,
    /// Failed timed operations of one repetition (e.g. `NoSpace` inside the live band).
    pub failures: u64,
    /// Median ns/op of the same recipe on each competitor crate that fits the workload
    /// (`None` where it does not fit or was not asked for), in [`Competitor::ALL`] order.
    pub competitors: [Option<f64>; 2],
}

/// What `pddgpu bench` measures in one call.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// The workloads, in table order.
    pub workloads: Vec<WorkloadId>,
    /// Repetitions per workload (at least 1).
    pub reps: usize,
    /// Also run the competitor crates where a workload fits them.
    pub compare: bool,
}

/// A unit of work: B1 yields both of its phases from one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    B1,
    One(WorkloadId),
}

impl Job {
    fn members(self) -> Vec<WorkloadId> {
        match self {
            Self::B1 => vec![
                WorkloadId::Buddy(BuddyWorkload::B1Alloc),
                WorkloadId::Buddy(BuddyWorkload::B1Free),
            ],
            Self::One(w) => vec![w],
        }
    }

    fn of(w: WorkloadId) -> Self {
        match w {
            WorkloadId::Buddy(BuddyWorkload::B1Alloc | BuddyWorkload::B1Free) => Self::B1,
            other => Self::One(other),
        }
    }

    /// One repetition on pddgpu's allocators, results in [`Self::members`] order.
    fn run(self) -> Vec<WorkloadResult> {
        match self {
            Self::B1 => {
                let (alloc, free) = buddy::b1();
                vec![alloc, free]
            }
            Self::One(WorkloadId::Buddy(w)) => vec![buddy::run(w)],
            Self::One(WorkloadId::Mm(w)) => vec![mm::run(w)],
        }
    }
}

impl BenchPlan {
    /// Repetitions the plan will run in total (for a progress bar), competitors included.
    #[must_use]
    pub fn total_runs(&self) -> u64 {
        let reps = self.reps.max(1) as u64;
        self.jobs()
            .iter()
            .map(|job| {
                let extra = if self.compare {
                    Competitor::ALL
                        .iter()
                        .filter(|c| job.members().iter().any(|w| compare::fits(*w, **c)))
                        .count() as u64
                } else {
                    0
                };
                reps * (1 + extra)
            })
            .sum()
    }

    fn jobs(&self) -> Vec<Job> {
        let mut jobs: Vec<Job> = Vec::new();
        for w in &self.workloads {
            let job = Job::of(*w);
            if !jobs.contains(&job) {
                jobs.push(job);
            }
        }
        jobs
    }

    /// Runs the plan; `on_run` is called after every repetition with the workload id.
    ///
    /// # Panics
    /// Only if an allocator breaks a workload's own expectations (see
    /// [`pddgpu_bench::buddy::run`]): that is an allocator bug, not a measurement.
    ///
    /// # Complexity
    /// `reps` times the workloads' own cost (B1 is the largest: 4 M allocations and
    /// frees, about 400 MB of block metadata).
    pub fn run(&self, mut on_run: impl FnMut(&str)) -> Vec<Measurement> {
        let reps = self.reps.max(1);
        let mut out = Vec::new();
        for job in self.jobs() {
            let members = job.members();
            let mut samples: Vec<Vec<WorkloadResult>> = vec![Vec::new(); members.len()];
            for _ in 0..reps {
                for (slot, r) in samples.iter_mut().zip(job.run()) {
                    slot.push(r);
                }
                on_run(members[0].id());
            }
            let mut competitors: Vec<[Option<f64>; 2]> = vec![[None, None]; members.len()];
            if self.compare {
                for (ci, c) in Competitor::ALL.into_iter().enumerate() {
                    if !members.iter().any(|w| compare::fits(*w, c)) {
                        continue;
                    }
                    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); members.len()];
                    for _ in 0..reps {
                        for (i, r) in compare::run(job_kind(job), c).into_iter().enumerate() {
                            runs[i].push(r.ns_per_op());
                        }
                        on_run(c.name());
                    }
                    for (i, w) in members.iter().enumerate() {
                        if compare::fits(*w, c) {
                            competitors[i][ci] = median(&mut runs[i]).map(|(m, _)| m);
                        }
                    }
                }
            }
            for ((w, s), comp) in members.into_iter().zip(samples).zip(competitors) {
                if !self.workloads.contains(&w) {
                    continue;
                }
                let mut ns: Vec<f64> = s.iter().map(WorkloadResult::ns_per_op).collect();
                let (med, min) = median(&mut ns).unwrap_or((0.0, 0.0));
                let first = &s[0];
                out.push(Measurement {
                    workload: w,
                    ns_per_op_median: med,
                    ns_per_op_min: min,
                    ops: first.ops,
                    failures: first.failures,
                    competitors: comp,
                });
            }
        }
        out
    }
}

fn job_kind(job: Job) -> compare::Recipe {
    match job {
        Job::B1 => compare::Recipe::B1,
        Job::One(w) => compare::Recipe::Single(w),
    }
}

/// `(median, min)` of `v` (upper median for an even count); `None` when empty.
fn median(v: &mut [f64]) -> Option<(f64, f64)> {
    v.sort_by(f64::total_cmp);
    Some((*v.get(v.len() / 2)?, *v.first()?))
}

/// The JSON report of `pddgpu bench --json FILE`.
///
/// Schema: `{"workloads": [{"id": "B2", "ns_per_op_median": f64, "ns_per_op_min": f64,
/// "ops": u64, "failures": u64}, ...]}`, one entry per measured workload in table order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchReport {
    /// One entry per workload, in table order.
    pub workloads: Vec<BenchEntry>,
}

/// One workload of [`BenchReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchEntry {
    /// The workload id ([`WorkloadId::id`]).
    pub id: String,
    /// Median ns/op over the repetitions.
    pub ns_per_op_median: f64,
    /// Fastest repetition's ns/op.
    pub ns_per_op_min: f64,
    /// Timed operations per repetition.
    pub ops: u64,
    /// Failed timed operations per repetition.
    pub failures: u64,
}

impl BenchReport {
    /// The report of `measurements`.
    #[must_use]
    pub fn new(measurements: &[Measurement]) -> Self {
        Self {
            workloads: measurements
                .iter()
                .map(|m| BenchEntry {
                    id: m.workload.id().to_owned(),
                    ns_per_op_median: m.ns_per_op_median,
                    ns_per_op_min: m.ns_per_op_min,
                    ops: m.ops,
                    failures: m.failures,
                })
                .collect(),
        }
    }
}

/// The table `pddgpu bench` prints: our figures, the Linux ones and the ratio, and the
/// competitor columns when `compare` is set (`-` where a workload does not fit).
#[must_use]
pub fn render_table(measurements: &[Measurement], reps: usize, compare: bool) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{:<8} {:>9} {:>5} {:>11} {:>10} {:>11} {:>6}",
        "id", "ops", "fail", "ns/op med", "ns/op min", "Linux ns/op", "ratio"
    );
    if compare {
        for c in Competitor::ALL {
            let _ = write!(s, " {:>16}", c.name());
        }
    }
    let _ = writeln!(s, "  workload");
    for m in measurements {
        let (linux, ratio) = match m.workload.linux_ns_per_op() {
            Some(l) => (format!("{l:.1}"), format!("{:.2}x", m.ns_per_op_median / l)),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let _ = write!(
            s,
            "{:<8} {:>9} {:>5} {:>11.1} {:>10.1} {:>11} {:>6}",
            m.workload.id(),
            m.ops,
            m.failures,
            m.ns_per_op_median,
            m.ns_per_op_min,
            linux,
            ratio
        );
        if compare {
            for c in m.competitors {
                match c {
                    Some(ns) => {
                        let _ = write!(s, " {ns:>16.1}");
                    }
                    None => {
                        let _ = write!(s, " {:>16}", "-");
                    }
                }
            }
        }
        let _ = writeln!(s, "  {}", m.workload.describe());
    }
    let _ = writeln!(
        s,
        "ns/op: median (and min) of {reps} run(s); Linux: BASELINE.md medians; ratio = ours / Linux."
    );
    s
}

#[cfg(test)]
mod tests;
