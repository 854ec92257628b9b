use super::*;

fn ids(v: &[WorkloadId]) -> Vec<&'static str> {
    v.iter().map(|w| w.id()).collect()
}

#[test]
fn baseline_rows_are_the_thirteen_of_baseline_md() {
    assert_eq!(
        ids(&BASELINE),
        [
            "B1 alloc", "B1 free", "B2", "B3", "B4", "B4hi", "B5", "B5t", "B6", "M1", "M2", "M3",
            "M4"
        ]
    );
    // Every BASELINE.md row has its Linux figure; the scaling rows have none.
    assert!(BASELINE.iter().all(|w| w.linux_ns_per_op().is_some()));
    assert!(SCALING.iter().all(|w| w.linux_ns_per_op().is_none()));
    assert_eq!(
        WorkloadId::Buddy(BuddyWorkload::B4Hi).linux_ns_per_op(),
        Some(288.7)
    );
    assert_eq!(
        WorkloadId::Mm(MmWorkload::M3).linux_ns_per_op(),
        Some(1323.9)
    );
}

#[test]
fn selection_is_in_table_order_without_duplicates() {
    let s = parse_selection("M1,b2, B2 ,b1-free").unwrap();
    assert_eq!(ids(&s), ["B1 free", "B2", "M1"]);
    let s = parse_selection("B1").unwrap();
    assert_eq!(ids(&s), ["B1 alloc", "B1 free"]);
    let s = parse_selection("m3x16,B4X64G,b4hi,B1_ALLOC").unwrap();
    assert_eq!(ids(&s), ["B1 alloc", "B4hi", "B4x64G", "M3x16"]);
}

#[test]
fn bad_selections_are_rejected_with_the_name() {
    match parse_selection("B2,B9") {
        Err(CliError::UnknownWorkload { name, known }) => {
            assert_eq!(name, "B9");
            assert!(known.starts_with("B1 alloc, B1 free, B2,"), "{known}");
        }
        other => panic!("expected UnknownWorkload, got {other:?}"),
    }
    for bad in ["", "B2,,M1", " "] {
        match parse_selection(bad) {
            Err(e @ CliError::InvalidArgument(_)) => assert_eq!(e.errno(), 22),
            other => panic!("{bad:?}: expected InvalidArgument, got {other:?}"),
        }
    }
}

#[test]
fn median_is_the_upper_middle_and_min_the_smallest() {
    assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some((2.0, 1.0)));
    assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some((3.0, 1.0)));
    assert_eq!(median(&mut []), None);
}

fn fake(w: WorkloadId, med: f64) -> Measurement {
    Measurement {
        workload: w,
        ns_per_op_median: med,
        ns_per_op_min: med / 2.0,
        ops: 1000,
        failures: 3,
        competitors: [Some(10.0), None],
    }
}

#[test]
fn table_shows_linux_figure_ratio_and_competitors() {
    let m = [
        fake(WorkloadId::Buddy(BuddyWorkload::B2), 75.9),
        fake(WorkloadId::Mm(MmWorkload::M3Wide), 100.0),
    ];
    let t = render_table(&m, 3, false);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0],
        "id             ops  fail   ns/op med  ns/op min Linux ns/op  ratio  workload"
    );
    assert_eq!(
        lines[1],
        "B2            1000     3        75.9       38.0       151.8  0.50x  churn, power-of-two 4 KiB-2 MiB"
    );
    assert_eq!(
        lines[2],
        "M3x16         1000     3       100.0       50.0           -      -  M3 on a 16x larger range"
    );
    assert_eq!(
        lines[3],
        "ns/op: median (and min) of 3 run(s); Linux: BASELINE.md medians; ratio = ours / Linux."
    );
    let t = render_table(&m[..1], 1, true);
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].contains(" offset-allocator      range-alloc  workload"));
    assert!(
        lines[1].contains("  0.50x             10.0                -  churn"),
        "{}",
        lines[1]
    );
}

#[test]
fn json_report_has_exactly_the_documented_fields() {
    let r = BenchReport::new(&[fake(WorkloadId::Buddy(BuddyWorkload::B1Free), 8.0)]);
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"workloads": [{"id": "B1 free", "ns_per_op_median": 8.0,
            "ns_per_op_min": 4.0, "ops": 1000, "failures": 3}]})
    );
    let back: BenchReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

#[test]
fn plan_runs_each_selected_workload_reps_times() {
    let plan = BenchPlan {
        workloads: parse_selection("B5t,M4").unwrap(),
        reps: 2,
        compare: true,
    };
    // Neither fits a competitor: 2 workloads x 2 reps.
    assert_eq!(plan.total_runs(), 4);
    let mut seen = Vec::new();
    let m = plan.run(|id| seen.push(id.to_owned()));
    assert_eq!(seen, ["B5t", "B5t", "M4", "M4"]);
    assert_eq!(m.len(), 2);
    assert_eq!(
        (m[0].workload.id(), m[0].ops, m[0].failures),
        ("B5t", 2000, 0)
    );
    assert_eq!(
        (m[1].workload.id(), m[1].ops, m[1].failures),
        ("M4", 1000, 0)
    );
    for x in &m {
        assert!(x.ns_per_op_min > 0.0 && x.ns_per_op_min <= x.ns_per_op_median);
        assert_eq!(x.competitors, [None, None]);
    }
}

#[test]
fn b1_counts_one_run_per_rep_for_both_phases() {
    let plan = BenchPlan {
        workloads: parse_selection("B1,B2").unwrap(),
        reps: 3,
        compare: true,
    };
    // B1: 3 ours + 3 offset-allocator; B2: 3 ours + 3 + 3.
    assert_eq!(plan.total_runs(), 15);
    let only_free = BenchPlan {
        workloads: parse_selection("b1free").unwrap(),
        reps: 1,
        compare: false,
    };
    assert_eq!(only_free.total_runs(), 1);
}
