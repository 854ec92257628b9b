//! Criterion harness for the range allocator workloads M1-M4 (`BASELINE.md`).
//!
//! `cargo bench -p pddgpu-bench --bench mm` runs each workload under criterion (time per
//! repetition, throughput in operations), then prints the `BASELINE.md` statistic: the
//! median ns/op over 15 repetitions, next to the Linux C figure.

use std::time::Duration;

use criterion::{Criterion, Throughput};
use pddgpu_bench::mm::{run, run_with_cpu, MmWorkload};
use pddgpu_bench::result::median_ns_per_op;

fn workloads(c: &mut Criterion) {
    let mut g = c.benchmark_group("mm");
    g.sample_size(10);
    for w in MmWorkload::ALL {
        g.throughput(Throughput::Elements(run(w).ops));
        g.bench_function(w.name(), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(w).elapsed).sum::<Duration>());
        });
    }
    g.finish();
}

fn main() {
    // `PDDGPU_BENCH_ONE=M1` runs one repetition of one workload and exits: the form to
    // run under `valgrind --tool=callgrind` for instruction counts.
    if let Ok(one) = std::env::var("PDDGPU_BENCH_ONE") {
        let w = MmWorkload::ALL
            .into_iter()
            .find(|w| w.name() == one)
            .expect("PDDGPU_BENCH_ONE names a workload (M1, M2, M3, M3x16, M4)");
        let r = run(w);
        println!(
            "{}: {} ops, {} failures, {:.1} ns/op",
            r.name,
            r.ops,
            r.failures,
            r.ns_per_op()
        );
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    workloads(&mut c);
    c.final_summary();
    println!("\n| id | wall ns/op median (min-max), 15 reps | CPU ns/op median | Linux ns/op | wall ratio | CPU ratio |");
    println!("|---|---:|---:|---:|---:|---:|");
    for w in MmWorkload::ALL {
        let mut cpu: Vec<f64> = Vec::new();
        let (med, min, max) = median_ns_per_op(15, || {
            let (r, c) = run_with_cpu(w);
            if let Some(c) = c {
                cpu.push(c.as_secs_f64() * 1e9 / r.ops as f64);
            }
            r
        });
        cpu.sort_by(f64::total_cmp);
        let cpu_med = cpu.get(cpu.len() / 2).copied();
        let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
        let ratio = |v: Option<f64>| match (v, w.linux_ns_per_op()) {
            (Some(v), Some(l)) => format!("{:.2}x", v / l),
            _ => "-".to_string(),
        };
        println!(
            "| {} | {med:.1} ({min:.1}-{max:.1}) | {} | {} | {} | {} |",
            w.name(),
            fmt(cpu_med),
            fmt(w.linux_ns_per_op()),
            ratio(Some(med)),
            ratio(cpu_med),
        );
    }
}
