"""One real optimisation run on a tiny model, through the CLI, and what it leaves in the run folder."""

import json

import pytest
import torch

from conftest import example_rows, write_jsonl
from desktune.cli import main
from desktune.runs import RunDir


@pytest.fixture(scope="module")
def tiny_run(tiny_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run-data")
    data = write_jsonl(folder / "persona.jsonl", example_rows(60))
    run = folder / "run"
    args = ["train", f"model={tiny_models['llama']}", f"data.train={data}", f"output={run}", "data.eval=0.2",
            "train.max_steps=24", "train.lr=1e-2", "train.batch_size=8", "train.eval_every=8", "lora.r=8",
            "train.micro_batch_tokens=256", "--samples=1"]
    assert main(args) == 0
    return run, args


def test_loss_falls_and_metrics_are_logged(tiny_run):
    run = RunDir(tiny_run[0])
    records = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 25))
    evals = [r["eval_loss"] for r in records if "eval_loss" in r]
    assert len(evals) == 3
    summary = json.loads(run.summary.read_text())
    assert summary["eval_loss_end"] < summary["eval_loss_start"] - 0.1  # a random tiny model learns slowly
    assert records[-1]["loss"] < records[0]["loss"]
    assert all(r["tokens_per_s"] > 0 and r["memory_gb"] > 0 for r in records)


def test_run_folder_holds_resolved_config_data_report_and_adapter(tiny_run):
    run = RunDir(tiny_run[0])
    config = run.read_config()
    assert config["data"]["template"] == "llama3" and config["train"]["precision"] in ("bf16", "fp32")
    assert "# precision:" in run.config.read_text()
    data = json.loads(run.data_json.read_text())
    assert data["train_examples"] == 48 and data["eval_examples"] == 12 and data["end_of_turn_trained"]
    assert "[[" in data["example"]
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (run.adapter / name).exists(), name
    assert "**tuned:**" in run.samples.read_text()
    assert "train loss" in run.log.read_text()


def test_existing_run_folder_is_not_overwritten(tiny_run, capsys):
    run, args = tiny_run
    before = (run / "adapter" / "adapter_model.safetensors").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "already holds a checkpoint" in err and "--resume" in err and "--overwrite" in err
    assert (run / "adapter" / "adapter_model.safetensors").read_bytes() == before
    bad_model = [a if not a.startswith("model=") else "model=./no/such/model" for a in args]
    assert main(bad_model + ["--overwrite"]) == 2, "a mistake found while loading must not cost the old run"
    assert (run / "adapter" / "adapter_model.safetensors").read_bytes() == before


def test_generate_answers_with_the_adapter(tiny_run, capsys):
    from desktune.infer.generate import Sampling, base_model, generate, load_run

    assert main(["generate", str(tiny_run[0]), "--prompt", "Why is the sky blue?", "--max-new-tokens", "8"]) == 0
    printed = capsys.readouterr().out.strip()
    model, chat = load_run(RunDir(tiny_run[0]))
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    tuned = generate(model, chat, messages, Sampling(max_new_tokens=8))
    with base_model(model, None):
        base = generate(model, chat, messages, Sampling(max_new_tokens=8))
    assert printed == tuned.text != base.text  # the tuned model's greedy answer, not the base's


@pytest.mark.parametrize("argv, message", [
    (["generate", "no/such/run", "--prompt", "hi"], "run folder not found"),
    (["generate", "RUN", "--prompt", "  "], "the prompt is empty"),
])
def test_generate_bad_input(tiny_run, capsys, argv, message):
    argv = [str(tiny_run[0]) if a == "RUN" else a for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_adapter_loads_with_plain_peft_and_matches_desktune(tiny_run, tiny_models):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from desktune.infer.generate import load_run

    adapter = tiny_run[0] / "adapter"
    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_models["llama"]), adapter).eval()
    ours, chat = load_run(RunDir(tiny_run[0]))
    ids = torch.tensor([chat.prompt_ids([{"role": "user", "content": "Why is the sky blue?"}])])
    with torch.no_grad():
        a, b = plain(ids).logits, ours(ids).logits
    assert torch.allclose(a, b, atol=1e-5)
    with torch.no_grad(), plain.disable_adapter():
        assert not torch.allclose(plain(ids).logits, a, atol=1e-3), "the adapter must change the model"


def test_same_data_in_two_formats_trains_identically(tiny_models, tmp_path):
    rows = example_rows(16)
    sharegpt = [{"conversations": [{"from": {"user": "human", "assistant": "gpt"}.get(m["role"], m["role"]),
                                    "value": m["content"]} for m in r["messages"]]} for r in rows]
    losses = []
    for name, data in (("messages", rows), ("sharegpt", sharegpt)):
        path = write_jsonl(tmp_path / f"{name}.jsonl", data)
        run = tmp_path / f"run-{name}"
        assert main(["train", f"model={tiny_models['qwen2']}", f"data.train={path}", f"output={run}",
                     "train.max_steps=3", "train.batch_size=4", "train.lr=1e-2", "--samples=0"]) == 0
        losses.append([json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()])
        assert json.loads((run / "data.json").read_text())["formats"] == {name: 16}
    assert losses[0] == losses[1]


def test_the_forgetting_guard_measures_every_evaluation_and_keeps_the_best_within_budget(tiny_run, tmp_path):
    run = RunDir(tiny_run[0])
    records = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    changes = {r["step"]: r["forgetting_pct"] for r in records if "eval_loss" in r}
    assert len(changes) == 3 and all("forgetting_pct" not in r for r in records if "eval_loss" not in r)
    summary = json.loads(run.summary.read_text())
    assert summary["forgetting_pct"] == changes[summary["best_step"]] <= 10
    assert "within +10%" in run.decisions()["forgetting_guard"]
    assert f"neutral-text perplexity {summary['forgetting_pct']:+.1f}% against the base" in run.report_md.read_text()


def test_an_evaluation_over_the_forgetting_budget_is_never_the_best():
    from desktune.train.state import TrainState

    state = TrainState()
    assert state.record_eval(10, 2.0, 0.0, within_budget=True)
    assert not state.record_eval(20, 1.5, 0.0, within_budget=False)  # lower loss, but forgot too much
    assert (state.best_step, state.best_eval, state.evals_without_gain) == (10, 2.0, 1)
    assert state.record_eval(30, 1.8, 0.0, within_budget=True) and state.best_step == 30


def test_a_score_given_beside_the_eval_loss_judges_the_evaluations():
    from desktune.train.state import TrainState

    state = TrainState()
    assert state.record_eval(10, 0.50, 0.0, score=0.20)
    assert state.record_eval(20, 0.55, 0.0, score=0.15)  # the eval loss rose, the calls' loss fell: kept
    assert not state.record_eval(30, 0.45, 0.0, score=0.16)
    assert (state.best_step, state.best_eval, state.best_score, state.evals_without_gain) == (20, 0.55, 0.15, 1)
    # a state saved before scores existed goes on judging by its best eval loss
    old = TrainState(best_eval=0.5, best_step=10).to_dict()
    del old["best_score"]
    assert not TrainState.from_dict(old).record_eval(20, 0.6, 0.0)
