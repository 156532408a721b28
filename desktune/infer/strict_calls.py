"""Strict tool calls: once the model opens a call, every next token must keep it a call the declared tools allow.

What OpenAI's `strict: true` and llama.cpp's lazy tool grammar do: the model still decides whether to call (words
are never constrained; balanced_calls.py weighs that choice against the run's share of calls), but inside a call
it can only write a declared function's name, that function's declared argument names (each once), values of their
schema types (an enum's members, numbers, booleans, strings, arrays, objects) and close the call once every
required argument is there. Among the tokens the model
ranks highest, the best one that keeps the call valid is taken, so a call it opens always parses.

It reads the calls the built-in templates write (desktune/models/templates.py), and the same forms where a
tokenizer's own template writes them: FunctionGemma's markup, `call:NAME{key:value,...}<end_function_call>` with
strings between <escape> marks; Hermes JSON, `<tool_call>{"name": NAME, "arguments": {...}}</tool_call>`. Llama
3.1's calls, JSON lines with no mark that opens them, stay free.
"""

import json
import re

from desktune.infer.tool_calls import ESCAPE, FUNCTIONGEMMA_END, FUNCTIONGEMMA_START, HERMES_END, HERMES_START

SEARCH_WIDTHS = (64, 2048)  # tokens ranked by the model, tried in turn; then the spelling tokens (below)
PUNCTUATION = ',]}[{:"<'  # where a model sure of something else must close a value, a list or the call
_NUMBER = {"integer": re.compile(r"-?\d+"), "number": re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")}
_NUMBER_PREFIX = re.compile(r"-?(\d+(\.\d*)?([eE][+-]?\d*)?)?")


class _Incomplete(Exception):
    """The text ran out where the call can still go on."""


class _Invalid(Exception):
    """No text after this makes it a call the tools allow."""


def strict_format(tool_format: str | None) -> bool:
    return tool_format in _READERS


def call_state(text: str, tools: list[dict], tool_format: str = "functiongemma") -> str:
    """'open' (a call begun that can still become valid), 'closed' (the call after the last start mark is a valid
    one, ended), 'invalid', or 'outside' (no call open): for an answer's text so far, in a tool format."""
    opened, reader = max(((text.rfind(r.START), r) for r in _READERS[tool_format]), key=lambda found: found[0])
    if opened < 0:
        return "outside"
    body = text[opened + len(reader.START):]
    closed = body.find(reader.END)
    if closed >= 0:
        body = body[:closed + len(reader.END)]
    try:
        reader(body, {t["name"]: t.get("parameters") or {} for t in tools}).call()
    except _Incomplete:
        return "open"
    except _Invalid:
        return "invalid"
    return "closed"


class StrictCalls:
    """A logits processor for model.generate: inside an open call, only tokens that keep it valid stay possible
    (greedy: the model's best such token; sampling: every such token among its top 64)."""

    def __init__(self, tokenizer, prompt_length: int, tools: list[dict], tool_format: str, greedy: bool):
        self.tokenizer, self.prompt_length, self.tools, self.greedy = tokenizer, prompt_length, tools, greedy
        self.tool_format = tool_format
        self.spelling = spelling_tokens(tokenizer, tools)

    def __call__(self, input_ids, scores):
        for row, ids in enumerate(input_ids[:, self.prompt_length:].tolist()):
            text = self._text(ids)
            if call_state(text, self.tools, self.tool_format) == "open":
                allowed = self._allowed(ids, text, scores[row])
                if allowed:
                    keep = scores[row, allowed].clone()
                    scores[row] = float("-inf")
                    scores[row, allowed] = keep
        return scores

    def _allowed(self, ids: list[int], before: str, row_scores) -> list[int]:
        """The best tokens that keep the call valid; none (the model goes free, its call shown unparsed) only where
        neither its top 2048 nor a spelling token does."""
        tried = 0
        for width in SEARCH_WIDTHS + (None,):
            if width is None:
                ranked = sorted(self.spelling, key=lambda token: -row_scores[token].item())
            else:
                ranked = row_scores.topk(min(width, row_scores.shape[-1])).indices.tolist()[tried:]
                tried += len(ranked)
            found = []
            for token in ranked:
                if self._keeps_valid(ids + [token], before):
                    found.append(token)
                    if self.greedy:
                        break
            if found:
                return found
        return []

    def _keeps_valid(self, ids: list[int], before: str) -> bool:
        after = self._text(ids)  # a token that adds no text (one the tokenizer lacks) makes no progress
        return after != before and call_state(after, self.tools, self.tool_format) in ("open", "closed")

    def _text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)


def spelling_tokens(tokenizer, tools: list[dict]) -> list[int]:
    """The tokens that close a value, a list or the call, and those that spell the rest of any declared name
    from any letter on: where the model began a name with a piece none of its likely tokens continues (`ame`
    of `amenities`), one of these finishes it."""
    words = set(PUNCTUATION)
    for tool in tools:
        words |= {tool["name"], *_schema_words(tool.get("parameters") or {})}
    tokens = set()
    for word in words:
        for start in range(len(word)):
            tokens.update(tokenizer.encode(word[start:], add_special_tokens=False)[:1])
    return sorted(tokens)


def _schema_words(schema: dict) -> set[str]:
    """Argument names and enum members, at any depth."""
    words = {str(member) for member in schema.get("enum") or []}
    for name, inner in (schema.get("properties") or {}).items():
        words |= {name, *_schema_words(inner)}
    if isinstance(schema.get("items"), dict):
        words |= _schema_words(schema["items"])
    return words


class _MarkupReader:
    """Reads FunctionGemma's `call:NAME{...}<end_function_call>` against the declared functions (name ->
    parameters schema); raises _Incomplete where the text stops short of a valid call, _Invalid where it leaves
    the schema."""
    START, END, QUOTE = FUNCTIONGEMMA_START, FUNCTIONGEMMA_END, ESCAPE

    def __init__(self, text: str, functions: dict[str, dict]):
        self.text, self.at, self.functions = text, 0, functions

    def call(self) -> None:
        self._literal("call:")
        name = self._word(list(self.functions), "{")
        self._object(self.functions[name])
        self._literal(self.END)

    def _key(self, choices: list[str] | None) -> str:
        key = self._word(choices, ":")
        self.at += 1
        return key

    def _string(self) -> None:
        self._literal(ESCAPE)
        end = self.text.find(ESCAPE, self.at)
        if end < 0:
            raise _Incomplete()
        self.at = end + len(ESCAPE)

    def _written(self, value: object) -> str:
        """An enum member as the call writes it."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return "null"
        return f"{ESCAPE}{value}{ESCAPE}" if isinstance(value, str) else str(value)

    def _space(self) -> None:
        """Markup has no room for spaces between its parts."""

    def _object(self, schema: dict) -> None:
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else None
        required = set(schema.get("required") or [])
        used: set[str] = set()
        self._token("{")
        if self._peek() == "}" and not required - used:
            self.at += 1
            return
        while True:
            choices = None if properties is None else [k for k in properties if k not in used]
            if choices == []:
                raise _Invalid("no argument left to give")
            key = self._key(choices)
            used.add(key)
            self._value({} if properties is None else properties[key])
            following = self._peek()
            if following == "}" and not required - used:
                self.at += 1
                return
            if following != ",":
                raise _Invalid("expected ',' or the end of the arguments")
            self.at += 1

    def _value(self, schema: dict) -> None:
        self._space()
        kind = schema.get("type") if isinstance(schema.get("type"), str) else None
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            self._choice(sorted((self._written(v) for v in schema["enum"]), key=len, reverse=True))
        elif kind == "string":
            self._string()
        elif kind in _NUMBER:
            self._number(_NUMBER[kind])
        elif kind == "boolean":
            self._choice(["true", "false"])
        elif kind == "null":
            self._choice(["null"])
        elif kind == "array":
            self._array(schema.get("items") if isinstance(schema.get("items"), dict) else {})
        elif kind == "object":
            self._object(schema)
        else:
            self._any_value()

    def _any_value(self) -> None:
        rest = self.text[self.at:]
        if not rest or self.QUOTE.startswith(rest):
            raise _Incomplete()
        if rest.startswith(self.QUOTE):
            self._string()
        elif rest[0] == "{":
            self._object({})
        elif rest[0] == "[":
            self._array({})
        else:
            end = re.match(r"[^,}\]<{\[:\s]*", rest).end()
            if end == len(rest):
                raise _Incomplete()
            if end == 0:
                raise _Invalid("expected a value")
            self.at += end

    def _array(self, items: dict) -> None:
        self._token("[")
        if self._peek() == "]":
            self.at += 1
            return
        while True:
            self._value(items)
            following = self._peek()
            self.at += 1
            if following == "]":
                return
            if following != ",":
                raise _Invalid("expected ',' or ']'")

    def _number(self, pattern: re.Pattern) -> None:
        rest = self.text[self.at:]
        end = len(rest) - len(rest.lstrip("0123456789-+.eE"))
        if end == len(rest):
            if _NUMBER_PREFIX.fullmatch(rest) and (pattern is _NUMBER["number"] or "." not in rest):
                raise _Incomplete()
            raise _Invalid("not a number")
        if not pattern.fullmatch(rest[:end]):
            raise _Invalid("not a number of this type")
        self.at += end

    def _word(self, choices: list[str] | None, ending: str) -> str:
        """A name up to `ending` (not taken): one of choices, or (None) any name without markup characters."""
        rest = self.text[self.at:]
        end = rest.find(ending)
        word = rest if end < 0 else rest[:end]
        if any(c in word for c in "{}[],:<>") or (end == 0):
            raise _Invalid("not a name")
        if end < 0:
            if choices is None or any(c.startswith(word) for c in choices):
                raise _Incomplete()
            raise _Invalid("not a declared name")
        if choices is not None and word not in choices:
            raise _Invalid("not a declared name")
        self.at += end
        return word

    def _choice(self, options: list[str]) -> None:
        rest = self.text[self.at:]
        for option in options:
            if rest.startswith(option):
                self.at += len(option)
                return
        if any(option.startswith(rest) for option in options):
            raise _Incomplete()
        raise _Invalid("not one of the allowed values")

    def _literal(self, expected: str) -> None:
        rest = self.text[self.at:self.at + len(expected)]
        if rest != expected:
            raise _Incomplete() if expected.startswith(rest) else _Invalid(f"expected {expected!r}")
        self.at += len(expected)

    def _token(self, expected: str) -> None:
        self._space()
        self._literal(expected)

    def _peek(self) -> str:
        self._space()
        if self.at >= len(self.text):
            raise _Incomplete()
        return self.text[self.at]


class _JsonReader(_MarkupReader):
    """Reads Hermes' `<tool_call>{"name": NAME, "arguments": {...}}</tool_call>` (spaces and newlines allowed
    between the parts, as JSON allows them)."""
    START, END, QUOTE = HERMES_START, HERMES_END, '"'

    def call(self) -> None:
        for part in ("{", '"name"', ":", '"'):
            self._token(part)
        name = self._word(list(self.functions), '"')
        for part in ('"', ",", '"arguments"', ":"):
            self._token(part)
        self._object(self.functions[name])
        self._token("}")
        self._token(self.END)

    def _key(self, choices: list[str] | None) -> str:
        self._token('"')
        key = self._word(choices, '"')
        self.at += 1
        self._token(":")
        return key

    def _string(self) -> None:
        self._token('"')
        at = self.at
        while at < len(self.text):
            if self.text[at] == "\\":
                at += 2
                continue
            if self.text[at] == '"':
                self.at = at + 1
                return
            if self.text[at] in "\n\r":
                raise _Invalid("a line break inside a JSON string")
            at += 1
        raise _Incomplete()

    def _written(self, value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    def _space(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in " \t\r\n":
            self.at += 1


_READERS = {"functiongemma": (_MarkupReader,), "hermes-json": (_JsonReader,),
            "tokenizer template": (_MarkupReader, _JsonReader)}
