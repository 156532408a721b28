"""Normalise every supported row format to messages (a list of {'role', 'content'}) or plain text."""

from desktune.data.tools import (SHAREGPT_TOOL_TURNS, ToolTurns, current_turns, declared_tools, is_tool_chat, read_tools,
                                 sharegpt_turn, text_of, xlam_messages)
from desktune.errors import DataError

ROLES = {"system", "user", "assistant"}
# "tool": Hermes function-calling sets write calls as <tool_call> text and bring each result back as a "tool"
# turn of <tool_response> text: the user side of a plain chat (results in a row joined into one turn).
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system",
                  "tool": "user"}


def detect(row: object) -> str:
    if isinstance(row, dict):
        if "messages" in row:
            return "messages"
        if "conversations" in row:
            return "sharegpt"
        if "instruction" in row and "output" in row:
            return "alpaca"
        if "prompt" in row and "completion" in row:
            return "prompt_completion"
        if "query" in row and "answers" in row:
            return "xlam"
        if "chosen" in row or "rejected" in row:
            return "preference"
        if "text" in row:
            return "text"
    return "unknown"


def normalise(row: object, where: str, fmt: str = "auto") -> list[dict] | str:
    """The row as validated messages, or as text for the text format; DataError names the row and problem."""
    return normalise_with_tools(row, where, fmt)[0]


def normalise_with_tools(row: object, where: str, fmt: str = "auto") -> tuple[list[dict] | str, list[dict] | None]:
    """normalise(), and the row's tools beside it (None for a row without tools or tool turns)."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}",
                        'write each example as {"messages": [{"role": "user", "content": "..."}, ...]}')
    kind = detect(row)
    if fmt != "auto" and kind != fmt:
        raise DataError(f"{where}: the row is not in data.format={fmt} (it has keys {sorted(row)})",
                        "fix the row, or set data.format=auto")
    if kind == "messages":
        messages = current_turns(row["messages"])
    elif kind == "sharegpt":
        messages = _sharegpt(row, where)
    elif kind == "alpaca":
        prompt = "\n\n".join(s for s in (row.get("instruction"), row.get("input")) if isinstance(s, str) and s)
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]
    elif kind == "prompt_completion":
        messages = [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}]
    elif kind == "xlam":
        messages = xlam_messages(row, where)
    elif kind == "preference":
        raise DataError(f"{where}: a preference pair (chosen / rejected), and train.objective=sft learns one answer",
                        "set train.objective=dpo (or orpo) to learn which answer to prefer")
    elif kind == "text":
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: 'text' is empty or not a string", "each text row needs some text")
        return text, None
    else:
        raise DataError(f"{where}: unknown row format with keys {sorted(row)}",
                        "use messages, conversations (ShareGPT), instruction/output (Alpaca), prompt/completion, "
                        "query/tools/answers (xLAM) or text")
    tools = read_tools(declared_tools(row), where) if is_tool_chat(row, messages) else None
    if kind == "sharegpt":  # named as the file names them; LLaMA-Factory's system column becomes the system turn
        return _with_system(row.get("system"), validate_messages(messages, where, tools, "conversations")), tools
    return validate_messages(messages, where, tools), tools


def _sharegpt(row: dict, where: str) -> list[dict]:
    turns = row["conversations"]
    if not isinstance(turns, list):
        raise DataError(f"{where}: 'conversations' must be a list", 'use [{"from": "human", "value": "..."}, ...]')
    out = []
    for i, turn in enumerate(turns):
        if isinstance(turn, dict) and turn.get("from") in SHAREGPT_TOOL_TURNS:
            out.append(sharegpt_turn(turn, f"{where}: conversations[{i}]"))
            continue
        if not isinstance(turn, dict) or turn.get("from") not in SHAREGPT_ROLES:
            raise DataError(f"{where}: conversations[{i}] has no known 'from'",
                            f"use one of {sorted(SHAREGPT_ROLES) + list(SHAREGPT_TOOL_TURNS)}")
        value = turn.get("value")
        if turn["from"] == "tool" and i and turns[i - 1].get("from") == "tool" and isinstance(value, str):
            out[-1] = {**out[-1], "content": f"{out[-1]['content']}\n{value}"}
            continue
        out.append({"role": SHAREGPT_ROLES[turn["from"]], "content": value})
    return out


def _with_system(system: object, messages: list[dict]) -> list[dict]:
    if isinstance(system, str) and system.strip() and messages[0]["role"] != "system":
        return [{"role": "system", "content": system}, *messages]
    return messages


def validate_messages(messages: object, where: str, tools: list[dict] | None = None, field: str = "messages"
                      ) -> list[dict]:
    """Plain turns as {'role', 'content'}; with tools (a tool chat), calls and results checked by ToolTurns.
    field: what the row calls its turns, for the error's place."""
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: '{field}' must be a non-empty list", 'use [{"role": "user", "content": "..."}, ...]')
    clean = []
    tool_turns = ToolTurns(tools) if tools is not None else None
    for i, m in enumerate(messages):
        at = f"{where}: {field}[{i}]"
        if tool_turns is not None and tool_turns.owns(m):
            clean.append(_weighted(tool_turns.take(m, at), m, at))
            continue
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise DataError(f"{at} needs 'role' and 'content'", '{"role": "user", "content": "..."}')
        if m["role"] not in ROLES:
            raise DataError(f"{at} has unknown role '{m['role']}'", f"roles: {', '.join(sorted(ROLES))}")
        content = text_of(m["content"])
        if not isinstance(content, str) or not content.strip():
            raise DataError(f"{at} ({m['role']}) has empty or non-text content",
                            "content must be a non-empty string (or a list of text parts)")
        clean.append(_weighted({"role": m["role"], "content": content}, m, at))
    if not any(m["role"] == "assistant" and m.get("weight", 1) for m in clean):
        raise DataError(f"{where}: no assistant turn to learn from", "each example needs at least one assistant message"
                        " (with weight 1, where the row gives weights)")
    return clean


def _weighted(clean: dict, message: dict, at: str) -> dict:
    """OpenAI's fine-tuning format: an assistant message with "weight": 0 is context, not a target."""
    weight = message.get("weight")
    if weight is None or clean["role"] != "assistant":
        return clean
    if weight not in (0, 1) or isinstance(weight, bool):
        raise DataError(f"{at}: 'weight' is {weight!r}", "an assistant message's weight is 0 (do not train on it) or 1")
    return {**clean, "weight": 0} if weight == 0 else clean
