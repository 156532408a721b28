"""Load a trained run (or a plain model folder) and generate with the chat template used in training."""

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from desktune.data.template import ChatFormat
from desktune.errors import DesktuneError
from desktune.infer.balanced_calls import BalancedCalls, opener_ids
from desktune.infer.stopping import stopping_criteria
from desktune.infer.strict_calls import StrictCalls, strict_format
from desktune.models.adapters import load_adapter
from desktune.models.load import load_model, load_tokenizer, resolve
from desktune.models.vocab import grow_vocabulary, match_vocabulary


@dataclass
class Sampling:
    max_new_tokens: int = 200
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = ()  # texts that end the answer when it shows one (OpenAI's `stop`; the caller cuts them)
    # with tools: a call the model opens keeps to the declared functions (strict_calls.py), and whether it opens one
    # is decided as if calls and words were equally common in training (balanced_calls.py); off: the model alone
    strict_calls: bool = True


@dataclass
class Reply:
    text: str
    finished: bool  # ended with an end token rather than at the token limit
    ids: list[int]  # the answer's tokens, without the end token


def load_run(run):
    """(tuned model, ChatFormat) exactly as training left them: base + adapter, or a full fine-tune's model."""
    from transformers import AutoTokenizer

    run.require_trained()
    cfg = run.read_config()
    tuned = run.model_dir if run.is_full else run.adapter
    tokenizer = AutoTokenizer.from_pretrained(tuned)
    model = load_model(resolve(str(tuned) if run.is_full else cfg["model"]))
    chat = ChatFormat(tokenizer, cfg["data"]["template"], model.config.model_type)
    chat.call_share = run.call_share()
    if not run.is_full:
        match_vocabulary(model, tokenizer)  # the run may have added tokens (new_tokens)
        model = load_adapter(model, str(run.adapter))
    model.eval()
    return model, chat


def base_of(path) -> str | None:
    """The model a run folder was tuned from (what base_model needs for a full fine-tune); None for a plain
    model folder such as a merged model."""
    from desktune.runs import RunDir

    run = RunDir(path)
    return run.read_config()["model"] if run.config.exists() else None


@contextmanager
def base_model(model, base_ref: str | None):
    """Inside, the model answers as its untuned base: the adapter off, or (a full fine-tune) the weights of
    base_ref, the model it was tuned from, swapped in."""
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield
        return
    if base_ref is None:
        raise DesktuneError("this is a plain model folder: there is no base to compare with", "use the run folder")
    params = dict(model.named_parameters())  # a tied head is one parameter here, and stays tied
    tuned = {name: p.data for name, p in params.items()}  # kept as they are: the base's take their place, no copy
    _use_weights(params, _weights_of(base_ref, model))
    torch.clear_autocast_cache()  # autocast keeps low-precision copies of trainable weights: drop the stale ones
    try:
        yield
    finally:
        _use_weights(params, tuned)
        torch.clear_autocast_cache()


def _weights_of(base_ref: str, model) -> dict:
    """The base's weights as the model holds its own (dtype, device; the rows of tokens the run added)."""
    like = next(model.parameters())
    base = load_model(resolve(base_ref), dtype=like.dtype)
    grow_vocabulary(base, model.get_input_embeddings().weight.shape[0])  # new_tokens: rows start as training's did
    return {name: p.data for name, p in base.to(like.device).named_parameters()}


def _use_weights(params: dict, weights: dict) -> None:
    if {n: p.shape for n, p in params.items()} != {n: w.shape for n, w in weights.items()}:
        raise DesktuneError("the base model's weights do not match this fine-tune's (other names or shapes)",
                            "compare with the model the run was tuned from, as its config.yaml names it")
    for name, p in params.items():
        p.data = weights[name]


def load_for_chat(path: str):
    """A run folder (base + adapter) or a plain transformers folder such as a merged model."""
    from desktune.runs import RunDir

    run = RunDir(path)
    if run.is_full or (run.adapter / "adapter_config.json").exists() or not (Path(path) / "config.json").exists():
        return load_run(run)
    source = resolve(path)
    model = load_model(source).eval()
    return model, ChatFormat(load_tokenizer(source), "auto", model.config.model_type)


def generate(model, chat: ChatFormat, messages: list[dict], sampling: Sampling = Sampling(), streamer=None,
             tools: list[dict] | None = None, cancel=None) -> Reply:
    """The assistant's reply to messages (tools: the functions it may call, written into the prompt as training
    wrote them; a call it opens keeps to them unless sampling.strict_calls is off); stops at any end token of the
    template (chat.stop_ids), which close a call turn too, at any of sampling.stop's texts (left in the text), or
    once cancel (a threading.Event) is set."""
    from transformers import LogitsProcessorList

    if not messages or not messages[-1]["content"].strip():
        raise DesktuneError("the prompt is empty", "pass some text, e.g. --prompt 'Hello'")
    ids = torch.tensor([chat.prompt_ids(messages, tools)], device=model.device)
    greedy = sampling.temperature <= 0
    options = dict(do_sample=False) if greedy else dict(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
    stop = chat.stop_ids
    early = stopping_criteria(chat.tokenizer, ids.shape[1], sampling.stop, cancel)
    guide = LogitsProcessorList(_call_guides(chat, ids.shape[1], tools, greedy) if sampling.strict_calls else [])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=sampling.max_new_tokens,
                             eos_token_id=stop, pad_token_id=chat.tokenizer.pad_token_id or stop[0],
                             repetition_penalty=sampling.repetition_penalty, streamer=streamer,
                             stopping_criteria=early, logits_processor=guide, **options)
    new = out[0, ids.shape[1]:].tolist()
    finished = bool(new) and new[-1] in stop
    answer = new[:-1] if finished else new
    # special tokens stay visible: a never-trained token such as <unused33> in an answer must not pass silently
    return Reply(chat.tokenizer.decode(answer, skip_special_tokens=False).strip(), finished, answer)


def _call_guides(chat: ChatFormat, prompt_length: int, tools: list[dict] | None, greedy: bool) -> list:
    """Strict calls, and balanced calls where the run says what share of its requests called (chat.call_share)."""
    if not tools or not strict_format(chat.tool_format):
        return []
    guides = [StrictCalls(chat.tokenizer, prompt_length, tools, chat.tool_format, greedy)]
    openers = opener_ids(chat.tokenizer, chat.tool_format)
    if chat.call_share and openers:
        guides.insert(0, BalancedCalls(prompt_length, openers, chat.call_share, greedy))
    return guides


def text_streamer(chat: ChatFormat, iterator: bool = False):
    """The answer as it comes, printed (or, iterator: yielded as text pieces to another thread): special tokens
    shown (an untrained one must not pass silently), the end token that closes the answer not."""
    from transformers import TextIteratorStreamer, TextStreamer

    class AnswerStreamer(TextIteratorStreamer if iterator else TextStreamer):
        def put(self, value):
            if not self.next_tokens_are_prompt:
                value = value[~torch.isin(value, stops)]
            super().put(value)

    stops = torch.tensor(chat.stop_ids)
    return AnswerStreamer(chat.tokenizer, skip_prompt=True)
