//! The PDDGPU uapi: ioctl numbers, structures, domains and flags.
