"""Everything after a DPO run works on its result: eval (pairs, base vs tuned), generate, merge, export + check."""

import json

import pytest
import torch
from conftest import write_jsonl
from test_preference_train import easy_pairs

from desktune.cli import main
from desktune.runs import RunDir


@pytest.fixture(scope="module")
def run(tiny_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pref-after")
    data = write_jsonl(folder / "pairs.jsonl", easy_pairs())
    out = folder / "run"
    assert main(["train", f"model={tiny_models['qwen2']}", f"data.train={data}", f"output={out}", "data.eval=0.2",
                 "train.objective=dpo", "train.max_steps=12", "train.batch_size=4", "train.lr=1e-2",
                 "train.eval_every=6", "train.eval_samples=0", "--samples=1"]) == 0
    return RunDir(out)


def test_eval_compares_base_and_tuned_on_the_held_out_pairs(run, capsys):
    assert main(["eval", str(run.path), "--samples", "1"]) == 0
    out = capsys.readouterr().out
    result = json.loads(run.eval_json.read_text())
    pref = result["preference"]
    assert pref["pairs"] == 8 and result["examples"] == 8
    assert pref["tuned"]["accuracy"] > pref["base"]["accuracy"] and pref["tuned"]["margin"] > pref["base"]["margin"]
    kept = json.loads(run.summary.read_text())["eval_rewards"]  # base = the reference here: the same rewards
    assert pref["against_base"]["accuracy"] == pytest.approx(kept["rewards/accuracies"], abs=1e-6)
    assert pref["against_base"]["margin"] == pytest.approx(kept["rewards/margins"], abs=2e-2)  # bf16 in training
    assert "held-out pairs (8)" in out and "neutral English text" in out
    assert "chosen answers of 8 pairs" in out and result["neutral_text"]["tuned"]["perplexity"] > 0


def test_generate_merge_and_export_take_the_run(run, capsys):
    from transformers import AutoModelForCausalLM

    from desktune.infer.generate import Sampling, generate, load_run

    assert main(["generate", str(run.path), "--prompt", "What is recycling?", "--max-new-tokens", "6"]) == 0
    model, chat = load_run(run)
    messages = [{"role": "user", "content": "What is recycling?"}]
    assert capsys.readouterr().out.strip() == generate(model, chat, messages, Sampling(max_new_tokens=6)).text
    assert main(["merge", str(run.path)]) == 0
    merged = AutoModelForCausalLM.from_pretrained(run.merged, dtype=torch.float32).eval()
    ids = torch.tensor([chat.prompt_ids(messages)])
    with torch.no_grad():
        assert (merged(ids).logits - model(ids).logits).abs().max() < 1e-4
    out = run.path / "gguf"
    assert main(["export", str(run.path), "--out", str(out)]) == 0
    assert json.loads((out / "verify.json").read_text())["passed"]
