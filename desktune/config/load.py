"""Build a Config from defaults < YAML file < key=value overrides, with errors that name the key."""

import dataclasses
import difflib
from pathlib import Path

import yaml

from desktune.config.schema import Config
from desktune.errors import ConfigError


def all_keys(obj=None, prefix: str = "") -> dict[str, dataclasses.Field]:
    """Every dotted key of the schema, mapped to its dataclass field."""
    obj = obj if obj is not None else Config()
    keys = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            keys.update(all_keys(value, f"{prefix}{f.name}."))
        else:
            keys[prefix + f.name] = f
    return keys


def load_config(path: str | None = None, overrides: list[str] = ()) -> Config:
    """Resolve the config; relative data paths in a YAML file are taken relative to that file."""
    cfg = Config()
    if path:
        for key, value in _flatten(_read_yaml(path)).items():
            _set(cfg, key, value, where=path)
        _anchor_paths(cfg, Path(path).parent)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{item}' is not key=value", "write it like train.lr=1e-4")
        _set(cfg, key.strip(), yaml.safe_load(raw) if raw else "", where="command line")
    return cfg


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def _read_yaml(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {path}", "give the path to a YAML file, or no file for the example")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', e)})",
                          "check indentation and quoting on that line") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file", "save the config as UTF-8 YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys", "write it like 'model: builtin:gemma-3-270m'")
    return data


def _flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _set(cfg: Config, key: str, value, where: str) -> None:
    keys = all_keys(cfg)
    if key not in keys:
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else "see the keys in desktune/examples/persona.yaml"
        raise ConfigError(f"{where}: unknown config key '{key}'", hint)
    f = keys[key]
    value = _coerce(key, value, f)
    target = cfg
    for part in key.split(".")[:-1]:
        target = getattr(target, part)
    setattr(target, f.name, value)


def _coerce(key: str, value, f: dataclasses.Field):
    kind = type(f.default)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    elif kind is str and isinstance(value, bool) and "off" in (f.metadata.get("choices") or ()):
        value = "on" if value else "off"  # YAML reads a bare on/off as a boolean
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    elif kind is float and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if value is None or type(value) is not kind:
        raise ConfigError(f"{key} must be {kind.__name__}, got {value!r}", f"{key}: {f.metadata['help']}")
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}", f"{key}: {f.metadata['help']}")
    return value


def _anchor_paths(cfg: Config, base: Path) -> None:
    for attr in ("train", "eval"):
        value = getattr(cfg.data, attr)
        if value and not _is_fraction(value) and not Path(value).is_absolute() and not Path(value).exists():
            candidate = base / value
            if candidate.exists():
                setattr(cfg.data, attr, str(candidate))


def _is_fraction(value: str) -> bool:
    try:
        return 0 <= float(value) < 1
    except ValueError:
        return False


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """'key old -> new' for every dotted key whose value differs between two config dicts."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} {a!r} -> {b!r}")
    return out
