/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * pddgpu_drm.h - the PDDGPU uapi: ioctl numbers, argument structures, domains and
 * flags.
 *
 * DOC: Overview
 *
 * PDDGPU is modelled on amdgpu; this header is its amdgpu_drm.h. A client opens a
 * device (pddgpu_open() in pddgpu.h), then issues the ioctls below with
 * pddgpu_ioctl() or libdrm's drmIoctl(), which share a contract: 0 on success, -1 and
 * errno on failure.
 *
 *   DRM_IOCTL_PDDGPU_GEM_CREATE  create a buffer object, get a handle
 *   DRM_IOCTL_PDDGPU_GEM_MMAP    the fake offset to map an object with pddgpu_mmap()
 *   DRM_IOCTL_PDDGPU_GEM_INFO    size, domain, offset, flags, pins, maps of an object
 *   DRM_IOCTL_PDDGPU_GEM_OP      set the preferred domain, pin, unpin
 *   DRM_IOCTL_PDDGPU_INFO        memory info: VRAM, visible VRAM and GTT heaps
 *   DRM_IOCTL_GEM_CLOSE          (DRM core) drop a handle
 *
 * Errors: EINVAL for malformed input (unknown flag or domain bits, an empty domain, a
 * zero size, a size that overflows when rounded up to pages or exceeds every requested
 * domain, an alignment that is not a power of two, a non-zero pad, an unknown op or
 * query); ENOENT for a handle this file does not hold; ENOTTY for a request that is
 * not a DRM one. A failed ioctl changes nothing.
 *
 * Layout: fixed-width fields, 64-bit fields at 8-byte offsets, explicit pads, no
 * implicit holes, the same bytes on 32- and 64-bit ABIs. Inputs and outputs are direct
 * members (no in/out union), so designated initialisers name them:
 *
 *   struct drm_pddgpu_gem_create create = {
 *       .size = 1024 * 1024,
 *       .domain = PDDGPU_GEM_DOMAIN_VRAM,
 *       .flags = PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS
 *   };
 *   drmIoctl(fd, DRM_IOCTL_PDDGPU_GEM_CREATE, &create);   // create.handle is set
 *
 * Output fields are ignored on input. Pads must be zero.
 *
 * Requests are decoded as the DRM core does: a caller built against a shorter
 * structure gets zeros for the fields it does not know.
 *
 * This header needs no kernel headers. It defines the few DRM core items it uses
 * (struct drm_gem_close, DRM_IOCTL_BASE, DRM_COMMAND_BASE, DRM_IOW, DRM_IOWR,
 * DRM_IOCTL_GEM_CLOSE) unless libdrm's drm.h came first; include drm.h, if at all,
 * before this header. It is valid C99 and C++11.
 */
#ifndef PDDGPU_DRM_H
#define PDDGPU_DRM_H

#include <stdint.h>

/* --------------------------------------------------------------------------------
 * Request-code encoding: Linux's _IOC(dir, type, nr, size).
 *
 * The asm-generic layout (x86, arm, arm64, riscv, s390, loongarch): nr bits 0-7, type
 * bits 8-15, size bits 16-29, direction bits 30-31 with write = 1 and read = 2. The
 * architectures with another layout take it from <sys/ioctl.h>.
 */
#if defined(__powerpc__) || defined(__powerpc64__) || defined(__mips__) || \
	defined(__sparc__) || defined(__alpha__)
#include <sys/ioctl.h>
#define PDDGPU_IOW(type, nr, argtype) _IOW(type, nr, argtype)
#define PDDGPU_IOWR(type, nr, argtype) _IOWR(type, nr, argtype)
#else
#define PDDGPU_IOC_WRITE 1UL
#define PDDGPU_IOC_READ 2UL
#define PDDGPU_IOC(dir, type, nr, size)                                        \
	(((unsigned long)(dir) << 30) | ((unsigned long)(size) << 16) |        \
	 ((unsigned long)(type) << 8) | (unsigned long)(nr))
#define PDDGPU_IOW(type, nr, argtype)                                          \
	PDDGPU_IOC(PDDGPU_IOC_WRITE, type, nr, sizeof(argtype))
#define PDDGPU_IOWR(type, nr, argtype)                                         \
	PDDGPU_IOC(PDDGPU_IOC_READ | PDDGPU_IOC_WRITE, type, nr, sizeof(argtype))
#endif

/* --------------------------------------------------------------------------------
 * DRM core items (as libdrm's drm.h), unless drm.h already defined them.
 */
#ifndef _DRM_H_
#ifndef DRM_IOCTL_BASE
#define DRM_IOCTL_BASE 'd'
#endif
#ifndef DRM_COMMAND_BASE
#define DRM_COMMAND_BASE 0x40
#endif
#ifndef DRM_COMMAND_END
#define DRM_COMMAND_END 0xA0
#endif
#ifndef DRM_IOW
#define DRM_IOW(nr, type) PDDGPU_IOW(DRM_IOCTL_BASE, nr, type)
#endif
#ifndef DRM_IOWR
#define DRM_IOWR(nr, type) PDDGPU_IOWR(DRM_IOCTL_BASE, nr, type)
#endif

/**
 * struct drm_gem_close - DRM_IOCTL_GEM_CLOSE argument.
 * @handle: in, the handle to drop.
 * @pad: in, must be 0.
 */
struct drm_gem_close {
	uint32_t handle;
	uint32_t pad;
};

#ifndef DRM_IOCTL_GEM_CLOSE
#define DRM_IOCTL_GEM_CLOSE DRM_IOW(0x09, struct drm_gem_close)
#endif
#endif /* !_DRM_H_ */

/* --------------------------------------------------------------------------------
 * Ioctl numbers.
 */
#define DRM_PDDGPU_GEM_CREATE 0x00
#define DRM_PDDGPU_GEM_MMAP 0x01
#define DRM_PDDGPU_GEM_INFO 0x02
#define DRM_PDDGPU_GEM_OP 0x03
#define DRM_PDDGPU_INFO 0x04
#define DRM_PDDGPU_NUM_IOCTLS 5

#define DRM_IOCTL_PDDGPU_GEM_CREATE                                            \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_CREATE,                     \
		 struct drm_pddgpu_gem_create)
#define DRM_IOCTL_PDDGPU_GEM_MMAP                                              \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_MMAP,                       \
		 struct drm_pddgpu_gem_mmap)
#define DRM_IOCTL_PDDGPU_GEM_INFO                                              \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_INFO,                       \
		 struct drm_pddgpu_gem_info)
#define DRM_IOCTL_PDDGPU_GEM_OP                                                \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_PDDGPU_GEM_OP, struct drm_pddgpu_gem_op)
#define DRM_IOCTL_PDDGPU_INFO                                                  \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_PDDGPU_INFO, struct drm_pddgpu_info)

/* The uapi page: sizes are rounded up to it, alignments raised to it. */
#define PDDGPU_PAGE_SIZE 4096

/* --------------------------------------------------------------------------------
 * Domains: where an object may live. GEM_CREATE takes a non-empty mask; the object
 * goes to the first of VRAM, GTT, CPU that has room.
 */
/* System memory the device cannot reach (TTM SYSTEM). */
#define PDDGPU_GEM_DOMAIN_CPU 0x1
/* System pages bound into the GART: reachable by the device and the CPU (TTM TT). */
#define PDDGPU_GEM_DOMAIN_GTT 0x2
/* Device memory; the CPU reaches only its visible window (TTM VRAM). */
#define PDDGPU_GEM_DOMAIN_VRAM 0x4
#define PDDGPU_GEM_DOMAIN_MASK                                                 \
	(PDDGPU_GEM_DOMAIN_CPU | PDDGPU_GEM_DOMAIN_GTT | PDDGPU_GEM_DOMAIN_VRAM)

/* --------------------------------------------------------------------------------
 * GEM_CREATE flags. Bits shared with amdgpu keep amdgpu's values. The VRAM flags have
 * no effect when the object lands in GTT or CPU. Unknown bits are EINVAL.
 */
/* VRAM placements are limited to the CPU-visible window. Excludes NO_CPU_ACCESS. */
#define PDDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED (1ULL << 0)
/* Never mapped by the CPU: may use invisible VRAM; mapping is refused. */
#define PDDGPU_GEM_CREATE_NO_CPU_ACCESS (1ULL << 1)
/* Zero VRAM before first use; blocks known to be clear are preferred. */
#define PDDGPU_GEM_CREATE_VRAM_CLEARED (1ULL << 3)
/* Take VRAM from the top of the heap. */
#define PDDGPU_GEM_CREATE_TOPDOWN (1ULL << 4)
/* VRAM in one contiguous range; a hint, retried non-contiguous when none is free. */
#define PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS (1ULL << 5)
/* Zero VRAM when the object is released; the blocks return as cleared. */
#define PDDGPU_GEM_CREATE_VRAM_WIPE_ON_RELEASE (1ULL << 9)
#define PDDGPU_GEM_CREATE_FLAGS_MASK                                           \
	(PDDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED |                               \
	 PDDGPU_GEM_CREATE_NO_CPU_ACCESS | PDDGPU_GEM_CREATE_VRAM_CLEARED |    \
	 PDDGPU_GEM_CREATE_TOPDOWN | PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS |       \
	 PDDGPU_GEM_CREATE_VRAM_WIPE_ON_RELEASE)

/**
 * struct drm_pddgpu_gem_create - DRM_IOCTL_PDDGPU_GEM_CREATE argument.
 * @size: in, bytes, non-zero; rounded up to PDDGPU_PAGE_SIZE.
 * @alignment: in, bytes: 0 (one page) or a power of two; raised to a page.
 * @domain: in, non-empty PDDGPU_GEM_DOMAIN_* mask.
 * @handle: out, the new handle (never 0); ignored on input.
 * @flags: in, PDDGPU_GEM_CREATE_*.
 *
 * The inputs are declared in the order .size, .domain, .flags, so that initialiser is
 * also valid C++20.
 */
struct drm_pddgpu_gem_create {
	uint64_t size;
	uint64_t alignment;
	uint32_t domain;
	uint32_t handle;
	uint64_t flags;
};

/**
 * struct drm_pddgpu_gem_mmap - DRM_IOCTL_PDDGPU_GEM_MMAP argument.
 * @handle: in, the object.
 * @pad: in, must be 0.
 * @offset: out, the fake offset to pass to pddgpu_mmap(); ignored on input.
 *
 * Mapping moves the object where the CPU can reach it (visible VRAM or GTT) and keeps
 * it there while the mapping lives.
 */
struct drm_pddgpu_gem_mmap {
	uint32_t handle;
	uint32_t pad;
	uint64_t offset;
};

/* gpu_offset of an object the device cannot address. */
#define PDDGPU_GEM_INVALID_OFFSET 0xFFFFFFFFFFFFFFFFULL

/**
 * struct drm_pddgpu_gem_info - DRM_IOCTL_PDDGPU_GEM_INFO argument.
 * @handle: in, the object.
 * @pad: in, must be 0.
 * @size: out, bytes (page-rounded).
 * @alignment: out, bytes (at least a page).
 * @flags: out, the PDDGPU_GEM_CREATE_* flags of its creation.
 * @gpu_offset: out, device address of its placement, or PDDGPU_GEM_INVALID_OFFSET.
 * @domain: out, the one domain it is in now.
 * @preferred_domain: out, the domains it prefers.
 * @pin_count: out, how many times it is pinned.
 * @map_count: out, how many CPU mappings of it are live.
 */
struct drm_pddgpu_gem_info {
	uint32_t handle;
	uint32_t pad;
	uint64_t size;
	uint64_t alignment;
	uint64_t flags;
	uint64_t gpu_offset;
	uint32_t domain;
	uint32_t preferred_domain;
	uint32_t pin_count;
	uint32_t map_count;
};

/* GEM_OP operations (0 is never valid). */
/* value: the new non-empty domain mask; applies at the next validation. */
#define PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN 1
/* value: a non-empty domain mask; pin in one of them, moving if needed; pins nest. */
#define PDDGPU_GEM_OP_PIN 2
/* value: must be 0; drop one pin. */
#define PDDGPU_GEM_OP_UNPIN 3

/**
 * struct drm_pddgpu_gem_op - DRM_IOCTL_PDDGPU_GEM_OP argument.
 * @handle: in, the object.
 * @op: in, PDDGPU_GEM_OP_*.
 * @value: in, the operation's argument; not written back.
 */
struct drm_pddgpu_gem_op {
	uint32_t handle;
	uint32_t op;
	uint64_t value;
};

/* INFO queries (0 is never valid). */
/* Fill drm_pddgpu_info.memory. */
#define PDDGPU_INFO_MEMORY 1

/**
 * struct drm_pddgpu_heap_info - one memory heap.
 * @total_heap_size: bytes the heap has.
 * @usable_heap_size: bytes available to clients (total less reserved ranges).
 * @heap_usage: bytes in use.
 * @max_allocation: the largest free block: the largest object that fits now without
 *   eviction (amdgpu reports an estimate; this is exact).
 */
struct drm_pddgpu_heap_info {
	uint64_t total_heap_size;
	uint64_t usable_heap_size;
	uint64_t heap_usage;
	uint64_t max_allocation;
};

/**
 * struct drm_pddgpu_memory_info - the memory heaps.
 * @vram: all of VRAM.
 * @cpu_accessible_vram: the CPU-visible window of VRAM.
 * @gtt: the GTT aperture.
 */
struct drm_pddgpu_memory_info {
	struct drm_pddgpu_heap_info vram;
	struct drm_pddgpu_heap_info cpu_accessible_vram;
	struct drm_pddgpu_heap_info gtt;
};

/**
 * struct drm_pddgpu_info - DRM_IOCTL_PDDGPU_INFO argument.
 * @query: in, PDDGPU_INFO_*.
 * @pad: in, must be 0.
 * @memory: out (PDDGPU_INFO_MEMORY); ignored on input.
 */
struct drm_pddgpu_info {
	uint32_t query;
	uint32_t pad;
	struct drm_pddgpu_memory_info memory;
};

#endif /* PDDGPU_DRM_H */
