"""Give a tensor's memory pages back to the operating system once the tensor is no longer needed.

A safetensors checkpoint is memory-mapped: every weight read stays resident (and counts in the process's
memory) until the whole file is unmapped, which happens only when the last weight of it is freed. Converting
the frozen base to bf16 would otherwise hold the fp32 file and its bf16 copy at once.
"""

import ctypes
import platform

MADV_PAGEOUT = 21  # Linux 5.4+: reclaim the pages now. Non-destructive: a later read faults them back in.


def release_pages(tensor) -> None:
    """Ask Linux to reclaim the whole pages under a contiguous CPU tensor; elsewhere, or if refused, nothing."""
    if platform.system() != "Linux" or tensor.device.type != "cpu" or not tensor.is_contiguous():
        return
    page = 4096
    start = tensor.data_ptr()
    end = start + tensor.numel() * tensor.element_size()
    first, last = -(-start // page) * page, end // page * page
    if last > first:
        _libc().madvise(first, last - first, MADV_PAGEOUT)  # an old kernel says EINVAL: memory stays, harmless


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc
