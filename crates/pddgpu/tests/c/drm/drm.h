/*
 * A stand-in for libdrm's drm.h, reduced to the items pddgpu_drm.h also defines: its
 * include guard, its types and its encoding (from <sys/ioctl.h>). It checks that
 * pddgpu_drm.h included after drm.h reuses drm.h's definitions instead of clashing.
 */
#ifndef _DRM_H_
#define _DRM_H_

#include <linux/types.h>
#include <sys/ioctl.h>

#define DRM_IOCTL_BASE 'd'
#define DRM_IOW(nr, type) _IOW(DRM_IOCTL_BASE, nr, type)
#define DRM_IOWR(nr, type) _IOWR(DRM_IOCTL_BASE, nr, type)

struct drm_gem_close {
	__u32 handle;
	__u32 pad;
};

#define DRM_IOCTL_GEM_CLOSE DRM_IOW(0x09, struct drm_gem_close)
#define DRM_COMMAND_BASE 0x40
#define DRM_COMMAND_END 0xA0

#endif
