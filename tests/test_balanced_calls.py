"""Balanced calls: the share of requests the training rows answer with a call is recorded with the run, and an answer
opens a call only where the model's probability of the call's first token is at least that share."""

import json

import pytest
import torch

from conftest import write_jsonl
from desktune.cli import main
from desktune.infer.balanced_calls import BalancedCalls, opener_ids
from desktune.infer.generate import load_run
from desktune.runs import RunDir
from test_tools_data import WEATHER, chat_for, openai_row

S = "<start_function_call>"


def words_row() -> dict:
    return {"tools": [{"type": "function", "function": WEATHER}],
            "messages": [{"role": "user", "content": "Who are you?"},
                         {"role": "assistant", "content": "Your weather helper."}]}


def scores_with(tokenizer, opener: int, p_call: float) -> torch.Tensor:
    """Logits whose softmax gives the opener p_call and spreads the rest over the vocabulary."""
    rest = (1 - p_call) / (len(tokenizer) - 1)
    probs = torch.full((1, len(tokenizer)), rest)
    probs[0, opener] = p_call
    return probs.log()


@pytest.fixture
def gemma_tokenizer(tiny_models):
    return chat_for(tiny_models, "gemma3", "gemma").tokenizer


def test_the_opener_is_the_first_token_training_writes_a_call_with(gemma_tokenizer):
    assert opener_ids(gemma_tokenizer, "functiongemma") == gemma_tokenizer.encode(S, add_special_tokens=False)[:1]
    assert opener_ids(gemma_tokenizer, "llama3-json") == []  # no mark opens its calls
    # a tokenizer's own template: only a mark that is one token of it (here neither is: no '<' of any text counts)
    assert opener_ids(gemma_tokenizer, "tokenizer template") == []
    gemma_tokenizer.add_special_tokens({"additional_special_tokens": [S]})  # as FunctionGemma's own tokenizer has it
    assert opener_ids(gemma_tokenizer, "tokenizer template") == [gemma_tokenizer.convert_tokens_to_ids(S)]


@pytest.mark.parametrize("p_call, share, opens", [(0.70, 0.77, False), (0.80, 0.77, True), (0.30, 0.25, True),
                                                  (0.20, 0.25, False)])
def test_greedy_opens_a_call_only_where_the_model_is_at_least_as_sure_as_the_share(gemma_tokenizer, p_call, share,
                                                                                   opens):
    [opener] = opener_ids(gemma_tokenizer, "functiongemma")
    prompt = torch.tensor([[2, 5, 7]])
    guided = BalancedCalls(3, [opener], share, greedy=True)(prompt, scores_with(gemma_tokenizer, opener, p_call))
    assert (guided[0].argmax().item() == opener) is opens
    if opens:  # the call opens even where, at 0.30, a word was the likelier token (calls were rarer in training)
        assert torch.isinf(guided[0]).sum() == len(gemma_tokenizer) - 1
    else:
        assert torch.isinf(guided[0, opener])


def test_sampling_divides_the_call_s_odds_by_its_share_s(gemma_tokenizer):
    [opener] = opener_ids(gemma_tokenizer, "functiongemma")
    scores = scores_with(gemma_tokenizer, opener, 0.8)
    guided = BalancedCalls(3, [opener], 0.8, greedy=False)(torch.tensor([[2, 5, 7]]), scores.clone())
    assert guided[0].softmax(-1)[opener].item() == pytest.approx(0.5, abs=1e-4)  # odds 4:1 divided by 4:1


def test_only_the_answer_s_first_token_is_guided(gemma_tokenizer):
    [opener] = opener_ids(gemma_tokenizer, "functiongemma")
    scores = scores_with(gemma_tokenizer, opener, 0.1)
    assert torch.equal(BalancedCalls(3, [opener], 0.9, greedy=True)(torch.tensor([[2, 5, 7, 9]]), scores.clone()),
                       scores)


def test_a_run_records_its_share_and_generation_reads_it(tiny_models, tmp_path, capsys):
    rows = [openai_row(arguments={"city": c}) for c in ("Paris", "Rome", "Oslo")] * 3 + [words_row()] * 3
    data, run = write_jsonl(tmp_path / "t.jsonl", rows), tmp_path / "run"
    assert main(["data", "check", str(data), "--model", str(tiny_models["gemma3"])]) == 0
    assert "(75% of requests called: generation balances calls at that share)" in capsys.readouterr().out
    assert main(["train", f"model={tiny_models['gemma3']}", f"data.train={data}", f"output={run}", "data.eval=0",
                 "train.max_steps=1", "train.eval_samples=0", "--samples=0"]) == 0
    assert json.loads((run / "data.json").read_text())["tool_use"]["call_share"] == 0.75  # 9 of 12 requests
    _, chat = load_run(RunDir(run))
    assert chat.call_share == 0.75
    held_out = write_jsonl(tmp_path / "held.jsonl", [openai_row(arguments={"city": "Lima"}), words_row()])
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(held_out), "--max-new-tokens", "8"]) == 0
    assert "held-out assistant turns (strict calls, balanced at 0.75), base -> tuned" in capsys.readouterr().out
    assert json.loads((run / "eval.json").read_text())["tool_calls"]["balanced_calls"] == 0.75

