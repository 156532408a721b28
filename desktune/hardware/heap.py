"""The C heap under CPU training on Linux. glibc's malloc serves blocks below its mmap threshold (which grows to
32 MB as large blocks are freed) from heaps that keep freed memory for reuse: a step's activations and gradients,
freed and allocated again at other sizes, leave holes that grow the process by ~0.7 GB on the built-in with
1024-token rows. A fixed threshold sends every large tensor to its own mapping, handed back when it is freed."""

import ctypes
import platform

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
LARGE_BLOCK = 1 << 20  # bytes: blocks this large or larger are mapped apart, and unmapped when freed


def return_freed_blocks() -> bool:
    """Make freed large blocks go back to the system at once; False where the C library is not glibc."""
    if platform.system() != "Linux":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries: nothing to set
        return False
    return mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK) == 1
