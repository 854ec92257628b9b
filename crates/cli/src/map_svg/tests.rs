use super::*;

const MIB: u64 = 1 << 20;

fn region(domain: Domain, start: u64, size: u64, owner: u32, kind: &str) -> Region {
    Region {
        domain,
        start,
        size,
        owner,
        kind: kind.to_owned(),
    }
}

/// VRAM 64 MiB (visible 16 MiB, 4 MiB strips), GTT 32 MiB (2 MiB strips).
fn snapshot() -> MemoryMapSnapshot {
    MemoryMapSnapshot {
        vram_size: 64 * MIB,
        visible_size: 16 * MIB,
        gtt_pages: 32 * MIB / 4096,
        regions: vec![
            // Two adjacent blocks of one BO: merged into one region.
            region(Domain::Vram, 0, MIB, 1, "texture"),
            region(Domain::Vram, MIB, MIB, 1, "texture"),
            // Crosses the strip boundary at 4 MiB: drawn as two rects.
            region(Domain::Vram, 3 * MIB, 2 * MIB, 2, "render_target"),
            region(Domain::Vram, 60 * MIB, 4 * MIB, 2, "scratch"),
            region(Domain::Gtt, 0, 256 << 10, 1, "staging"),
            region(Domain::Gtt, 8 * MIB, MIB, 3, "staging"),
        ],
    }
}

fn blocks<'a>(doc: &'a roxmltree::Document<'a>, domain: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| {
            n.attribute("class") == Some("block") && n.attribute("data-domain") == Some(domain)
        })
        .collect()
}

fn attr_f64(n: &roxmltree::Node<'_, '_>, name: &str) -> f64 {
    n.attribute(name).unwrap().parse().unwrap()
}

#[test]
fn svg_parses_and_has_domains_blocks_marker_and_legend() {
    let text = render_svg(&snapshot(), ColorBy::Kind).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    assert!(root.attribute("viewBox").is_some());

    let vram = blocks(&doc, "vram");
    // texture (merged), render_target split over two strips, scratch.
    assert_eq!(vram.len(), 4);
    assert_eq!(vram[0].attribute("data-size"), Some("2097152"));
    assert_eq!(vram[0].attribute("data-kind"), Some("texture"));
    assert_eq!(vram[1].attribute("data-kind"), Some("render_target"));
    assert_eq!(vram[2].attribute("data-kind"), Some("render_target"));
    // 3 MiB into a 4 MiB strip: 3/4 of the plot width from its left edge.
    assert_eq!(attr_f64(&vram[1], "x"), LEFT + PLOT * 0.75);
    assert_eq!(attr_f64(&vram[1], "width"), PLOT * 0.25);
    assert_eq!(attr_f64(&vram[2], "x"), LEFT);
    assert!(attr_f64(&vram[2], "y") > attr_f64(&vram[1], "y"));
    let tip = vram[0]
        .children()
        .find(|c| c.has_tag_name("title"))
        .unwrap();
    assert_eq!(tip.text(), Some("texture (client 1): 0x0 + 2 MiB"));
    assert_eq!(blocks(&doc, "gtt").len(), 2);

    // One free background per strip in each domain.
    let free = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("free"))
        .count();
    assert_eq!(free, 2 * ROWS as usize);

    // The visible window ends at 16 MiB = the end of strip 3 (x = LEFT + PLOT).
    let marker = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("visible-marker"))
        .expect("visible marker");
    assert_eq!(attr_f64(&marker, "x1"), LEFT + PLOT);
    let underline = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("visible-window"))
        .count();
    assert_eq!(underline, 4);

    // Legend: the kinds in order, then free space and the window.
    let legend = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("legend"))
        .unwrap();
    let labels: Vec<&str> = legend
        .children()
        .filter_map(|n| n.attribute("data-label"))
        .collect();
    assert_eq!(
        labels,
        [
            "render_target",
            "scratch",
            "staging",
            "texture",
            "free",
            "CPU-visible window"
        ]
    );
    // Swatch colours match the blocks they stand for.
    let swatch = |label: &str| {
        legend
            .children()
            .find(|n| n.attribute("data-label") == Some(label))
            .and_then(|n| n.attribute("fill"))
    };
    assert_eq!(vram[0].attribute("fill"), swatch("texture"));
    assert_eq!(vram[3].attribute("fill"), swatch("scratch"));
    assert_ne!(swatch("texture"), swatch("scratch"));

    // Scale and headings are text.
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::trim))
        .collect();
    assert!(
        texts.contains(&"VRAM: 64 MiB (8 MiB used, 56 MiB free)"),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"GTT: 32 MiB of GART address space (1.2 MiB bound, 30.8 MiB free)"),
        "{texts:?}"
    );
    assert!(texts.contains(&"scale: 1 strip = 4 MiB"));
    assert!(texts.contains(&"CPU-visible window: 16 MiB"));
    assert!(
        texts.contains(&"60 MiB"),
        "strip label of the last VRAM strip"
    );
}

#[test]
fn colour_by_owner_uses_client_keys() {
    let text = render_svg(&snapshot(), ColorBy::Owner).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let labels: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("data-label"))
        .collect();
    assert_eq!(
        labels,
        [
            "client 1",
            "client 2",
            "client 3",
            "free",
            "CPU-visible window"
        ]
    );
    let gtt = blocks(&doc, "gtt");
    assert_ne!(gtt[0].attribute("fill"), gtt[1].attribute("fill"));
}

#[test]
fn empty_map_draws_free_space_only() {
    let snap = MemoryMapSnapshot {
        vram_size: 4096 * 3,
        visible_size: 0,
        gtt_pages: 1,
        regions: vec![],
    };
    let text = render_svg(&snap, ColorBy::Kind).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert!(doc
        .descendants()
        .all(|n| n.attribute("class") != Some("block")));
    assert!(doc
        .descendants()
        .all(|n| n.attribute("id") != Some("visible-marker")));
    // 3 pages in 1-page strips, 1 page in 1 strip.
    let free = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("free"))
        .count();
    assert_eq!(free, 4);
}

#[test]
fn names_are_escaped() {
    let mut snap = snapshot();
    snap.regions[0].kind = "<a&\"b>".into();
    snap.regions[1].kind = "<a&\"b>".into();
    let text = render_svg(&snap, ColorBy::Kind).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(
        blocks(&doc, "vram")[0].attribute("data-kind"),
        Some("<a&\"b>")
    );
}

#[test]
fn bad_snapshots_are_rejected() {
    let mut s = snapshot();
    s.visible_size = s.vram_size + 4096;
    assert!(matches!(
        render_svg(&s, ColorBy::Kind),
        Err(MapError::Geometry(_))
    ));

    let cases: [(Region, &str); 4] = [
        (region(Domain::Vram, 0, 0, 1, "x"), "empty region"),
        (region(Domain::Vram, 63 * MIB, 2 * MIB, 1, "x"), "ends past"),
        (
            region(Domain::Gtt, 8 * MIB + 4096, 4096, 1, "x"),
            "overlaps region 5",
        ),
        (region(Domain::Gtt, u64::MAX, 2, 1, "x"), "end overflows"),
    ];
    for (r, why) in cases {
        let mut s = snapshot();
        s.regions.push(r);
        match s.check() {
            Err(e @ MapError::Region { index: 6, .. }) => {
                assert!(e.to_string().contains(why), "{e} lacks {why:?}")
            }
            other => panic!("{why}: {other:?}"),
        }
        assert!(render_svg(&s, ColorBy::Kind).is_err());
    }
    let s = MemoryMapSnapshot {
        gtt_pages: u64::MAX,
        ..MemoryMapSnapshot::default()
    };
    assert!(matches!(
        s.domain_size(Domain::Gtt),
        Err(MapError::Geometry(_))
    ));
    // The same region in different domains is not an overlap.
    let mut s = snapshot();
    s.regions.push(region(Domain::Gtt, 3 * MIB, MIB, 1, "x"));
    s.check().unwrap();
}
