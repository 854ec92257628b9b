//! `pddgpu bench` driven as a user would: through the binary.

mod common;

use common::{pddgpu, stdout_of};

#[test]
fn help_lists_bench_and_its_options() {
    let top = stdout_of(pddgpu().arg("--help"));
    assert!(top.contains("bench"), "{top}");
    let help = stdout_of(pddgpu().args(["bench", "--help"]));
    for opt in ["--only", "--reps", "--json", "--compare", "--list"] {
        assert!(help.contains(opt), "bench --help lacks {opt}:\n{help}");
    }
}

#[test]
fn bench_writes_the_documented_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.json");
    let table = stdout_of(
        pddgpu()
            .args(["bench", "--only", "M4,B5t", "--reps", "2", "--json"])
            .arg(&path),
    );
    // Table rows in table order, with the Linux figures of BASELINE.md.
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("id "), "{table}");
    assert!(
        rows[1].starts_with("B5t ") && rows[1].contains(" 227.5 "),
        "{table}"
    );
    assert!(
        rows[2].starts_with("M4 ") && rows[2].contains(" 1102.5 "),
        "{table}"
    );
    assert!(rows[3].contains("median (and min) of 2 run(s)"), "{table}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let obj = json.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["workloads"]);
    let w = json["workloads"].as_array().unwrap();
    assert_eq!(w.len(), 2);
    for (entry, (id, ops)) in w.iter().zip([("B5t", 2000u64), ("M4", 1000)]) {
        let mut keys: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["failures", "id", "ns_per_op_median", "ns_per_op_min", "ops"]
        );
        assert_eq!(entry["id"], id);
        assert_eq!(entry["ops"].as_u64(), Some(ops));
        assert_eq!(entry["failures"].as_u64(), Some(0));
        let med = entry["ns_per_op_median"].as_f64().unwrap();
        let min = entry["ns_per_op_min"].as_f64().unwrap();
        assert!(min > 0.0 && min <= med, "{entry}");
    }
}

#[test]
fn list_names_every_workload() {
    let out = stdout_of(pddgpu().args(["bench", "--list"]));
    let ids: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split("  ").next())
        .map(str::trim)
        .collect();
    assert_eq!(
        ids,
        [
            "B1 alloc", "B1 free", "B2", "B3", "B4", "B4hi", "B5", "B5t", "B6", "M1", "M2", "M3",
            "M4", "B4x1G", "B4x64G", "M3x16"
        ]
    );
}

#[test]
fn unknown_workload_is_einval() {
    let out = pddgpu()
        .args(["bench", "--only", "B2,Z9"])
        .assert()
        .failure()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown workload \"Z9\""), "{err}");
    assert!(err.contains("(errno 22)"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_reps_and_unwritable_json_are_refused() {
    pddgpu()
        .args(["bench", "--reps", "0"])
        .assert()
        .failure()
        .code(2);
    let out = pddgpu()
        .args([
            "bench",
            "--only",
            "B5t",
            "--reps",
            "1",
            "--json",
            "/nonexistent/dir/b.json",
        ])
        .assert()
        .failure()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("/nonexistent/dir/b.json") && err.contains("(errno 2)"),
        "{err}"
    );
}
