/*
 * Prints the C compiler's view of pddgpu_drm.h: the size and alignment of every
 * structure, the offset and size of every field, and the value of every constant and
 * request code, one "kind name value..." line each. The Rust test compares the lines
 * with the Rust definitions. Builds as C11 and as C++11.
 */
#include "pddgpu_drm.h"

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
#define ALIGNOF(t) alignof(t)
#define STATIC_ASSERT(e, msg) static_assert(e, msg)
#else
#define ALIGNOF(t) _Alignof(t)
#define STATIC_ASSERT(e, msg) _Static_assert(e, msg)
#endif

#define SIZE(s)                                                                \
	printf("size %s %zu\nalign %s %zu\n", #s, sizeof(struct s), #s,        \
	       (size_t)ALIGNOF(struct s))
#define FIELD(s, f)                                                            \
	printf("field %s.%s %zu %zu\n", #s, #f, offsetof(struct s, f),         \
	       sizeof(((struct s *)0)->f))
#define CONST(c) printf("const %s %llu\n", #c, (unsigned long long)(c))

#ifdef __linux__
/*
 * The header's own _IOC encoding must equal the C library's. Included after the
 * header, so the header cannot have used it.
 */
#include <sys/ioctl.h>
STATIC_ASSERT(DRM_IOCTL_GEM_CLOSE == _IOW('d', 0x09, struct drm_gem_close),
	      "GEM_CLOSE");
STATIC_ASSERT(DRM_IOCTL_PDDGPU_GEM_CREATE ==
		      _IOWR('d', 0x40, struct drm_pddgpu_gem_create),
	      "GEM_CREATE");
STATIC_ASSERT(DRM_IOCTL_PDDGPU_GEM_MMAP ==
		      _IOWR('d', 0x41, struct drm_pddgpu_gem_mmap),
	      "GEM_MMAP");
STATIC_ASSERT(DRM_IOCTL_PDDGPU_GEM_INFO ==
		      _IOWR('d', 0x42, struct drm_pddgpu_gem_info),
	      "GEM_INFO");
STATIC_ASSERT(DRM_IOCTL_PDDGPU_GEM_OP ==
		      _IOWR('d', 0x43, struct drm_pddgpu_gem_op),
	      "GEM_OP");
STATIC_ASSERT(DRM_IOCTL_PDDGPU_INFO == _IOWR('d', 0x44, struct drm_pddgpu_info),
	      "INFO");
#endif

int main(void)
{
	SIZE(drm_gem_close);
	FIELD(drm_gem_close, handle);
	FIELD(drm_gem_close, pad);

	SIZE(drm_pddgpu_gem_create);
	FIELD(drm_pddgpu_gem_create, size);
	FIELD(drm_pddgpu_gem_create, alignment);
	FIELD(drm_pddgpu_gem_create, domain);
	FIELD(drm_pddgpu_gem_create, handle);
	FIELD(drm_pddgpu_gem_create, flags);

	SIZE(drm_pddgpu_gem_mmap);
	FIELD(drm_pddgpu_gem_mmap, handle);
	FIELD(drm_pddgpu_gem_mmap, pad);
	FIELD(drm_pddgpu_gem_mmap, offset);

	SIZE(drm_pddgpu_gem_info);
	FIELD(drm_pddgpu_gem_info, handle);
	FIELD(drm_pddgpu_gem_info, pad);
	FIELD(drm_pddgpu_gem_info, size);
	FIELD(drm_pddgpu_gem_info, alignment);
	FIELD(drm_pddgpu_gem_info, flags);
	FIELD(drm_pddgpu_gem_info, gpu_offset);
	FIELD(drm_pddgpu_gem_info, domain);
	FIELD(drm_pddgpu_gem_info, preferred_domain);
	FIELD(drm_pddgpu_gem_info, pin_count);
	FIELD(drm_pddgpu_gem_info, map_count);

	SIZE(drm_pddgpu_gem_op);
	FIELD(drm_pddgpu_gem_op, handle);
	FIELD(drm_pddgpu_gem_op, op);
	FIELD(drm_pddgpu_gem_op, value);

	SIZE(drm_pddgpu_heap_info);
	FIELD(drm_pddgpu_heap_info, total_heap_size);
	FIELD(drm_pddgpu_heap_info, usable_heap_size);
	FIELD(drm_pddgpu_heap_info, heap_usage);
	FIELD(drm_pddgpu_heap_info, max_allocation);

	SIZE(drm_pddgpu_memory_info);
	FIELD(drm_pddgpu_memory_info, vram);
	FIELD(drm_pddgpu_memory_info, cpu_accessible_vram);
	FIELD(drm_pddgpu_memory_info, gtt);

	SIZE(drm_pddgpu_info);
	FIELD(drm_pddgpu_info, query);
	FIELD(drm_pddgpu_info, pad);
	FIELD(drm_pddgpu_info, memory);

	CONST(DRM_IOCTL_BASE);
	CONST(DRM_COMMAND_BASE);
	CONST(DRM_COMMAND_END);
	CONST(DRM_IOCTL_GEM_CLOSE);

	CONST(DRM_PDDGPU_GEM_CREATE);
	CONST(DRM_PDDGPU_GEM_MMAP);
	CONST(DRM_PDDGPU_GEM_INFO);
	CONST(DRM_PDDGPU_GEM_OP);
	CONST(DRM_PDDGPU_INFO);
	CONST(DRM_PDDGPU_NUM_IOCTLS);

	CONST(DRM_IOCTL_PDDGPU_GEM_CREATE);
	CONST(DRM_IOCTL_PDDGPU_GEM_MMAP);
	CONST(DRM_IOCTL_PDDGPU_GEM_INFO);
	CONST(DRM_IOCTL_PDDGPU_GEM_OP);
	CONST(DRM_IOCTL_PDDGPU_INFO);

	CONST(PDDGPU_PAGE_SIZE);

	CONST(PDDGPU_GEM_DOMAIN_CPU);
	CONST(PDDGPU_GEM_DOMAIN_GTT);
	CONST(PDDGPU_GEM_DOMAIN_VRAM);
	CONST(PDDGPU_GEM_DOMAIN_MASK);

	CONST(PDDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED);
	CONST(PDDGPU_GEM_CREATE_NO_CPU_ACCESS);
	CONST(PDDGPU_GEM_CREATE_VRAM_CLEARED);
	CONST(PDDGPU_GEM_CREATE_TOPDOWN);
	CONST(PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS);
	CONST(PDDGPU_GEM_CREATE_VRAM_WIPE_ON_RELEASE);
	CONST(PDDGPU_GEM_CREATE_FLAGS_MASK);

	CONST(PDDGPU_GEM_INVALID_OFFSET);

	CONST(PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN);
	CONST(PDDGPU_GEM_OP_PIN);
	CONST(PDDGPU_GEM_OP_UNPIN);

	CONST(PDDGPU_INFO_MEMORY);
	return 0;
}
