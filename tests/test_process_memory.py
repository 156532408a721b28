"""A training process's own memory on Linux: with glibc's mmap threshold fixed (desktune.hardware.heap), blocks
under 32 MiB come from malloc's heap from the start, larger ones are mapped apart; and the peak it reports is its
own, not the RSS of the process that started it."""

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's malloc on Linux")

WHERE = """
import sys, torch
from desktune.hardware.heap import fix_mmap_threshold
from desktune.hardware.pages import mapping_name
if sys.argv[1] == "on":
    assert fix_mmap_threshold()
in_heap = lambda t: mapping_name(t.data_ptr(), t.data_ptr() + 1) == "[heap]"
print(in_heap(torch.ones(4 << 20)), in_heap(torch.ones(16 << 20)))  # 16 MiB, then 64 MiB
"""


def from_heap(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", WHERE, mode], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_blocks_under_32_mib_come_from_the_heap_from_the_first_step():
    assert from_heap("off") == ["False", "False"]  # glibc by itself: mapped apart until frees raise its threshold
    assert from_heap("on") == ["True", "False"]  # fixed: below 32 MiB from the heap, above it mapped apart


@pytest.mark.skipif(platform.system() != "Linux", reason="Linux carries a parent's peak into ru_maxrss")
def test_peak_memory_is_the_programs_own_not_its_parents():
    ballast = bytearray(800 * 2**20)  # 800 MiB resident in this process when it starts the next one
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    probe = "from desktune.hardware.detect import peak_memory_gb; print(peak_memory_gb('cpu'))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert float(done.stdout) < 0.5
    del ballast
