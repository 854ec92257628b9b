/* The seed document's user-space GEM_CREATE snippets, unchanged (each in a function
 * returning the handle), against the real library through the drmIoctl alias. A
 * failed create leaves the handle 0, which main() checks. */
#define PDDGPU_DRMIOCTL_ALIAS
#include "pddgpu.h"
#include "check.h"

static unsigned int seed_vram_contiguous_create(int fd)
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

static unsigned int seed_gtt_create(int fd)
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

int main(void)
{
	CHECK_EQ(pddgpu_config_size(), sizeof(struct pddgpu_config));
	int fd = pddgpu_open(NULL); /* the default device: 4 GiB VRAM, 8 GiB GTT */
	CHECK(fd >= 0);

	unsigned int vram = seed_vram_contiguous_create(fd);
	unsigned int gtt = seed_gtt_create(fd);
	CHECK_EQ(vram, 1);
	CHECK_EQ(gtt, 2);

	struct drm_pddgpu_gem_info info = { .handle = vram };
	CHECK(drmIoctl(fd, DRM_IOCTL_PDDGPU_GEM_INFO, &info) == 0);
	CHECK_EQ(info.size, MIB);
	CHECK_EQ(info.domain, PDDGPU_GEM_DOMAIN_VRAM);
	CHECK_EQ(info.flags, PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS);
	/* A fresh buddy hands out the top of VRAM: the last MiB of 4 GiB. */
	CHECK_EQ(info.gpu_offset, 4096 * MIB - MIB);

	info = (struct drm_pddgpu_gem_info){ .handle = gtt };
	CHECK(drmIoctl(fd, DRM_IOCTL_PDDGPU_GEM_INFO, &info) == 0);
	CHECK_EQ(info.domain, PDDGPU_GEM_DOMAIN_GTT);
	/* A user GTT BO has no GART address until the device needs one. */
	CHECK_EQ(info.gpu_offset, PDDGPU_GEM_INVALID_OFFSET);

	struct drm_pddgpu_info mem = { .query = PDDGPU_INFO_MEMORY };
	CHECK(drmIoctl(fd, DRM_IOCTL_PDDGPU_INFO, &mem) == 0);
	CHECK_EQ(mem.memory.vram.heap_usage, MIB);
	CHECK_EQ(mem.memory.gtt.heap_usage, MIB);

	struct drm_gem_close cl = { .handle = vram };
	CHECK(drmIoctl(fd, DRM_IOCTL_GEM_CLOSE, &cl) == 0);
	cl.handle = gtt;
	CHECK(drmIoctl(fd, DRM_IOCTL_GEM_CLOSE, &cl) == 0);
	CHECK(drmIoctl(fd, DRM_IOCTL_PDDGPU_INFO, &mem) == 0);
	CHECK_EQ(mem.memory.vram.heap_usage, 0);
	CHECK_EQ(mem.memory.gtt.heap_usage, 0);
	CHECK(pddgpu_close(fd) == 0);
	puts("ok");
	return 0;
}
