"""Scoring tool calls on held-out tool rows: pure functions from expected turns and parsed replies to figures.

Every assistant turn of a held-out tool row is one test: the prompt is the conversation before it (with the row's
tools), the reply is generated and parsed, and it is compared with what the row says. A turn is one of three kinds:
- "call": the row's turn calls functions; right when the model calls the same set of functions with JSON-equal
  arguments (order of calls and of keys aside; 2 and 2.0 equal, "2", 2 and true not);
- "no_call": the row answers in words, no tool result before it: right when the model answers in words, no call;
- "after_result": the row answers in words after a tool result: right the same way.
"""

from collections import Counter

KINDS = ("call", "no_call", "after_result")


def tool_turns(messages: list[dict]) -> list[tuple[list[dict], dict, str]]:
    """(prompt, expected assistant turn, kind) for each assistant turn of a conversation."""
    return [(messages[:i], m, turn_kind(messages[:i], m)) for i, m in enumerate(messages) if m["role"] == "assistant"]


def turn_kind(prompt: list[dict], expected: dict) -> str:
    if expected.get("tool_calls"):
        return "call"
    return "after_result" if prompt and prompt[-1]["role"] == "tool" else "no_call"


def canonical(value: object) -> object:
    """A hashable form in which JSON-equal values are equal: key order ignored, a bool never a number."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, (int, float)):
        return ("number", float(value))
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, canonical(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("array", tuple(canonical(v) for v in value))
    return ("other", repr(value))


def calls_match(expected: list[dict], got: list[dict]) -> bool:
    """The same calls, each with JSON-equal arguments, in any order (a multiset: calling twice is not once)."""
    return Counter(_call_key(c) for c in expected) == Counter(_call_key(c) for c in got)


def functions_match(expected: list[dict], got: list[dict]) -> bool:
    return Counter(c["name"] for c in expected) == Counter(c["name"] for c in got)


def _call_key(call: dict) -> tuple:
    return call["name"], canonical(call.get("arguments") or {})


def score_turn(expected: dict, kind: str, reply) -> dict:
    """One held-out turn against the parsed reply (infer.tool_calls.ParsedReply)."""
    wanted = expected.get("tool_calls") or []
    called = bool(reply.calls or reply.raw_calls)
    return {
        "kind": kind,
        "calls_made": len(reply.calls) + len(reply.raw_calls),
        "calls_parsed": len(reply.calls),
        "right_function": kind == "call" and not reply.raw_calls and functions_match(wanted, reply.calls),
        "exact_arguments": kind == "call" and not reply.raw_calls and calls_match(wanted, reply.calls),
        "in_words": kind != "call" and not called and bool(reply.content.strip()),
    }


def summarize(scores: list[dict]) -> dict:
    """Counts and percentages over scored turns; a figure with no turn to measure it on is None."""
    by_kind = {kind: [s for s in scores if s["kind"] == kind] for kind in KINDS}
    calls = by_kind["call"]
    made = sum(s["calls_made"] for s in scores)
    return {
        "turns": len(scores),
        "call_turns": len(calls),
        "no_call_turns": len(by_kind["no_call"]),
        "after_result_turns": len(by_kind["after_result"]),
        "right_function_pct": _pct(sum(s["right_function"] for s in calls), len(calls)),
        "exact_arguments_pct": _pct(sum(s["exact_arguments"] for s in calls), len(calls)),
        "calls_made": made,
        "calls_parse_pct": _pct(sum(s["calls_parsed"] for s in scores), made),
        "no_call_in_words_pct": _pct(sum(s["in_words"] for s in by_kind["no_call"]), len(by_kind["no_call"])),
        "after_result_in_words_pct": _pct(sum(s["in_words"] for s in by_kind["after_result"]),
                                          len(by_kind["after_result"])),
    }


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def summary_lines(tools: dict) -> list[str]:
    """The figures, base -> tuned, as desktune eval prints them."""
    base, tuned = tools["base"], tools["tuned"]
    rows = [("right function", "right_function_pct", "call_turns"),
            ("exact arguments (JSON-equal)", "exact_arguments_pct", "call_turns"),
            ("calls that parse", "calls_parse_pct", None),
            ("no call needed: answered in words", "no_call_in_words_pct", "no_call_turns"),
            ("after a tool result: answered in words", "after_result_in_words_pct", "after_result_turns")]
    lines = [f"tool calls on {tuned['turns']} held-out assistant turns, base -> tuned:"]
    for label, key, count in rows:
        of = f"{tuned[count]} turns" if count else f"{base['calls_made']} / {tuned['calls_made']} calls made"
        lines.append(f"  {label:<40} {_shown(base[key])} -> {_shown(tuned[key])}   ({of})")
    return lines


def _shown(pct: float | None) -> str:
    return "   -  " if pct is None else f"{pct:5.1f}%"
