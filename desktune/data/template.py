"""Render conversations with the chat template and mark which tokens train.

The label rule: a token trains when it belongs to an assistant turn, including the end-of-turn token.
Positions are found by rendering prefixes of the conversation, and every prefix is checked to be a
token-prefix of the full rendering, so the prompt used at generation is exactly what training saw.
"""

from dataclasses import dataclass

from desktune.errors import DataError
from desktune.models.templates import END_OF_TURN, END_TOKENS, TEMPLATES


@dataclass
class Encoded:
    ids: list[int]
    trained: list[bool]  # trained[i]: token i is a target the model learns to produce


class ChatFormat:
    def __init__(self, tokenizer, template: str = "auto", model_type: str = ""):
        self.tokenizer = tokenizer
        self.name = choose_template(tokenizer, template, model_type)
        if self.name != "own":
            tokenizer.chat_template = TEMPLATES[self.name]
        self.end_of_turn = _end_of_turn_id(tokenizer, self.name)
        self.stop_ids = _stop_ids(tokenizer, self.end_of_turn)

    @property
    def stop_tokens(self) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens(self.stop_ids)

    def render(self, messages: list[dict], generation_prompt: bool = False, where: str = "") -> str:
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
        except Exception as e:  # jinja's raise_exception: the template forbids this conversation's shape
            raise DataError(f"{where or 'conversation'}: the {self.name} chat template rejects it: {e}",
                            "alternate user/assistant turns, starting with user (after an optional system)") from None

    def tokens(self, text: str) -> list[int]:
        # The template already writes the BOS token, so the tokenizer must not add another.
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        return self.tokens(self.render(messages, generation_prompt=True))

    def encode_text(self, text: str) -> Encoded:
        """Plain text trains on every token, ending with EOS so the model learns where documents stop."""
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        ids = bos + self.tokens(text) + [self.tokenizer.eos_token_id]
        return Encoded(ids, [False] * len(bos) + [True] * (len(ids) - len(bos)))

    def encode(self, messages: list[dict], where: str = "", train_on: str = "assistant") -> Encoded:
        ids = self.tokens(self.render(messages, where=where))
        trained = [train_on == "all"] * len(ids)
        if train_on == "all":
            return Encoded(ids, trained)
        turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        if train_on == "last":
            turns = turns[-1:]
        for i in turns:
            start = self._checked_prefix(messages[:i], ids, where, generation_prompt=True)
            end = self._checked_prefix(messages[: i + 1], ids, where, generation_prompt=False)
            trained[start:end] = [True] * (end - start)
        return Encoded(ids, trained)

    def _checked_prefix(self, messages, full_ids, where, generation_prompt) -> int:
        prefix = self.tokens(self.render(messages, generation_prompt, where)) if messages else []
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
        same = [name for name, text in TEMPLATES.items() if text == tokenizer.chat_template]
        return same[0] if same else "own"
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
