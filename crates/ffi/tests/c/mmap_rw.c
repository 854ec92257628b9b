/* Write a pattern through a mapping, unmap, map again and read it back; again after
 * forcing the object from VRAM to GTT; a sub-range mapping; mapping errors. */
#include "pddgpu.h"
#include "check.h"

static int fd;

static uint32_t create(uint64_t size, uint32_t domain, uint64_t flags)
{
	struct drm_pddgpu_gem_create c = { .size = size, .domain = domain, .flags = flags };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_CREATE, &c) == 0);
	return c.handle;
}

static uint64_t mmap_offset(uint32_t handle)
{
	struct drm_pddgpu_gem_mmap m = { .handle = handle };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_MMAP, &m) == 0);
	CHECK(m.offset != 0 && m.offset % 4096 == 0);
	return m.offset;
}

static struct drm_pddgpu_gem_info info(uint32_t handle)
{
	struct drm_pddgpu_gem_info i = { .handle = handle };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_INFO, &i) == 0);
	return i;
}

static void verify(uint64_t offset, size_t size, unsigned seed)
{
	unsigned char *p = pddgpu_mmap(fd, offset, size);
	CHECK(p != PDDGPU_MAP_FAILED);
	for (size_t i = 0; i < size; i++)
		CHECK_EQ(p[i], (unsigned char)(i * 7 + seed));
	CHECK(pddgpu_munmap(p, size) == 0);
}

int main(void)
{
	struct pddgpu_config cfg = {
		.vram_size = 64 * MIB, .visible_vram_size = 16 * MIB, .gtt_size = 64 * MIB,
	};
	fd = pddgpu_open(&cfg);
	CHECK(fd >= 0);
	const size_t size = 256 * 1024;
	uint32_t h = create(size, PDDGPU_GEM_DOMAIN_VRAM | PDDGPU_GEM_DOMAIN_GTT, 0);
	/* A fresh VRAM hands out its top, outside the 16 MiB visible window. */
	CHECK_EQ(info(h).domain, PDDGPU_GEM_DOMAIN_VRAM);
	CHECK(info(h).gpu_offset >= 16 * MIB);
	uint64_t off = mmap_offset(h);
	CHECK_EQ(mmap_offset(h), off); /* stable */

	unsigned char *p = pddgpu_mmap(fd, off, size);
	CHECK(p != PDDGPU_MAP_FAILED);
	CHECK_EQ((uintptr_t)p % 4096, 0);
	/* A new object shows zeros. */
	for (size_t i = 0; i < size; i++)
		CHECK_EQ(p[i], 0);
	/* Mapping moved it into the visible window and keeps it there. */
	struct drm_pddgpu_gem_info i = info(h);
	CHECK_EQ(i.domain, PDDGPU_GEM_DOMAIN_VRAM);
	CHECK(i.gpu_offset + size <= 16 * MIB);
	CHECK_EQ(i.map_count, 1);
	for (size_t k = 0; k < size; k++)
		p[k] = (unsigned char)(k * 7 + 1);
	/* A pin in another domain cannot move a mapped object. */
	struct drm_pddgpu_gem_op op = { .handle = h, .op = PDDGPU_GEM_OP_PIN,
					.value = PDDGPU_GEM_DOMAIN_GTT };
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_OP, &op), EINVAL);
	CHECK_ERRNO(pddgpu_munmap(p, size - 4096), EINVAL); /* wrong length */
	CHECK(pddgpu_munmap(p, size) == 0);
	CHECK_EQ(info(h).map_count, 0);
	verify(off, size, 1);

	/* Force a move to GTT: pin there, unpin; the contents move along. */
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_OP, &op) == 0);
	CHECK_EQ(info(h).domain, PDDGPU_GEM_DOMAIN_GTT);
	CHECK_EQ(info(h).pin_count, 1);
	op = (struct drm_pddgpu_gem_op){ .handle = h, .op = PDDGPU_GEM_OP_UNPIN };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_OP, &op) == 0);
	CHECK_EQ(info(h).pin_count, 0);
	verify(off, size, 1);

	/* msync writes back without unmapping; a sub-range mapping sees it. */
	p = pddgpu_mmap(fd, off, size);
	CHECK(p != PDDGPU_MAP_FAILED);
	for (size_t k = 0; k < size; k++)
		p[k] = (unsigned char)(k * 7 + 2);
	CHECK(pddgpu_msync(p, size) == 0);
	unsigned char *q = pddgpu_mmap(fd, off + 8192, 4096);
	CHECK(q != PDDGPU_MAP_FAILED);
	for (size_t k = 0; k < 4096; k++)
		CHECK_EQ(q[k], (unsigned char)((k + 8192) * 7 + 2));
	CHECK_EQ(info(h).map_count, 2);
	CHECK(pddgpu_munmap(q, 4096) == 0);
	CHECK(pddgpu_munmap(p, size) == 0);

	/* Mapping errors. */
	errno = 0;
	CHECK(pddgpu_mmap(fd, off, 0) == PDDGPU_MAP_FAILED && errno == EINVAL);
	errno = 0;
	CHECK(pddgpu_mmap(fd, off + 100, 4096) == PDDGPU_MAP_FAILED && errno == EINVAL);
	errno = 0;
	CHECK(pddgpu_mmap(fd, off, size + 4096) == PDDGPU_MAP_FAILED && errno == EINVAL);
	errno = 0;
	CHECK(pddgpu_mmap(fd, 12345, 4096) == PDDGPU_MAP_FAILED && errno == EINVAL);
	errno = 0;
	CHECK(pddgpu_mmap(99, off, 4096) == PDDGPU_MAP_FAILED && errno == EBADF);
	uint32_t secret = create(4096, PDDGPU_GEM_DOMAIN_VRAM, PDDGPU_GEM_CREATE_NO_CPU_ACCESS);
	struct drm_pddgpu_gem_mmap m = { .handle = secret };
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_MMAP, &m), EPERM);
	CHECK_ERRNO(pddgpu_msync(p, size), EINVAL); /* already unmapped */

	/* A mapping outlives its handle and its fd. */
	p = pddgpu_mmap(fd, off, size);
	CHECK(p != PDDGPU_MAP_FAILED);
	struct drm_gem_close cl = { .handle = h };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &cl) == 0);
	errno = 0;
	CHECK(pddgpu_mmap(fd, off, size) == PDDGPU_MAP_FAILED && errno == EINVAL);
	CHECK(pddgpu_close(fd) == 0);
	CHECK_EQ(p[5], (unsigned char)(5 * 7 + 2));
	CHECK(pddgpu_munmap(p, size) == 0);
	puts("ok");
	return 0;
}
