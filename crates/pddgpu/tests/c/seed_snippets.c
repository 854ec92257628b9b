/*
 * The user-space snippets of the seed design document, unchanged, each in a function.
 * drmIoctl is libdrm's prototype; seed_main.c provides a recording stand-in.
 */
#include "pddgpu_drm.h"

int drmIoctl(int fd, unsigned long request, void *arg);

/* VRAM, physically contiguous (the seed's VRAM allocation call chain, step 1). */
unsigned int seed_vram_contiguous_create(int fd)
{
	// 用户空间代码
	struct drm_pddgpu_gem_create create = {
	    .size = 1024 * 1024,  // 1MB
	    .domain = PDDGPU_GEM_DOMAIN_VRAM,
	    .flags = PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS
	};
	drmIoctl(fd, DRM_IOCTL_PDDGPU_GEM_CREATE, &create);
	return create.handle;
}

/* GTT (the seed's GTT allocation call chain, step 1). */
unsigned int seed_gtt_create(int fd)
{
	// 用户空间代码
	struct drm_pddgpu_gem_create create = {
	    .size = 1024 * 1024,  // 1MB
	    .domain = PDDGPU_GEM_DOMAIN_GTT,
	    .flags = 0
	};
	drmIoctl(fd, DRM_IOCTL_PDDGPU_GEM_CREATE, &create);
	return create.handle;
}
