/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * pddgpu.h - open a simulated PDDGPU device, issue ioctls, map buffer objects.
 *
 * DOC: Overview
 *
 * libpddgpu (the pddgpu-ffi crate, built as libpddgpu_ffi.a and libpddgpu_ffi.so)
 * runs the PDDGPU driver in the calling process against a simulated device. A program
 * talks to it as to a DRM device:
 *
 *   int fd = pddgpu_open(NULL);                  // device with default sizes
 *   struct drm_pddgpu_gem_create create = {
 *       .size = 1024 * 1024,
 *       .domain = PDDGPU_GEM_DOMAIN_VRAM,
 *       .flags = PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS
 *   };
 *   drmIoctl(fd, DRM_IOCTL_PDDGPU_GEM_CREATE, &create);  // with PDDGPU_DRMIOCTL_ALIAS
 *
 * Devices and fds. pddgpu_open() creates a new device and opens its first client;
 * pddgpu_open_file() opens another client of the same device (as a second open() of
 * the same render node). fds are small non-negative integers from a process-wide
 * table, the lowest free one first. Each fd has its own GEM handles: a handle of one
 * fd is unknown (ENOENT) on another. A device lives until its last fd is closed and
 * its last mapping unmapped.
 *
 * Errors. Every function returning int returns -1 (pddgpu_mmap: PDDGPU_MAP_FAILED) and
 * sets errno on failure; nothing changes on failure. The ioctl errors are listed in
 * pddgpu_drm.h and crates/ffi/README.md.
 *
 * Mappings and coherency. Simulated device memory is not host memory. pddgpu_mmap()
 * pins the object where the CPU can reach it (visible VRAM or GTT, moving it there
 * first if needed) and returns a page-aligned host buffer filled with the mapped
 * bytes. Writes to the buffer reach the object only when the buffer is written back:
 * by pddgpu_msync() or pddgpu_munmap(), each of which copies the whole buffer back.
 * The object does not move while mapped (eviction skips it). Changes made to the
 * object by other means while it is mapped are not seen by the buffer and are
 * overwritten by its write-back.
 *
 * Threads. Every function is thread safe. An ioctl argument or a mapping buffer must
 * not be used by another thread during a call that uses it.
 *
 * Valid C99 and C++11.
 */
#ifndef PDDGPU_H
#define PDDGPU_H

#include <stddef.h>
#include <stdint.h>

#include "pddgpu_drm.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct pddgpu_config - sizes of a simulated device (pddgpu_open()).
 * @vram_size: VRAM bytes, a multiple of 4096; 0 = 4 GiB.
 * @visible_vram_size: CPU-visible VRAM bytes; 0 = 256 MiB, or all of a smaller VRAM.
 * @gtt_size: GTT (GART aperture) bytes; 0 = 8 GiB.
 * @sys_mem_size: simulated system memory bytes; 0 = 16 GiB.
 * @flags: PDDGPU_CONFIG_* flags.
 * @pad: must be 0.
 *
 * Memory is reserved lazily: a large device costs host memory only where written.
 * Layout: 40 bytes, 8-byte fields at offsets 0, 8, 16, 24, flags at 32, pad at 36.
 */
struct pddgpu_config {
	uint64_t vram_size;
	uint64_t visible_vram_size;
	uint64_t gtt_size;
	uint64_t sys_mem_size;
	uint32_t flags;
	uint32_t pad;
};

/*
 * PDDGPU_CONFIG_PROPAGATE_ENOSPC: a GEM_CREATE that cannot be placed even after
 * eviction fails with ENOSPC instead of ENOMEM (upstream TTM's user-space mapping).
 */
#define PDDGPU_CONFIG_PROPAGATE_ENOSPC (1u << 0)

/* PDDGPU_MAP_FAILED: what pddgpu_mmap() returns on failure, as mmap's MAP_FAILED. */
#define PDDGPU_MAP_FAILED ((void *)-1)

/**
 * pddgpu_open - create a device and open its first client.
 * @cfg: the device sizes, or NULL for all defaults.
 *
 * Return: the new fd, or -1 with errno EINVAL (invalid sizes, flags or pad) or
 * ENOMEM.
 */
int pddgpu_open(const struct pddgpu_config *cfg);

/**
 * pddgpu_open_file - open another client of the device behind @fd.
 *
 * Return: the new fd (with no handles), or -1 with errno EBADF or ENODEV.
 */
int pddgpu_open_file(int fd);

/**
 * pddgpu_close - close a client: all its handles are dropped; objects with no other
 * handle, export or mapping are destroyed.
 *
 * Return: 0, or -1 with errno EBADF.
 */
int pddgpu_close(int fd);

/**
 * pddgpu_ioctl - issue a DRM ioctl, with libdrm's drmIoctl() contract.
 * @fd: an fd from pddgpu_open() or pddgpu_open_file().
 * @request: a DRM_IOCTL_* request code.
 * @arg: the argument structure (_IOC_SIZE(request) bytes; any alignment).
 *
 * Restarted internally on EINTR and EAGAIN.
 *
 * Return: 0, or -1 with errno: EBADF, EFAULT (@arg NULL), ENOTTY (not a DRM
 * request), and each ioctl's errors (EINVAL, ENOENT, ENOMEM, ENOSPC, ENODEV, EPERM,
 * EBUSY).
 */
int pddgpu_ioctl(int fd, unsigned long request, void *arg);

/**
 * pddgpu_mmap - map @length bytes of an object for the CPU.
 * @offset: the offset DRM_IOCTL_PDDGPU_GEM_MMAP returned on this @fd, plus a
 *          multiple of 4096 to map from inside the object.
 *
 * Return: a page-aligned buffer holding the mapped bytes, or PDDGPU_MAP_FAILED with
 * errno EBADF, EINVAL (length 0, unknown offset, range outside the object), EPERM
 * (object created with PDDGPU_GEM_CREATE_NO_CPU_ACCESS), ENOMEM or EBUSY.
 */
void *pddgpu_mmap(int fd, uint64_t offset, size_t length);

/**
 * pddgpu_msync - copy a mapping's buffer back into its object.
 *
 * Return: 0, or -1 with errno EINVAL (not a live mapping of that length).
 */
int pddgpu_msync(void *ptr, size_t length);

/**
 * pddgpu_munmap - copy a mapping's buffer back, release the mapping.
 *
 * Return: 0, or -1 with errno EINVAL (not a live mapping of that length; nothing is
 * released) or the write-back's error (the mapping is released anyway).
 */
int pddgpu_munmap(void *ptr, size_t length);

/**
 * pddgpu_config_size - sizeof(struct pddgpu_config) as the library was built.
 */
size_t pddgpu_config_size(void);

#ifdef __cplusplus
}
#endif

/*
 * PDDGPU_DRMIOCTL_ALIAS: define it before including this header to make libdrm's
 * drmIoctl() an alias of pddgpu_ioctl(), so code written for libdrm compiles
 * unchanged. Do not combine with libdrm's xf86drm.h.
 */
#ifdef PDDGPU_DRMIOCTL_ALIAS
#define drmIoctl(fd, request, arg) pddgpu_ioctl((fd), (request), (arg))
#endif

/* Layout checks (C11 and C++11). */
#if defined(__cplusplus) && __cplusplus >= 201103L
static_assert(sizeof(struct pddgpu_config) == 40, "pddgpu_config size");
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct pddgpu_config) == 40, "pddgpu_config size");
#endif

#endif /* PDDGPU_H */
