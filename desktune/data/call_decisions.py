"""The tokens where a turn's tool calls are decided: which function, whether each argument is passed, where the
arguments close, whether another call follows.

A small model tuned on a few hundred call turns learns the copy-like rest of a call (names, values, brackets) in an
epoch, but these few tokens barely move a mean token loss: the built-in, fully tuned on the bundled tool set, still
gave its own training turns that call twice the 6-16% chance of a second call it gave those that call once.
train.call_decision_weight counts them that many times in the loss.

Found without knowing the call format: the turn is rendered again with one thing changed (one call more or one
left out, an argument left out or one more, another declared function's name), and the first token where the two
renderings part is the one where the model chose.
"""

EXTRA_ARGUMENT = "zz_extra"  # a name no schema declares: rendering it shows where the arguments close


def decision_tokens(chat, messages: list[dict], i: int, tools: list[dict] | None, ids: list[int],
                    span: tuple[int, int]) -> list[int]:
    """Indices into ids (the conversation's tokens; messages[i], a turn that calls, spans span) of the tokens
    where its calls are decided."""
    start, end = span
    found = set()
    for changed in variants(messages[i], tools):
        other = chat.tokens(chat.render(messages[:i] + [changed], tools=tools))
        at = first_difference(ids, other)
        if start <= at < end:
            found.add(at)
    return sorted(found)


def variants(turn: dict, tools: list[dict] | None):
    """The turn with one decision taken the other way."""
    calls = turn["tool_calls"]
    names = [t["name"] for t in tools or []]
    yield {**turn, "tool_calls": calls + calls[-1:]}  # one call more: where the calls stop
    for k in range(1, len(calls)):  # a later call left out: where it was chosen
        yield {**turn, "tool_calls": calls[:k] + calls[k + 1:]}
    for k, call in enumerate(calls):
        arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
        changed = [{**call, "arguments": {a: v for a, v in arguments.items() if a != left_out}}
                   for left_out in arguments]
        changed.append({**call, "arguments": {**arguments, EXTRA_ARGUMENT: 0}})
        other = next((n for n in names if n != call["name"]), None)
        if other:
            changed.append({**call, "name": other})
        for c in changed:
            yield {**turn, "tool_calls": calls[:k] + [c] + calls[k + 1:]}


def first_difference(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    return next((k for k in range(n) if a[k] != b[k]), n)
