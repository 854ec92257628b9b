/*
 * pddgpu_drm.h after drm.h: the DRM core items come from drm.h, and the request codes
 * are the same as with the header alone (checked against literal values).
 */
#include "drm.h"
#include "pddgpu_drm.h"

_Static_assert(DRM_IOCTL_GEM_CLOSE == 0x40086409UL, "GEM_CLOSE");
_Static_assert(DRM_IOCTL_PDDGPU_GEM_CREATE == 0xC0206440UL, "GEM_CREATE");
_Static_assert(DRM_IOCTL_PDDGPU_GEM_MMAP == 0xC0106441UL, "GEM_MMAP");
_Static_assert(DRM_IOCTL_PDDGPU_GEM_INFO == 0xC0386442UL, "GEM_INFO");
_Static_assert(DRM_IOCTL_PDDGPU_GEM_OP == 0xC0106443UL, "GEM_OP");
_Static_assert(DRM_IOCTL_PDDGPU_INFO == 0xC0686444UL, "INFO");

int main(void)
{
	struct drm_gem_close close_args = { 1, 0 };
	return (int)close_args.pad;
}
