"""The C heap under CPU training on Linux. glibc's malloc maps blocks at or above its mmap threshold apart and
serves smaller ones from heaps that keep freed memory for reuse. The threshold starts at 128 kB and follows the
frees up to 32 MiB, so a run's behaviour would depend on its history: fixed at 32 MiB here, the largest it reaches.

Measured against the 1 MiB it was fixed at before (the built-in, bf16, 2026-12-06; benchmarks/README.md): each
block of 1 MiB or more was a fresh mapping whose pages the kernel zeroes at first touch (21.8M page faults in four
steps of 2048-token rows, 4.1M at 32 MiB); at 32 MiB those steps took 1.3x less time and the short default sets'
5-9% less, for 0.45 GB more at the peak of 2048-token rows (holes the heap keeps; the plan counts them) and none
measurable on the short sets."""

import ctypes
import platform

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
LARGE_BLOCK = 32 << 20  # bytes: blocks this large or larger are mapped apart, and unmapped when freed


def fix_mmap_threshold() -> bool:
    """Map blocks of LARGE_BLOCK and more apart from the first step on; False where the C library is not glibc."""
    if platform.system() != "Linux":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries: nothing to set
        return False
    return mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK) == 1
