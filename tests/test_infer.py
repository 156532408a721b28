"""desktune eval, chat (driven through a pseudo-terminal) and generate on a plain model folder."""

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from conftest import example_rows, write_jsonl
from desktune.cli import main


@pytest.fixture(scope="module")
def run(tiny_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("infer")
    data = write_jsonl(folder / "d.jsonl", example_rows(30))
    out = folder / "run"
    assert main(["train", f"model={tiny_models['qwen2']}", f"data.train={data}", f"output={out}", "data.eval=0.2",
                 "train.max_steps=6", "train.lr=1e-2", "train.eval_samples=0", "--samples=0"]) == 0
    return out


def test_eval_compares_base_and_tuned_and_checks_forgetting(run, capsys):
    assert main(["eval", str(run), "--samples", "2", "--max-new-tokens", "6"]) == 0
    out = capsys.readouterr().out
    assert "held-out (6 examples)" in out and "neutral English text" in out
    result = json.loads((run / "eval.json").read_text())
    assert result["held_out"]["tuned"]["loss"] < result["held_out"]["base"]["loss"]
    assert result["neutral_text"]["base"]["perplexity"] > 1 and len(result["samples"]) == 2
    assert "**base:**" in (run / "samples.md").read_text()


def test_samples_give_a_long_answer_room_to_end(tiny_models):
    """The answer limit is twice the longest reference answer, so 'did not end' means it runs on, not that it was
    cut at a fixed length."""
    from desktune.infer.samples import answer_limit
    from desktune.models.load import load_tokenizer, resolve

    tokenizer = load_tokenizer(resolve(str(tiny_models["qwen2"])))
    short = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Ahoy."}]
    answer = " ".join(["the garden needs water"] * 60)
    long_turn = [{"role": "user", "content": "How?"}, {"role": "assistant", "content": answer}]
    assert answer_limit(tokenizer, [short]) == 64
    assert answer_limit(tokenizer, [long_turn + short]) == 64  # the reference is the last answer only
    tokens = len(tokenizer(answer, add_special_tokens=False).input_ids)
    assert tokens > 32 and answer_limit(tokenizer, [short, short + long_turn]) == 2 * tokens


def test_eval_on_a_given_file(run, tmp_path):
    data = write_jsonl(tmp_path / "held.jsonl", example_rows(40)[30:])
    assert main(["eval", str(run), "--data", str(data), "--samples", "1", "--max-new-tokens", "4"]) == 0
    assert json.loads((run / "eval.json").read_text())["examples"] == 10


@pytest.mark.parametrize("argv, message", [
    (["eval", "no/such/run"], "run folder not found"),
    (["chat", "no/such/run"], "run folder not found"),
    (["eval", "EMPTY"], "has no trained adapter"),
    (["chat", "EMPTY"], "has no trained adapter"),
])
def test_bad_run_folders(argv, message, tmp_path, capsys):
    argv = [str(tmp_path) if a == "EMPTY" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "hint:" in err


def test_generate_prints_the_greedy_answer_of_a_plain_model_folder(tiny_models, capsys):
    from desktune.infer.generate import Sampling, generate, load_for_chat

    assert main(["generate", str(tiny_models["llama"]), "--prompt", "Hello", "--max-new-tokens", "4"]) == 0
    printed = capsys.readouterr().out
    model, chat = load_for_chat(str(tiny_models["llama"]))
    reply = generate(model, chat, [{"role": "user", "content": "Hello"}], Sampling(max_new_tokens=4))
    assert len(reply.ids) == 4 and printed.strip() == reply.text  # the answer alone: no prompt, no end token


def read_until(fd, marker: bytes, timeout=60.0) -> bytes:
    out, end = b"", time.monotonic() + timeout
    while marker not in out:
        assert time.monotonic() < end, f"timed out waiting for {marker!r}; got {out[-300:]!r}"
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            out += os.read(fd, 4096)
    return out


def test_chat_in_a_terminal_streams_answers_resets_and_quits(run):
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "desktune", "chat", str(run), "--temperature", "0",
                             "--max-new-tokens", "6"], stdin=secondary, stdout=secondary, stderr=secondary)
    os.close(secondary)
    try:
        assert b"/reset" in read_until(primary, b"you> ")
        os.write(primary, b"Why is the sky blue?\n")
        answer = read_until(primary, b"you> ")
        assert b"model> " in answer and len(answer.split(b"model> ")[1].replace(b"you> ", b"").strip()) > 0
        os.write(primary, b"/system You are terse.\n")
        assert b"system prompt set" in read_until(primary, b"you> ")
        os.write(primary, b"/reset\n")
        assert b"(conversation reset)" in read_until(primary, b"you> ")
        os.write(primary, b"/quit\n")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(primary)


def test_generation_stops_at_every_end_token_and_shows_any_other_special_token(tiny_models):
    import torch

    from desktune.data.template import ChatFormat
    from desktune.infer.generate import Sampling, generate
    from desktune.models.load import load_model, load_tokenizer, resolve

    source = resolve(str(tiny_models["gemma3"]))
    model, chat = load_model(source).eval(), ChatFormat(load_tokenizer(source), "gemma", "gemma3_text")
    assert chat.stop_tokens == ["<end_of_turn>", "<eos>", "<|im_end|>", "<|eot_id|>"]
    prompt = [{"role": "user", "content": "Why is the sky blue?"}]
    for token in chat.stop_tokens + ["<start_of_turn>"]:
        bias = torch.zeros(model.config.vocab_size)
        bias[chat.tokenizer.convert_tokens_to_ids(token)] = 1e4  # the model's only choice from now on
        hook = model.get_output_embeddings().register_forward_hook(lambda module, args, out: out + bias)
        reply = generate(model, chat, prompt, Sampling(max_new_tokens=3))
        hook.remove()
        if token in chat.stop_tokens:
            assert reply.finished and reply.text == "" and reply.ids == []
        else:  # not an end token: the answer runs on, and the token is shown, not silently dropped
            assert not reply.finished and reply.text.count("<start_of_turn>") == 3

