/* Small assertion helpers shared by the C tests: a failed check prints where and why
 * and exits 1. */
#ifndef PDDGPU_TEST_CHECK_H
#define PDDGPU_TEST_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK(%s) failed (errno %d)\n", \
				__FILE__, __LINE__, #cond, errno);             \
			exit(1);                                               \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		unsigned long long a_ = (unsigned long long)(a);               \
		unsigned long long b_ = (unsigned long long)(b);               \
		if (a_ != b_) {                                                \
			fprintf(stderr, "%s:%d: %s == %llu, expected %s == %llu\n", \
				__FILE__, __LINE__, #a, a_, #b, b_);           \
			exit(1);                                               \
		}                                                              \
	} while (0)

/* The call fails with -1 and the given errno. */
#define CHECK_ERRNO(call, err)                                                 \
	do {                                                                   \
		errno = 0;                                                     \
		int r_ = (call);                                               \
		if (r_ != -1 || errno != (err)) {                              \
			fprintf(stderr, "%s:%d: %s returned %d errno %d, expected -1 errno %d\n", \
				__FILE__, __LINE__, #call, r_, errno, (err));  \
			exit(1);                                               \
		}                                                              \
	} while (0)

#define MIB (1024ull * 1024ull)

#endif
