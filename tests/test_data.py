"""Readers, formats, and every kind of bad input: one clear 'FILE:LINE: what' error each."""

import json

import pytest

from conftest import write_jsonl
from desktune.cli import main
from desktune.config import load_config
from desktune.data.dataset import load_examples
from desktune.data.template import ChatFormat
from desktune.errors import DataError
from desktune.models.load import load_tokenizer, resolve

CONVERSATIONS = [
    ("Why is the sky blue?", "Ahoy! Blue light scatters most. Fair winds!"),
    ("How far is the Moon?", "Ahoy there! About 384,000 kilometres. Fair winds!"),
]
FORMATS = {
    "messages": lambda q, a: {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]},
    "sharegpt": lambda q, a: {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]},
    "alpaca": lambda q, a: {"instruction": q, "input": "", "output": a},
    "prompt_completion": lambda q, a: {"prompt": q, "completion": a},
}


@pytest.fixture
def chat(tiny_models):
    return ChatFormat(load_tokenizer(resolve(str(tiny_models["gemma3"]))), "auto", "gemma3_text")


def data_cfg(*overrides):
    return load_config(None, list(overrides)).data


def encoded(spec, chat, *overrides):
    examples, stats = load_examples(str(spec), chat, data_cfg(*overrides))
    return [(e.encoded.ids, e.encoded.trained) for e in examples], stats


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_gives_the_same_tokens_and_labels(tmp_path, chat, fmt):
    reference, _ = encoded(write_jsonl(tmp_path / "m.jsonl", [FORMATS["messages"](q, a) for q, a in CONVERSATIONS]), chat)
    got, stats = encoded(write_jsonl(tmp_path / f"{fmt}.jsonl", [FORMATS[fmt](q, a) for q, a in CONVERSATIONS]), chat)
    assert stats["formats"] == {fmt: 2}
    assert got == reference


def test_content_as_openai_text_parts_reads_as_the_text(tmp_path, chat):
    parts = lambda text: [{"type": "text", "text": text[:3]}, {"type": "text", "text": text[3:]}]  # noqa: E731
    rows = [{"messages": [{"role": "user", "content": parts(q)}, {"role": "assistant", "content": parts(a)}]}
            for q, a in CONVERSATIONS]
    reference, _ = encoded(write_jsonl(tmp_path / "m.jsonl", [FORMATS["messages"](q, a) for q, a in CONVERSATIONS]), chat)
    assert encoded(write_jsonl(tmp_path / "parts.jsonl", rows), chat)[0] == reference


def test_json_csv_and_parquet_readers_agree(tmp_path, chat):
    rows = [FORMATS["prompt_completion"](q, a) for q, a in CONVERSATIONS]
    reference, _ = encoded(write_jsonl(tmp_path / "a.jsonl", rows), chat)
    (tmp_path / "b.json").write_text(json.dumps(rows))
    (tmp_path / "c.csv").write_text('prompt,completion\n' + "".join(f'"{q}","{a}"\n' for q, a in CONVERSATIONS))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    for name in ("b.json", "c.csv", "d.parquet"):
        assert encoded(tmp_path / name, chat)[0] == reference, name


def test_folder_and_glob_read_every_file(tmp_path, chat):
    write_jsonl(tmp_path / "one.jsonl", [FORMATS["messages"](*CONVERSATIONS[0])])
    write_jsonl(tmp_path / "two.jsonl", [FORMATS["messages"](*CONVERSATIONS[1])])
    assert len(encoded(tmp_path, chat)[0]) == 2
    assert len(encoded(tmp_path / "*.jsonl", chat)[0]) == 2


def test_text_files_split_on_blank_lines_or_per_file(tmp_path, chat):
    path = tmp_path / "notes.txt"
    path.write_text("First document,\ntwo lines.\n\n\nSecond document.\n")
    docs, stats = encoded(path, chat)
    assert len(docs) == 2 and stats["formats"] == {"text": 2}
    ids, trained = docs[0]
    assert ids[-1] == chat.tokenizer.eos_token_id and trained[-1], "documents end with a trained EOS"
    assert not trained[0] and all(trained[1:])
    assert len(encoded(path, chat, "data.text_split=file")[0]) == 1


def test_bom_and_crlf_are_accepted(tmp_path, chat):
    rows = [json.dumps(FORMATS["messages"](q, a)) for q, a in CONVERSATIONS]
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    plain = write_jsonl(tmp_path / "plain.jsonl", [json.loads(r) for r in rows])
    assert encoded(path, chat)[0] == encoded(plain, chat)[0]


def test_eos_trains_even_when_pad_is_eos(tmp_path, chat):
    chat.tokenizer.pad_token = chat.tokenizer.eos_token
    (tmp_path / "t.txt").write_text("Just text.")
    ids, trained = encoded(tmp_path / "t.txt", chat)[0][0]
    assert ids[-1] == chat.tokenizer.pad_token_id and trained[-1]


def test_too_long_examples_are_truncated_or_dropped_and_counted(tmp_path, chat):
    path = write_jsonl(tmp_path / "d.jsonl", [FORMATS["messages"](q, a * 20) for q, a in CONVERSATIONS])
    docs, stats = encoded(path, chat, "data.max_length=40")
    assert stats["truncated"] == 2 and all(len(ids) == 40 for ids, _ in docs)
    with pytest.raises(DataError, match="no usable examples"):
        encoded(path, chat, "data.max_length=40", "data.too_long=drop")


msg = lambda *turns: {"messages": [{"role": r, "content": c} for r, c in turns]}  # noqa: E731
GOOD = json.dumps(msg(("user", "hi"), ("assistant", "Ahoy!")))
BAD_ROWS = {
    "invalid JSON": ('{"messages": [', ":2: invalid JSON"),
    "wrong row type": ('["a list"]', ":2: expected a JSON object"),
    "unknown keys": ('{"question": "hi", "answer": "yo"}', ":2: unknown row format"),
    "missing content": (json.dumps({"messages": [{"role": "user"}]}), ":2: messages[0] needs 'role' and 'content'"),
    "unknown role": (json.dumps(msg(("user", "hi"), ("bot", "yo"))), ":2: messages[1] has unknown role 'bot'"),
    "non-string content": (json.dumps({"messages": [{"role": "user", "content": 5}]}), ":2: messages[0] (user) has empty or non-text"),
    "empty content": (json.dumps(msg(("user", "hi"), ("assistant", "  "))), ":2: messages[1] (assistant) has empty"),
    "no assistant": (json.dumps(msg(("user", "hi"),)), ":2: no assistant turn"),
    "assistant first": (json.dumps(msg(("assistant", "yo"), ("user", "hi"), ("assistant", "x"))), ":2: the gemma chat template rejects it"),
    "same role twice": (json.dumps(msg(("user", "hi"), ("user", "hi"), ("assistant", "x"))), ":2: the gemma chat template rejects it"),
    "mixed formats": (json.dumps({"prompt": "hi", "completion": "yo"}), ":2: mixed formats"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_rows_are_named_by_file_and_line(tmp_path, chat, case):
    line, expected = BAD_ROWS[case]
    path = tmp_path / "bad.jsonl"
    path.write_text(GOOD + "\n" + line + "\n")
    with pytest.raises(DataError) as e:
        encoded(path, chat)
    assert f"{path}{expected}" in e.value.message and e.value.hint


@pytest.mark.parametrize("content, expected", [
    (b"", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary data"),
    (GOOD.encode() + b'\n{"messages": "caf\xe9"}\n', ":2: bytes that are not UTF-8"),
    (b'{"messages": "' + b"x" * 50_000_000 + b'"}\n', ":1: a line of 50,000,016 characters is too long"),
])
def test_bad_files_are_refused_clearly(tmp_path, chat, content, expected):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=expected):
        encoded(path, chat)


def test_json_top_level_must_be_a_list(tmp_path, chat):
    (tmp_path / "d.json").write_text(json.dumps({"data": [{"messages": []}]}, indent=2))
    with pytest.raises(DataError, match="the top level is dict, not a list"):
        encoded(tmp_path / "d.json", chat)


def test_skip_invalid_skips_and_counts(tmp_path, chat):
    path = tmp_path / "d.jsonl"
    path.write_text(GOOD + "\n" + BAD_ROWS["unknown role"][0] + "\n" + BAD_ROWS["no assistant"][0] + "\n")
    with pytest.raises(DataError, match=r"and 1 more rows"):
        encoded(path, chat)
    docs, stats = encoded(path, chat, "data.skip_invalid=true")
    assert len(docs) == 1 and stats["skipped_invalid"] == 2 and ":2:" in stats["problems"][0]


def test_forced_format_refuses_other_rows(tmp_path, chat):
    path = write_jsonl(tmp_path / "d.jsonl", [FORMATS["alpaca"](*CONVERSATIONS[0])])
    with pytest.raises(DataError, match="not in data.format=messages"):
        encoded(path, chat, "data.format=messages")


def test_hub_dataset_without_network_or_library_fails_clearly(chat):
    with pytest.raises(DataError, match="hub dataset|needs the datasets library"):
        encoded("hf:nobody/no-such-dataset:train", chat)


def test_data_check_reports_and_fails_on_bad_rows(tmp_path, tiny_models, capsys):
    path = tmp_path / "d.jsonl"
    path.write_text(GOOD + "\n" + BAD_ROWS["unknown role"][0] + "\n")
    model = f"--model={tiny_models['gemma3']}"
    assert main(["data", "check", str(path), model]) == 2
    out, err = capsys.readouterr()
    assert "examples      1 of 2 rows" in out and "[[Ahoy!<end_of_turn>" in out
    assert "error: 1 invalid rows, the first:" in err and f"{path}:2:" in err
    assert main(["data", "check", str(path), model, "--skip-invalid", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["skipped_invalid"] == 1 and report["end_of_turn_trained"]


@pytest.mark.parametrize("name", ["persona.jsonl.txt", "persona.txt", "persona", "persona.data", "persona.json"])
def test_json_lines_is_read_by_content_whatever_the_suffix(tmp_path, chat, name):
    rows = [FORMATS["sharegpt"](q, a) for q, a in CONVERSATIONS]
    expected, _ = encoded(write_jsonl(tmp_path / "ref.jsonl", rows), chat)
    got, stats = encoded(write_jsonl(tmp_path / name, rows), chat)
    assert got == expected
    assert list(stats["read_as"].values()) == [f"JSON Lines (by content; {'no suffix' if '.' not in name else 'suffix ' + repr(name[name.rindex('.'):])})"]


def test_a_json_list_in_a_txt_file_is_json_and_prose_stays_text(tmp_path, chat):
    rows = [FORMATS["alpaca"](q, a) for q, a in CONVERSATIONS]
    (tmp_path / "list.txt").write_text(json.dumps(rows, indent=2))
    expected, _ = encoded(write_jsonl(tmp_path / "ref.jsonl", rows), chat)
    assert encoded(tmp_path / "list.txt", chat)[0] == expected
    (tmp_path / "prose.txt").write_text("[Verse 1]\nThe sea is wide.\n\n{Chorus} and the sky is blue.\n")
    got, stats = encoded(tmp_path / "prose.txt", chat)
    assert len(got) == 2 and list(stats["read_as"].values()) == ["plain text"]


def test_a_file_that_starts_like_json_but_is_not_is_refused_with_a_way_out(tmp_path, chat):
    path = tmp_path / "notes.txt"
    path.write_text('{"messages": [{"role": "user", "content": "Hi"}\n{"oops"\n')
    with pytest.raises(DataError, match=r"notes.txt:\d+: the file starts like JSON but is not valid JSON") as e:
        encoded(path, chat)
    assert "data.format=text" in e.value.hint
    got, stats = encoded(path, chat, "data.format=text")
    assert len(got) == 1 and list(stats["read_as"].values()) == ["plain text"]


def test_data_check_says_how_it_read_the_file(tmp_path, tiny_models, capsys):
    path = write_jsonl(tmp_path / "chats.jsonl.txt", [FORMATS["messages"](q, a) for q, a in CONVERSATIONS])
    assert main(["data", "check", str(path), f"--model={tiny_models['gemma3']}"]) == 0
    out = capsys.readouterr().out
    assert "read as       JSON Lines (by content; suffix '.txt')" in out and "examples      2 of 2 rows" in out
    assert "untrained     none: every chat marker" in out


def test_data_check_reads_the_file_as_training_would(tmp_path, tiny_models, capsys):
    path = write_jsonl(tmp_path / "d.jsonl", [FORMATS["messages"](q, a) for q, a in CONVERSATIONS * 5])
    model = f"--model={tiny_models['gemma3']}"
    assert main(["data", "check", str(path), "data.eval=0.5", model, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == report["train_examples"] == 10 and report["eval_examples"] == 0  # nothing held out
    assert main(["data", "check", str(path), "data.max_length=-1", model]) == 2
    assert "error: data.max_length=-1 must be positive" in capsys.readouterr().err  # training's own refusal


def test_data_check_on_a_config_checks_its_data_with_its_model(tmp_path, tiny_models, capsys):
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "d.jsonl", [FORMATS["messages"](q, a) for q, a in CONVERSATIONS])
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {tiny_models['gemma3']}\ndata:\n  train: data/d.jsonl\n  max_length: 64\n")
    assert main(["data", "check", str(config), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["file"].endswith("d.jsonl") and report["examples"] == 2  # not the YAML read as a text document
