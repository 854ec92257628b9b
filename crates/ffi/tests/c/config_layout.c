/* Prints the layout of struct pddgpu_config as the C compiler sees it. */
#include <stddef.h>
#include <stdio.h>

#include "pddgpu.h"

int main(void)
{
	printf("%zu %zu %zu %zu %zu %zu %zu\n", sizeof(struct pddgpu_config),
	       offsetof(struct pddgpu_config, vram_size),
	       offsetof(struct pddgpu_config, visible_vram_size),
	       offsetof(struct pddgpu_config, gtt_size),
	       offsetof(struct pddgpu_config, sys_mem_size),
	       offsetof(struct pddgpu_config, flags),
	       offsetof(struct pddgpu_config, pad));
	return pddgpu_config_size() == sizeof(struct pddgpu_config) ? 0 : 1;
}
