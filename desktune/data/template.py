"""Render conversations with the chat template and mark which tokens train.

The label rule: a token trains when it belongs to an assistant turn, including the end-of-turn token.
Positions are found by rendering prefixes of the conversation, and every prefix is checked to be a
token-prefix of the full rendering, so the prompt used at generation is exactly what training saw.
"""

from dataclasses import dataclass, field

from desktune.data.call_decisions import decision_tokens
from desktune.data.tools import has_tool_turns, openai_messages, openai_tools
from desktune.errors import DataError
from desktune.models.templates import EARLIER_TEMPLATES, END_OF_TURN, END_TOKENS, TEMPLATES, TOOL_FORMATS


@dataclass
class Encoded:
    ids: list[int]
    trained: list[bool]  # trained[i]: token i is a target the model learns to produce
    decisions: list[int] = field(default_factory=list)  # the trained tokens where a call was decided


class ChatFormat:
    def __init__(self, tokenizer, template: str = "auto", model_type: str = ""):
        self.tokenizer = tokenizer
        self.name = choose_template(tokenizer, template, model_type)
        if self.name != "own":
            tokenizer.chat_template = TEMPLATES[self.name]
        self.end_of_turn = _end_of_turn_id(tokenizer, self.name)
        self.stop_ids = _stop_ids(tokenizer, self.end_of_turn)
        self.call_share: float | None = None  # a tuned run's share of requests answered with a call (balanced_calls.py)
        self.finds_decisions = False  # note each calling turn's decision tokens (train.call_decision_weight > 1)

    @property
    def stop_tokens(self) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens(self.stop_ids)

    @property
    def tool_format(self) -> str | None:
        """How tools are written: a built-in format, the tokenizer's own template, or None (it cannot show them)."""
        if self.name != "own":
            return TOOL_FORMATS[self.name]
        # str(): a tokenizer may hold several named templates (a dict), one of them for tool use
        return "tokenizer template" if "tools" in str(self.tokenizer.chat_template or "") else None

    def render(self, messages: list[dict], generation_prompt: bool = False, where: str = "",
               tools: list[dict] | None = None) -> str:
        """The conversation as text; a tool chat goes to the template in the OpenAI form templates expect."""
        extra = {}
        if tools or has_tool_turns(messages):
            if self.tool_format is None:
                raise DataError(f"{where or 'conversation'}: it has tools, but the tokenizer's own chat template "
                                "never mentions tools", "set data.template to a built-in one with a tool format "
                                "(gemma, chatml, llama3)")
            messages = openai_messages(messages)
            extra = {"tools": openai_tools(tools)} if tools else {}
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt,
                                                      **extra)
        except Exception as e:  # jinja's raise_exception: the template forbids this conversation's shape
            raise DataError(f"{where or 'conversation'}: the {self.name} chat template rejects it: {e}",
                            "alternate user/assistant turns, starting with user (after an optional system); a call's "
                            "results follow it, and the answer follows them") from None

    def tokens(self, text: str) -> list[int]:
        # The template already writes the BOS token, so the tokenizer must not add another.
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
        return self.tokens(self.render(messages, generation_prompt=True, tools=tools))

    def encode_text(self, text: str) -> Encoded:
        """Plain text trains on every token, ending with EOS so the model learns where documents stop."""
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        ids = bos + self.tokens(text) + [self.tokenizer.eos_token_id]
        return Encoded(ids, [False] * len(bos) + [True] * (len(ids) - len(bos)))

    def encode(self, messages: list[dict], where: str = "", train_on: str = "assistant",
               tools: list[dict] | None = None, calls_only: bool = False) -> Encoded:
        """Tokens and labels: assistant turns train (their answers and calls, each to its end of turn; not those
        of weight 0); tool declarations and results, like the user's words, do not. calls_only: just the turns
        that call (to score the calls alone). With finds_decisions, a calling turn's decision tokens are noted
        (call_decisions.py)."""
        ids = self.tokens(self.render(messages, where=where, tools=tools))
        trained = [train_on == "all"] * len(ids)
        if train_on == "all":
            return Encoded(ids, trained)
        turns = [i for i, m in enumerate(messages)
                 if m["role"] == "assistant" and m.get("weight", 1) and (m.get("tool_calls") or not calls_only)]
        if train_on == "last":
            turns = turns[-1:]
        decisions = []
        for i in turns:
            start = self._checked_prefix(messages[:i], ids, where, True, tools)
            # the last turn ends where the whole rendering does: one render of the declarations fewer a row
            last = i + 1 == len(messages)
            end = len(ids) if last else self._checked_prefix(messages[: i + 1], ids, where, False, tools)
            trained[start:end] = [True] * (end - start)
            if self.finds_decisions and messages[i].get("tool_calls"):
                decisions += decision_tokens(self, messages, i, tools, ids, (start, end))
        return Encoded(ids, trained, decisions)

    def _checked_prefix(self, messages, full_ids, where, generation_prompt, tools) -> int:
        prefix = self.tokens(self.render(messages, generation_prompt, where, tools)) if messages else []
        if full_ids[: len(prefix)] != prefix:
            raise DataError(f"{where}: the chat template renders this conversation differently turn by turn",
                            "set data.template to a built-in one (gemma, chatml, llama3)")
        return len(prefix)


def choose_template(tokenizer, template: str, model_type: str) -> str:
    if template == "own" and not tokenizer.chat_template:
        raise DataError("data.template=own but the tokenizer has no chat template", "use data.template=auto")
    if template != "auto":
        return template
    if tokenizer.chat_template:
        known = {text: name for name, text in TEMPLATES.items()} | EARLIER_TEMPLATES
        return known.get(tokenizer.chat_template, "own") if isinstance(tokenizer.chat_template, str) else "own"
    if model_type.startswith("gemma"):
        return "gemma"
    if model_type.startswith("llama"):
        return "llama3"
    return "chatml"


def _end_of_turn_id(tokenizer, name: str) -> int:
    token = END_OF_TURN.get(name)
    if token is None:  # the tokenizer's own template: its EOS closes the turn unless it names an end-of-turn
        for candidate in END_OF_TURN.values():
            if candidate in (tokenizer.chat_template or ""):
                token = candidate
                break
    token_id = tokenizer.convert_tokens_to_ids(token) if token else tokenizer.eos_token_id
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise DataError(f"the tokenizer has no '{token}' token for the {name} chat template",
                        "pick a data.template whose special tokens this tokenizer has")
    return token_id


def _stop_ids(tokenizer, end_of_turn: int) -> list[int]:
    """The end-of-turn token first, then every other end token this vocabulary has and the EOS: a model
    that closes its answer with any of them has finished (a base model may prefer its EOS, Llama 3 its
    <|eom_id|>), so generation, chat, eval and the Ollama Modelfile stop at all of them."""
    vocab = tokenizer.get_vocab()
    ends = [vocab[t] for t in END_TOKENS if t in vocab] + [tokenizer.eos_token_id]
    return list(dict.fromkeys([end_of_turn] + [i for i in ends if i is not None]))
