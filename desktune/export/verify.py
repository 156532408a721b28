"""Prove a GGUF file works: llama.cpp (the cyllama wheel) continues prompts greedily as the merged model does, and,
for a run trained on tool rows, calls the same functions with the same arguments on 5 of its tool prompts."""

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from desktune.errors import DesktuneError

PROMPTS = [
    "Hello! Who are you?",
    "Give me three tips for staying focused while studying.",
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain what a GPU is in one sentence.",
]
NEW_TOKENS = 20
HEAD_TOKENS = 5
# How many of the 5 prompts must match all 20 tokens: f16 rounds weights a little, q8_0 more, K-quants much more.
REQUIRED_FULL = {"f16": 4, "q8_0": 3}
# Rounding may flip a choice between two tokens whose logits (in transformers) lie closer than this; a wrong
# conversion parts ways where transformers was sure.
NEAR_TIE = 0.5
# 4-bit files move logits more; they must still start 3 of the 5 answers as transformers does. (A small fine-tune
# on a base that was itself 4-bit, like the built-in model, can round back to the base: this catches it.)
K_QUANT_HEADS = 3
TOOL_PROMPTS = 5
TOOL_SLACK = 16  # new tokens allowed beyond the length of the call turn the row itself holds


@dataclass
class Check:
    quant: str
    full_matches: int = 0  # prompts whose greedy continuations agree on every token
    head_matches: int = 0  # prompts whose first HEAD_TOKENS agree
    head_near_ties: int = 0  # prompts whose first HEAD_TOKENS part only where transformers' top 2 were near-tied
    same_tokenization: int = 0  # prompts llama.cpp tokenizes exactly as transformers does
    pairs: list = field(default_factory=list)  # (transformers text, llama.cpp text) per prompt
    split_margins: list = field(default_factory=list)  # where they part: transformers' top-2 logit gap
    # tool prompts (a run trained on tool rows): the replies of both, parsed into calls by infer/tool_calls.py
    tool_format: str | None = None
    tool_prompts: int = 0
    tool_matches: int = 0  # prompts where both call the same functions with the same arguments
    tool_same_tokenization: int = 0
    tool_pairs: list = field(default_factory=list)  # per prompt: the request, both replies and their parsed calls
    tool_split_margins: list = field(default_factory=list)  # where replies with different calls part
    tool_note: str = ""  # why a tool-trained run's prompts were not checked

    @property
    def meets_targets(self) -> bool:
        """The strict bar: enough identical continuations for this file type, and the same calls everywhere."""
        return (self._chat_targets and self.tool_matches == self.tool_prompts
                and self.tool_same_tokenization == self.tool_prompts)

    @property
    def _chat_targets(self) -> bool:
        return (self.full_matches >= REQUIRED_FULL.get(self.quant, 0) and self.head_matches == len(PROMPTS)
                and self.same_tokenization == len(PROMPTS))

    @property
    def passed(self) -> bool:
        """Correct export: same tokenizer, f16 meets its targets, and any quantized file parts only at near-ties."""
        if self.same_tokenization < len(PROMPTS):
            return False
        if self.quant == "f16" and not self._chat_targets:
            return False
        if not self._tools_pass():
            return False
        if self.quant not in REQUIRED_FULL:  # a flip between near-tied tokens is rounding, not a wrong model
            return self.head_matches + self.head_near_ties >= K_QUANT_HEADS
        return all(m < NEAR_TIE for m in self.split_margins)

    def _tools_pass(self) -> bool:
        """The same rules for calls: f16 gives the same calls on 4 of 5 prompts, and f16 or q8_0 may give other
        calls only where rounding flipped a near-tie; a K-quant must give the same calls on 3 of 5."""
        n = self.tool_prompts
        if self.tool_same_tokenization < n:
            return False
        if self.quant not in REQUIRED_FULL:
            return self.tool_matches >= math.ceil(n * K_QUANT_HEADS / len(PROMPTS))
        if self.quant == "f16" and self.tool_matches < n - n // len(PROMPTS):
            return False
        return all(m < NEAR_TIE for m in self.tool_split_margins)

    def summary(self) -> str:
        n = len(PROMPTS)
        return (f"{self.quant}: {self.full_matches}/{n} prompts identical for {NEW_TOKENS} tokens, "
                f"{self.head_matches}/{n} on the first {HEAD_TOKENS}, "
                f"tokenizer agrees on {self.same_tokenization}/{n}"
                + (f"; they part where transformers' top-2 logits differ by {self.split_margins}" if self.split_margins else "")
                + self._tool_summary())

    def _tool_summary(self) -> str:
        if self.tool_note:
            return f"; tool prompts not checked: {self.tool_note}"
        if not self.tool_prompts:
            return ""
        n = self.tool_prompts
        return (f"; tool prompts ({self.tool_format}): {self.tool_matches}/{n} give the same calls, "
                f"tokenizer agrees on {self.tool_same_tokenization}/{n}"
                + (f", other calls where transformers' top-2 logits differ by {self.tool_split_margins}"
                   if self.tool_split_margins else ""))


def verify(gguf_path: Path, model, chat, quant: str, tool_prompts: list | None = None, tool_note: str = "") -> Check:
    """llama.cpp against transformers on the 5 chat prompts, and on tool_prompts ([(messages, tools, new tokens)],
    from tool_prompts_of) when the run trained on tools."""
    prompts = [chat.prompt_ids([{"role": "user", "content": p}]) for p in PROMPTS]
    theirs_tokens, theirs = _llama_cpp(gguf_path, [chat.render([{"role": "user", "content": p}], True) for p in PROMPTS],
                                       prompts)
    check = Check(quant)
    stops = set(chat.stop_ids)
    for ids, their_ids, their_out in zip(prompts, theirs_tokens, theirs):
        ours, margins = _transformers_greedy(model, ids)
        ours, their_out = _until_stop(ours, stops), _until_stop(their_out, stops)
        check.same_tokenization += their_ids == ids
        check.full_matches += ours == their_out
        split = next((i for i, (a, b) in enumerate(zip(ours, their_out)) if a != b), None)
        if split is not None:
            check.split_margins.append(round(margins[split], 3))
        same_head = ours[:HEAD_TOKENS] == their_out[:HEAD_TOKENS]
        check.head_matches += same_head
        check.head_near_ties += (not same_head and split is not None and split < HEAD_TOKENS
                                 and margins[split] < NEAR_TIE)
        check.pairs.append((chat.tokenizer.decode(ours), chat.tokenizer.decode(their_out)))
    check.tool_note = tool_note
    if tool_prompts:
        _check_tools(check, gguf_path, model, chat, tool_prompts)
    return check


def tool_prompts_of(run_folder: str, chat) -> tuple[list, str]:
    """Up to 5 tool prompts of a run trained on tool rows, held-out rows first: the messages before an assistant
    turn that calls, the row's tools, and the new tokens to allow. ([], "") for a run without tools or a plain
    model folder; ([], why) when the run's data cannot be read again."""
    from desktune.config import load_config
    from desktune.data.dataset import build_dataset
    from desktune.runs import RunDir

    run = RunDir(run_folder)
    if not run.config.exists() or run.read_json(run.data_json).get("tool_format", "none") == "none":
        return [], ""
    cfg = load_config(str(run.config))
    try:
        data = build_dataset(cfg.data, chat, cfg.train.seed)  # the same seeded split training held out
    except DesktuneError as e:
        return [], f"the run's data could not be read again: {e.message}"
    prompts, seen = [], set()
    for example in data.eval + data.train:
        calls = [i for i, m in enumerate(example.messages or []) if m["role"] == "assistant" and m.get("tool_calls")]
        if not example.tools or not calls:
            continue
        messages = example.messages[:calls[0]]
        prompt = chat.prompt_ids(messages, example.tools)
        if tuple(prompt) in seen:
            continue
        seen.add(tuple(prompt))
        turn = len(chat.tokens(chat.render(example.messages[:calls[0] + 1], tools=example.tools))) - len(prompt)
        prompts.append((messages, example.tools, turn + TOOL_SLACK))
        if len(prompts) == TOOL_PROMPTS:
            break
    return prompts, "" if prompts else "no tool row has an assistant turn that calls a function"


def _check_tools(check: Check, gguf_path: Path, model, chat, tool_prompts: list) -> None:
    """Both greedy replies to each tool prompt, to their end of turn, parsed into calls and compared."""
    from desktune.infer.tool_calls import parse_calls

    check.tool_format, check.tool_prompts = chat.tool_format, len(tool_prompts)
    stops = set(chat.stop_ids)
    texts = [chat.render(messages, True, tools=tools) for messages, tools, _ in tool_prompts]
    prompts = [chat.tokens(text) for text in texts]
    budgets = [budget for _, _, budget in tool_prompts]
    theirs_tokens, theirs = _llama_cpp(gguf_path, texts, prompts, budgets, stops)
    for (messages, _, budget), ids, their_ids, their_out in zip(tool_prompts, prompts, theirs_tokens, theirs):
        ours, margins = _cached_greedy(model, ids, budget, stops)
        their_out = _until_stop(their_out, stops)
        replies = [_reply_text(chat, out, stops) for out in (ours, their_out)]
        parsed = [parse_calls(text, chat.tool_format) for text in replies]
        same = parsed[0].calls == parsed[1].calls
        check.tool_same_tokenization += their_ids == ids
        check.tool_matches += same
        split = next((i for i, (a, b) in enumerate(zip(ours, their_out)) if a != b), None)
        if not same and split is not None:
            check.tool_split_margins.append(round(margins[split], 3))
        check.tool_pairs.append({"request": messages[-1]["content"], "transformers": replies[0], "llama_cpp": replies[1],
                                 "transformers_calls": parsed[0].calls, "llama_cpp_calls": parsed[1].calls,
                                 "same_calls": same})


def _reply_text(chat, ids: list[int], stops: set) -> str:
    """The reply as generate returns it: up to its end token, special tokens shown."""
    return chat.tokenizer.decode([t for t in ids if t not in stops], skip_special_tokens=False).strip()


def _cached_greedy(model, ids: list[int], new_tokens: int, stops: set) -> tuple[list[int], list[float]]:
    """_transformers_greedy with the KV cache and a stop: a tool prompt with its declarations runs to hundreds of
    tokens, and a call to dozens."""
    out, margins, past, step = [], [], None, ids
    key = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"  # renamed in 5.x
    with torch.no_grad():
        for _ in range(new_tokens):
            result = model(input_ids=torch.tensor([step]), use_cache=True, logits_to_keep=1, **{key: past})
            past = result[key]
            top = result.logits[0, -1].float().topk(2)
            out.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
            if out[-1] in stops:
                break
            step = [out[-1]]
    return out, margins


def _transformers_greedy(model, ids: list[int]) -> tuple[list[int], list[float]]:
    """(greedy tokens, at each step the gap between transformers' two best logits)."""
    out, margins = [], []
    with torch.no_grad():  # no KV cache: 20 short forwards are cheap and leave nothing to get wrong
        for _ in range(NEW_TOKENS):
            logits = model(input_ids=torch.tensor([ids + out]), use_cache=False, logits_to_keep=1).logits
            top = logits[0, -1].float().topk(2)
            out.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
    return out, margins


def _llama_cpp(path: Path, texts: list[str], prompts: list[list[int]], budgets: list[int] | None = None,
               stops: set = frozenset()) -> tuple[list[list[int]], list[list[int]]]:
    """llama.cpp's own tokenization of each rendered prompt, and its greedy continuation of our token ids (budgets:
    new tokens per prompt, NEW_TOKENS by default; it stops early at a stop id)."""
    try:
        from cyllama.llama import llama_cpp
    except ImportError:
        raise DesktuneError("checking the GGUF needs a llama.cpp runtime, which is not installed",
                            "pip install cyllama (or pass --no-verify to skip the check)") from None
    llama_cpp.disable_logging()
    llama_cpp.ggml_backend_load_all()
    model = llama_cpp.LlamaModel(str(path), llama_cpp.LlamaModelParams())
    vocab = model.get_vocab()
    tokenized = [vocab.tokenize(text, add_special=False, parse_special=True) for text in texts]
    budgets = budgets or [NEW_TOKENS] * len(prompts)
    return tokenized, [_llama_cpp_greedy(llama_cpp, model, ids, n, stops) for ids, n in zip(prompts, budgets)]


def _llama_cpp_greedy(llama_cpp, model, ids: list[int], new_tokens: int = NEW_TOKENS, stops: set = frozenset()) -> list[int]:
    params = llama_cpp.LlamaContextParams()
    params.n_ctx = params.n_batch = len(ids) + new_tokens + 1
    context = llama_cpp.LlamaContext(model, params)
    sampler = llama_cpp.LlamaSampler(llama_cpp.LlamaSamplerChainParams())
    sampler.add_greedy()
    context.decode(llama_cpp.llama_batch_get_one(ids, 0))
    out = []
    for position in range(len(ids), len(ids) + new_tokens):
        out.append(sampler.sample(context, -1))
        if out[-1] in stops:
            break
        context.decode(llama_cpp.llama_batch_get_one([out[-1]], position))
    return out


def _until_stop(ids: list[int], stops: set) -> list[int]:
    for i, token in enumerate(ids):
        if token in stops:
            return ids[: i + 1]
    return ids
