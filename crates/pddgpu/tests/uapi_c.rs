//! The C uapi header `crates/ffi/include/pddgpu_drm.h` against the Rust definitions.
//!
//! These tests compile C (and C++) programs with the system compiler (`$CC`, default
//! `cc`; `$CXX`, default `c++`) and run them. A missing compiler fails the tests: the
//! header is part of the product and must be checked on every machine that builds it.
//!
//! - `c_layout_matches_rust`: every structure size and alignment, field offset and size,
//!   constant and request code as the C compiler sees it equals the Rust value; the C
//!   fields tile each structure (no hole the C side forgot to list); the header's own
//!   `_IOC` encoding equals `<sys/ioctl.h>`'s (static asserts in the C program).
//! - `cxx_sees_the_same_layout`: the same program built as C++11 prints the same.
//! - `i386_layout_equals_rust_layout`: the Rust values, as C static assertions, hold
//!   for the header on x86-64 and on the 32-bit x86 ABI.
//! - `header_alone_is_strict_c99_and_cxx11`: the header on its own, included twice,
//!   under `-std=c99 -Wpedantic -Werror` and `-std=c++11`.
//! - `header_after_drm_h_reuses_its_definitions`: with a `drm.h` included first the
//!   header reuses its DRM core items and the request codes are unchanged.
//! - `seed_snippets_compile_unchanged_and_send_valid_requests`: the seed document's two
//!   `GEM_CREATE` snippets compile unchanged as C11 (and C++20), and what they pass to
//!   `drmIoctl` decodes and checks in Rust to the request they mean.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap fails the test
// with its location.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use pddgpu::uapi::abi::*;
use pddgpu::uapi::ioctl::*;
use pddgpu::uapi::{AbiBytes, CreateFlags, Domains, GemCreate, Ioctl, IoctlCmd};

const INCLUDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ffi/include");
const C_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c");
const C_FLAGS: &[&str] = &[
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Wpadded",
    "-Werror",
];
const CXX_FLAGS: &[&str] = &[
    "-std=c++11",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Wpadded",
    "-Werror",
];

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("uapi_c")
        .join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn c_source(name: &str) -> PathBuf {
    Path::new(C_DIR).join(name)
}

/// Runs a compiler; panics (failing the test) if it is missing or reports an error.
fn compile(compiler_var: &str, default: &str, args: &[OsString]) {
    let compiler = std::env::var(compiler_var).unwrap_or_else(|_| default.to_owned());
    let mut cmd = Command::new(&compiler);
    cmd.args(args);
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run the C compiler `{compiler}` (${compiler_var}): {e}; it is required")
    });
    assert!(
        out.status.success(),
        "{compiler} failed: {cmd:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(exe: &Path) -> String {
    let out = Command::new(exe).output().unwrap();
    assert!(out.status.success(), "{exe:?} failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Builds `sources` with `compiler` and `flags` into `dir/name` and runs it.
fn build_and_run(
    dir: &Path,
    name: &str,
    (var, default): (&str, &str),
    flags: &[&str],
    extra: &[&str],
    sources: &[&str],
) -> String {
    let exe = dir.join(name);
    let mut args: Vec<OsString> = flags.iter().chain(extra).map(OsString::from).collect();
    args.push(format!("-I{INCLUDE}").into());
    args.extend(sources.iter().map(|s| c_source(s).into_os_string()));
    args.push("-o".into());
    args.push(exe.clone().into_os_string());
    compile(var, default, &args);
    run(&exe)
}

fn field_size<S, F>(_: fn(&S) -> &F) -> usize {
    size_of::<F>()
}

/// The Rust view, in the C program's line format.
fn rust_layout() -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    macro_rules! layout {
        ($s:ident { $($f:ident),+ $(,)? }) => {
            lines.insert(format!("size {} {}", stringify!($s), size_of::<$s>()));
            lines.insert(format!("align {} {}", stringify!($s), align_of::<$s>()));
            $(
                lines.insert(format!(
                    "field {}.{} {} {}",
                    stringify!($s),
                    stringify!($f),
                    offset_of!($s, $f),
                    field_size(|s: &$s| &s.$f),
                ));
            )+
        };
    }
    macro_rules! constants {
        ($($c:ident),+ $(,)?) => {
            $( lines.insert(format!("const {} {}", stringify!($c), u64::from($c))); )+
        };
    }
    layout!(drm_gem_close { handle, pad });
    layout!(drm_pddgpu_gem_create {
        size,
        alignment,
        domain,
        handle,
        flags
    });
    layout!(drm_pddgpu_gem_mmap {
        handle,
        pad,
        offset
    });
    layout!(drm_pddgpu_gem_info {
        handle,
        pad,
        size,
        alignment,
        flags,
        gpu_offset,
        domain,
        preferred_domain,
        pin_count,
        map_count,
    });
    layout!(drm_pddgpu_gem_op { handle, op, value });
    layout!(drm_pddgpu_heap_info {
        total_heap_size,
        usable_heap_size,
        heap_usage,
        max_allocation
    });
    layout!(drm_pddgpu_memory_info {
        vram,
        cpu_accessible_vram,
        gtt
    });
    layout!(drm_pddgpu_info { query, pad, memory });
    constants!(
        DRM_IOCTL_BASE,
        DRM_COMMAND_BASE,
        DRM_COMMAND_END,
        DRM_IOCTL_GEM_CLOSE,
        DRM_PDDGPU_GEM_CREATE,
        DRM_PDDGPU_GEM_MMAP,
        DRM_PDDGPU_GEM_INFO,
        DRM_PDDGPU_GEM_OP,
        DRM_PDDGPU_INFO,
        DRM_PDDGPU_NUM_IOCTLS,
        DRM_IOCTL_PDDGPU_GEM_CREATE,
        DRM_IOCTL_PDDGPU_GEM_MMAP,
        DRM_IOCTL_PDDGPU_GEM_INFO,
        DRM_IOCTL_PDDGPU_GEM_OP,
        DRM_IOCTL_PDDGPU_INFO,
        PDDGPU_PAGE_SIZE,
        PDDGPU_GEM_DOMAIN_CPU,
        PDDGPU_GEM_DOMAIN_GTT,
        PDDGPU_GEM_DOMAIN_VRAM,
        PDDGPU_GEM_DOMAIN_MASK,
        PDDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED,
        PDDGPU_GEM_CREATE_NO_CPU_ACCESS,
        PDDGPU_GEM_CREATE_VRAM_CLEARED,
        PDDGPU_GEM_CREATE_TOPDOWN,
        PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS,
        PDDGPU_GEM_CREATE_VRAM_WIPE_ON_RELEASE,
        PDDGPU_GEM_CREATE_FLAGS_MASK,
        PDDGPU_GEM_INVALID_OFFSET,
        PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN,
        PDDGPU_GEM_OP_PIN,
        PDDGPU_GEM_OP_UNPIN,
        PDDGPU_INFO_MEMORY,
    );
    // Every ioctl of the Rust table is among the constants compared.
    for ioctl in Ioctl::ALL {
        assert!(
            lines.contains(&format!("const {} {}", ioctl.name(), ioctl.cmd())),
            "{} missing from the comparison",
            ioctl.name()
        );
    }
    lines
}

/// Checks that the C program listed every field: per structure, the fields tile it from
/// offset 0 to its size.
fn assert_c_fields_tile(c_lines: &BTreeSet<String>) {
    let mut structs = 0;
    for line in c_lines {
        let Some(rest) = line.strip_prefix("size ") else {
            continue;
        };
        let (name, size) = rest.split_once(' ').unwrap();
        let size: usize = size.parse().unwrap();
        let prefix = format!("field {name}.");
        let mut fields: Vec<(usize, usize)> = c_lines
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(|l| {
                let v: Vec<usize> = l.split(' ').skip(1).map(|n| n.parse().unwrap()).collect();
                (v[0], v[1])
            })
            .collect();
        fields.sort_unstable();
        let mut end = 0;
        for (offset, len) in fields {
            assert_eq!(offset, end, "{name}: hole or overlap at {offset}");
            end = offset + len;
        }
        assert_eq!(end, size, "{name}: fields do not reach the size");
        structs += 1;
    }
    assert_eq!(structs, 8, "structures printed by the C program");
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines().map(str::to_owned).collect()
}

#[test]
fn c_layout_matches_rust() {
    let dir = scratch("c_layout");
    let c = lines(&build_and_run(
        &dir,
        "layout",
        ("CC", "cc"),
        C_FLAGS,
        &[],
        &["uapi_layout.c"],
    ));
    let rust = rust_layout();
    let only_c: Vec<_> = c.difference(&rust).collect();
    let only_rust: Vec<_> = rust.difference(&c).collect();
    assert!(
        only_c.is_empty() && only_rust.is_empty(),
        "C and Rust disagree\nonly in C: {only_c:#?}\nonly in Rust: {only_rust:#?}"
    );
    assert_c_fields_tile(&c);
    // Spot checks against literal values, independent of both definitions.
    assert!(c.contains("size drm_pddgpu_gem_create 32"));
    assert!(c.contains("const DRM_IOCTL_GEM_CLOSE 1074291721")); // 0x40086409
    assert!(c.contains("const DRM_IOCTL_PDDGPU_GEM_CREATE 3223348288")); // 0xc0206440
}

#[test]
fn cxx_sees_the_same_layout() {
    let dir = scratch("cxx_layout");
    let c = build_and_run(
        &dir,
        "layout_c",
        ("CC", "cc"),
        C_FLAGS,
        &[],
        &["uapi_layout.c"],
    );
    let cxx = build_and_run(
        &dir,
        "layout_cxx",
        ("CXX", "c++"),
        CXX_FLAGS,
        &["-x", "c++"],
        &["uapi_layout.c"],
    );
    assert_eq!(c, cxx);
}

#[test]
fn header_after_drm_h_reuses_its_definitions() {
    let dir = scratch("drm_first");
    let drm = format!("-I{C_DIR}/drm");
    // The C program holds static asserts of the request codes; it must build and run.
    let out = build_and_run(
        &dir,
        "drm_first",
        ("CC", "cc"),
        C_FLAGS,
        &[&drm],
        &["drm_first.c"],
    );
    assert_eq!(out, "");
}

/// C static assertions of the Rust layout lines (alignment lines only if `with_align`).
fn static_asserts(rust: &BTreeSet<String>, with_align: bool) -> String {
    let mut c = String::from("#include \"pddgpu_drm.h\"\n#include <stddef.h>\n");
    for line in rust {
        let words: Vec<&str> = line.split(' ').collect();
        let assertion = match words[..] {
            ["size", s, n] => format!("sizeof(struct {s}) == {n}"),
            ["align", s, n] if with_align => format!("_Alignof(struct {s}) == {n}"),
            ["align", ..] => continue,
            ["field", sf, offset, len] => {
                let (s, f) = sf.split_once('.').unwrap();
                format!(
                    "offsetof(struct {s}, {f}) == {offset} && \
                     sizeof(((struct {s} *)0)->{f}) == {len}"
                )
            }
            ["const", name, v] => format!("(unsigned long long)({name}) == {v}ULL"),
            _ => panic!("unexpected layout line {line:?}"),
        };
        c.push_str(&format!("_Static_assert({assertion}, \"{line}\");\n"));
    }
    c
}

#[test]
fn header_alone_is_strict_c99_and_cxx11() {
    let dir = scratch("strict");
    let src = dir.join("alone.c");
    std::fs::write(
        &src,
        "#include \"pddgpu_drm.h\"\n\
         #include \"pddgpu_drm.h\" /* the include guard makes a second include harmless */\n\
         struct drm_pddgpu_info info;\n\
         int main(void) { return (int)info.pad; }\n",
    )
    .unwrap();
    for (var, default, std, lang) in [
        ("CC", "cc", "-std=c99", "c"),
        ("CXX", "c++", "-std=c++11", "c++"),
    ] {
        let mut args: Vec<OsString> =
            ["-x", lang, std, "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
                .map(OsString::from)
                .to_vec();
        args.push(format!("-I{INCLUDE}").into());
        args.extend(["-fsyntax-only".into(), src.clone().into_os_string()]);
        compile(var, default, &args);
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn i386_layout_equals_rust_layout() {
    // The same bytes on the 32-bit ABI, whose C aligns 64-bit integers to 4 inside
    // structures: the Rust values as static assertions, compiled with -m32.
    // -ffreestanding keeps to the compiler's own headers (no 32-bit C library needed).
    let dir = scratch("i386");
    let rust = rust_layout();
    for (name, with_align, abi) in [("native.c", true, None), ("i386.c", false, Some("-m32"))] {
        let src = dir.join(name);
        std::fs::write(&src, static_asserts(&rust, with_align)).unwrap();
        let mut args: Vec<OsString> = C_FLAGS.iter().map(OsString::from).collect();
        args.extend(abi.map(OsString::from));
        args.extend(["-ffreestanding", "-fsyntax-only"].map(OsString::from));
        args.push(format!("-I{INCLUDE}").into());
        args.push(src.into_os_string());
        compile("CC", "cc", &args);
    }
}

/// Parses `ioctl fd=F request=0xR arg=HEX` lines and `handle N` lines.
fn parse_seed_output(out: &str) -> (Vec<(u64, drm_pddgpu_gem_create)>, Vec<u32>) {
    let mut calls = Vec::new();
    let mut handles = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("ioctl fd=3 request=0x") {
            let (request, hex) = rest.split_once(" arg=").unwrap();
            let request = u64::from_str_radix(request, 16).unwrap();
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            assert_eq!(bytes.len(), drm_pddgpu_gem_create::SIZE);
            calls.push((request, drm_pddgpu_gem_create::read_prefix(&bytes)));
        } else if let Some(h) = line.strip_prefix("handle ") {
            handles.push(h.parse().unwrap());
        } else {
            panic!("unexpected output line {line:?}");
        }
    }
    (calls, handles)
}

#[test]
fn seed_snippets_compile_unchanged_and_send_valid_requests() {
    let dir = scratch("seed");
    // The snippets also compile as C++20 (designators in declaration order).
    let obj = dir.join("seed_snippets_cxx.o");
    let mut args: Vec<OsString> = ["-x", "c++", "-std=c++20"].map(OsString::from).to_vec();
    args.extend(CXX_FLAGS[1..].iter().map(OsString::from));
    // g++ -Wextra warns about members a designated initialiser leaves out, which C++20
    // allows (they are zero, as in C); the check here is that the code is valid C++20.
    args.push("-Wno-missing-field-initializers".into());
    args.push(format!("-I{INCLUDE}").into());
    args.extend(["-c".into(), c_source("seed_snippets.c").into_os_string()]);
    args.extend(["-o".into(), obj.into_os_string()]);
    compile("CXX", "c++", &args);

    let out = build_and_run(
        &dir,
        "seed",
        ("CC", "cc"),
        C_FLAGS,
        &[],
        &["seed_main.c", "seed_snippets.c"],
    );
    let (calls, handles) = parse_seed_output(&out);
    // The recording drmIoctl handed back handles 1 and 2 through `create.handle`.
    assert_eq!(handles, [1, 2]);
    let want = [
        (Domains::VRAM, CreateFlags::VRAM_CONTIGUOUS),
        (Domains::GTT, CreateFlags::empty()),
    ];
    assert_eq!(calls.len(), want.len());
    for ((request, raw), (domains, flags)) in calls.into_iter().zip(want) {
        assert_eq!(request, 0xc020_6440);
        let cmd = Ioctl::decode(u32::try_from(request).unwrap()).unwrap();
        assert_eq!(
            cmd,
            IoctlCmd {
                ioctl: Ioctl::GemCreate,
                copy_in: 32,
                copy_out: 32
            }
        );
        assert_eq!(
            raw.handle, 0,
            "the seed's initialiser leaves the output zero"
        );
        assert_eq!(raw.alignment, 0);
        let req = GemCreate::try_from(&raw).unwrap();
        assert_eq!(req.size(), 1 << 20);
        assert_eq!(req.alignment(), 4096);
        assert_eq!(req.domains(), domains);
        assert_eq!(req.flags(), flags);
    }
}
