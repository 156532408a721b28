"""desktune bench on a DPO config: desktune's DPO races the TRL DPO recipe (DPOTrainer + the same LoRA) on the same
pairs, and one judge scores both."""

import contextlib
import io
import json

import pytest
from conftest import write_jsonl
from test_preference_train import easy_pairs

from desktune.cli import main


@pytest.fixture(scope="module")
def raced(tiny_models, tmp_path_factory):
    """A dozen pairs, 3 held out, 8 trained on by each recipe; (the JSON results, the work folder)."""
    pytest.importorskip("trl", reason="the TRL DPO recipe needs pip install desktune[bench]")
    folder = tmp_path_factory.mktemp("bench-dpo")
    data = write_jsonl(folder / "pairs.jsonl", easy_pairs(12))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["bench", f"model={tiny_models['llama']}", f"data.train={data}", "data.eval=0.25",
                     "train.objective=dpo", "--examples", "8", "--against", "trl", "--json", "--work",
                     str(folder / "work")])
    assert code == 0
    text = out.getvalue()
    return json.loads(text[text.index("{"):]), folder / "work"


def test_desktune_dpo_races_the_trl_dpo_recipe_on_equal_tokens(raced):
    from desktune.cli.bench import table

    results, _ = raced
    ours, theirs = results["desktune"], results["trl"]
    # the same pairs through the same chat template: prompt + chosen and prompt + rejected, on both sides
    assert ours["real_tokens"] == theirs["real_tokens"] > 0
    for r in (ours, theirs):
        assert r["tokens_per_s"] > 0 and r["peak_memory_gb"] > 0 and 0 < r["mfu"] < 1
        assert 0 <= r["heldout_reward_accuracy"] <= 1 and "heldout_loss" not in r
    assert ours["seconds"] >= ours["reference_seconds"] >= 0  # desktune's reference pass counts as training time
    shown = table(results, "dpo")
    assert "reward acc" in shown and "trl: the TRL DPO recipe" in shown


def test_the_judge_scores_one_adapter_alike_whichever_recipe_side_loads_it(raced, tiny_models):
    """The adapter desktune trained, scored again as the TRL recipe scores its own (plain transformers + PEFT, the
    tokenizer saved for the recipes), gives what the bench reported for it through desktune's run loader."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from desktune.bench.dpo import judge

    results, work = raced
    model = AutoModelForCausalLM.from_pretrained(tiny_models["llama"], dtype=torch.float32)
    model = PeftModel.from_pretrained(model, str(work / "desktune" / "adapter"))
    again = judge(model, AutoTokenizer.from_pretrained(work / "tokenizer"), str(work / "eval.jsonl"), 0.1)
    ours = results["desktune"]
    assert again["heldout_reward_accuracy"] == ours["heldout_reward_accuracy"]
    assert again["heldout_reward_margin"] == pytest.approx(ours["heldout_reward_margin"], abs=1e-6)
    assert ours["heldout_reward_margin"] != 0  # a trained adapter, not the base scored against itself


@pytest.mark.parametrize("settings, said", [
    (["train.objective=dpo", "--against", "hf-full"], "the HF Trainer full fine-tune is an SFT recipe"),
    (["train.objective=dpo", "--against", "trl,hf-full"], "train.objective=dpo races the TRL DPO recipe"),
    (["train.objective=orpo", "--against", "trl"], "no recipe races train.objective=orpo"),
    (["train.objective=dpo", "method=full", "--against", "trl"], "method=full has none"),
])
def test_a_race_the_objective_has_no_recipe_for_is_refused_in_one_line(tiny_models, tmp_path, capsys, settings, said):
    data = write_jsonl(tmp_path / "pairs.jsonl", easy_pairs(12))
    assert main(["bench", f"model={tiny_models['llama']}", f"data.train={data}", *settings,
                 "--work", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith("error: ") and sum(line.startswith("error: ") for line in lines) == 1
    assert said in err and "hint: " in err and "Traceback" not in err
    assert not (tmp_path / "work").exists()  # refused before anything was written
