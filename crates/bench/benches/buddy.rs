//! Criterion harness for the buddy allocator workloads B1-B6 (`BASELINE.md`).
//!
//! `cargo bench -p pddgpu-bench --bench buddy` runs each workload under criterion (time
//! per repetition, throughput in operations), then prints the `BASELINE.md` statistic:
//! the median ns/op over repetitions (wall, and thread CPU time where the kernel exposes
//! it), next to the Linux C figure. Set
//! `PDDGPU_BENCH_REPS` to change the number of repetitions of that table (default 15),
//! `PDDGPU_BENCH_ONLY=<id>` to run one row, and pass `--table-only` to skip criterion.

use criterion::{Criterion, Throughput};
use pddgpu_bench::buddy::{run_with_cpu, time_runs, BuddyWorkload};
use pddgpu_bench::result::median_ns_per_op;

fn workloads(c: &mut Criterion) {
    let mut g = c.benchmark_group("buddy");
    g.sample_size(10);
    for w in BuddyWorkload::ALL {
        g.throughput(Throughput::Elements(w.ops()));
        g.bench_function(w.name(), |b| b.iter_custom(|iters| time_runs(w, iters)));
    }
    g.finish();
}

fn main() {
    let table_only = std::env::args().any(|a| a == "--table-only");
    if !table_only {
        let mut c = Criterion::default().configure_from_args();
        workloads(&mut c);
        c.final_summary();
    }
    let reps = std::env::var("PDDGPU_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let only = std::env::var("PDDGPU_BENCH_ONLY").ok();
    println!(
        "\n| id | ops | failed | ns/op median (min-max), {reps} reps | CPU ns/op median | Linux ns/op | ratio (CPU) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for w in BuddyWorkload::ALL {
        if only.as_deref().is_some_and(|o| o != w.name()) {
            continue;
        }
        let mut last = None;
        let mut cpus = Vec::new();
        let (med, min, max) = median_ns_per_op(reps, || {
            let (r, cpu) = run_with_cpu(w);
            last = Some((r.ops, r.failures));
            if let Some(cpu) = cpu {
                cpus.push(cpu.as_secs_f64() * 1e9 / r.ops.max(1) as f64);
            }
            r
        });
        let (ops, failed) = last.unwrap_or_default();
        cpus.sort_by(f64::total_cmp);
        let cpu = cpus.get(cpus.len() / 2).copied();
        let cpu_text = cpu.map_or("-".into(), |c| format!("{c:.1}"));
        let (linux, ratio) = match (w.linux_ns_per_op(), cpu) {
            (Some(l), Some(c)) => (format!("{l:.1}"), format!("{:.2}x", c / l)),
            (Some(l), None) => (format!("{l:.1}"), format!("{:.2}x (wall)", med / l)),
            (None, _) => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {ops} | {failed} | {med:.1} ({min:.1}-{max:.1}) | {cpu_text} | {linux} | {ratio} |",
            w.name()
        );
    }
}
