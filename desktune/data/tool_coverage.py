"""What a tool set's calls leave a tuned model to guess: optional arguments its calls seldom use, and functions
whose requests are written only a few ways (a tuned model calls a function when asked as its examples ask)."""

import re
from collections import Counter

RARE = 0.2  # an optional argument in fewer than 1 in 5 of its function's calls is seldom learned
# a function whose requests share their wording, one in two or more (values aside), is asked only a few ways: on the
# errands set (benchmarks/README.md) "change 100 JPY into EUR" called get_stock_price, as convert_currency's 11
# requests were written 3 ways ("convert ...", "how much is ...", "... please")
FEW_WORDINGS, MIN_CALLS = 0.5, 4


def rare_arguments(tool_rows: list) -> dict:
    """Optional arguments the calls seldom use, as {"function.key": [calls using it, calls of the function]}: a tuned
    model learns to leave out what its examples leave out."""
    calls, uses = Counter(), Counter()  # uses by (function, argument): a function's name may hold dots
    for e in tool_rows:
        optional = {t["name"]: set(t["parameters"].get("properties") or {}) - set(t["parameters"].get("required") or [])
                    for t in e.tools}
        for call in (c for m in e.messages if m["role"] == "assistant" for c in m.get("tool_calls", [])):
            calls[call["name"]] += 1
            for key in optional.get(call["name"], ()):
                uses[call["name"], key] += key in call["arguments"]
    return {f"{name}.{key}": [n, calls[name]] for (name, key), n in sorted(uses.items()) if n < RARE * calls[name]}


def few_wordings(tool_rows: list) -> dict:
    """Functions whose requests come in few wordings, as {"function": [wordings, calls]}: the requests that called
    each function, their argument values and numbers masked, counted once per wording."""
    calls, wordings = Counter(), {}
    for e in tool_rows:
        request = ""
        for m in e.messages:
            if m["role"] == "user":
                request = m["content"] or ""
            for call in m.get("tool_calls", []) if m["role"] == "assistant" else ():
                calls[call["name"]] += 1
                wordings.setdefault(call["name"], set()).add(wording(request, m["tool_calls"]))
    return {name: [len(wordings[name]), n] for name, n in sorted(calls.items())
            if n >= MIN_CALLS and len(wordings[name]) < FEW_WORDINGS * n}


def wording(request: str, calls: list[dict]) -> str:
    """The request lower-cased with the turn's argument values as {}, numbers as #, punctuation as spaces."""
    text = request.lower()
    for value in sorted({v.lower() for c in calls for v in _values(c["arguments"])}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", "{}", text)  # whole words: 2 is not the 2 of 12
    text = re.sub(r"\d+(?:[.,:]\d+)*", "#", text)
    return " ".join(re.sub(r"[^\w{}#]+", " ", text).split())


def _values(arguments) -> list[str]:
    """The strings and numbers inside a call's arguments (nested lists and objects too); booleans say nothing."""
    if isinstance(arguments, dict):
        return [v for a in arguments.values() for v in _values(a)]
    if isinstance(arguments, list):
        return [v for a in arguments for v in _values(a)]
    if isinstance(arguments, bool) or arguments is None:
        return []
    return [str(arguments)] if str(arguments).strip() else []
