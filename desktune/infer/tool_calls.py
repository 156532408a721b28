"""Generated text back into tool calls: the one parser generate, chat, eval, the export check, the UI and the
server share.

It reads what each built-in template writes (desktune/models/templates.py): FunctionGemma's markup, Hermes JSON
in <tool_call> tags, and Llama 3.1's JSON lines; for a tokenizer's own template, the forms those families write
(FunctionGemma, Qwen 2.5/3, Llama 3.1). A call it cannot read (cut off by the token limit, broken JSON) is kept
verbatim in raw_calls, never dropped: a caller shows it rather than pretending the model said nothing.
"""

import json
import re
from dataclasses import dataclass, field

from desktune.data.tools import read_tools  # noqa: F401  (the one tool-list checker, for layers above infer/)

FUNCTIONGEMMA_START, FUNCTIONGEMMA_END = "<start_function_call>", "<end_function_call>"
HERMES_START, HERMES_END = "<tool_call>", "</tool_call>"
ESCAPE = "<escape>"  # FunctionGemma writes every string between two of these
PYTHON_TAG = "<|python_tag|>"  # Llama 3.1 may open a call line with it


@dataclass
class ParsedReply:
    content: str  # the words outside calls
    calls: list[dict] = field(default_factory=list)  # [{"name": str, "arguments": dict}]
    raw_calls: list[str] = field(default_factory=list)  # call texts that could not be read, verbatim


class NotACall(ValueError):
    pass


def parse_calls(text: str, tool_format: str | None) -> ParsedReply:
    """The reply's words and calls, as the chat format (ChatFormat.tool_format) writes them; None: words only."""
    if tool_format == "functiongemma":
        return _tagged(text, FUNCTIONGEMMA_START, FUNCTIONGEMMA_END, _functiongemma_call)
    if tool_format == "hermes-json":
        return _tagged(text, HERMES_START, HERMES_END, _hermes_call)
    if tool_format == "llama3-json":
        return _json_lines(text)
    if tool_format == "tokenizer template":
        gemma = _tagged(text, FUNCTIONGEMMA_START, FUNCTIONGEMMA_END, _functiongemma_call)
        hermes = _tagged(gemma.content, HERMES_START, HERMES_END, _hermes_call)
        llama = _json_lines(hermes.content)
        return ParsedReply(llama.content, gemma.calls + hermes.calls + llama.calls,
                           gemma.raw_calls + hermes.raw_calls + llama.raw_calls)
    return ParsedReply(text.strip())


def openai_tool_calls(reply: ParsedReply) -> list[dict]:
    """The calls as an OpenAI chat completion's message.tool_calls (arguments as a JSON string)."""
    return [{"id": f"call_{i}", "type": "function",
             "function": {"name": call["name"], "arguments": json.dumps(call["arguments"], ensure_ascii=False)}}
            for i, call in enumerate(reply.calls)]


def reply_message(text: str, parsed: ParsedReply | None) -> dict:
    """A reply as a conversation keeps it, in the shape training reads: its calls as calls, a call that could not
    be read kept in its words."""
    if parsed is not None and parsed.calls:
        words = "\n".join(filter(None, [parsed.content] + parsed.raw_calls))
        return {"role": "assistant", "content": words, "tool_calls": parsed.calls}
    return {"role": "assistant", "content": text or "…"}


def result_content(text: str) -> str:
    """A tool result as training stores it: a JSON object or list as compact JSON, anything else as typed."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else text


def _tagged(text: str, start: str, end: str, read_call) -> ParsedReply:
    """Calls between start and end marks; one whose end mark never came (the token limit) runs to the text's end."""
    words, calls, raw = [], [], []
    position = 0
    while (opened := text.find(start, position)) >= 0:
        words.append(text[position:opened])
        closed = text.find(end, opened + len(start))
        stop = len(text) if closed < 0 else closed + len(end)
        try:
            if closed < 0:
                raise NotACall("cut off")
            calls.append(read_call(text[opened + len(start):closed]))
        except NotACall:
            raw.append(text[opened:stop])
        position = stop
    words.append(text[position:])
    return ParsedReply(_joined(words), calls, raw)


def _joined(pieces: list[str]) -> str:
    return "\n".join(piece.strip() for piece in pieces if piece.strip())


def _hermes_call(body: str) -> dict:
    return _named_call(_json_object(body), "arguments")


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise NotACall("not JSON") from None
    if not isinstance(value, dict):
        raise NotACall("not a JSON object")
    return value


def _named_call(value: dict, arguments_key: str) -> dict:
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise NotACall("no name")
    arguments = value.get(arguments_key, value.get("arguments", {}))
    if isinstance(arguments, str):  # some models write the arguments as a JSON string, as the OpenAI API does
        arguments = _json_object(arguments)
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise NotACall("arguments not an object")
    return {"name": name, "arguments": arguments}


def _json_lines(text: str) -> ParsedReply:
    """Llama 3.1's form: each call a line holding a JSON object with "name" and "parameters". A line that opens
    like a call but does not read is raw; any other line is words."""
    words, calls, raw = [], [], []
    for line in text.split("\n"):
        candidate = line.strip().removeprefix(PYTHON_TAG).strip()
        if not _looks_like_a_call(candidate):
            words.append(line)
            continue
        try:
            calls.append(_named_call(_json_object(candidate), "parameters"))
        except NotACall:
            raw.append(line.strip())
    return ParsedReply(_joined(words), calls, raw)


def _looks_like_a_call(line: str) -> bool:
    return re.match(r'\{\s*"(name|parameters)"\s*:', line) is not None


# FunctionGemma's value markup: {key:value,...} with bare keys, strings between <escape> marks, and numbers,
# booleans and null bare, nested in objects and lists.

def _functiongemma_call(body: str) -> dict:
    match = re.match(r"\s*call:([^{\s]+)\{", body)
    if not match:
        raise NotACall("no call:NAME{")
    reader = _MarkupReader(body, match.end() - 1)
    arguments = reader.value()
    if body[reader.at:].strip():
        raise NotACall("text after the arguments")
    return {"name": match.group(1), "arguments": arguments}


class _MarkupReader:
    BARE = {"true": True, "false": False, "null": None}

    def __init__(self, text: str, at: int):
        self.text, self.at = text, at

    def value(self) -> object:
        self._skip_spaces()
        if self.text.startswith(ESCAPE, self.at):
            return self._string()
        if self._take("{"):
            return self._items("}", self._pair, dict)
        if self._take("["):
            return self._items("]", self.value, list)
        return self._bare()

    def _items(self, close: str, read_item, kind):
        items = []
        self._skip_spaces()
        if self._take(close):
            return kind(items)
        while True:
            items.append(read_item())
            self._skip_spaces()
            if self._take(close):
                return kind(items)
            if not self._take(","):
                raise NotACall(f"expected ',' or '{close}' at {self.at}")

    def _pair(self) -> tuple[str, object]:
        self._skip_spaces()
        colon = self.text.find(":", self.at)
        key = self.text[self.at:colon].strip() if colon >= 0 else ""
        if not key or any(c in key for c in "{}[],<>"):
            raise NotACall(f"expected key: at {self.at}")
        self.at = colon + 1
        return key, self.value()

    def _string(self) -> str:
        start = self.at + len(ESCAPE)
        end = self.text.find(ESCAPE, start)
        if end < 0:
            raise NotACall("unclosed <escape>")
        self.at = end + len(ESCAPE)
        return self.text[start:end]

    def _bare(self) -> object:
        match = re.compile(r"[^,}\]]*").match(self.text, self.at)
        word = match.group().strip()
        self.at = match.end()
        if word in self.BARE:
            return self.BARE[word]
        try:
            number = json.loads(word)
        except json.JSONDecodeError:
            raise NotACall(f"not a value: {word!r}") from None
        if not isinstance(number, (int, float)):
            raise NotACall(f"not a value: {word!r}")
        return number

    def _take(self, char: str) -> bool:
        if self.text.startswith(char, self.at):
            self.at += len(char)
            return True
        return False

    def _skip_spaces(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1
