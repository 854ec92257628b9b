/*
 * Runs the seed snippets against a recording drmIoctl: each call prints the request
 * code and the argument's bytes in hex, and answers with a handle, so the Rust test
 * can check what the snippets send and that the handle comes back out.
 */
#include <stdio.h>
#include <string.h>

#include "pddgpu_drm.h"

unsigned int seed_vram_contiguous_create(int fd);
unsigned int seed_gtt_create(int fd);

static unsigned int next_handle = 1;

int drmIoctl(int fd, unsigned long request, void *arg)
{
	struct drm_pddgpu_gem_create create;
	const unsigned char *bytes = (const unsigned char *)arg;
	size_t i;

	printf("ioctl fd=%d request=0x%lx arg=", fd, request);
	for (i = 0; i < sizeof(create); i++)
		printf("%02x", bytes[i]);
	printf("\n");

	memcpy(&create, arg, sizeof(create));
	create.handle = next_handle++;
	memcpy(arg, &create, sizeof(create));
	return 0;
}

int main(void)
{
	printf("handle %u\n", seed_vram_contiguous_create(3));
	printf("handle %u\n", seed_gtt_create(3));
	return 0;
}
