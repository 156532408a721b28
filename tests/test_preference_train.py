"""DPO and ORPO runs on a tiny model through the CLI: rewards that rise, the reference, resume, plain-PEFT loading."""

import json

import pytest
import torch
from conftest import example_rows, write_jsonl
from safetensors.torch import load_file

from desktune.cli import main
from desktune.runs import RunDir

REWARDS = {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"}
STEPS = 16


def easy_pairs(n: int = 40) -> list[dict]:
    """Chosen answers open with "Aye", rejected ones with "Nay": one token to learn to prefer."""
    rows = []
    for row in example_rows(n):
        question, answer = (next(m["content"] for m in row["messages"] if m["role"] == r) for r in ("user", "assistant"))
        first = answer.split("! ", 1)[-1].split(".")[0] + "."
        rows.append({"prompt": question, "chosen": f"Aye. {first}", "rejected": f"Nay. {first}"})
    return rows


def dpo_args(model, data, out, *extra):
    return ["train", f"model={model}", f"data.train={data}", f"output={out}", "train.objective=dpo", "data.eval=0.2",
            f"train.max_steps={STEPS}", "train.batch_size=4", "train.lr=5e-3", "train.eval_every=4",
            "train.save_every=2", "train.early_stopping=0", "train.precision=fp32", "--samples=0", *extra]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("pref") / "pairs.jsonl", easy_pairs())


@pytest.fixture(scope="module")
def dpo_run(tiny_models, data, tmp_path_factory):
    run = tmp_path_factory.mktemp("dpo") / "run"
    assert main(dpo_args(tiny_models["llama"], data, run, "train.report_to=tensorboard")) == 0
    return RunDir(run)


def records(run) -> list[dict]:
    return [json.loads(line) for line in run.metrics.read_text().splitlines()]


def pair_logps(model, pairs) -> torch.Tensor:
    """[pairs, 2] summed answer log-probabilities, one pair per row, in fp32."""
    from desktune.data.preference import pack_pairs
    from desktune.train.forward import sequence_logps

    with torch.no_grad():
        return torch.stack([sequence_logps(model, row, "cpu", 2)[0] for row, _ in pack_pairs(pairs, 4096, False)])


def held_out_pairs(run):
    from desktune.config import load_config
    from desktune.data.dataset import dataset_for
    from desktune.infer.generate import load_run

    model, chat = load_run(run)
    return model, dataset_for(load_config(str(run.config)), chat)


def test_rewards_are_logged_and_the_chosen_answer_comes_to_win(dpo_run):
    logged = records(dpo_run)
    assert [r["step"] for r in logged] == list(range(1, STEPS + 1))
    assert all(REWARDS <= r.keys() for r in logged)
    evals = [r for r in logged if "eval_loss" in r]
    assert [r["step"] for r in evals] == [4, 8, 12, 16]
    assert all({f"eval_{k}" for k in REWARDS} <= r.keys() for r in evals)
    # step 1: the policy is its own reference, so DPO's part is log 2; the default dpo.nll adds 0.2 x the chosen NLL
    assert logged[0]["loss"] == pytest.approx(0.6931 + 0.2 * logged[0]["nll_loss"], abs=1e-3)
    assert logged[0]["rewards/accuracies"] == 0 and sum(r["rewards/accuracies"] for r in logged[-4:]) / 4 >= 0.75
    assert evals[-1]["eval_rewards/accuracies"] >= 0.75 and evals[-1]["eval_rewards/margins"] > 0
    summary = json.loads(dpo_run.summary.read_text())
    assert summary["eval_loss_start"] > 0.6931 > evals[-1]["eval_loss"] - 0.2 * evals[-1]["eval_nll_loss"]
    assert summary["eval_rewards"]["rewards/accuracies"] >= 0.75
    assert "dpo, beta 0.1, plus 0.2 x the chosen answers' token loss" in dpo_run.decisions()["objective"]


def test_report_tensorboard_and_ui_show_the_rewards(dpo_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from desktune.report.summary import write_report
    from desktune.ui import series

    write_report(dpo_run)
    report = dpo_run.report_md.read_text()
    assert "| held-out preference |" in report and "chosen wins" in report
    events = EventAccumulator(str(dpo_run.tensorboard)).Reload()
    assert {"train/rewards/accuracies", "train/eval_rewards/margins"} <= set(events.Tags()["scalars"])
    columns = series.columns(records(dpo_run))
    assert columns["rewards/accuracies"][-1] == records(dpo_run)[-1]["rewards/accuracies"]
    assert columns["eval_rewards/accuracies"][3] is not None and columns["eval_rewards/accuracies"][0] is None


def test_the_reference_is_the_model_with_the_adapter_off(dpo_run):
    model, data = held_out_pairs(dpo_run)
    saved = load_file(dpo_run.checkpoints / f"step-{STEPS:06d}" / "reference.safetensors")
    with model.disable_adapter():
        off = pair_logps(model, data.train)
    assert torch.allclose(saved["train"], off, atol=1e-4)
    assert not torch.allclose(pair_logps(model, data.train), off, atol=1e-2), "the tuned model moved away from it"


def held_out_dpo_loss(policy: torch.Tensor, reference: torch.Tensor, pairs: list) -> float:
    """The held-out loss as defined with the defaults: mean DPO loss (beta 0.1) + 0.2 x the chosen answers' mean
    token NLL (dpo.nll)."""
    from desktune.train.objectives import dpo_losses

    dpo = dpo_losses(policy[:, 0], policy[:, 1], reference[:, 0], reference[:, 1], 0.1)[0].mean()
    return (dpo + 0.2 * -policy[:, 0].sum() / sum(sum(p.chosen.trained) for p in pairs)).item()


def test_the_adapter_alone_loaded_with_plain_peft_is_the_tuned_model(dpo_run, tiny_models):
    """Its held-out DPO loss, computed from plain PEFT and the base, is the one training logged for it."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    _, data = held_out_pairs(dpo_run)
    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_models["llama"]),
                                      dpo_run.adapter).eval()
    policy = pair_logps(plain, data.eval)
    with plain.disable_adapter():
        reference = pair_logps(plain, data.eval)
    loss = held_out_dpo_loss(policy, reference, data.eval)
    assert loss == pytest.approx(json.loads(dpo_run.summary.read_text())["best_eval_loss"], abs=1e-4)


def test_sft_then_dpo_continues_the_sft_adapter_against_its_outputs(tiny_models, data, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    sft_data = write_jsonl(tmp_path / "sft.jsonl", example_rows(40))
    sft = tmp_path / "sft"
    assert main(["train", f"model={tiny_models['llama']}", f"data.train={sft_data}", f"output={sft}", "lora.r=4",
                 "train.max_steps=4", "train.batch_size=4", "train.lr=1e-2", "--samples=0"]) == 0
    dpo = RunDir(tmp_path / "dpo")
    assert main(dpo_args(tiny_models["llama"], data, dpo.path, f"init_from={sft}", "train.max_steps=6")) == 0
    assert dpo.read_config()["lora"]["r"] == 4, "the adapter is the SFT run's, trained further"

    def plain(adapter):
        return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_models["llama"]), adapter).eval()

    _, pairs = held_out_pairs(dpo)
    saved = load_file(dpo.checkpoints / "step-000006" / "reference.safetensors")
    sft_logps = pair_logps(plain(sft / "adapter"), pairs.eval)
    assert torch.allclose(saved["eval"], sft_logps, atol=1e-4), "the reference is the SFT adapter's outputs"
    policy = pair_logps(plain(dpo.adapter), pairs.eval)
    loss = held_out_dpo_loss(policy, sft_logps, pairs.eval)
    assert loss == pytest.approx(json.loads(dpo.summary.read_text())["best_eval_loss"], abs=1e-4)


def test_orpo_learns_the_chosen_answer_without_a_reference(tiny_models, data, tmp_path):
    run = RunDir(tmp_path / "orpo")
    args = [a.replace("objective=dpo", "objective=orpo") for a in dpo_args(tiny_models["llama"], data, run.path)]
    assert main(args) == 0
    logged = records(run)
    assert all(REWARDS | {"nll_loss", "log_odds_ratio"} <= r.keys() for r in logged)
    assert logged[-1]["loss"] < logged[0]["loss"] and logged[-1]["nll_loss"] < logged[0]["nll_loss"]
    assert logged[-1]["rewards/accuracies"] == 1.0 and logged[-1]["rewards/margins"] > logged[0]["rewards/margins"]
    assert not list(run.checkpoints.glob("*/reference.safetensors")), "orpo has no reference"
    assert "orpo" in run.decisions()["objective"]


def test_sigkill_then_resume_ends_at_the_same_adapter(tiny_models, data, dpo_run, tmp_path):
    from test_resume import kill_when, launch

    run = tmp_path / "killed"
    args = dpo_args(tiny_models["llama"], data, run, "train.report_to=tensorboard")[1:]
    proc = launch(args)
    assert kill_when(proc, lambda: (run / "checkpoints" / "step-000006").exists()), "killed mid-run"
    assert not (run / "summary.json").exists()
    assert main(["train", *args, "--resume"]) == 0
    ours, ref = records(RunDir(run)), records(dpo_run)
    assert [r["step"] for r in ours] == list(range(1, STEPS + 1))
    assert all(abs(a["loss"] - b["loss"]) < 1e-5 for a, b in zip(ours, ref))
    a, b = load_file(run / "adapter" / "adapter_model.safetensors"), load_file(dpo_run.adapter / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


@pytest.mark.parametrize("setting, message", [
    ("init_from=RUNS/nowhere", "init_from: RUNS/nowhere not found"),
    ("init_from=RUNS", "holds no adapter"),
    ("dpo.beta=0", "dpo.beta=0 must be above 0"),
    ("dpo.nll=-1", "dpo.nll=-1 must be 0 or above"),
])
def test_bad_preference_settings_are_one_error(tiny_models, data, tmp_path, capsys, setting, message):
    setting, message = setting.replace("RUNS", str(tmp_path)), message.replace("RUNS", str(tmp_path))
    assert main(dpo_args(tiny_models["llama"], data, tmp_path / "run", setting)) == 2
    err = capsys.readouterr().err
    assert message in err and "hint: " in err and not (tmp_path / "run").exists()
