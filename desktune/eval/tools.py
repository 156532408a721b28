"""Scoring tool calls on held-out tool rows: pure functions from expected turns and parsed replies to figures.

Every assistant turn of a held-out tool row is one test: the prompt is the conversation before it (with the row's
tools), the reply is generated and parsed, and it is compared with what the row says. A turn is one of three kinds:
- "call": the row's turn calls functions; right when the model calls the same set of functions with JSON-equal
  arguments (order of calls and of keys aside; 2 and 2.0 equal, "2", 2 and true not);
- "no_call": the row answers in words, no tool result before it: right when the model answers in words, no call;
- "after_result": the row answers in words after a tool result: right the same way.
A turn that is not right says why (its "miss"): words instead of a call, a call that does not parse, a function
the row does not declare, another function or number of calls, or arguments left out, added or of another value.
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


def score_turn(expected: dict, kind: str, reply, declared: set[str] | None = None) -> dict:
    """One held-out turn against the parsed reply (infer.tool_calls.ParsedReply); declared: the row's function
    names (None: not known, an undeclared name counts as another function)."""
    wanted = expected.get("tool_calls") or []
    called = bool(reply.calls or reply.raw_calls)
    score = {
        "kind": kind,
        "calls_made": len(reply.calls) + len(reply.raw_calls),
        "calls_parsed": len(reply.calls),
        "right_function": kind == "call" and not reply.raw_calls and functions_match(wanted, reply.calls),
        "exact_arguments": kind == "call" and not reply.raw_calls and calls_match(wanted, reply.calls),
        "in_words": kind != "call" and not called and bool(reply.content.strip()),
    }
    if kind == "call" and not score["exact_arguments"]:
        score["miss"], score["arguments"] = call_miss(wanted, reply, declared)
    elif kind != "call" and not score["in_words"]:
        score["miss"], score["arguments"] = ("called a function" if called else "said nothing"), {}
    return score


def call_miss(wanted: list[dict], reply, declared: set[str] | None) -> tuple[str, dict]:
    """Why a call turn's reply is not the expected calls: the first reason that applies, and for a reply with the
    right functions, the arguments ("function.key") it left out, added, or gave another value."""
    if not reply.calls and not reply.raw_calls:
        return "answered in words", {}
    if reply.raw_calls:
        return "a call that does not parse", {}
    if declared is not None and any(c["name"] not in declared for c in reply.calls):
        return "a function the row does not declare", {}
    if not functions_match(wanted, reply.calls):
        return ("another number of calls" if len(wanted) != len(reply.calls) else "another declared function"), {}
    diff = {"left out": [], "added": [], "other value": []}
    unmatched = list(reply.calls)
    for call in wanted:
        got = max((c for c in unmatched if c["name"] == call["name"]), key=lambda c: _same_values(call, c))
        unmatched.remove(got)
        want_args, got_args = call.get("arguments") or {}, got.get("arguments") or {}
        for key in sorted(set(want_args) | set(got_args)):
            where = "left out" if key not in got_args else "added" if key not in want_args else \
                "other value" if canonical(want_args[key]) != canonical(got_args[key]) else None
            if where:
                diff[where].append(f"{call['name']}.{key}")
    reason = next((f"arguments {kind}" for kind, keys in diff.items() if keys), "other arguments")
    return reason, {kind: keys for kind, keys in diff.items() if keys}


def _same_values(a: dict, b: dict) -> int:
    x, y = a.get("arguments") or {}, b.get("arguments") or {}
    return sum(k in y and canonical(v) == canonical(y[k]) for k, v in x.items())


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
        "misses": dict(Counter(s["miss"] for s in scores if s.get("miss")).most_common()),
        "arguments_missed": {kind: dict(Counter(key for s in scores for key in s.get("arguments", {}).get(kind, []))
                                        .most_common()) for kind in ("left out", "added", "other value")},
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
    calls = "strict calls" if tools.get("strict_calls", True) else "calls not strict"
    if tools.get("balanced_calls"):
        calls += f", balanced at {tools['balanced_calls']:g}"
    lines = [f"tool calls on {tuned['turns']} held-out assistant turns ({calls}), base -> tuned:"]
    for label, key, count in rows:
        of = f"{tuned[count]} turns" if count else f"{base['calls_made']} / {tuned['calls_made']} calls made"
        lines.append(f"  {label:<40} {_shown(base[key])} -> {_shown(tuned[key])}   ({of})")
    if tuned.get("misses"):
        lines.append("  where the tuned model missed: " + ", ".join(f"{n} {why}" for why, n in tuned["misses"].items()))
    for kind, keys in (tuned.get("arguments_missed") or {}).items():
        if keys:
            lines.append(f"    arguments {kind}: " + ", ".join(f"{key} x{n}" for key, n in list(keys.items())[:6]))
    return lines


def _shown(pct: float | None) -> str:
    return "   -  " if pct is None else f"{pct:5.1f}%"
