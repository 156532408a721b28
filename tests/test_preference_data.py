"""Preference rows as people write them: the three shapes, every file type, and the errors a bad row gets."""

import csv
import json

import pytest
from conftest import write_jsonl

from desktune.cli import main
from desktune.config.schema import DataConfig
from desktune.data.preference import load_pairs, read_pair

PROMPT, CHOSEN = "How do I boil an egg?", "Boil it for seven minutes."
REJECTED = "Well, eggs are a long story, and it all begins with a hen long ago."
USER = {"role": "user", "content": PROMPT}
SYSTEM = {"role": "system", "content": "Be brief."}
GOOD = {"role": "assistant", "content": CHOSEN}
BAD = {"role": "assistant", "content": REJECTED}

SHAPES = {
    "strings": {"prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED},
    "conversational": {"prompt": [USER], "chosen": [GOOD], "rejected": [BAD]},
    "whole conversations": {"chosen": [USER, GOOD], "rejected": [USER, BAD]},
    "prompt and whole conversations": {"prompt": PROMPT, "chosen": [USER, GOOD], "rejected": [USER, BAD]},
}


@pytest.fixture(scope="module")
def chat(tiny_models):
    from desktune.data.template import ChatFormat
    from desktune.models.load import load_tokenizer, resolve

    return ChatFormat(load_tokenizer(resolve(str(tiny_models["llama"]))), "auto", "llama")


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_reads_as_the_same_pair(shape):
    assert read_pair(SHAPES[shape], "f.jsonl:1") == ([USER], [GOOD], [BAD])


def test_a_shared_multi_turn_prompt_is_found_and_its_earlier_answer_does_not_train(chat, tmp_path):
    earlier = [SYSTEM, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}, USER]
    row = {"chosen": earlier + [GOOD], "rejected": earlier + [BAD]}
    assert read_pair(row, "f:1") == (earlier, [GOOD], [BAD])
    (pair,), _ = load_pairs(str(write_jsonl(tmp_path / "p.jsonl", [row])), chat, DataConfig())
    start = len(chat.prompt_ids(earlier))
    for side, answer in ((pair.chosen, CHOSEN), (pair.rejected, REJECTED)):
        assert side.ids[:start] == pair.chosen.ids[:start], "both sides start with the same prompt tokens"
        assert not any(side.trained[:start]) and all(side.trained[start:start + 3]), "only the answer trains"
        trained = chat.tokenizer.decode([i for i, t in zip(side.ids, side.trained) if t])
        assert trained.startswith(answer) and "Hello." not in trained


def test_file_types_give_the_same_encoded_pairs(chat, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"prompt": f"{PROMPT} ({i})", "chosen": CHOSEN, "rejected": REJECTED} for i in range(3)]
    files = [write_jsonl(tmp_path / "p.jsonl", rows), tmp_path / "p.json", tmp_path / "p.csv", tmp_path / "p.parquet"]
    files[1].write_text(json.dumps(rows))
    with open(files[2], "w", newline="") as f:
        writer = csv.DictWriter(f, ["prompt", "chosen", "rejected"])
        writer.writeheader()
        writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), files[3])
    encoded = []
    for f in files:
        pairs, stats = load_pairs(str(f), chat, DataConfig())
        assert stats["formats"] == {"preference": 3}
        encoded.append([(p.chosen, p.rejected) for p in pairs])
    assert all(e == encoded[0] for e in encoded)


@pytest.mark.parametrize("row, message", [
    ({"prompt": PROMPT, "chosen": CHOSEN}, "the pair has no 'rejected' answer"),
    ({"prompt": PROMPT, "chosen": " ", "rejected": REJECTED}, "the pair has no 'chosen' answer"),
    ({"prompt": PROMPT, "chosen": CHOSEN, "rejected": CHOSEN + " "}, "chosen and rejected are identical"),
    ({"chosen": [USER, GOOD], "rejected": [{"role": "user", "content": "Another question"}, BAD]},
     "the prompt differs between chosen and rejected (turn 1, user)"),
    ({"prompt": "Something else", "chosen": [USER, GOOD], "rejected": [USER, BAD]},
     "'prompt' is not the conversation that chosen and rejected start with"),
    ({"chosen": CHOSEN, "rejected": REJECTED}, "the pair has no prompt"),
])
def test_a_bad_row_is_one_error_line_with_file_and_line(tiny_models, tmp_path, capsys, row, message):
    good = SHAPES["strings"]
    data = write_jsonl(tmp_path / "pairs.jsonl", [good, good | {"prompt": "Why?"}, row])
    assert main(["data", "check", str(data), "--model", str(tiny_models["llama"])]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith("error: ") and err[1].startswith("hint: ")
    assert f"{data}:3: {message}" in err[0]
    run = tmp_path / "run"  # training stops on it before the run folder exists
    assert main(["train", f"model={tiny_models['llama']}", f"data.train={data}", f"output={run}",
                 "train.objective=dpo"]) == 2
    assert f"{data}:3: {message}" in capsys.readouterr().err and not run.exists()


def test_data_check_reports_pairs_and_the_lengths_of_each_side(tiny_models, tmp_path, capsys):
    rows = [SHAPES["strings"], SHAPES["conversational"] | {"prompt": "Why?"}]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    assert main(["data", "check", str(data), "--model", str(tiny_models["llama"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["formats"] == {"preference": 2} and report["pairs"]["train"] == 2
    chosen, rejected = report["pairs"]["chosen_tokens"], report["pairs"]["rejected_tokens"]
    assert chosen["max"] < rejected["max"] and report["pairs"]["chosen_longer"] == 0
    assert report["example"].startswith("chosen: ") and "\nrejected: " in report["example"]
    assert main(["data", "check", str(data), "--model", str(tiny_models["llama"])]) == 0
    assert "pairs         2; tokens per prompt" in capsys.readouterr().out


def test_sft_on_pairs_and_dpo_on_chat_rows_are_refused_with_the_fix(tiny_models, tmp_path, capsys):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [SHAPES["strings"]] * 4)
    chats = write_jsonl(tmp_path / "chats.jsonl", [{"messages": [USER, GOOD]}] * 4)
    common = [f"model={tiny_models['llama']}", f"output={tmp_path / 'run'}"]
    assert main(["train", *common, f"data.train={pairs}"]) == 2
    err = capsys.readouterr().err
    assert f"{pairs}:1: a preference pair" in err and "train.objective=dpo" in err
    assert main(["train", *common, f"data.train={chats}", "train.objective=orpo"]) == 2
    err = capsys.readouterr().err
    assert f"{chats}:1: not a preference pair" in err and '"chosen"' in err



def test_plan_counts_both_sequences_of_a_pair_and_the_reference_pass(tiny_models, chat, tmp_path, capsys):
    from desktune.config import load_config
    from desktune.data.dataset import prepare_data
    from desktune.models.load import load_model_config, resolve
    from desktune.plan.device import DeviceProfile
    from desktune.train.autoplan import make_plan

    rows = [SHAPES["strings"] | {"prompt": f"{PROMPT} ({i})"} for i in range(16)]
    pairs = write_jsonl(tmp_path / "pairs.jsonl", rows)
    chosen = write_jsonl(tmp_path / "chosen.jsonl", [{"prompt": r["prompt"], "completion": CHOSEN} for r in rows])
    slow = DeviceProfile("cpu", "slow", 8e9, 0.001, False)  # compute, not overheads, sets the times
    model_config = load_model_config(resolve(str(tiny_models["llama"])))
    plans = {}
    for name, data in (("sft", chosen), ("dpo", pairs), ("orpo", pairs)):
        cfg = load_config(None, [f"data.train={data}", f"train.objective={name}"])
        _, dataset = prepare_data(cfg, chat.tokenizer, "llama")
        plans[name] = make_plan(cfg, model_config, dataset.train, None, "fp32", device=slow).to_dict()
    assert "objective" not in plans["sft"] and plans["dpo"]["sequences_per_example"] == 2
    assert plans["dpo"]["seconds_per_step"] > 2 * plans["sft"]["seconds_per_step"], "two sequences, a longer answer"
    assert plans["dpo"]["reference_pass_seconds"] > 0 and plans["orpo"]["reference_pass_seconds"] == 0
    assert plans["dpo"]["total_minutes"] > plans["orpo"]["total_minutes"]
    assert main(["plan", f"model={tiny_models['llama']}", f"data.train={pairs}", "train.objective=dpo"]) == 0
    assert "the reference's log-probabilities are computed once before step 1" in capsys.readouterr().out
