use super::*;

fn sample() -> RunReport {
    let mut failures = Failures::default();
    failures.record("ENOSPC");
    failures.record("ENOSPC");
    failures.record("ENOMEM");
    RunReport {
        schema: SCHEMA.to_owned(),
        scenario: "default".to_owned(),
        seed: 1,
        threads: 4,
        elapsed_secs: 12.34,
        device: DeviceSizes {
            vram_size: 512 << 20,
            visible_size: 128 << 20,
            gtt_size: 1 << 30,
        },
        ops: OpCounts {
            total: 16000,
            creates: 9000,
            frees: 8900,
            maps: 12000,
            revalidations: 2400,
            readbacks: 3200,
        },
        create_latency_ns: LatencySummary {
            count: 9000,
            p50: 850,
            p99: 12_345,
            max: 4_100_000,
        },
        evictions: 321,
        bytes_moved: 3 << 29,
        retries: 2,
        failures,
        peak_usage: PeakUsage {
            vram: 512 << 20,
            visible_vram: 100 << 20,
            gtt: 256 << 20,
        },
        end_state: EndState {
            vram_used: 384 << 20,
            vram_free: 128 << 20,
            largest_free_vram_block: 32 << 20,
            fragmentation: fragmentation(32 << 20, 128 << 20),
            gtt_used: 64 << 20,
        },
        integrity: Integrity {
            ok: true,
            verified_bos: 9000,
            verified_bytes: 5 << 30,
            mismatches: 0,
            first_mismatch: None,
        },
    }
}

#[test]
fn percentiles_are_nearest_rank() {
    let mut v: Vec<u64> = (1..=100).rev().collect();
    let s = LatencySummary::from_samples(&mut v);
    assert_eq!(
        s,
        LatencySummary {
            count: 100,
            p50: 50,
            p99: 99,
            max: 100
        }
    );
    let s = LatencySummary::from_samples(&mut [7]);
    assert_eq!((s.count, s.p50, s.p99, s.max), (1, 7, 7, 7));
    let s = LatencySummary::from_samples(&mut [3, 1]);
    assert_eq!((s.p50, s.p99, s.max), (1, 3, 3));
    assert_eq!(
        LatencySummary::from_samples(&mut []),
        LatencySummary::default()
    );
}

#[test]
fn fragmentation_is_the_unusable_share_of_free_space() {
    assert_eq!(fragmentation(32, 128), 0.75);
    assert_eq!(fragmentation(128, 128), 0.0);
    assert_eq!(fragmentation(0, 0), 0.0);
    assert_eq!(fragmentation(200, 100), 0.0);
}

#[test]
fn text_summary_is_exact() {
    let expected = "\
scenario default (seed 1), 4 client thread(s), 12.3 s
device   VRAM 512 MiB (visible 128 MiB), GTT 1 GiB
ops      16000 total: 9000 creates, 8900 frees, 12000 maps, 2400 revalidations, 3200 readbacks
create   p50 850 ns  p99 12.3 µs  max 4.1 ms  (9000 samples)
evict    321 evictions, 1.5 GiB moved, 2 retries
failures 3 (ENOMEM 1, ENOSPC 2)
peak     VRAM 512 MiB (100%), visible 100 MiB, GTT 256 MiB (25%)
end      VRAM used 384 MiB, free 128 MiB, largest free block 32 MiB, fragmentation 75.0%; GTT used 64 MiB
integrity OK: 9000 BOs verified (5 GiB)
";
    assert_eq!(sample().render_text(), expected);
}

#[test]
fn failed_integrity_is_reported_with_the_first_mismatch() {
    let mut r = sample();
    r.integrity = Integrity {
        ok: false,
        verified_bos: 10,
        verified_bytes: 40960,
        mismatches: 1,
        first_mismatch: Some("bo 3 offset 0x10: expected 0xa5, found 0x00".into()),
    };
    let text = r.render_text();
    assert_eq!(
        text.lines().last().unwrap(),
        "integrity FAILED: 1 of 10 BOs mismatched; first: bo 3 offset 0x10: expected 0xa5, found 0x00"
    );
}

#[test]
fn json_has_the_documented_schema() {
    let v = serde_json::to_value(sample()).unwrap();
    assert_eq!(v["schema"], "pddgpu-run-report/1");
    let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "schema",
        "scenario",
        "seed",
        "threads",
        "elapsed_secs",
        "device",
        "ops",
        "create_latency_ns",
        "evictions",
        "bytes_moved",
        "retries",
        "failures",
        "peak_usage",
        "end_state",
        "integrity",
    ];
    want.sort_unstable();
    let mut got = top.clone();
    got.sort_unstable();
    assert_eq!(got, want);
    assert_eq!(v["device"]["visible_size"], 128u64 << 20);
    assert_eq!(v["ops"]["creates"], 9000);
    assert_eq!(v["create_latency_ns"]["p99"], 12_345);
    assert_eq!(v["failures"]["by_errno"]["ENOSPC"], 2);
    assert_eq!(v["failures"]["total"], 3);
    assert_eq!(v["peak_usage"]["gtt"], 256u64 << 20);
    assert_eq!(v["end_state"]["largest_free_vram_block"], 32u64 << 20);
    assert_eq!(v["end_state"]["fragmentation"], 0.75);
    assert_eq!(v["integrity"]["ok"], true);
    assert!(v["integrity"]["first_mismatch"].is_null());
    let back: RunReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, sample());
}

#[test]
fn human_units() {
    assert_eq!(human(0), "0 B");
    assert_eq!(human(1023), "1023 B");
    assert_eq!(human(4096), "4 KiB");
    assert_eq!(human(1536), "1.5 KiB");
    assert_eq!(human(3 << 29), "1.5 GiB");
    assert_eq!(human((1 << 30) + (1 << 29) + 1), "1.5 GiB");
    assert_eq!(human_ns(999), "999 ns");
    assert_eq!(human_ns(1_500), "1.5 µs");
    assert_eq!(human_ns(2_500_000), "2.5 ms");
    assert_eq!(human_ns(1_200_000_000), "1.20 s");
}
