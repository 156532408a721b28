from pathlib import Path

import pytest

from desktune.cli import main
from desktune.config import load_config
from desktune.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parent.parent / "desktune" / "examples"


def test_defaults_yaml_and_overrides_layer_in_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 1e-3\n  epochs: 2\ndata:\n  max_length: 256\n")
    cfg = load_config(str(path), ["train.lr=5e-5", "data.packing=false"])
    assert cfg.train.lr == 5e-5 and cfg.train.epochs == 2.0
    assert cfg.data.max_length == 256 and cfg.data.packing is False
    assert cfg.model == "builtin:gemma-3-270m"


def test_unknown_key_names_the_closest_valid_key():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["train.learning_rte=1e-4"])
    assert "train.learning_rte" in e.value.message
    with pytest.raises(ConfigError) as e:
        load_config(None, ["trian.lr=1e-4"])
    assert "train.lr" in e.value.hint


def test_wrong_type_and_bad_choice_are_refused():
    with pytest.raises(ConfigError, match="data.max_length must be int"):
        load_config(None, ["data.max_length=long"])
    with pytest.raises(ConfigError, match="train.precision must be one of"):
        load_config(None, ["train.precision=fp8"])


def test_yaml_syntax_error_points_at_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: x\ntrain:\n  lr: [1e-4\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+"):
        load_config(str(path))


def test_relative_data_paths_are_taken_from_the_config_folder():
    cfg = load_config(str(EXAMPLES / "persona.yaml"))
    assert Path(cfg.data.train).is_file()


@pytest.mark.parametrize("yaml_file", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(yaml_file):
    load_config(str(yaml_file))


def test_cli_prints_error_and_hint_and_exits_2(capsys, tmp_path):
    code = main(["train", "trian.lr=1e-4", f"output={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: command line: unknown config key 'trian.lr'")
    assert "hint: did you mean 'train.lr'?" in err
    assert "Traceback" not in err
