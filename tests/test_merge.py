"""desktune merge: a plain transformers folder whose logits equal base + adapter."""

import pytest
import torch

from conftest import example_rows, write_jsonl
from desktune.cli import main
from desktune.runs import RunDir


@pytest.fixture(scope="module")
def run(tiny_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("merge")
    data = write_jsonl(folder / "d.jsonl", example_rows(20))
    out = folder / "run"
    assert main(["train", f"model={tiny_models['gemma3']}", f"data.train={data}", f"output={out}",
                 "train.max_steps=4", "train.lr=1e-2", "train.eval_samples=0", "--samples=0"]) == 0
    return out


def test_merged_model_matches_base_plus_adapter(run, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from desktune.infer.generate import load_run

    assert main(["merge", str(run)]) == 0
    merged_dir = run / "merged"
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    assert AutoTokenizer.from_pretrained(merged_dir).chat_template
    with_adapter, chat = load_run(RunDir(run))
    ids = torch.tensor([chat.prompt_ids([{"role": "user", "content": "Why is the sky blue?"}])])
    with torch.no_grad():
        assert (merged(ids).logits - with_adapter(ids).logits).abs().max() < 1e-4
    assert main(["generate", str(merged_dir), "--prompt", "Hi", "--max-new-tokens", "3"]) == 0


def test_merge_refuses_to_overwrite_and_needs_an_adapter(run, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    assert main(["merge", str(run), "--out", str(tmp_path / "taken")]) == 2
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert main(["merge", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "has no trained adapter" in err
