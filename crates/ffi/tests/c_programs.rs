//! End-to-end tests of the C ABI: C programs in `tests/c/` compiled with the system C
//! compiler (`$CC`, default `cc`) against `include/pddgpu.h`, `include/pddgpu_drm.h`
//! and the crate's static library, then run; each checks its own expectations and
//! prints `ok`.
//!
//! A missing compiler or library fails the tests: the C ABI is part of the product.
//!
//! - `seed_snippets_run_unchanged`: the seed's VRAM-contiguous and GTT `GEM_CREATE`
//!   snippets through the `drmIoctl` alias, with the placements and INFO they produce.
//! - `mmap_write_read_back`: a pattern survives munmap and a new mapping, a forced move
//!   to GTT, msync and sub-range mappings; mapping errors; a mapping outliving its fd.
//! - `bad_inputs_set_errno`: size 0, unknown flag, bad alignment, empty and unknown
//!   domain, oversize, no space, foreign/stale/zero handle, unknown ioctl, non-DRM
//!   request, NULL argument, bad fd, bad config; nothing changes.
//! - `two_fds_do_not_share_handles`: two clients of one device, exact INFO numbers.
//! - `config_layout_matches_rust`: `struct pddgpu_config` as C and Rust lay it out.
//! - `header_is_strict_c99_and_cxx11`: the headers alone under `-Wpedantic -Werror`.

// Test code: a failed unwrap fails the test with its location.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const INCLUDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/include");
const C_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c");

/// The static library cargo built for this test run: the newest `libpddgpu_ffi*.a` in
/// `deps/` next to this test binary, else the copy in `<target>/<profile>/` (which a
/// plain `cargo build` may have left older).
fn static_lib() -> PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let deps = exe.parent().unwrap();
        let profile = deps.parent().unwrap();
        let mut found: Vec<PathBuf> = std::fs::read_dir(deps)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libpddgpu_ffi") && n.ends_with(".a"))
            })
            .collect();
        found.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        found
            .pop()
            .or_else(|| Some(profile.join("libpddgpu_ffi.a")).filter(|p| p.exists()))
            .unwrap_or_else(|| panic!("libpddgpu_ffi.a not found in {}", profile.display()))
    })
    .clone()
}

/// Compiles `tests/c/<name>.c` into an executable and returns its path.
fn build(name: &str) -> PathBuf {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_programs");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(name);
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let output = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g"])
        .arg("-I")
        .arg(INCLUDE)
        .arg(Path::new(C_DIR).join(format!("{name}.c")))
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm", "-lrt", "-lgcc_s", "-lc"])
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc:?}: {e}"));
    assert!(
        output.status.success(),
        "compiling {name}.c failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// Builds and runs a C test program; it must exit 0 and print `ok`.
fn run(name: &str) {
    let exe = build(name);
    let output = Command::new(&exe).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim_end() == "ok",
        "{name} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
}

#[test]
fn seed_snippets_run_unchanged() {
    run("seed_create");
}

#[test]
fn mmap_write_read_back() {
    run("mmap_rw");
}

#[test]
fn bad_inputs_set_errno() {
    run("errors");
}

#[test]
fn two_fds_do_not_share_handles() {
    run("two_fds");
}

/// The header's `struct pddgpu_config` against the Rust definition, field by field.
#[test]
fn config_layout_matches_rust() {
    use core::mem::{offset_of, size_of};
    use pddgpu_ffi::pddgpu_config;
    let exe = build("config_layout");
    let output = Command::new(&exe).output().unwrap();
    assert!(output.status.success());
    let want = format!(
        "{} {} {} {} {} {} {}\n",
        size_of::<pddgpu_config>(),
        offset_of!(pddgpu_config, vram_size),
        offset_of!(pddgpu_config, visible_vram_size),
        offset_of!(pddgpu_config, gtt_size),
        offset_of!(pddgpu_config, sys_mem_size),
        offset_of!(pddgpu_config, flags),
        offset_of!(pddgpu_config, pad),
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), want);
}

/// `pddgpu.h` (with `pddgpu_drm.h`) on its own is strict C99 and C++11, alias included.
#[test]
fn header_is_strict_c99_and_cxx11() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_programs");
    std::fs::create_dir_all(&dir).unwrap();
    let src = "#define PDDGPU_DRMIOCTL_ALIAS\n#include \"pddgpu.h\"\n#include \"pddgpu.h\"\n\
               int use(int fd, struct drm_pddgpu_gem_create *c);\n\
               int use(int fd, struct drm_pddgpu_gem_create *c)\n\
               { return drmIoctl(fd, DRM_IOCTL_PDDGPU_GEM_CREATE, c); }\n";
    for (compiler, var, ext, std) in [
        ("cc", "CC", "c", "-std=c99"),
        ("c++", "CXX", "cpp", "-std=c++11"),
    ] {
        let file = dir.join(format!("header_only.{ext}"));
        std::fs::write(&file, src).unwrap();
        let cmd = std::env::var_os(var).unwrap_or_else(|| compiler.into());
        let output = Command::new(&cmd)
            .args([
                std,
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                "-fsyntax-only",
            ])
            .arg("-I")
            .arg(INCLUDE)
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(
            output.status.success(),
            "{std}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
