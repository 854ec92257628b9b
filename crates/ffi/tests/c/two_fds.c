/* Two clients of one device: separate handle spaces, shared memory accounting; INFO
 * numbers exact. */
#include "pddgpu.h"
#include "check.h"

static struct drm_pddgpu_memory_info meminfo(int fd)
{
	struct drm_pddgpu_info i = { .query = PDDGPU_INFO_MEMORY };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_INFO, &i) == 0);
	return i.memory;
}

static uint32_t create(int fd, uint64_t size, uint32_t domain, uint64_t flags)
{
	struct drm_pddgpu_gem_create c = { .size = size, .domain = domain, .flags = flags };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_CREATE, &c) == 0);
	return c.handle;
}

int main(void)
{
	struct pddgpu_config cfg = {
		.vram_size = 64 * MIB, .visible_vram_size = 16 * MIB, .gtt_size = 64 * MIB,
	};
	int a = pddgpu_open(&cfg);
	CHECK(a >= 0);
	int b = pddgpu_open_file(a);
	CHECK(b >= 0 && b != a);

	struct drm_pddgpu_memory_info m = meminfo(a);
	CHECK_EQ(m.vram.total_heap_size, 64 * MIB);
	CHECK_EQ(m.vram.usable_heap_size, 64 * MIB);
	CHECK_EQ(m.vram.heap_usage, 0);
	CHECK_EQ(m.vram.max_allocation, 64 * MIB);
	CHECK_EQ(m.cpu_accessible_vram.total_heap_size, 16 * MIB);
	CHECK_EQ(m.cpu_accessible_vram.heap_usage, 0);
	CHECK_EQ(m.cpu_accessible_vram.max_allocation, 16 * MIB);
	CHECK_EQ(m.gtt.total_heap_size, 64 * MIB);
	CHECK_EQ(m.gtt.heap_usage, 0);
	/* The GART less the copy engine's two 2 MiB transfer windows. */
	CHECK_EQ(m.gtt.max_allocation, 60 * MIB);

	/* Both files count handles from 1. */
	uint32_t ha = create(a, MIB, PDDGPU_GEM_DOMAIN_VRAM, PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS);
	uint32_t hb = create(b, 2 * MIB, PDDGPU_GEM_DOMAIN_GTT, 0);
	CHECK_EQ(ha, 1);
	CHECK_EQ(hb, 1);
	struct drm_pddgpu_gem_info ia = { .handle = 1 }, ib = { .handle = 1 };
	CHECK(pddgpu_ioctl(a, DRM_IOCTL_PDDGPU_GEM_INFO, &ia) == 0);
	CHECK(pddgpu_ioctl(b, DRM_IOCTL_PDDGPU_GEM_INFO, &ib) == 0);
	CHECK_EQ(ia.size, MIB);
	CHECK_EQ(ia.domain, PDDGPU_GEM_DOMAIN_VRAM);
	CHECK_EQ(ib.size, 2 * MIB);
	CHECK_EQ(ib.domain, PDDGPU_GEM_DOMAIN_GTT);
	uint32_t hb2 = create(b, 4096, PDDGPU_GEM_DOMAIN_GTT, 0);
	CHECK_EQ(hb2, 2);
	struct drm_pddgpu_gem_info none = { .handle = 2 };
	CHECK_ERRNO(pddgpu_ioctl(a, DRM_IOCTL_PDDGPU_GEM_INFO, &none), ENOENT);
	struct drm_gem_close cl = { .handle = 2 };
	CHECK_ERRNO(pddgpu_ioctl(a, DRM_IOCTL_GEM_CLOSE, &cl), ENOENT);

	m = meminfo(b);
	CHECK_EQ(m.vram.heap_usage, MIB);
	/* 1 MiB at the top of 64 MiB: the largest free block is the lower 32 MiB. */
	CHECK_EQ(m.vram.max_allocation, 32 * MIB);
	CHECK_EQ(m.cpu_accessible_vram.heap_usage, 0);
	CHECK_EQ(m.cpu_accessible_vram.max_allocation, 16 * MIB);
	CHECK_EQ(m.gtt.heap_usage, 2 * MIB + 4096);
	CHECK_EQ(m.gtt.max_allocation, 60 * MIB);

	/* Closing b releases its objects, not a's. */
	CHECK(pddgpu_close(b) == 0);
	m = meminfo(a);
	CHECK_EQ(m.gtt.heap_usage, 0);
	CHECK_EQ(m.vram.heap_usage, MIB);
	CHECK(pddgpu_ioctl(a, DRM_IOCTL_PDDGPU_GEM_INFO, &ia) == 0);
	/* The fd slot of b is reused, as POSIX fds are; the new file has no handles. */
	int c = pddgpu_open_file(a);
	CHECK_EQ(c, b);
	CHECK_ERRNO(pddgpu_ioctl(c, DRM_IOCTL_PDDGPU_GEM_INFO, &ib), ENOENT);
	CHECK(pddgpu_close(c) == 0);
	CHECK(pddgpu_close(a) == 0);
	puts("ok");
	return 0;
}
