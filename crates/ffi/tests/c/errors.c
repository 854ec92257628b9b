/* Every malformed request fails with its errno and changes nothing. */
#include "pddgpu.h"
#include "check.h"

static int fd;

static struct drm_pddgpu_memory_info meminfo(void)
{
	struct drm_pddgpu_info i = { .query = PDDGPU_INFO_MEMORY };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_INFO, &i) == 0);
	return i.memory;
}

static void create_fails(uint64_t size, uint64_t align, uint32_t domain, uint64_t flags,
			 int err)
{
	struct drm_pddgpu_gem_create c = {
		.size = size, .alignment = align, .domain = domain, .flags = flags,
		.handle = 77,
	};
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_CREATE, &c), err);
	CHECK_EQ(c.handle, 77); /* nothing copied back */
}

int main(void)
{
	struct pddgpu_config cfg = {
		.vram_size = 64 * MIB, .visible_vram_size = 16 * MIB, .gtt_size = 64 * MIB,
	};
	fd = pddgpu_open(&cfg);
	CHECK(fd >= 0);
	const uint32_t V = PDDGPU_GEM_DOMAIN_VRAM;

	create_fails(0, 0, V, 0, EINVAL);                         /* size 0 */
	create_fails(4096, 0, V, 1ull << 40, EINVAL);             /* unknown flag */
	create_fails(4096, 0, V, PDDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED |
			     PDDGPU_GEM_CREATE_NO_CPU_ACCESS, EINVAL); /* conflicting */
	create_fails(4096, 3 * 4096, V, 0, EINVAL);               /* bad alignment */
	create_fails(4096, 0, 0, 0, EINVAL);                      /* empty domain */
	create_fails(4096, 0, 0x8, 0, EINVAL);                    /* unknown domain */
	create_fails(UINT64_MAX, 0, V, 0, EINVAL);                /* overflows */
	create_fails(128 * MIB, 0, V, 0, EINVAL);                 /* larger than VRAM */
	/* Fits VRAM's size but not its free space: ENOMEM (upstream's answer). */
	struct drm_pddgpu_gem_create big = { .size = 48 * MIB, .domain = V,
		.flags = PDDGPU_GEM_CREATE_NO_CPU_ACCESS };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_CREATE, &big) == 0);
	struct drm_pddgpu_gem_op pin = { .handle = big.handle, .op = PDDGPU_GEM_OP_PIN,
					 .value = V };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_OP, &pin) == 0);
	create_fails(32 * MIB, 0, V, 0, ENOMEM);
	pin.op = PDDGPU_GEM_OP_UNPIN;
	pin.value = 0;
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_OP, &pin) == 0);
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_OP, &pin), EINVAL); /* not pinned */
	struct drm_gem_close cl = { .handle = big.handle };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &cl) == 0);
	CHECK_EQ(meminfo().vram.heap_usage, 0);

	/* The first successful create still gets handle... the next value, not a gap. */
	struct drm_pddgpu_gem_create c = { .size = 4096, .domain = V };
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_CREATE, &c) == 0);
	CHECK_EQ(c.handle, 2);

	/* Handles: stale, foreign, zero. */
	cl.handle = c.handle;
	CHECK(pddgpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &cl) == 0);
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &cl), ENOENT); /* stale */
	struct drm_pddgpu_gem_info gi = { .handle = c.handle };
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_INFO, &gi), ENOENT);
	gi.handle = 0;
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_INFO, &gi), ENOENT);
	int other = pddgpu_open_file(fd);
	CHECK(other >= 0 && other != fd);
	struct drm_pddgpu_gem_create oc = { .size = 4096, .domain = V };
	CHECK(pddgpu_ioctl(other, DRM_IOCTL_PDDGPU_GEM_CREATE, &oc) == 0);
	CHECK_EQ(oc.handle, 1);
	gi.handle = 1;
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_INFO, &gi), ENOENT); /* foreign */
	struct drm_pddgpu_gem_mmap mm = { .handle = 1 };
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_MMAP, &mm), ENOENT);
	mm.pad = 1;
	mm.handle = oc.handle;
	CHECK_ERRNO(pddgpu_ioctl(other, DRM_IOCTL_PDDGPU_GEM_MMAP, &mm), EINVAL); /* pad */

	/* GEM_OP and INFO arguments. */
	struct drm_pddgpu_gem_op op = { .handle = oc.handle, .op = 99 };
	CHECK_ERRNO(pddgpu_ioctl(other, DRM_IOCTL_PDDGPU_GEM_OP, &op), EINVAL);
	op.op = PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN;
	op.value = 0;
	CHECK_ERRNO(pddgpu_ioctl(other, DRM_IOCTL_PDDGPU_GEM_OP, &op), EINVAL);
	struct drm_pddgpu_info qi = { .query = 42 };
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_INFO, &qi), EINVAL);

	/* Request codes, fds and pointers. */
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOWR(DRM_COMMAND_BASE + 0x10,
					      struct drm_pddgpu_gem_op), &op), EINVAL);
	CHECK_ERRNO(pddgpu_ioctl(fd, 0x5401 /* TCGETS */, &op), ENOTTY);
	CHECK_ERRNO(pddgpu_ioctl(fd, DRM_IOCTL_PDDGPU_GEM_CREATE, NULL), EFAULT);
	CHECK_ERRNO(pddgpu_ioctl(1000, DRM_IOCTL_PDDGPU_GEM_CREATE, &c), EBADF);
	CHECK_ERRNO(pddgpu_ioctl(-1, DRM_IOCTL_PDDGPU_GEM_CREATE, &c), EBADF);
	CHECK_ERRNO(pddgpu_close(1000), EBADF);
	struct pddgpu_config bad = { .pad = 1 };
	CHECK_ERRNO(pddgpu_open(&bad), EINVAL);
	bad = (struct pddgpu_config){ .flags = 0x80 };
	CHECK_ERRNO(pddgpu_open(&bad), EINVAL);

	CHECK_EQ(meminfo().vram.heap_usage, 4096);
	CHECK(pddgpu_close(other) == 0);
	CHECK_EQ(meminfo().vram.heap_usage, 0);
	CHECK_ERRNO(pddgpu_close(other), EBADF);
	CHECK(pddgpu_close(fd) == 0);
	puts("ok");
	return 0;
}
