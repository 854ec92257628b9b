use super::*;

fn default() -> Scenario {
    Scenario::builtin_default().expect("the built-in scenario is valid")
}

fn expect_invalid(s: &Scenario, field: &str) {
    match s.validate() {
        Err(ScenarioError::Invalid { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected field {field} rejected, got {other:?}"),
    }
}

#[test]
fn builtin_default_parses_with_the_documented_values() {
    let s = default();
    assert_eq!(s.name, "default");
    assert_eq!(s.seed, 1);
    assert_eq!(s.device.vram, ByteSize(512 << 20));
    assert_eq!(s.device.visible, ByteSize(128 << 20));
    assert_eq!(s.device.gtt, ByteSize(1 << 30));
    assert_eq!(s.workload.threads, 4);
    assert_eq!(s.workload.ops_per_client, 4000);
    assert_eq!(s.workload.max_seconds, Some(30.0));
    assert_eq!(s.workload.vram_pressure, 1.5);
    assert_eq!(
        s.workload.mix,
        OpMix {
            create: 60,
            revalidate: 15,
            readback: 20,
            idle: 5
        }
    );
    let names: Vec<&str> = s.kinds.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "render_target",
            "texture",
            "constants",
            "scratch",
            "staging",
            "readback"
        ]
    );
    let rt = s.kind("render_target").unwrap();
    assert_eq!(rt.domains, [DomainName::Vram]);
    assert_eq!(rt.flags, [CreateFlagName::VramContiguous]);
    assert_eq!(rt.alignment, ByteSize(4096));
    assert_eq!(
        rt.lifetime,
        Lifetime {
            min: 200,
            max: 2000
        }
    );
    assert_eq!(
        s.kind("staging").unwrap().size,
        SizeDist::Choice {
            sizes: vec![
                ByteSize(64 << 10),
                ByteSize(256 << 10),
                ByteSize(1 << 20),
                ByteSize(4 << 20)
            ]
        }
    );
}

#[test]
fn every_example_scenario_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 3, "expected default, small and contiguous, found {n}");
}

#[test]
fn byte_sizes_parse_with_binary_units() {
    for (text, bytes) in [
        ("4096", 4096),
        ("64 KiB", 64 << 10),
        ("512MiB", 512 << 20),
        ("4 GiB", 4 << 30),
        ("1T", 1 << 40),
        ("8 kb", 8 << 10),
        (" 3 B ", 3),
    ] {
        assert_eq!(ByteSize::parse(text), Ok(ByteSize(bytes)), "{text:?}");
    }
    for bad in [
        "",
        "KiB",
        "1.5 GiB",
        "4 PiB",
        "-1",
        "99999999999999999999",
        "17179869184 GiB",
    ] {
        assert!(ByteSize::parse(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(ByteSize(256 << 20).to_string(), "256 MiB");
    assert_eq!(ByteSize(4097).to_string(), "4097 B");
    assert_eq!(ByteSize(1536 << 20).to_string(), "1536 MiB");
}

#[test]
fn unknown_fields_and_bad_types_are_parse_errors() {
    let text = DEFAULT_TOML.replace("threads = 4", "threads = 4\nthread = 2");
    match Scenario::from_toml_str(&text) {
        Err(e @ ScenarioError::Parse(_)) => {
            assert!(e.to_string().contains("thread"), "{e}");
            assert_eq!(e.errno(), 22);
        }
        other => panic!("{other:?}"),
    }
    let text = DEFAULT_TOML.replace("vram = \"512 MiB\"", "vram = \"512 furlongs\"");
    let e = Scenario::from_toml_str(&text).unwrap_err();
    assert!(e.to_string().contains("unknown unit"), "{e}");
    let text = DEFAULT_TOML.replace(
        "dist = \"pow2\", min = \"1 MiB\"",
        "dist = \"zipf\", min = \"1 MiB\"",
    );
    assert!(matches!(
        Scenario::from_toml_str(&text),
        Err(ScenarioError::Parse(_))
    ));
}

#[test]
fn validation_names_the_offending_field() {
    let base = default();
    let mut s = base.clone();
    s.device.visible = ByteSize(1 << 30);
    expect_invalid(&s, "device.visible");
    let mut s = base.clone();
    s.device.vram = ByteSize(4095);
    expect_invalid(&s, "device.vram");
    let mut s = base.clone();
    s.device.gtt = ByteSize(0);
    expect_invalid(&s, "device.gtt");
    let mut s = base.clone();
    s.workload.threads = 0;
    expect_invalid(&s, "workload.threads");
    s.workload.threads = MAX_THREADS + 1;
    expect_invalid(&s, "workload.threads");
    let mut s = base.clone();
    s.workload.ops_per_client = 0;
    expect_invalid(&s, "workload.ops_per_client");
    let mut s = base.clone();
    s.workload.max_seconds = Some(f64::NAN);
    expect_invalid(&s, "workload.max_seconds");
    let mut s = base.clone();
    s.workload.vram_pressure = 0.0;
    expect_invalid(&s, "workload.vram_pressure");
    let mut s = base.clone();
    s.workload.mix.create = 0;
    expect_invalid(&s, "workload.mix.create");
    let mut s = base.clone();
    s.kinds.clear();
    expect_invalid(&s, "kind");
    let mut s = base.clone();
    s.kinds[2].name = "render_target".into();
    expect_invalid(&s, "kind[2].name");
    let mut s = base.clone();
    s.kinds[0].name = "a b".into();
    expect_invalid(&s, "kind[0].name");
    let mut s = base.clone();
    s.kinds[1].weight = 0;
    expect_invalid(&s, "kind[1].weight");
    let mut s = base.clone();
    s.kinds[1].domains = vec![DomainName::Gtt, DomainName::Gtt];
    expect_invalid(&s, "kind[1].domains");
    let mut s = base.clone();
    s.kinds[1].domains.clear();
    expect_invalid(&s, "kind[1].domains");
    let mut s = base.clone();
    s.kinds[2].flags.push(CreateFlagName::NoCpuAccess);
    expect_invalid(&s, "kind[2].flags");
    let mut s = base.clone();
    s.kinds[4].flags.push(CreateFlagName::VramContiguous);
    expect_invalid(&s, "kind[4].flags");
    let mut s = base.clone();
    s.kinds[0].alignment = ByteSize(3 << 12);
    expect_invalid(&s, "kind[0].alignment");
    let mut s = base.clone();
    s.kinds[0].size = SizeDist::Pow2 {
        min: ByteSize(3 << 20),
        max: ByteSize(16 << 20),
    };
    expect_invalid(&s, "kind[0].size");
    let mut s = base.clone();
    s.kinds[0].size = SizeDist::Uniform {
        min: ByteSize(8192),
        max: ByteSize(4096),
        granule: ByteSize(4096),
    };
    expect_invalid(&s, "kind[0].size");
    assert_eq!(
        s.validate().unwrap_err().to_string(),
        "scenario field `kind[0].size`: min 8 KiB is larger than max 4 KiB"
    );
    let mut s = base.clone();
    s.kinds[0].size = SizeDist::Uniform {
        min: ByteSize(4096),
        max: ByteSize(8192),
        granule: ByteSize(0),
    };
    expect_invalid(&s, "kind[0].size.granule");
    let mut s = base.clone();
    s.kinds[0].size = SizeDist::Choice { sizes: vec![] };
    expect_invalid(&s, "kind[0].size.sizes");
    let mut s = base.clone();
    s.kinds[0].size = SizeDist::Fixed { size: ByteSize(0) };
    expect_invalid(&s, "kind[0].size");
    // A VRAM-only kind larger than VRAM can never be placed.
    let mut s = base.clone();
    s.kinds[0].size = SizeDist::Fixed {
        size: ByteSize(513 << 20),
    };
    expect_invalid(&s, "kind[0].size");
    let mut s = base.clone();
    s.kinds[3].lifetime = Lifetime { min: 0, max: 5 };
    expect_invalid(&s, "kind[3].lifetime");
    s.kinds[3].lifetime = Lifetime { min: 6, max: 5 };
    expect_invalid(&s, "kind[3].lifetime");
}

#[test]
fn overrides_apply_and_are_validated() {
    let s = default();
    let o = Overrides {
        seed: Some(99),
        threads: Some(2),
        vram: Some(ByteSize(256 << 20)),
        gtt: Some(ByteSize(512 << 20)),
        visible: Some(ByteSize(64 << 20)),
    };
    let t = s.with_overrides(o).unwrap();
    assert_eq!((t.seed, t.workload.threads), (99, 2));
    assert_eq!(t.device.vram, ByteSize(256 << 20));
    assert_eq!(t.device.gtt, ByteSize(512 << 20));
    assert_eq!(t.device.visible, ByteSize(64 << 20));
    // `--vram` below the visible window is refused and the original is untouched.
    let bad = Overrides {
        vram: Some(ByteSize(64 << 20)),
        ..Overrides::default()
    };
    match s.with_overrides(bad) {
        Err(ScenarioError::Invalid { field, .. }) => assert_eq!(field, "device.visible"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s, default());
    assert_eq!(s.with_overrides(Overrides::default()).unwrap(), s);
}

#[test]
fn missing_file_is_enoent() {
    let e = Scenario::load(Path::new("/nonexistent/pddgpu.toml")).unwrap_err();
    assert_eq!(e.errno(), 2);
    assert!(e.to_string().contains("/nonexistent/pddgpu.toml"), "{e}");
}

#[test]
fn size_draws_stay_in_bounds_and_round_to_pages() {
    let mut x = 0u64;
    let mut rnd = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let pow2 = SizeDist::Pow2 {
        min: ByteSize(64 << 10),
        max: ByteSize(8 << 20),
    };
    let uni = SizeDist::Uniform {
        min: ByteSize(5000),
        max: ByteSize(9000),
        granule: ByteSize(1000),
    };
    let mut seen_pow2 = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        let s = pow2.draw(&mut rnd);
        assert!(
            s.is_power_of_two() && (64 << 10..=8 << 20).contains(&s),
            "{s}"
        );
        seen_pow2.insert(s);
        let u = uni.draw(&mut rnd);
        // 5000..=9000 in steps of 1000, rounded up to 4 KiB: 8 KiB or 12 KiB.
        assert!(u == 8192 || u == 12288, "{u}");
    }
    assert_eq!(seen_pow2.len(), 8, "every exponent 16..=23 drawn");
    assert_eq!(SizeDist::Fixed { size: ByteSize(1) }.draw(|_| 0), 4096);
    let c = SizeDist::Choice {
        sizes: vec![ByteSize(4096), ByteSize(1 << 20)],
    };
    assert_eq!((c.draw(|_| 0), c.draw(|_| 1)), (4096, 1 << 20));
}

#[test]
fn scenario_round_trips_through_toml() {
    let s = default();
    let text = toml::to_string(&s).unwrap();
    assert_eq!(Scenario::from_toml_str(&text).unwrap(), s);
}
