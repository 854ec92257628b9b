//! The command's error type: what went wrong, and the Linux errno it corresponds to.

use std::io;
use std::path::PathBuf;

/// `Result` with [`CliError`] as the default error.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// Everything the command can report instead of a result.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A command-line value is malformed or out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// `--only` named a workload that does not exist.
    #[error("unknown workload {name:?} (known: {known})")]
    UnknownWorkload {
        /// The name as given.
        name: String,
        /// Every valid id, comma separated.
        known: String,
    },
    /// A scenario file did not parse or failed validation.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    /// A memory map snapshot is inconsistent (overlapping or out-of-bounds regions).
    #[error(transparent)]
    Map(#[from] crate::map_svg::MapError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The driver failed in a way the command cannot report as a result (a client could
    /// not open its file, a client thread panicked).
    #[error("driver: {0}")]
    Driver(String),
    /// A trace file is malformed (the message names the line).
    #[error("trace: {0}")]
    Trace(String),
    /// Serialising a report failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl CliError {
    /// The Linux errno this error corresponds to (positive, e.g. `EINVAL` = 22).
    #[must_use]
    pub fn errno(&self) -> i32 {
        const ENOENT: i32 = 2;
        const EIO: i32 = 5;
        const EINVAL: i32 = 22;
        match self {
            Self::InvalidArgument(_) | Self::UnknownWorkload { .. } | Self::Map(_) => EINVAL,
            Self::Scenario(e) => e.errno(),
            Self::Io { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => ENOENT,
                _ => source.raw_os_error().unwrap_or(EIO),
            },
            Self::Json(_) | Self::Trace(_) => EINVAL,
            Self::Driver(_) => EIO,
        }
    }

    /// Wraps an I/O error with the file it concerns.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
