"""A training process's own memory on Linux: freed blocks between kept tensors go back to the system with
return_freed_blocks() (glibc would keep them, holes in its heap, for reuse: the 0.7 GB that 1024-token rows of the
built-in grew by), and the peak it reports is its own, not the RSS of the process that started it."""

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's malloc on Linux")

HOLES = """
import os, sys, torch
from desktune.hardware.heap import return_freed_blocks
if sys.argv[1] == "on":
    assert return_freed_blocks()
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
torch.ones(1 << 21)  # an 8 MiB block freed at once: glibc raises its mmap threshold above it
before = rss()
blocks = [torch.ones(1 << 19) for _ in range(200)]  # 2 MiB each
del blocks[::2]  # every other one freed: holes between the kept ones
print((rss() - before) / (100 * 2 ** 21))
"""


def held_per_kept(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", HOLES, mode], capture_output=True, text=True, check=True)
    return float(done.stdout)


def test_freed_blocks_between_kept_ones_go_back_to_the_system():
    assert held_per_kept("off") > 1.8  # what glibc does by default: the freed half stays in the process
    assert held_per_kept("on") < 1.1


@pytest.mark.skipif(platform.system() != "Linux", reason="Linux carries a parent's peak into ru_maxrss")
def test_peak_memory_is_the_programs_own_not_its_parents():
    ballast = bytearray(800 * 2**20)  # 800 MiB resident in this process when it starts the next one
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    probe = "from desktune.hardware.detect import peak_memory_gb; print(peak_memory_gb('cpu'))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert float(done.stdout) < 0.5
    del ballast
