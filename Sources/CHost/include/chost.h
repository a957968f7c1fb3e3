// Non-variadic wrappers for host calls Swift cannot call directly (syscall(2) and ioctl(2) are variadic).
#ifndef CHOST_H
#define CHOST_H
#include <stdint.h>
/// syscall(2) with six arguments; returns the result or -errno.
int64_t chost_syscall6(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
#endif
