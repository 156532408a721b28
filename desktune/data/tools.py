"""Tool-calling rows: the OpenAI and ShareGPT shapes read into one internal shape, every call checked.

The internal shape: an assistant message may carry "tool_calls": [{"name": str, "arguments": dict}] (its
content may then be ""); a tool message is {"role": "tool", "name": str, "content": str}; the row's tools are
[{"name", "description", "parameters"}]. Rows with neither tools nor tool turns never come here, so a plain
chat keeps exactly the dicts it had.
"""

import ast
import json
import re

from desktune.errors import DataError

TOOLS_HINT = ('write tools as a list of functions: [{"type": "function", "function": {"name": "get_weather", '
              '"description": "...", "parameters": {"type": "object", "properties": {...}}}}]')
ARGUMENTS_HINT = 'write arguments as a JSON object, e.g. {"city": "Paris"}'
SHAREGPT_TOOL_TURNS = ("function_call", "observation")  # LLaMA-Factory's names for a call and its result
OLD_RESULT_ROLES = ("function", "ipython")  # OpenAI's deprecated function role; Llama 3.1's name for a tool result
XLAM_HINT = 'write answers as a JSON list of calls: [{"name": "get_weather", "arguments": {"city": "Paris"}}]'


def has_tool_turns(messages: object) -> bool:
    """Whether a conversation calls tools or holds tool results (a None, as parquet columns fill them, is none)."""
    return isinstance(messages, list) and any(
        isinstance(m, dict) and (m.get("role") == "tool" or (m.get("role") == "assistant" and m.get("tool_calls")))
        for m in messages)


def declared_tools(row: dict) -> object:
    """The row's tools: 'tools', or 'functions' as OpenAI's deprecated function calling wrote them."""
    return row["tools"] if row.get("tools") is not None else row.get("functions")


def current_turns(messages: object) -> object:
    """OpenAI's deprecated function calling (an assistant 'function_call', a 'function' result) and Llama 3.1's
    'ipython' result in today's shape: tool_calls and tool messages."""
    if not isinstance(messages, list):
        return messages
    out = []
    for m in messages:
        if isinstance(m, dict) and m.get("role") in OLD_RESULT_ROLES:
            m = {**m, "role": "tool"}
        elif isinstance(m, dict) and m.get("role") == "assistant" and m.get("function_call") and not m.get("tool_calls"):
            m = {**{k: v for k, v in m.items() if k != "function_call"}, "tool_calls": [m["function_call"]]}
        out.append(m)
    return out


def xlam_messages(row: dict, where: str) -> list[dict]:
    """Salesforce xLAM's single-turn rows (query, tools, answers: the calls as a JSON list) as messages."""
    answers = row["answers"]
    if isinstance(answers, str):
        answers = _json(answers, f"{where}: 'answers'", XLAM_HINT)
    if not isinstance(answers, list) or not answers:
        raise DataError(f"{where}: 'answers' holds no call to learn", XLAM_HINT)
    return [{"role": "user", "content": row["query"]}, {"role": "assistant", "content": "", "tool_calls": answers}]


def is_tool_chat(row: dict, messages: object) -> bool:
    declared = declared_tools(row)
    if isinstance(declared, str):
        declared = declared.strip() not in ("", "[]")
    return bool(declared) or has_tool_turns(messages)


def read_tools(value: object, where: str) -> list[dict]:
    """The row's tools as [{"name", "description", "parameters"}], from a list or a JSON string (as TRL stores them)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = _json(value, f"{where}: 'tools'", TOOLS_HINT) if value.strip() else []
    if not isinstance(value, list):
        raise DataError(f"{where}: 'tools' must be a list of functions, got {_json_type(value)}", TOOLS_HINT)
    tools = [_function(tool, f"{where}: tools[{i}]") for i, tool in enumerate(value)]
    names = [t["name"] for t in tools]
    for name in names:
        if names.count(name) > 1:
            raise DataError(f"{where}: 'tools' declares '{name}' twice", "give each function one declaration")
    return tools


def _function(tool: object, at: str) -> dict:
    fn = tool.get("function", tool) if isinstance(tool, dict) else None  # OpenAI wraps it; the bare form does not
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"].strip():
        raise DataError(f"{at} is not a function with a name", TOOLS_HINT)
    parameters = fn.get("parameters") or {"type": "object", "properties": {}}
    if isinstance(parameters, str):
        parameters = _json(parameters, f"{at} ({fn['name']}) 'parameters'", "write parameters as a JSON-schema object")
    if not isinstance(parameters, dict):
        raise DataError(f"{at} ({fn['name']}): 'parameters' must be a JSON-schema object", TOOLS_HINT)
    if _python_style(parameters):
        parameters = _schema_of_python_style(parameters)
    parameters = _without_nulls(parameters)
    _check_schema(parameters, f"{at} ({fn['name']}) parameters")
    return {"name": fn["name"], "description": fn.get("description") or "", "parameters": parameters}


def _check_schema(schema: dict, at: str) -> None:
    """The parts of a JSON schema that calls are checked and decoded against must have their JSON-schema shape."""
    def wrong(key: str, wanted: str):
        return DataError(f"{at}: '{key}' must be {wanted}, not {json.dumps(schema[key])[:40]}",
                         'write the parameters as a JSON schema: {"type": "object", "properties": {"city": {"type": '
                         '"string"}}, "required": ["city"]}')
    checks = {"properties": (dict, "an object of argument schemas"), "required": (list, "a list of argument names"),
              "enum": (list, "a list of values"), "type": ((str, list), "a type name or a list of them")}
    for key, (kind, wanted) in checks.items():
        if key in schema and not isinstance(schema[key], kind):
            raise wrong(key, wanted)
    if any(not isinstance(name, str) for name in schema.get("required", [])):
        raise wrong("required", "a list of argument names")
    if isinstance(schema.get("type"), list) and any(not isinstance(t, str) for t in schema["type"]):
        raise wrong("type", "a type name or a list of them")
    for name, inner in (schema.get("properties") or {}).items():
        if not isinstance(inner, dict):
            raise DataError(f"{at}: argument '{name}' is described by {_json_type(inner)}, not a schema object",
                            'describe each argument as an object, e.g. "city": {"type": "string"}')
        _check_schema(inner, f"{at}.{name}")
    if isinstance(schema.get("items"), dict):
        _check_schema(schema["items"], f"{at}[]")


PYTHON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list": "array",
                "tuple": "array", "dict": "object", **{t: t for t in ("string", "integer", "number", "boolean", "array",
                                                                      "object")}}


def _python_style(parameters: dict) -> bool:
    """xLAM writes parameters as {name: {"type": "str", "description": ..., "default": ...}}, not as a JSON schema."""
    return ("properties" not in parameters and parameters.get("type") != "object" and bool(parameters)
            and all(isinstance(spec, dict) for spec in parameters.values()))


def _schema_of_python_style(parameters: dict) -> dict:
    """The JSON schema of xLAM's parameters: "int" is an integer, "List[str]" an array, and an argument with a
    default or an ", optional" type is not required. A type it cannot read ("Union[int, float]") checks nothing."""
    properties, required = {}, []
    for name, spec in parameters.items():
        written = str(spec.get("type") or "")
        word = re.match(r"\s*(?:optional\[)?\s*(\w*)", written, re.IGNORECASE).group(1).lower()
        properties[name] = {k: v for k, v in (("type", PYTHON_TYPES.get(word)), ("description", spec.get("description")),
                                              ("default", spec.get("default"))) if v not in (None, "")}
        if "default" not in spec and "optional" not in written.lower():
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


def _without_nulls(schema: object) -> object:
    # A parquet struct column gives every schema node every key seen in the column, absent ones as None.
    if isinstance(schema, dict):
        return {k: _without_nulls(v) for k, v in schema.items() if v is not None}
    if isinstance(schema, list):
        return [_without_nulls(v) for v in schema]
    return schema


def sharegpt_turn(turn: dict, at: str) -> dict:
    """A LLaMA-Factory function_call turn as an assistant message with tool_calls; an observation as a tool message."""
    value = turn.get("value")
    if turn["from"] == "observation":
        return {"role": "tool", "content": value}
    calls = _json(value, f"{at} (function_call)", 'write it as {"name": "...", "arguments": {...}}') \
        if isinstance(value, str) else value
    return {"role": "assistant", "content": "", "tool_calls": calls if isinstance(calls, list) else [calls]}


class ToolTurns:
    """Reads a conversation's calls and results in order: each call against the row's tools, each result
    against the calls still waiting for one."""

    def __init__(self, tools: list[dict]):
        self.tools = {t["name"]: t for t in tools}
        self.waiting: list[tuple[str | None, str]] = []  # (call id, function name) of calls not yet answered

    @staticmethod
    def owns(message: object) -> bool:
        return has_tool_turns([message])

    def take(self, message: dict, at: str) -> dict:
        if message["role"] == "tool":
            return self._result(message, at)
        raw_calls = message["tool_calls"]
        if not isinstance(raw_calls, list):
            raise DataError(f"{at}: 'tool_calls' must be a list", '[{"type": "function", "function": {"name": ..., '
                            '"arguments": {...}}}]')
        calls = [self._call(raw, f"{at} tool_calls[{j}]") for j, raw in enumerate(raw_calls)]
        self.waiting = [(call_id, call["name"]) for call_id, call in calls]
        content = text_of(message.get("content"))
        if content is not None and not isinstance(content, str):
            raise DataError(f"{at} (assistant): content must be text (or empty when it calls)",
                            "content must be a string")
        return {"role": "assistant", "content": content or "", "tool_calls": [call for _, call in calls]}

    def _call(self, raw: object, at: str) -> tuple[str | None, dict]:
        fn = raw.get("function", raw) if isinstance(raw, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise DataError(f"{at} is not a call with a function name",
                            '{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}')
        name = fn["name"]
        if name not in self.tools:
            declared = ", ".join(self.tools) or "none declared"
            raise DataError(f"{at} calls '{name}', which is not in the row's tools ({declared})",
                            "declare the function in the row's 'tools', or fix the call's name")
        arguments = fn["arguments"] if "arguments" in fn else fn.get("parameters")  # Llama 3.1 writes "parameters"
        if isinstance(arguments, str) and not arguments.strip():  # "": no arguments, as some exports write it
            arguments = None
        if isinstance(arguments, str):
            arguments = _arguments(arguments, f"{at} ({name}) arguments")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise DataError(f"{at} ({name}): arguments are {_json_type(arguments)}, not a JSON object", ARGUMENTS_HINT)
        arguments = _without_unset(arguments, self.tools[name]["parameters"])
        _check_object(arguments, self.tools[name]["parameters"], "", f"{at} ({name})")
        return raw.get("id"), {"name": name, "arguments": arguments}

    def _result(self, message: dict, at: str) -> dict:
        call_id, name = message.get("tool_call_id"), message.get("name")
        answered = self._answered(call_id, name)
        if answered is None:
            which = f" '{call_id or name}'" if call_id or name else ""
            raise DataError(f"{at}: a tool message with no preceding call{which}",
                            "put each tool result after the assistant message whose tool_calls it answers")
        self.waiting.remove(answered)
        content = _result_text(message.get("content"))
        if content is None:
            raise DataError(f"{at} (tool): content must be text or a JSON value",
                            "put the function's result in 'content'")
        return {"role": "tool", "name": answered[1], "content": content}

    def _answered(self, call_id: str | None, name: str | None) -> tuple | None:
        """The waiting call a result answers: by its call id, else by name, else (neither given) the next one."""
        for key, value in ((0, call_id), (1, name)):
            found = [w for w in self.waiting if value and w[key] == value]
            if found:
                return found[0]
        return self.waiting[0] if self.waiting and not call_id and not name else None


def _arguments(text: str, what: str) -> object:
    """A call's arguments from their JSON text; JSON encoded twice (as some exports write it) is read through."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        hint = ("these are a Python dict's repr (single quotes, True, None): write them with json.dumps"
                if _python_dict(text) else ARGUMENTS_HINT)
        raise DataError(f"{what} is not valid JSON ({e.msg} at character {e.pos})", hint) from None
    if isinstance(value, str) and value.strip().startswith("{"):
        return _arguments(value, what)
    return value


def _python_dict(text: str) -> bool:
    try:
        return isinstance(ast.literal_eval(text.strip()), dict)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return False


def text_of(content: object) -> object:
    """OpenAI's content as text: a list of text parts joined; anything else as it is."""
    if isinstance(content, list) and content and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    return content


def _result_text(content: object) -> str | None:
    """A tool result as the text the template writes: text (or text parts), any other JSON value as JSON."""
    content = text_of(content)
    if content is None or isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False)


JSON_TYPES = {"string": "a string", "number": "a number", "integer": "an integer", "boolean": "a boolean",
              "array": "an array", "object": "an object", "null": "null"}


def _without_unset(arguments: dict, schema: dict) -> dict:
    """An optional argument written as null (as exports write one not given) is left out, where its schema does not
    allow null itself."""
    required = set(schema.get("required") or [])
    properties = schema.get("properties") or {}
    return {k: v for k, v in arguments.items()
            if v is not None or k in required or _allows_null(properties.get(k) or {})}


def _allows_null(schema: dict) -> bool:
    types = schema.get("type")
    return bool(schema.get("nullable")) or types == "null" or isinstance(types, list) and "null" in types


def _check_object(value: dict, schema: dict, path: str, at: str) -> None:
    for name in schema.get("required") or []:
        if name not in value:
            raise DataError(f"{at}: missing required argument '{path}{name}'",
                            "add it to the call's arguments, or drop it from the function's 'required' list")
    properties = schema.get("properties") or {}
    for key, item in value.items():
        if isinstance(properties.get(key), dict):
            _check_value(item, properties[key], f"{path}{key}", at)


def _check_value(value: object, schema: dict, path: str, at: str) -> None:
    """The JSON-schema checks a call's data most often breaks: type, enum, and the same inside objects and arrays."""
    if value is None and _allows_null(schema):
        return
    if schema.get("enum") is not None and not any(_same(value, member) for member in schema["enum"]):
        raise DataError(f"{at}: argument '{path}' is {json.dumps(value)}, not one of {json.dumps(schema['enum'])}",
                        "use a value the function's schema allows")
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if types and not any(_is_type(value, t) for t in types):
        wanted = " or ".join(JSON_TYPES.get(t, t) for t in types)
        raise DataError(f"{at}: argument '{path}' is {_json_type(value)} ({json.dumps(value)[:40]}), "
                        f"but the schema wants {wanted}",
                        "fix the argument's value, or its type in the function's parameters")
    if isinstance(value, dict):
        _check_object(value, schema, f"{path}.", at)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _check_value(item, schema["items"], f"{path}[{i}]", at)


def _same(value: object, member: object) -> bool:
    """JSON equality: true is not 1."""
    return value == member and isinstance(value, bool) == isinstance(member, bool)


def _is_type(value: object, name: str) -> bool:
    if name == "integer":  # JSON does not tell 2 from 2.0; a bool is not a number
        whole = isinstance(value, int) or isinstance(value, float) and value.is_integer()
        return whole and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    kinds = {"string": str, "boolean": bool, "array": list, "object": dict, "null": type(None)}
    return name not in kinds or isinstance(value, kinds[name])  # an unknown type name checks nothing


def _json_type(value: object) -> str:
    kinds = [(bool, "a boolean"), (str, "a string"), (int, "an integer"), (float, "a number"), (list, "an array"),
             (dict, "an object"), (type(None), "null")]
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _json(text: str, what: str, hint: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{what} is not valid JSON ({e.msg} at character {e.pos})", hint) from None


def openai_messages(messages: list[dict]) -> list[dict]:
    """The internal shape as chat templates read it: calls as {"type": "function", "function": {name, arguments}}
    with arguments a dict (Qwen's and Llama's templates write them with tojson)."""
    return [{**m, "tool_calls": [{"type": "function", "function": call} for call in m["tool_calls"]]}
            if m.get("tool_calls") else m for m in messages]


def openai_tools(tools: list[dict]) -> list[dict]:
    return [{"type": "function", "function": tool} for tool in tools]
