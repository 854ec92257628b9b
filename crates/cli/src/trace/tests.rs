use super::*;
use proptest::prelude::*;

const HEADER: &str = r#"{"format":"pddgpu-trace","version":2,"scenario":"t","seed":3,"threads":2,"device":{"vram_size":8388608,"visible_size":4194304,"gtt_size":16777216}}"#;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u64>(), any::<u64>(), any::<u32>(), any::<u64>()).prop_map(
            |(size, alignment, domains, flags)| Op::Create {
                size,
                alignment,
                domains,
                flags
            }
        ),
        (any::<u32>(), any::<u8>()).prop_map(|(handle, pattern)| Op::MapWrite { handle, pattern }),
        (any::<u32>(), any::<u8>()).prop_map(|(handle, pattern)| Op::Readback { handle, pattern }),
        (any::<u32>(), any::<u32>()).prop_map(|(handle, domains)| Op::Pin { handle, domains }),
        any::<u32>().prop_map(|handle| Op::Unpin { handle }),
        any::<u32>().prop_map(|handle| Op::Close { handle }),
    ]
}

fn observed() -> impl Strategy<Value = Observed> {
    (
        proptest::option::of("E[A-Z]{2,6}"),
        proptest::option::of(any::<u32>()),
        proptest::option::of(prop_oneof![Just("vram"), Just("gtt"), Just("cpu")]),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(errno, handle, domain, gpu_offset, verified)| Observed {
            errno,
            handle,
            domain: domain.map(str::to_owned),
            gpu_offset,
            verified,
        })
}

proptest! {
    /// Serialised records parse back to themselves, with their line numbers.
    #[test]
    fn records_round_trip(
        ops in proptest::collection::vec((0u32..2, any::<u64>(), op(), observed()), 0..20),
        counters in any::<[u64; 10]>(),
    ) {
        let mut text = format!("{HEADER}\n");
        let mut want = Vec::new();
        for (seq, (client, step, op, result)) in ops.into_iter().enumerate() {
            let r = OpRecord { seq: seq as u64, client, step, kind: "k".to_owned(), op, result };
            text += &serde_json::to_string(&r).unwrap();
            text.push('\n');
            want.push((seq + 2, TraceLine::Op(r)));
        }
        let [a, b, c, d, e, f, g, h, i, j] = counters;
        let fin = StatsRecord {
            stats: StatsPoint::Final,
            seq: None,
            inspected: Vec::new(),
            counters: DeviceCounters {
                vram_used: a, vis_vram_used: b, gtt_used: c, largest_free_vram_block: d,
                live_bos: e, bos_created: f, bo_create_failures: g, evictions: h,
                bytes_moved: i, retries: j,
            },
        };
        text += &serde_json::to_string(&fin).unwrap();
        want.push((want.len() + 2, TraceLine::Stats(fin)));
        let parsed = parse(&text).unwrap();
        prop_assert_eq!(parsed.header.seed, 3);
        prop_assert_eq!(parsed.lines, want);
    }
}

#[test]
fn header_and_operation_lines_have_the_documented_shape() {
    let r = OpRecord {
        seq: 7,
        client: 1,
        step: 3,
        kind: "texture".to_owned(),
        op: Op::Create {
            size: 65536,
            alignment: 4096,
            domains: 6,
            flags: 0,
        },
        result: Observed {
            handle: Some(2),
            domain: Some("vram".to_owned()),
            gpu_offset: Some(0x10000),
            ..Observed::default()
        },
    };
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"seq":7,"client":1,"step":3,"kind":"texture","op":"create","size":65536,"alignment":4096,"domains":6,"flags":0,"result":{"handle":2,"domain":"vram","gpu_offset":65536}}"#
    );
    let fail = Observed::failed("ENOSPC".to_owned());
    assert_eq!(
        serde_json::to_string(&fail).unwrap(),
        r#"{"errno":"ENOSPC"}"#
    );
    assert_eq!(domain_name(Domains::VRAM), "vram");
    assert_eq!(domain_name(Domains::GTT), "gtt");
    assert_eq!(domain_name(Domains::CPU), "cpu");
    assert_eq!(domain_name(Domains::VRAM | Domains::GTT), "mixed");
}

fn err(text: &str) -> String {
    let e = parse(text).unwrap_err();
    assert_eq!(e.errno(), 22, "{e}");
    e.to_string()
}

#[test]
fn malformed_lines_are_named() {
    let create = r#"{"seq":0,"client":0,"step":0,"op":"close","handle":1,"result":{}}"#;
    assert_eq!(err(""), "trace: line 1: empty trace (expected a header)");
    assert!(err("{}").starts_with("trace: line 1: no header"));
    assert!(err(&format!("{HEADER}\n{create}\n{create}"))
        .starts_with("trace: line 3: seq 0, expected 1"));
    let fin = r#"{"stats":"final","vram_used":0,"vis_vram_used":0,"gtt_used":0,"largest_free_vram_block":0,"live_bos":0,"bos_created":0,"bo_create_failures":0,"evictions":0,"bytes_moved":0,"retries":0}"#;
    assert_eq!(
        err(&format!("{HEADER}\n{fin}\n{create}")),
        "trace: line 3: a line after the final statistics"
    );
    let end = fin.replace("\"final\"", "\"end_state\"");
    assert_eq!(
        err(&format!("{HEADER}\n{end}")),
        "trace: line 2: end_state statistics without seq"
    );
    assert!(err(&format!(
        "{HEADER}\n{}",
        create.replace("\"result\":{}", "\"result\":{\"bogus\":1}")
    ))
    .starts_with("trace: line 2: bad operation: unknown field `bogus`"));
    // Blank lines are skipped but still counted.
    let ok = parse(&format!("{HEADER}\n\n{create}\n")).unwrap();
    assert_eq!(ok.lines.len(), 1);
    assert_eq!(ok.lines[0].0, 3);
}
