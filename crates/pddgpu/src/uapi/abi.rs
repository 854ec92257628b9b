//! The C ABI of the uapi: `#[repr(C)]` argument structures and the constants of
//! `pddgpu_drm.h`, under their C names.
//!
//! These are the bytes a C caller hands to `pddgpu_ioctl()`, field for field the
//! structures of `crates/ffi/include/pddgpu_drm.h`. They carry no validation: the typed
//! requests ([`super::GemCreate`] and its siblings) are the only way to turn them into
//! something the GEM layer acts on.
//!
//! # Layout rules
//! - Fixed-width fields only, 64-bit fields at 8-byte offsets, explicit `pad` fields, no
//!   implicit holes and no trailing padding: the same bytes on every ABI (i386 and
//!   x86-64 alike), as the kernel's uapi rules require. Every structure's size, alignment
//!   and field offsets are asserted at compile time below, and the test suite compares
//!   them with the C compiler's view of the header.
//! - Inputs and outputs are direct members, not an `in`/`out` union as in amdgpu, so C
//!   designated initialisers name the inputs (`.size`, `.domain`, `.flags`) directly.
//!   `drm_pddgpu_gem_create` declares them in that order, so the seed's initialiser is
//!   also valid C++20 (whose designators must follow declaration order).
//! - Output fields are ignored on input; `pad` fields must be zero (`EINVAL` otherwise)
//!   so they can be given a meaning later.
//! - `Default` is the all-zero structure, as a C `= { 0 }`.
//!
//! [`AbiBytes`] reads and writes each structure as its native-endian byte image, with
//! the DRM copy protocol's prefix rule, so that a dispatcher moves arguments without
//! `unsafe`.

// The structures and constants keep their C names so that a grep for the C identifier
// finds the Rust definition (as `drm-sys` and the kernel's Rust `uapi` crate do).
#![allow(non_camel_case_types)]

/// The DRM core `struct drm_gem_close` (`DRM_IOCTL_GEM_CLOSE`): `handle` in, `pad` zero.
///
/// Re-exported from `drm-sys`, the Rust definitions of the DRM core uapi.
pub use drm_sys::drm_gem_close;

/// The uapi page size: sizes are rounded up to it and alignments raised to it.
///
/// Fixed at 4 KiB, the CPU page of the platforms the simulated device runs on; mmap
/// offsets are multiples of it.
pub const PDDGPU_PAGE_SIZE: u64 = 4096;

// ---------------------------------------------------------------------------------
// Ioctl numbers relative to DRM_COMMAND_BASE (the full request codes are in `ioctl`).

/// `DRM_PDDGPU_GEM_CREATE`: create a GEM object (`struct drm_pddgpu_gem_create`).
pub const DRM_PDDGPU_GEM_CREATE: u32 = 0x00;
/// `DRM_PDDGPU_GEM_MMAP`: the fake mmap offset of an object (`struct drm_pddgpu_gem_mmap`).
pub const DRM_PDDGPU_GEM_MMAP: u32 = 0x01;
/// `DRM_PDDGPU_GEM_INFO`: describe an object (`struct drm_pddgpu_gem_info`).
pub const DRM_PDDGPU_GEM_INFO: u32 = 0x02;
/// `DRM_PDDGPU_GEM_OP`: preferred domain, pin, unpin (`struct drm_pddgpu_gem_op`).
pub const DRM_PDDGPU_GEM_OP: u32 = 0x03;
/// `DRM_PDDGPU_INFO`: device queries, memory info (`struct drm_pddgpu_info`).
pub const DRM_PDDGPU_INFO: u32 = 0x04;
/// Number of PDDGPU driver ioctls: valid numbers are `0..DRM_PDDGPU_NUM_IOCTLS`.
pub const DRM_PDDGPU_NUM_IOCTLS: u32 = 5;

// ---------------------------------------------------------------------------------
// Domains (as amdgpu's AMDGPU_GEM_DOMAIN_*): where an object may live.

/// `PDDGPU_GEM_DOMAIN_CPU`: system memory the device cannot reach (TTM `SYSTEM`).
pub const PDDGPU_GEM_DOMAIN_CPU: u32 = 0x1;
/// `PDDGPU_GEM_DOMAIN_GTT`: system pages mapped through the GART (TTM `TT`).
pub const PDDGPU_GEM_DOMAIN_GTT: u32 = 0x2;
/// `PDDGPU_GEM_DOMAIN_VRAM`: device memory (TTM `VRAM`).
pub const PDDGPU_GEM_DOMAIN_VRAM: u32 = 0x4;
/// `PDDGPU_GEM_DOMAIN_MASK`: every known domain bit.
pub const PDDGPU_GEM_DOMAIN_MASK: u32 =
    PDDGPU_GEM_DOMAIN_CPU | PDDGPU_GEM_DOMAIN_GTT | PDDGPU_GEM_DOMAIN_VRAM;

// ---------------------------------------------------------------------------------
// Create flags. Bits shared with amdgpu keep amdgpu's values; TOPDOWN takes a bit that
// amdgpu's uapi leaves to kernel-internal use.

/// `PDDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED`: VRAM objects must sit in the CPU-visible window.
pub const PDDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED: u64 = 1 << 0;
/// `PDDGPU_GEM_CREATE_NO_CPU_ACCESS`: never mapped by the CPU; may use invisible VRAM.
pub const PDDGPU_GEM_CREATE_NO_CPU_ACCESS: u64 = 1 << 1;
/// `PDDGPU_GEM_CREATE_VRAM_CLEARED`: VRAM is zeroed before first use.
pub const PDDGPU_GEM_CREATE_VRAM_CLEARED: u64 = 1 << 3;
/// `PDDGPU_GEM_CREATE_TOPDOWN`: VRAM is taken from the top of the heap.
pub const PDDGPU_GEM_CREATE_TOPDOWN: u64 = 1 << 4;
/// `PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS`: VRAM in one physically contiguous range.
pub const PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS: u64 = 1 << 5;
/// `PDDGPU_GEM_CREATE_VRAM_WIPE_ON_RELEASE`: VRAM is zeroed when the object is freed.
pub const PDDGPU_GEM_CREATE_VRAM_WIPE_ON_RELEASE: u64 = 1 << 9;
/// `PDDGPU_GEM_CREATE_FLAGS_MASK`: every known create flag.
pub const PDDGPU_GEM_CREATE_FLAGS_MASK: u64 = PDDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED
    | PDDGPU_GEM_CREATE_NO_CPU_ACCESS
    | PDDGPU_GEM_CREATE_VRAM_CLEARED
    | PDDGPU_GEM_CREATE_TOPDOWN
    | PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS
    | PDDGPU_GEM_CREATE_VRAM_WIPE_ON_RELEASE;

// ---------------------------------------------------------------------------------
// GEM_OP operations and INFO queries. Zero is never valid, so a forgotten field is an
// error rather than a silent default.

/// `PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN`: `value` is the new domain mask.
pub const PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN: u32 = 1;
/// `PDDGPU_GEM_OP_PIN`: pin in one of the domains of the mask in `value`.
pub const PDDGPU_GEM_OP_PIN: u32 = 2;
/// `PDDGPU_GEM_OP_UNPIN`: drop one pin; `value` must be 0.
pub const PDDGPU_GEM_OP_UNPIN: u32 = 3;

/// `PDDGPU_INFO_MEMORY`: fill `drm_pddgpu_info.memory`.
pub const PDDGPU_INFO_MEMORY: u32 = 1;

/// `PDDGPU_GEM_INVALID_OFFSET`: `gpu_offset` of an object the device cannot address
/// (system pages, or GTT pages without a GART address).
pub const PDDGPU_GEM_INVALID_OFFSET: u64 = u64::MAX;

// ---------------------------------------------------------------------------------
// Argument structures.

/// `struct drm_pddgpu_gem_create`, the argument of `DRM_IOCTL_PDDGPU_GEM_CREATE`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct drm_pddgpu_gem_create {
    /// In: size in bytes, non-zero; rounded up to [`PDDGPU_PAGE_SIZE`].
    pub size: u64,
    /// In: alignment in bytes, 0 (page) or a power of two; raised to the page size.
    pub alignment: u64,
    /// In: `PDDGPU_GEM_DOMAIN_*` mask, non-empty: the domains the object may live in.
    pub domain: u32,
    /// Out: the new handle (never 0). Ignored on input.
    pub handle: u32,
    /// In: `PDDGPU_GEM_CREATE_*` flags.
    pub flags: u64,
}

/// `struct drm_pddgpu_gem_mmap`, the argument of `DRM_IOCTL_PDDGPU_GEM_MMAP`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct drm_pddgpu_gem_mmap {
    /// In: the object's handle.
    pub handle: u32,
    /// In: must be 0.
    pub pad: u32,
    /// Out: the fake offset to pass to `pddgpu_mmap()`. Ignored on input.
    pub offset: u64,
}

/// `struct drm_pddgpu_gem_info`, the argument of `DRM_IOCTL_PDDGPU_GEM_INFO`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct drm_pddgpu_gem_info {
    /// In: the object's handle.
    pub handle: u32,
    /// In: must be 0.
    pub pad: u32,
    /// Out: size in bytes (page-rounded).
    pub size: u64,
    /// Out: alignment in bytes (at least the page size).
    pub alignment: u64,
    /// Out: the `PDDGPU_GEM_CREATE_*` flags it was created with.
    pub flags: u64,
    /// Out: device address of its current placement, or [`PDDGPU_GEM_INVALID_OFFSET`].
    pub gpu_offset: u64,
    /// Out: the one domain it is in now.
    pub domain: u32,
    /// Out: the domain mask it prefers (set at create, changed by `GEM_OP`).
    pub preferred_domain: u32,
    /// Out: how many times it is pinned.
    pub pin_count: u32,
    /// Out: how many CPU mappings of it are live.
    pub map_count: u32,
}

/// `struct drm_pddgpu_gem_op`, the argument of `DRM_IOCTL_PDDGPU_GEM_OP` (the layout of
/// amdgpu's `struct drm_amdgpu_gem_op`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct drm_pddgpu_gem_op {
    /// In: the object's handle.
    pub handle: u32,
    /// In: `PDDGPU_GEM_OP_*`.
    pub op: u32,
    /// In: the operation's argument (see each `PDDGPU_GEM_OP_*`). Not written back.
    pub value: u64,
}

/// `struct drm_pddgpu_heap_info`: one memory heap (amdgpu's `struct drm_amdgpu_heap_info`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct drm_pddgpu_heap_info {
    /// Bytes the heap has.
    pub total_heap_size: u64,
    /// Bytes available to clients (total less reserved ranges).
    pub usable_heap_size: u64,
    /// Bytes in use.
    pub heap_usage: u64,
    /// Largest free block: the largest object that fits without eviction.
    pub max_allocation: u64,
}

/// `struct drm_pddgpu_memory_info`: the heaps (amdgpu's `struct drm_amdgpu_memory_info`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct drm_pddgpu_memory_info {
    /// All of VRAM.
    pub vram: drm_pddgpu_heap_info,
    /// The CPU-visible window of VRAM.
    pub cpu_accessible_vram: drm_pddgpu_heap_info,
    /// The GTT aperture.
    pub gtt: drm_pddgpu_heap_info,
}

/// `struct drm_pddgpu_info`, the argument of `DRM_IOCTL_PDDGPU_INFO`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct drm_pddgpu_info {
    /// In: `PDDGPU_INFO_*`.
    pub query: u32,
    /// In: must be 0.
    pub pad: u32,
    /// Out (`PDDGPU_INFO_MEMORY`): the memory heaps. Ignored on input.
    pub memory: drm_pddgpu_memory_info,
}

// ---------------------------------------------------------------------------------
// Byte images.

/// The native-endian byte image of a uapi value, read and written with the prefix rule
/// of the DRM copy protocol (see [`super::IoctlCmd`]).
///
/// A dispatcher copies `copy_in` bytes of the caller's argument into a buffer and reads
/// the structure with [`AbiBytes::read_prefix`], then writes the first `copy_out` bytes
/// back with [`AbiBytes::write_prefix`]: no `unsafe` and no transmute on this side of
/// the boundary.
///
/// # Examples
/// A caller built against a 24-byte `GEM_CREATE` (without `flags`):
/// ```
/// use pddgpu::uapi::abi::drm_pddgpu_gem_create;
/// use pddgpu::uapi::{AbiBytes, CreateFlags, GemCreate, Ioctl};
///
/// let mut user = [0u8; 24];
/// let old = drm_pddgpu_gem_create { size: 4096, domain: 0x2, ..Default::default() };
/// old.write_prefix(&mut user);
///
/// let cmd = Ioctl::decode(0xc018_6440)?; // DRM_IOWR(0x40, 24 bytes)
/// let mut raw = drm_pddgpu_gem_create::read_prefix(&user[..cmd.copy_in]);
/// let req = GemCreate::try_from(&raw)?;
/// assert_eq!(req.flags(), CreateFlags::empty()); // the missing field reads as 0
/// raw.handle = 1; // what the GEM layer answers
/// raw.write_prefix(&mut user[..cmd.copy_out]);
/// assert_eq!(drm_pddgpu_gem_create::read_prefix(&user).handle, 1);
/// # Ok::<(), pddgpu::uapi::UapiError>(())
/// ```
pub trait AbiBytes: Sized {
    /// Size of the byte image (`size_of::<Self>()`: the structures have no padding).
    const SIZE: usize;

    /// Reads a value from the first [`Self::SIZE`] bytes of `bytes`. Bytes missing from a
    /// short slice read as zero (a caller built against a shorter structure); bytes past
    /// the image are ignored.
    fn read_prefix(bytes: &[u8]) -> Self;

    /// Writes the first `min(out.len(), Self::SIZE)` bytes of the image to `out`, leaving
    /// the rest of `out` as it was.
    fn write_prefix(&self, out: &mut [u8]);
}

/// Implements [`AbiBytes`] for an integer by its native-endian bytes.
macro_rules! int_abi_bytes {
    ($($int:ty),+) => {$(
        impl AbiBytes for $int {
            const SIZE: usize = core::mem::size_of::<$int>();

            fn read_prefix(bytes: &[u8]) -> Self {
                let mut image = [0u8; core::mem::size_of::<$int>()];
                let n = bytes.len().min(image.len());
                image[..n].copy_from_slice(&bytes[..n]);
                <$int>::from_ne_bytes(image)
            }

            fn write_prefix(&self, out: &mut [u8]) {
                let image = self.to_ne_bytes();
                let n = out.len().min(image.len());
                out[..n].copy_from_slice(&image[..n]);
            }
        }
    )+};
}

int_abi_bytes!(u32, u64);

// ---------------------------------------------------------------------------------
// Layouts: compile-time checks and byte images from one field list per structure.

/// For one structure: asserts its size and alignment, each field's type and offset, and
/// that the listed fields tile it with no hole and no trailing padding; then implements
/// [`AbiBytes`] from the same list (a field missing from the list does not compile).
macro_rules! abi_layout {
    ($ty:ident, size = $size:expr, align = $align:expr,
     { $($field:ident : $fty:ty = $off:expr),+ $(,)? }) => {
        const _: () = {
            use core::mem::{align_of, offset_of, size_of};
            assert!(size_of::<$ty>() == $size, "size");
            assert!(align_of::<$ty>() == $align, "alignment");
            let mut end = 0;
            $(
                assert!(offset_of!($ty, $field) == $off, stringify!($field));
                assert!($off == end, concat!("hole before ", stringify!($field)));
                end = $off + size_of::<$fty>();
            )+
            assert!(end == $size, "trailing padding");
        };

        impl AbiBytes for $ty {
            const SIZE: usize = $size;

            fn read_prefix(bytes: &[u8]) -> Self {
                Self {
                    $( $field: <$fty>::read_prefix(bytes.get($off..).unwrap_or_default()), )+
                }
            }

            fn write_prefix(&self, out: &mut [u8]) {
                $(
                    if let Some(rest) = out.get_mut($off..) {
                        self.$field.write_prefix(rest);
                    }
                )+
            }
        }
    };
}

/// Alignment of a structure holding `u64`s: 8, or 4 on i386 (whose C ABI aligns 64-bit
/// integers to 4 inside structures); the sizes and offsets are the same on both.
const U64_ALIGN: usize = core::mem::align_of::<u64>();

abi_layout!(drm_gem_close, size = 8, align = 4, {
    handle: u32 = 0,
    pad: u32 = 4,
});
abi_layout!(drm_pddgpu_gem_create, size = 32, align = U64_ALIGN, {
    size: u64 = 0,
    alignment: u64 = 8,
    domain: u32 = 16,
    handle: u32 = 20,
    flags: u64 = 24,
});
abi_layout!(drm_pddgpu_gem_mmap, size = 16, align = U64_ALIGN, {
    handle: u32 = 0,
    pad: u32 = 4,
    offset: u64 = 8,
});
abi_layout!(drm_pddgpu_gem_info, size = 56, align = U64_ALIGN, {
    handle: u32 = 0,
    pad: u32 = 4,
    size: u64 = 8,
    alignment: u64 = 16,
    flags: u64 = 24,
    gpu_offset: u64 = 32,
    domain: u32 = 40,
    preferred_domain: u32 = 44,
    pin_count: u32 = 48,
    map_count: u32 = 52,
});
abi_layout!(drm_pddgpu_gem_op, size = 16, align = U64_ALIGN, {
    handle: u32 = 0,
    op: u32 = 4,
    value: u64 = 8,
});
abi_layout!(drm_pddgpu_heap_info, size = 32, align = U64_ALIGN, {
    total_heap_size: u64 = 0,
    usable_heap_size: u64 = 8,
    heap_usage: u64 = 16,
    max_allocation: u64 = 24,
});
abi_layout!(drm_pddgpu_memory_info, size = 96, align = U64_ALIGN, {
    vram: drm_pddgpu_heap_info = 0,
    cpu_accessible_vram: drm_pddgpu_heap_info = 32,
    gtt: drm_pddgpu_heap_info = 64,
});
abi_layout!(drm_pddgpu_info, size = 104, align = U64_ALIGN, {
    query: u32 = 0,
    pad: u32 = 4,
    memory: drm_pddgpu_memory_info = 8,
});
