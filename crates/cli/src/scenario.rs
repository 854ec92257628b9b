//! Scenario files: the workload `pddgpu run` puts on a simulated device, as TOML.
//!
//! A scenario names the device sizes, how many clients (threads, each its own DRM file)
//! run, for how long, which buffer-object kinds they create (domain, flags, size
//! distribution, lifetime, relative weight) and what else they do between creations
//! (re-validate, read back). `scenarios/default.toml` is the built-in default
//! ([`Scenario::builtin_default`]); every field is documented on the structs below and
//! in the README's "Writing a scenario".
//!
//! Sizes are either integers (bytes) or strings with a binary unit: `"4096"`, `"64 KiB"`,
//! `"1.5 GiB"` is rejected (sizes are whole units), `"512MiB"` is accepted.
//!
//! Parsing ([`Scenario::from_toml_str`]) rejects unknown fields and then validates the
//! whole scenario ([`Scenario::validate`]): every error names the field it is about.
//!
//! Randomness: everything a run draws comes from `seed`; client `i` uses its own stream
//! derived from `seed` and `i`, so a run with the same scenario and seed issues the same
//! requests.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The text of `scenarios/default.toml`, built into the binary.
pub const DEFAULT_TOML: &str = include_str!("../../../scenarios/default.toml");

/// The simulated page size: device sizes and alignments are multiples of it.
pub const PAGE_SIZE: u64 = 4096;

/// Most client threads a scenario may ask for.
pub const MAX_THREADS: u32 = 1024;

/// A size in bytes, written in TOML as an integer or a string with a binary unit
/// (`B`, `KiB`, `MiB`, `GiB`, `TiB`; `K`/`M`/`G`/`T` and `KB`/`MB`/... are read as the
/// binary units too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `"64 KiB"`, `"512MiB"`, `"4096"`.
    ///
    /// # Errors
    /// A message naming what is wrong: no number, an unknown unit, or a value that
    /// overflows 64 bits.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(format!("{s:?} is not a size (expected e.g. \"64 KiB\")"));
        }
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?}: number too large"))?;
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            "t" | "tb" | "tib" => 40,
            other => {
                return Err(format!(
                    "{s:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, TiB)"
                ))
            }
        };
        n.checked_mul(1u64 << shift)
            .map(Self)
            .ok_or_else(|| format!("{s:?} does not fit in 64 bits"))
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly (`"256 MiB"`, `"4097 B"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u32, &str); 4] = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
        for (shift, unit) in UNITS {
            let m = 1u64 << shift;
            if self.0 >= m && self.0 % m == 0 {
                return write!(f, "{} {unit}", self.0 / m);
            }
        }
        write!(f, "{} B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size in bytes or a string such as \"64 KiB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("size {v} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, shown in the summary and the JSON report.
    pub name: String,
    /// One or two sentences on what the scenario exercises.
    #[serde(default)]
    pub description: String,
    /// Seed of every random choice of the run.
    pub seed: u64,
    /// The simulated device.
    pub device: DeviceSpec,
    /// Clients, duration and what clients do besides creating BOs.
    pub workload: WorkloadSpec,
    /// The buffer-object kinds clients create (at least one), drawn by weight.
    #[serde(rename = "kind")]
    pub kinds: Vec<BoKind>,
}

/// Device sizes (`[device]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// VRAM size; a non-zero multiple of 4 KiB.
    pub vram: ByteSize,
    /// The CPU-visible VRAM window at the start of VRAM (the BAR); a multiple of 4 KiB,
    /// not larger than `vram`.
    pub visible: ByteSize,
    /// GTT size (GART pages × 4 KiB); a non-zero multiple of 4 KiB.
    pub gtt: ByteSize,
}

/// What the clients do (`[workload]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Client threads, each with its own file (1..=1024).
    pub threads: u32,
    /// Steps each client takes; a step is one action drawn from `mix` (a creation also
    /// maps and writes the BO). The run stops early at `max_seconds`.
    pub ops_per_client: u64,
    /// Wall-clock limit of the run in seconds (optional; > 0).
    #[serde(default)]
    pub max_seconds: Option<f64>,
    /// Bytes of VRAM-preferring BOs the clients together try to keep alive, as a multiple
    /// of the VRAM size (e.g. 1.5 oversubscribes VRAM by half so eviction happens).
    /// A client creates only while its share of that target is not reached. In (0, 8].
    pub vram_pressure: f64,
    /// Relative weights of the step actions.
    pub mix: OpMix,
}

/// Relative weights of a client's step actions (`[workload.mix]`). Expired BOs (their
/// lifetime in steps is over) are freed at the start of each step whatever the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpMix {
    /// Create a BO of a kind drawn by weight, map it and write its pattern (> 0).
    pub create: u32,
    /// Re-validate a live BO into its preferred domain (may move it back after eviction).
    #[serde(default)]
    pub revalidate: u32,
    /// Map a live BO and verify its pattern.
    #[serde(default)]
    pub readback: u32,
    /// Do nothing this step (lets lifetimes run out without new pressure).
    #[serde(default)]
    pub idle: u32,
}

/// A memory domain a BO may be placed in (the uapi's `CPU`, `GTT`, `VRAM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainName {
    /// System memory not reachable by the device.
    Cpu,
    /// System memory reachable through the GART.
    Gtt,
    /// Device memory.
    Vram,
}

/// A creation flag of the uapi (`GEM_CREATE` flags), by its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateFlagName {
    /// `CPU_ACCESS_REQUIRED`: must be CPU-mappable (visible VRAM).
    CpuAccessRequired,
    /// `NO_CPU_ACCESS`: will never be mapped by the CPU.
    NoCpuAccess,
    /// `VRAM_CLEARED`: must start zeroed.
    VramCleared,
    /// `VRAM_CONTIGUOUS`: one contiguous VRAM range.
    VramContiguous,
    /// `VRAM_WIPE_ON_RELEASE`: wiped when freed.
    VramWipeOnRelease,
    /// `TOPDOWN`: placed from the top of the domain.
    Topdown,
}

/// A buffer-object kind (`[[kind]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoKind {
    /// Unique name (`render_target`, `staging`, ...): legend of the map, key of per-kind
    /// counts. Letters, digits, `_` and `-`.
    pub name: String,
    /// Relative frequency among creations (> 0).
    pub weight: u32,
    /// Allowed domains, preferred first (non-empty, no repeats).
    pub domains: Vec<DomainName>,
    /// Creation flags.
    #[serde(default)]
    pub flags: Vec<CreateFlagName>,
    /// Size distribution.
    pub size: SizeDist,
    /// Alignment in bytes (a power of two, at least 4 KiB; default 4 KiB).
    #[serde(default = "default_alignment")]
    pub alignment: ByteSize,
    /// Lifetime in the creating client's steps, uniform in `[min, max]`.
    pub lifetime: Lifetime,
}

fn default_alignment() -> ByteSize {
    ByteSize(PAGE_SIZE)
}

/// How a kind's sizes are drawn (`size = { dist = "...", ... }`). Drawn sizes are rounded
/// up to 4 KiB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum SizeDist {
    /// Always `size`.
    Fixed {
        /// The size.
        size: ByteSize,
    },
    /// Uniform in `[min, max]` in steps of `granule` (default 4 KiB).
    Uniform {
        /// Smallest size.
        min: ByteSize,
        /// Largest size.
        max: ByteSize,
        /// Step between sizes (default 4 KiB).
        #[serde(default = "default_alignment")]
        granule: ByteSize,
    },
    /// A power of two between `min` and `max` (both powers of two), each exponent equally
    /// likely: many small buffers, a few large ones.
    Pow2 {
        /// Smallest size.
        min: ByteSize,
        /// Largest size.
        max: ByteSize,
    },
    /// One of `sizes`, equally likely.
    Choice {
        /// The sizes (non-empty).
        sizes: Vec<ByteSize>,
    },
}

impl SizeDist {
    /// Smallest and largest size the distribution can draw (before 4 KiB rounding).
    #[must_use]
    pub fn bounds(&self) -> (u64, u64) {
        match self {
            Self::Fixed { size } => (size.0, size.0),
            Self::Uniform { min, max, .. } | Self::Pow2 { min, max } => (min.0, max.0),
            Self::Choice { sizes } => (
                sizes.iter().map(|s| s.0).min().unwrap_or(0),
                sizes.iter().map(|s| s.0).max().unwrap_or(0),
            ),
        }
    }

    /// Draws a size with `rnd(n)` returning a value in `[0, n)`, rounded up to 4 KiB.
    ///
    /// Assumes a validated distribution (see [`Scenario::validate`]).
    pub fn draw(&self, mut rnd: impl FnMut(u64) -> u64) -> u64 {
        let raw = match self {
            Self::Fixed { size } => size.0,
            Self::Uniform { min, max, granule } => {
                let g = granule.0.max(1);
                let steps = (max.0 - min.0) / g + 1;
                min.0 + rnd(steps) * g
            }
            Self::Pow2 { min, max } => {
                let (lo, hi) = (min.0.trailing_zeros(), max.0.trailing_zeros());
                1u64 << (lo + u32::try_from(rnd(u64::from(hi - lo) + 1)).unwrap_or(0))
            }
            Self::Choice { sizes } => {
                let i = usize::try_from(rnd(sizes.len() as u64)).unwrap_or(0);
                sizes.get(i).map_or(PAGE_SIZE, |s| s.0)
            }
        };
        raw.div_ceil(PAGE_SIZE).saturating_mul(PAGE_SIZE)
    }
}

/// A BO's lifetime in its client's steps (`lifetime = { min = 5, max = 50 }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetime {
    /// Fewest steps (≥ 1).
    pub min: u64,
    /// Most steps (≥ `min`).
    pub max: u64,
}

/// Command-line overrides of a scenario (`--seed`, `--threads`, `--vram`, `--gtt`,
/// `--visible`); `None` keeps the scenario's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Replaces `seed`.
    pub seed: Option<u64>,
    /// Replaces `workload.threads`.
    pub threads: Option<u32>,
    /// Replaces `device.vram`.
    pub vram: Option<ByteSize>,
    /// Replaces `device.gtt`.
    pub gtt: Option<ByteSize>,
    /// Replaces `device.visible`.
    pub visible: Option<ByteSize>,
}

/// Why a scenario was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// The file is not valid TOML or does not match the schema (unknown or missing
    /// field, wrong type); the message carries toml's line/column report.
    #[error("scenario does not parse: {0}")]
    Parse(String),
    /// A field has a value the schema forbids.
    #[error("scenario field `{field}`: {reason}")]
    Invalid {
        /// Dotted path of the field (`kind[2].size.max`).
        field: String,
        /// What is wrong, with the value.
        reason: String,
    },
    /// The scenario file could not be read.
    #[error("cannot read scenario {path}: {reason}")]
    Read {
        /// The path as given.
        path: String,
        /// What the OS said.
        reason: String,
        /// Whether the file does not exist (`ENOENT` rather than `EIO`).
        not_found: bool,
    },
}

impl ScenarioError {
    /// The Linux errno: `ENOENT` for a missing file, `EIO` for another read error,
    /// `EINVAL` otherwise.
    #[must_use]
    pub fn errno(&self) -> i32 {
        match self {
            Self::Read {
                not_found: true, ..
            } => 2,
            Self::Read { .. } => 5,
            Self::Parse(_) | Self::Invalid { .. } => 22,
        }
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Scenario {
    /// The built-in default scenario (`scenarios/default.toml`).
    ///
    /// # Errors
    /// Only if the embedded file is broken, which the unit tests rule out.
    pub fn builtin_default() -> Result<Self, ScenarioError> {
        Self::from_toml_str(DEFAULT_TOML)
    }

    /// Parses and validates a scenario.
    ///
    /// # Errors
    /// [`ScenarioError::Parse`] for TOML or schema errors (unknown fields included),
    /// [`ScenarioError::Invalid`] for the first value [`Self::validate`] rejects.
    pub fn from_toml_str(text: &str) -> Result<Self, ScenarioError> {
        let s: Self = toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// Reads, parses and validates a scenario file.
    ///
    /// # Errors
    /// [`ScenarioError::Read`] if the file cannot be read, else as
    /// [`Self::from_toml_str`].
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
            not_found: e.kind() == std::io::ErrorKind::NotFound,
        })?;
        Self::from_toml_str(&text)
    }

    /// The scenario with `o` applied, validated again.
    ///
    /// # Errors
    /// [`ScenarioError::Invalid`] if an override makes the scenario invalid (e.g.
    /// `--visible` larger than `--vram`); `self` is unchanged either way.
    pub fn with_overrides(&self, o: Overrides) -> Result<Self, ScenarioError> {
        let mut s = self.clone();
        if let Some(v) = o.seed {
            s.seed = v;
        }
        if let Some(v) = o.threads {
            s.workload.threads = v;
        }
        if let Some(v) = o.vram {
            s.device.vram = v;
        }
        if let Some(v) = o.gtt {
            s.device.gtt = v;
        }
        if let Some(v) = o.visible {
            s.device.visible = v;
        }
        s.validate()?;
        Ok(s)
    }

    /// Checks every rule of the schema; returns the first violation.
    ///
    /// Rules: a non-empty name; device sizes non-zero (visible may be 0) multiples of
    /// 4 KiB with `visible <= vram`; 1..=1024 threads; `ops_per_client >= 1`;
    /// `max_seconds` finite and > 0; `vram_pressure` in (0, 8]; `mix.create > 0`; at
    /// least one kind; per kind: a unique name of letters, digits, `_`, `-`; weight > 0;
    /// domains non-empty without repeats; no `cpu_access_required` with `no_cpu_access`;
    /// VRAM-only flags (`vram_*`) only with `vram` among the domains; `alignment` a power
    /// of two ≥ 4 KiB; sizes ≥ 1 with `min <= max`, powers of two for `pow2`, a non-zero
    /// granule for `uniform`, a non-empty list for `choice`, and the largest size fitting
    /// the largest allowed domain; lifetime `1 <= min <= max`.
    ///
    /// # Errors
    /// [`ScenarioError::Invalid`] naming the field and the value.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        let d = &self.device;
        for (field, v) in [("device.vram", d.vram), ("device.gtt", d.gtt)] {
            if v.0 == 0 || v.0 % PAGE_SIZE != 0 {
                return Err(invalid(
                    field,
                    format!("{v} is not a non-zero multiple of 4 KiB"),
                ));
            }
        }
        if d.visible.0 % PAGE_SIZE != 0 {
            return Err(invalid(
                "device.visible",
                format!("{} is not a multiple of 4 KiB", d.visible),
            ));
        }
        if d.visible > d.vram {
            return Err(invalid(
                "device.visible",
                format!("{} is larger than device.vram ({})", d.visible, d.vram),
            ));
        }
        let w = &self.workload;
        if w.threads == 0 || w.threads > MAX_THREADS {
            return Err(invalid(
                "workload.threads",
                format!("{} is not in 1..={MAX_THREADS}", w.threads),
            ));
        }
        if w.ops_per_client == 0 {
            return Err(invalid("workload.ops_per_client", "must be at least 1"));
        }
        if let Some(t) = w.max_seconds {
            if !(t.is_finite() && t > 0.0) {
                return Err(invalid(
                    "workload.max_seconds",
                    format!("{t} is not a positive number of seconds"),
                ));
            }
        }
        if !(w.vram_pressure > 0.0 && w.vram_pressure <= 8.0) {
            return Err(invalid(
                "workload.vram_pressure",
                format!("{} is not in (0, 8]", w.vram_pressure),
            ));
        }
        if w.mix.create == 0 {
            return Err(invalid(
                "workload.mix.create",
                "must be > 0 (clients would never create a BO)",
            ));
        }
        if self.kinds.is_empty() {
            return Err(invalid("kind", "at least one [[kind]] is required"));
        }
        for (i, k) in self.kinds.iter().enumerate() {
            self.validate_kind(i, k)?;
        }
        Ok(())
    }

    fn validate_kind(&self, i: usize, k: &BoKind) -> Result<(), ScenarioError> {
        let at = |f: &str| format!("kind[{i}].{f}");
        if k.name.is_empty()
            || !k
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(
                at("name"),
                format!("{:?} must be non-empty letters, digits, '_' or '-'", k.name),
            ));
        }
        if self.kinds[..i].iter().any(|o| o.name == k.name) {
            return Err(invalid(
                at("name"),
                format!("{:?} is used by an earlier kind", k.name),
            ));
        }
        if k.weight == 0 {
            return Err(invalid(at("weight"), "must be > 0"));
        }
        if k.domains.is_empty() {
            return Err(invalid(
                at("domains"),
                "must name at least one of \"vram\", \"gtt\", \"cpu\"",
            ));
        }
        for (j, dom) in k.domains.iter().enumerate() {
            if k.domains[..j].contains(dom) {
                return Err(invalid(at("domains"), format!("{dom:?} is listed twice")));
            }
        }
        let has = |f| k.flags.contains(&f);
        if has(CreateFlagName::CpuAccessRequired) && has(CreateFlagName::NoCpuAccess) {
            return Err(invalid(
                at("flags"),
                "cpu_access_required contradicts no_cpu_access",
            ));
        }
        let vram_only = [
            CreateFlagName::VramCleared,
            CreateFlagName::VramContiguous,
            CreateFlagName::VramWipeOnRelease,
        ];
        if let Some(f) = vram_only.into_iter().find(|f| has(*f)) {
            if !k.domains.contains(&DomainName::Vram) {
                return Err(invalid(
                    at("flags"),
                    format!("{f:?} needs \"vram\" among the domains"),
                ));
            }
        }
        if !k.alignment.0.is_power_of_two() || k.alignment.0 < PAGE_SIZE {
            return Err(invalid(
                at("alignment"),
                format!("{} is not a power of two >= 4 KiB", k.alignment),
            ));
        }
        let (min, max) = k.size.bounds();
        match &k.size {
            SizeDist::Choice { sizes } if sizes.is_empty() => {
                return Err(invalid(at("size.sizes"), "must not be empty"));
            }
            SizeDist::Uniform { granule, .. } if granule.0 == 0 => {
                return Err(invalid(at("size.granule"), "must be > 0"));
            }
            SizeDist::Pow2 { min, max } if !min.0.is_power_of_two() || !max.0.is_power_of_two() => {
                return Err(invalid(
                    at("size"),
                    format!("pow2 bounds {min} and {max} must be powers of two"),
                ));
            }
            _ => {}
        }
        if min == 0 {
            return Err(invalid(at("size"), "sizes must be at least 1 byte"));
        }
        if min > max {
            return Err(invalid(
                at("size"),
                format!("min {} is larger than max {}", ByteSize(min), ByteSize(max)),
            ));
        }
        let room = k
            .domains
            .iter()
            .map(|dom| match dom {
                DomainName::Vram => self.device.vram.0,
                DomainName::Gtt | DomainName::Cpu => self.device.gtt.0,
            })
            .max()
            .unwrap_or(0);
        if max.div_ceil(PAGE_SIZE).saturating_mul(PAGE_SIZE) > room {
            return Err(invalid(
                at("size"),
                format!(
                    "largest size {} does not fit any allowed domain ({})",
                    ByteSize(max),
                    ByteSize(room)
                ),
            ));
        }
        if k.lifetime.min == 0 || k.lifetime.min > k.lifetime.max {
            return Err(invalid(
                at("lifetime"),
                format!(
                    "min {} / max {} must satisfy 1 <= min <= max",
                    k.lifetime.min, k.lifetime.max
                ),
            ));
        }
        Ok(())
    }

    /// The kind with `name`, if any.
    #[must_use]
    pub fn kind(&self, name: &str) -> Option<&BoKind> {
        self.kinds.iter().find(|k| k.name == name)
    }
}

#[cfg(test)]
mod tests;
