"""Model cards: README.md in adapter/, merged/ and export/ that huggingface_hub parses, whose front matter the Hub
reads, and whose snippet loads the model as written."""

import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import example_rows, write_jsonl
from huggingface_hub import ModelCard, ModelCardData

from desktune.cli import main
from desktune.report.card import card_text, write_tuned_card
from desktune.report.card_base import base_of
from desktune.runs import RunDir

HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


@pytest.fixture(scope="module")
def run(tiny_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("card")
    data = write_jsonl(folder / "d.jsonl", example_rows(20))
    out = folder / "run"
    assert main(["train", f"model={tiny_models['llama']}", f"data.train={data}", f"output={out}",
                 "train.max_steps=4", "train.lr=1e-2", "train.eval_samples=0", "--samples=0"]) == 0
    return RunDir(out)


@pytest.fixture(scope="module")
def finished(run, tmp_path_factory):
    """A copy of the run after desktune eval, merge and export (the card of each refreshed or written)."""
    copy = RunDir(shutil.copytree(run.path, tmp_path_factory.mktemp("finished") / "run"))
    assert main(["eval", str(copy.path), "--samples", "2", "--max-new-tokens", "8"]) == 0
    assert main(["merge", str(copy.path)]) == 0
    assert main(["export", str(copy.path), "--no-verify"]) == 0
    return copy


def load_card(folder) -> ModelCard:
    card = ModelCard.load(folder / "README.md")
    ModelCardData(**card.data.to_dict())  # the front matter passes huggingface_hub's own checks again
    return card


def hub_rules(meta: dict) -> None:
    """The Hub's reading of a model card's metadata: known keys, base_model an id (a path is refused)."""
    assert meta["pipeline_tag"] == "text-generation" and "desktune" in meta["tags"]
    assert set(meta) <= {"base_model", "library_name", "pipeline_tag", "tags", "license", "datasets"}
    assert "base_model" not in meta or HUB_ID.fullmatch(meta["base_model"])


def python_block(card: ModelCard) -> str:
    return re.search(r"```python\n(.*?)```", card.text, re.S)[1]


def test_training_writes_a_card_in_place_of_peft_template(run):
    card = load_card(run.adapter)
    meta = card.data.to_dict()
    hub_rules(meta)
    assert meta["library_name"] == "peft" and "lora" in meta["tags"]
    assert "base_model" not in meta and "license" not in meta  # a local folder without a card: neither is known
    assert "More Information Needed" not in card.text  # PEFT's empty template is gone
    decisions, data = run.decisions(), json.loads(run.data_json.read_text())
    assert decisions and all(reason in card.text for reason in decisions.values())  # every auto decision, and why
    assert f"{data['train_examples']} train, {data['eval_examples']} held out" in card.text
    assert str(data["train_tokens"]) in card.text and "desktune eval" in card.text
    answers = [m["content"] for row in example_rows(20) for m in row["messages"] if m["role"] == "assistant"]
    assert not any(a[:40] in card.text for a in answers)  # never the data itself


def test_the_cards_snippet_loads_the_adapter(run, tiny_models):
    card = load_card(run.adapter)
    code = python_block(card)
    assert f'base = "{tiny_models["llama"]}"' in code  # the base the card names is the one trained on
    check = "\nfrom peft import PeftModel\nassert isinstance(model, PeftModel)\nprint('LOADED', type(model).__name__)"
    done = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "LOADED PeftModelForCausalLM" in done.stdout


def test_eval_merge_and_export_cards(finished):
    result = json.loads(finished.eval_json.read_text())
    adapter = load_card(finished.adapter)
    assert f"| held-out loss | {result['held_out']['base']['loss']:.4f} | {result['held_out']['tuned']['loss']:.4f} |" \
           in adapter.text
    assert "Sample answers" in adapter.text and result["samples"][0]["prompt"][:30] in adapter.text
    merged = load_card(finished.merged)
    assert merged.data.library_name == "transformers" and "held-out loss" in merged.text
    code = python_block(merged) + "\nprint('LOADED', type(model).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "LOADED LlamaForCausalLM" in done.stdout, done.stderr
    gguf = load_card(finished.export)
    hub_rules(gguf.data.to_dict())
    assert gguf.data.library_name == "gguf" and "llama-cli -m model-f16.gguf" in gguf.text
    assert "ollama create run -f Modelfile" in gguf.text and "not checked against llama.cpp" in gguf.text


def with_config(run, tmp_path, **changes) -> RunDir:
    """A copy of the run whose config.yaml says something else (model, data) — what the card reads."""
    copy = RunDir(shutil.copytree(run.path, tmp_path / "run"))
    cfg = copy.read_config()
    for key, value in changes.items():
        section, _, name = key.rpartition(".")
        (cfg[section] if section else cfg)[name] = value
    copy.config.write_text(yaml.safe_dump(cfg))
    return copy


def test_builtin_card_names_the_converted_folder_and_gemma_license(run, tmp_path, monkeypatch):
    monkeypatch.setenv("DESKTUNE_CACHE", str(tmp_path / "cache"))
    copy = with_config(run, tmp_path, model="builtin:gemma-3-270m")
    card = ModelCard(card_text(copy, copy.adapter, "adapter"))
    assert card.data.base_model == "google/gemma-3-270m" and card.data.license == "gemma"
    folder = tmp_path / "cache" / "models" / "gemma-3-270m"
    assert f'base = "{folder}"' in python_block(card)
    assert f"`base` in the snippet is that folder, `{folder}`" in card.text  # and the card says what that folder is


def test_license_and_hub_id_of_local_and_hub_bases(tiny_models, tmp_path):
    base = shutil.copytree(tiny_models["llama"], tmp_path / "hub" / "models--acme--tiny" / "snapshots" / "abc")
    (base / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n")
    local = base_of(str(base))
    assert (local.hub_id, local.license, local.path) == ("acme/tiny", "apache-2.0", str(base))
    hub = base_of("Qwen/Qwen2.5-0.5B")
    assert (hub.hub_id, hub.license, hub.path) == ("Qwen/Qwen2.5-0.5B", None, "Qwen/Qwen2.5-0.5B")  # not fetched


def test_hub_datasets_are_named(run, tmp_path):
    copy = with_config(run, tmp_path, **{"data.train": "hf:acme/chats:train", "model": "Qwen/Qwen2.5-0.5B"})
    card = ModelCard(card_text(copy, copy.adapter, "adapter", repo_id="alice/chat-adapter"))
    hub_rules(card.data.to_dict())
    assert card.data.datasets == ["acme/chats"] and card.data.base_model == "Qwen/Qwen2.5-0.5B"
    assert 'adapter = "alice/chat-adapter"' in python_block(card)  # pushed: it loads from the repo


def test_rewriting_the_card_keeps_the_rest_of_the_adapter(run):
    before = {p.name: p.read_bytes() for p in run.adapter.iterdir() if p.name != "README.md"}
    write_tuned_card(run)
    assert {p.name: p.read_bytes() for p in run.adapter.iterdir() if p.name != "README.md"} == before
    assert not list(run.adapter.glob(".README.md*"))  # no temp file left behind


def test_a_full_fine_tunes_card_is_in_its_model_folder(tiny_models, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", example_rows(12))
    out = tmp_path / "full"
    assert main(["train", f"model={tiny_models['qwen2']}", f"data.train={data}", f"output={out}", "method=full",
                 "train.max_steps=2", "train.eval_samples=0", "--samples=0"]) == 0
    card = load_card(out / "model")
    hub_rules(card.data.to_dict())
    assert card.data.library_name == "transformers" and "full" in card.data.tags
    code = python_block(card) + "\nprint('LOADED', type(model).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "LOADED Qwen2ForCausalLM" in done.stdout, done.stderr
