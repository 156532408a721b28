"""Releasing a memory-mapped weight's pages gives the memory back and loses nothing."""

import platform

import pytest
import torch
from safetensors.torch import load_file, save_file

from desktune.hardware.pages import release_pages

pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="page release is Linux-only")


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def test_a_mapped_weight_leaves_memory_and_keeps_its_values(tmp_path):
    weight = torch.randn(64, 1024, 1024)  # 256 MB
    save_file({"w": weight}, tmp_path / "w.safetensors")
    expected = weight.sum().item()
    del weight
    mapped = load_file(tmp_path / "w.safetensors")["w"]  # memory-mapped, like a checkpoint from_pretrained loads
    assert mapped.sum().item() == expected  # every page read: resident now
    before = _resident_mb()
    release_pages(mapped)
    assert before - _resident_mb() > 250
    assert mapped.sum().item() == expected  # read back from the file


def test_ordinary_memory_is_left_as_it_is():
    tensor = torch.arange(1 << 22, dtype=torch.float32)  # 16 MB of anonymous memory: dropping it would zero it
    release_pages(tensor)
    release_pages(tensor[::2])  # not contiguous: ignored
    assert torch.equal(tensor, torch.arange(1 << 22, dtype=torch.float32))
