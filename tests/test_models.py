import pytest

from desktune.errors import ModelError
from desktune.models.load import load_model, load_tokenizer, resolve


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
    with pytest.raises(ModelError, match="could not load model 'nobody/no-such-model'"):
        load_tokenizer(resolve("nobody/no-such-model"))
