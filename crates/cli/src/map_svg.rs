//! The memory picture of `pddgpu run --svg` and `pddgpu map`: VRAM and GTT as SVG.
//!
//! The input is a [`MemoryMapSnapshot`], plain data independent of the driver: domain
//! sizes and the allocated regions with their owner (client) and kind. Each domain is
//! drawn as [`ROWS`] horizontal strips read left to right, top to bottom, like a page of
//! text; a strip covers `size / ROWS` bytes (rounded up to a page), labelled with its start
//! offset. Free space is light grey; allocated regions are coloured by kind or by owner
//! ([`ColorBy`]) and carry a `<title>` tooltip (kind, owner, offset, size) and `data-*`
//! attributes. The CPU-visible part of VRAM is underlined in red and its end marked by a
//! red line labelled with the window size. A legend lists every colour, and each domain
//! states its scale (bytes per strip, with a tick bar).
//!
//! Structure (stable, the tests rely on it): `<g id="vram">` and `<g id="gtt">` hold one
//! `<rect class="free">` per strip and one `<rect class="block">` per drawn region
//! (adjacent regions of the same owner and kind are merged first); `<line
//! id="visible-marker">`; `<g id="legend">` with one `<rect class="swatch">` per entry.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use svg::node::element::{Group, Line, Rectangle, Text, Title};
use svg::Document;

use crate::report::human;
use crate::scenario::PAGE_SIZE;

/// Strips per domain.
pub const ROWS: u64 = 16;

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 90.0;
const PLOT: f64 = 880.0;
const ROW_H: f64 = 14.0;
const ROW_GAP: f64 = 3.0;
const FREE_FILL: &str = "#e6e6e6";
const VISIBLE: &str = "#d62728";

/// Fill colours, in legend order (a colour-blind-friendly categorical palette).
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#9c755f", "#ff9da7",
    "#bab0ac", "#2f4b7c",
];

/// A memory domain of the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// Device memory; offsets are VRAM addresses.
    Vram,
    /// GART-mapped system memory; offsets are GART addresses (page × 4 KiB).
    Gtt,
}

/// One allocated range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// Which domain.
    pub domain: Domain,
    /// Start offset in bytes.
    pub start: u64,
    /// Size in bytes (> 0).
    pub size: u64,
    /// The owning client (file) number.
    pub owner: u32,
    /// The BO kind (a scenario kind name).
    pub kind: String,
}

/// What the picture shows: domain sizes and every allocated region.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemoryMapSnapshot {
    /// VRAM size in bytes.
    pub vram_size: u64,
    /// CPU-visible window at the start of VRAM, in bytes (≤ `vram_size`).
    pub visible_size: u64,
    /// GTT size in 4 KiB pages.
    pub gtt_pages: u64,
    /// Allocated regions, any order; within a domain they must not overlap.
    pub regions: Vec<Region>,
}

/// How allocated regions are coloured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ColorBy {
    /// One colour per BO kind.
    #[default]
    Kind,
    /// One colour per owner (client).
    Owner,
}

/// Why a snapshot cannot be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The visible window is larger than VRAM, or GTT pages overflow a byte size.
    #[error("invalid geometry: {0}")]
    Geometry(String),
    /// A region is empty, ends past its domain, or overlaps another one.
    #[error("region {index} ({domain:?} {start:#x}+{size:#x}): {reason}")]
    Region {
        /// Index in `regions`.
        index: usize,
        /// Its domain.
        domain: Domain,
        /// Its start.
        start: u64,
        /// Its size.
        size: u64,
        /// What is wrong.
        reason: String,
    },
}

impl MemoryMapSnapshot {
    /// The size of `domain` in bytes.
    ///
    /// # Errors
    /// [`MapError::Geometry`] if `gtt_pages × 4 KiB` overflows.
    pub fn domain_size(&self, domain: Domain) -> Result<u64, MapError> {
        match domain {
            Domain::Vram => Ok(self.vram_size),
            Domain::Gtt => self.gtt_pages.checked_mul(PAGE_SIZE).ok_or_else(|| {
                MapError::Geometry(format!("{} GTT pages overflow", self.gtt_pages))
            }),
        }
    }

    /// Checks the snapshot: `visible_size <= vram_size`, every region non-empty and
    /// inside its domain, no two regions of a domain overlapping.
    ///
    /// # Errors
    /// The first violation found.
    ///
    /// # Complexity
    /// O(n log n) in the number of regions.
    pub fn check(&self) -> Result<(), MapError> {
        if self.visible_size > self.vram_size {
            return Err(MapError::Geometry(format!(
                "visible window {} larger than VRAM {}",
                self.visible_size, self.vram_size
            )));
        }
        let mut order: Vec<usize> = (0..self.regions.len()).collect();
        order.sort_by_key(|&i| (self.regions[i].domain, self.regions[i].start));
        let mut prev: Option<(Domain, u64, usize)> = None;
        for i in order {
            let r = &self.regions[i];
            let err = |reason: String| MapError::Region {
                index: i,
                domain: r.domain,
                start: r.start,
                size: r.size,
                reason,
            };
            if r.size == 0 {
                return Err(err("empty region".to_owned()));
            }
            let end = r
                .start
                .checked_add(r.size)
                .ok_or_else(|| err("end overflows".to_owned()))?;
            let limit = self.domain_size(r.domain)?;
            if end > limit {
                return Err(err(format!("ends past the domain size {limit:#x}")));
            }
            if let Some((d, prev_end, j)) = prev {
                if d == r.domain && r.start < prev_end {
                    return Err(err(format!("overlaps region {j}")));
                }
            }
            prev = Some((r.domain, end, i));
        }
        Ok(())
    }

    /// The regions of `domain` sorted by start, adjacent ones of the same owner and kind
    /// merged.
    fn merged(&self, domain: Domain) -> Vec<Region> {
        let mut v: Vec<&Region> = self.regions.iter().filter(|r| r.domain == domain).collect();
        v.sort_by_key(|r| r.start);
        let mut out: Vec<Region> = Vec::with_capacity(v.len());
        for r in v {
            match out.last_mut() {
                Some(last)
                    if last.start + last.size == r.start
                        && last.owner == r.owner
                        && last.kind == r.kind =>
                {
                    last.size += r.size;
                }
                _ => out.push(r.clone()),
            }
        }
        out
    }
}

/// The legend key of a region under `by`.
fn key(r: &Region, by: ColorBy) -> String {
    match by {
        ColorBy::Kind => r.kind.clone(),
        ColorBy::Owner => format!("client {}", r.owner),
    }
}

/// Renders `snap` as an SVG document.
///
/// # Errors
/// Whatever [`MemoryMapSnapshot::check`] finds; nothing is drawn from a bad snapshot.
///
/// # Complexity
/// O(n log n) in the number of regions; one `<rect>` per strip a merged region touches.
pub fn render_svg(snap: &MemoryMapSnapshot, by: ColorBy) -> Result<String, MapError> {
    snap.check()?;
    let keys: Vec<String> = snap
        .regions
        .iter()
        .map(|r| key(r, by))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let colour = |k: &str| -> &'static str {
        let i = keys.iter().position(|x| x == k).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };

    let mut doc_body: Vec<Group> = Vec::new();
    let mut y = 10.0;
    let mut marker: Option<Line> = None;
    for domain in [Domain::Vram, Domain::Gtt] {
        let size = snap.domain_size(domain)?;
        let (g, height, m) = draw_domain(snap, domain, size, y, by, &colour);
        if m.is_some() {
            marker = m;
        }
        doc_body.push(g);
        y += height;
    }
    let (legend, legend_h) = legend(&keys, &colour, y);
    let height = y + legend_h + 10.0;

    let mut doc = Document::new()
        .set("width", WIDTH)
        .set("height", height)
        .set("viewBox", (0.0, 0.0, WIDTH, height))
        .set("font-family", "sans-serif")
        .set("font-size", 11)
        .add(
            Rectangle::new()
                .set("width", "100%")
                .set("height", "100%")
                .set("fill", "white"),
        );
    for g in doc_body {
        doc = doc.add(g);
    }
    if let Some(m) = marker {
        doc = doc.add(m);
    }
    doc = doc.add(legend);
    Ok(doc.to_string())
}

/// The strip geometry of a domain of `size` bytes: bytes per strip (a page multiple).
fn strip_span(size: u64) -> u64 {
    size.div_ceil(ROWS).div_ceil(PAGE_SIZE).max(1) * PAGE_SIZE
}

fn x_of(offset_in_row: u64, span: u64) -> f64 {
    LEFT + offset_in_row as f64 / span as f64 * PLOT
}

fn row_y(top: f64, row: u64) -> f64 {
    top + row as f64 * (ROW_H + ROW_GAP)
}

/// Draws one domain below `y`; returns the group, its height and the visible marker.
fn draw_domain(
    snap: &MemoryMapSnapshot,
    domain: Domain,
    size: u64,
    y: f64,
    by: ColorBy,
    colour: &dyn Fn(&str) -> &'static str,
) -> (Group, f64, Option<Line>) {
    let (id, name) = match domain {
        Domain::Vram => ("vram", "VRAM"),
        Domain::Gtt => ("gtt", "GTT"),
    };
    let span = strip_span(size);
    let rows = size.div_ceil(span);
    let used: u64 = snap
        .regions
        .iter()
        .filter(|r| r.domain == domain)
        .map(|r| r.size)
        .sum();
    let mut g = Group::new().set("id", id);
    // GTT regions are GART ranges: GTT pages without a GART address are not drawn.
    let heading = match domain {
        Domain::Vram => format!(
            "{name}: {} ({} used, {} free)",
            human(size),
            human(used),
            human(size - used)
        ),
        Domain::Gtt => format!(
            "{name}: {} of GART address space ({} bound, {} free)",
            human(size),
            human(used),
            human(size - used)
        ),
    };
    g = g.add(
        Text::new(heading)
            .set("x", 10)
            .set("y", y + 12.0)
            .set("font-size", 13)
            .set("font-weight", "bold"),
    );
    let top = y + 22.0;
    for row in 0..rows {
        let start = row * span;
        let len = span.min(size - start);
        let ry = row_y(top, row);
        g = g.add(
            Text::new(human(start))
                .set("x", LEFT - 6.0)
                .set("y", ry + ROW_H - 3.0)
                .set("text-anchor", "end"),
        );
        g = g.add(
            Rectangle::new()
                .set("class", "free")
                .set("x", LEFT)
                .set("y", ry)
                .set("width", x_of(len, span) - LEFT)
                .set("height", ROW_H)
                .set("fill", FREE_FILL),
        );
    }
    for r in snap.merged(domain) {
        let k = key(&r, by);
        let tip = format!(
            "{} (client {}): {:#x} + {}",
            r.kind,
            r.owner,
            r.start,
            human(r.size)
        );
        let mut at = r.start;
        let end = r.start + r.size;
        while at < end {
            let row = at / span;
            let row_end = ((row + 1) * span).min(end);
            let ry = row_y(top, row);
            let x0 = x_of(at - row * span, span);
            // At least a hairline, so small BOs on big heaps stay visible.
            let w = (x_of(row_end - row * span, span) - x0).max(0.5);
            g = g.add(
                Rectangle::new()
                    .set("class", "block")
                    .set("data-domain", id)
                    .set("data-owner", r.owner)
                    .set("data-kind", r.kind.as_str())
                    .set("data-start", r.start)
                    .set("data-size", r.size)
                    .set("x", x0)
                    .set("y", ry)
                    .set("width", w)
                    .set("height", ROW_H)
                    .set("fill", colour(&k))
                    .add(Title::new(tip.as_str())),
            );
            at = row_end;
        }
    }
    let mut marker = None;
    if domain == Domain::Vram && snap.visible_size > 0 {
        // Underline the CPU-visible part of every strip it covers.
        let mut at = 0;
        while at < snap.visible_size {
            let row = at / span;
            let row_end = ((row + 1) * span).min(snap.visible_size);
            let ry = row_y(top, row) + ROW_H;
            g = g.add(
                Rectangle::new()
                    .set("class", "visible-window")
                    .set("x", x_of(at - row * span, span))
                    .set("y", ry)
                    .set(
                        "width",
                        x_of(row_end - row * span, span) - x_of(at - row * span, span),
                    )
                    .set("height", 2)
                    .set("fill", VISIBLE),
            );
            at = row_end;
        }
        let end = snap.visible_size;
        // The strip holding the window's last byte, so the marker sits at its end.
        let row = (end - 1) / span;
        let x = x_of(end - row * span, span);
        let ry = row_y(top, row);
        marker = Some(
            Line::new()
                .set("id", "visible-marker")
                .set("x1", x)
                .set("x2", x)
                .set("y1", ry - 3.0)
                .set("y2", ry + ROW_H + 3.0)
                .set("stroke", VISIBLE)
                .set("stroke-width", 2)
                .add(Title::new(format!(
                    "end of the CPU-visible window ({})",
                    human(end)
                ))),
        );
        // Labelled on the heading line, clear of the strips.
        g = g.add(
            Text::new(format!("CPU-visible window: {}", human(end)))
                .set("x", LEFT + PLOT)
                .set("y", y + 12.0)
                .set("text-anchor", "end")
                .set("fill", VISIBLE),
        );
    }
    // Scale: one strip, with ticks at quarters.
    let sy = row_y(top, rows) + 8.0;
    let mut scale = Group::new().set("class", "scale");
    scale = scale.add(
        Line::new()
            .set("x1", LEFT)
            .set("x2", LEFT + PLOT)
            .set("y1", sy)
            .set("y2", sy)
            .set("stroke", "black"),
    );
    for q in 0..=4u64 {
        let x = LEFT + PLOT * q as f64 / 4.0;
        scale = scale
            .add(
                Line::new()
                    .set("x1", x)
                    .set("x2", x)
                    .set("y1", sy - 4.0)
                    .set("y2", sy + 4.0)
                    .set("stroke", "black"),
            )
            .add(
                Text::new(format!("+{}", human(span * q / 4)))
                    .set("x", x)
                    .set("y", sy + 15.0)
                    .set("text-anchor", "middle"),
            );
    }
    scale = scale.add(
        Text::new(format!("scale: 1 strip = {}", human(span)))
            .set("x", LEFT)
            .set("y", sy + 29.0),
    );
    g = g.add(scale);
    let height = sy + 40.0 - y;
    (g, height, marker)
}

/// The legend: one swatch per key, then free space and the visible window.
fn legend(keys: &[String], colour: &dyn Fn(&str) -> &'static str, y: f64) -> (Group, f64) {
    let mut entries: Vec<(String, &str)> = keys.iter().map(|k| (k.clone(), colour(k))).collect();
    entries.push(("free".to_owned(), FREE_FILL));
    entries.push(("CPU-visible window".to_owned(), VISIBLE));
    let per_line = 5;
    let mut g = Group::new().set("id", "legend");
    for (i, (label, fill)) in entries.iter().enumerate() {
        let col = (i % per_line) as f64;
        let line = (i / per_line) as f64;
        let x = LEFT + col * 176.0;
        let ly = y + line * 18.0;
        g = g
            .add(
                Rectangle::new()
                    .set("class", "swatch")
                    .set("data-label", label.as_str())
                    .set("x", x)
                    .set("y", ly)
                    .set("width", 12)
                    .set("height", 12)
                    .set("fill", *fill)
                    .set("stroke", "#555"),
            )
            .add(
                Text::new(label.as_str())
                    .set("x", x + 16.0)
                    .set("y", ly + 10.0),
            );
    }
    let lines = entries.len().div_ceil(per_line) as f64;
    (g, lines * 18.0)
}

#[cfg(test)]
mod tests;
