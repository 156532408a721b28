"""Give a memory-mapped weight's pages back to the operating system once the weight has been copied.

A safetensors checkpoint is memory-mapped: every weight read stays resident (and counts in the process's
memory) until the whole file is unmapped, which happens only when the last weight of it is freed. Converting
the frozen base to bf16 would otherwise hold the fp32 file and its bf16 copy at once.
"""

import ctypes
import platform

MADV_DONTNEED = 4
PAGE = 4096


def release_pages(tensor) -> None:
    """Drop the pages under a contiguous CPU tensor that lies in a file mapping (Linux); anything else is left
    alone. The tensor stays readable: a later read faults its pages back in from the file. Call it only on a
    tensor nothing will write to again (an edited page of a private mapping would revert to the file)."""
    if platform.system() != "Linux" or tensor.device.type != "cpu" or not tensor.is_contiguous():
        return
    start = tensor.data_ptr()
    end = start + tensor.numel() * tensor.element_size()
    first, last = -(-start // PAGE) * PAGE, end // PAGE * PAGE
    if last > first and _in_a_file_mapping(first, last):
        _libc().madvise(first, last - first, MADV_DONTNEED)


def _in_a_file_mapping(start: int, end: int) -> bool:
    """Whether [start, end) lies inside one mapping of a regular file ([heap], anonymous memory: no)."""
    name = mapping_name(start, end)
    return bool(name) and name.startswith("/") and not name.endswith("(deleted)")


def mapping_name(start: int, end: int) -> str | None:
    """The name /proc/self/maps gives the one mapping that holds [start, end): a file's path, "[heap]", "" for
    anonymous memory; None where no single mapping holds it."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            low, high = (int(x, 16) for x in fields[0].split("-"))
            if low <= start and end <= high:
                return fields[5].rstrip() if len(fields) == 6 else ""
    return None


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc
