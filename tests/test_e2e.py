"""The real built-in Gemma 3 270M, offline: conversion, a short training run, and an adapter PEFT loads."""

import json

import pytest
import torch

from desktune.cli import main
from desktune.runs import RunDir

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gemma_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("e2e") / "run"
    assert main(["train", f"output={run}", "train.max_steps=6", "train.eval_every=6", "--samples=1"]) == 0
    return run


def test_builtin_model_is_cached_with_the_gemma_chat_template():
    from desktune.models.builtin import builtin_folder

    folder = builtin_folder("gemma-3-270m")
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "gemma3_text" and "quantization_config" not in config
    assert "<start_of_turn>" in (folder / "chat_template.jinja").read_text()


def test_short_run_lowers_held_out_loss(gemma_run):
    summary = json.loads(RunDir(gemma_run).summary.read_text())
    assert summary["eval_loss_end"] < 0.8 * summary["eval_loss_start"]


def test_adapter_loads_with_plain_peft_and_matches_desktune(gemma_run):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from desktune.infer.generate import load_run

    config = json.loads((gemma_run / "adapter" / "adapter_config.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(config["base_model_name_or_path"], dtype=torch.float32)
    plain = PeftModel.from_pretrained(base, gemma_run / "adapter").eval()
    ours, chat = load_run(RunDir(gemma_run))
    ids = torch.tensor([chat.prompt_ids([{"role": "user", "content": "Why do cats purr?"}])])
    with torch.no_grad():
        assert torch.allclose(plain(ids).logits, ours(ids).logits, atol=1e-4)


def test_generate_streams_an_answer(gemma_run, capsys):
    assert main(["generate", str(gemma_run), "--prompt", "Why do cats purr?", "--max-new-tokens", "24"]) == 0
    assert len(capsys.readouterr().out.split()) >= 3


@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_tuned_builtin_exports_to_gguf_that_llama_cpp_runs_alike(gemma_run, quant):
    out = gemma_run / f"gguf-{quant}"
    assert main(["export", str(gemma_run), "--quant", quant, "--out", str(out)]) == 0
    check = json.loads((out / "verify.json").read_text())
    assert check["same_tokenization"] == 5 and check["passed"]
    if quant == "f16":  # q8_0 parts from transformers at near-ties on this barely tuned model (passed checks where)
        assert check["full_matches"] >= 4 and check["head_matches"] == 5


def test_transformers_reads_the_exported_builtin_back(gemma_run):
    from transformers import AutoModelForCausalLM

    from desktune.infer.generate import load_run

    read = AutoModelForCausalLM.from_pretrained(gemma_run / "gguf-f16", gguf_file="model-f16.gguf",
                                                dtype=torch.float32).eval()
    ours, chat = load_run(RunDir(gemma_run))
    ids = torch.tensor([chat.prompt_ids([{"role": "user", "content": "Why do cats purr?"}])])
    with torch.no_grad():
        a, b = ours(ids).logits[0], read(ids).logits[0]
    assert torch.equal(a.argmax(-1), b.argmax(-1))
    assert (a - b).abs().max() < 0.02 * a.abs().max()  # f16 weights
