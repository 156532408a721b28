"""Strict tool calls: which texts keep a call within the declared functions, in FunctionGemma's markup and in
Hermes JSON (the readers the logits processor asks, token by token). The processor itself runs in
test_tool_calls.py, on a tuned tiny model."""

import pytest

from desktune.infer.strict_calls import call_state

S, E, X = "<start_function_call>", "<end_function_call>", "<escape>"
H, HE = "<tool_call>", "</tool_call>"
TOOLS = [
    {"name": "add_todo", "parameters": {"type": "object", "required": ["title"], "properties": {
        "title": {"type": "string"}, "priority": {"type": "string", "enum": ["low", "high"]}}}},
    {"name": "convert", "parameters": {"type": "object", "required": ["amount"], "properties": {
        "amount": {"type": "number"}, "days": {"type": "integer"}, "exact": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}}, "where": {"type": "object"}, "any": {}}}},
]
CASES = {
    "words, no call": ("Sure, done.", "outside"),
    "the call just opened": (S, "open"),
    "part of a declared name": (S + "call:add_t", "open"),
    "a name nobody declared": (S + "call:order_ink", "invalid"),
    "part of a declared argument": (S + "call:add_todo{pri", "open"),
    "an argument the function lacks": (S + "call:add_todo{due:", "invalid"),
    "an argument given twice": (S + f"call:add_todo{{title:{X}a{X},title:", "invalid"),
    "closing before a required argument": (S + "call:add_todo{}", "invalid"),
    "a string still being written": (S + f"call:add_todo{{title:{X}buy mi", "open"),
    "part of an enum member": (S + f"call:add_todo{{title:{X}a{X},priority:{X}hi", "open"),
    "a value outside the enum": (S + f"call:add_todo{{title:{X}a{X},priority:{X}urgent", "invalid"),
    "a whole call": (S + f"call:add_todo{{priority:{X}high{X},title:{X}a{X}}}" + E, "closed"),
    "the end mark being written": (S + f"call:add_todo{{title:{X}a{X}}}<end_fun", "open"),
    "the turn ended inside the call": (S + f"call:add_todo{{title:{X}a{X}}}<end_of_turn>", "invalid"),
    "a number": (S + "call:convert{amount:-12.5", "open"),
    "a word for a number": (S + "call:convert{amount:in", "invalid"),
    "a fraction for an integer": (S + "call:convert{amount:1,days:2.", "invalid"),
    "an integer, then more": (S + "call:convert{amount:1,days:20}" + E, "closed"),
    "part of a boolean": (S + "call:convert{amount:1,exact:tr", "open"),
    "a word for a boolean": (S + "call:convert{amount:1,exact:yes", "invalid"),
    "a list of strings": (S + f"call:convert{{amount:1,tags:[{X}a{X},{X}b{X}]}}" + E, "closed"),
    "a bare value in a list of strings": (S + "call:convert{amount:1,tags:[a", "invalid"),
    "a free object": (S + f"call:convert{{amount:1,where:{{lat:48.8,name:{X}x{X}}}}}" + E, "closed"),
    "an untyped argument": (S + "call:convert{amount:1,any:[1,true]}" + E, "closed"),
    "a second call after a whole one": (S + f"call:add_todo{{title:{X}a{X}}}" + E + S + "call:con", "open"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_call_is_open_closed_or_invalid_against_the_declarations(case):
    text, state = CASES[case]
    assert call_state(text, TOOLS) == state


JSON_CASES = {
    "words, no call": ('I can add that: {"title": "x"}', "outside"),
    "the call just opened, a line break after the mark": (H + "\n", "open"),
    "part of a declared name": (H + '\n{"name": "add_t', "open"),
    "a name nobody declared": (H + '\n{"name": "order_ink"', "invalid"),
    "the arguments before the name": (H + '\n{"arguments"', "invalid"),
    "part of a declared argument": (H + '\n{"name": "add_todo", "arguments": {"pri', "open"),
    "an argument the function lacks": (H + '\n{"name": "add_todo", "arguments": {"due"', "invalid"),
    "a string with an escaped quote": (H + '\n{"name": "add_todo", "arguments": {"title": "say \\"hi', "open"),
    "closing before a required argument": (H + '{"name": "add_todo", "arguments": {}', "invalid"),
    "a value outside the enum": (H + '{"name": "add_todo", "arguments": {"title": "a", "priority": "urgent"',
                                 "invalid"),
    "a whole call, spaced as Qwen writes it": (
        H + '\n{"name": "add_todo", "arguments": {"title": "a", "priority": "high"}}\n' + HE, "closed"),
    "a whole call, compact": (H + '{"name":"convert","arguments":{"amount":2.5,"tags":["a"],"exact":false}}' + HE,
                              "closed"),
    "a word for a number": (H + '{"name": "convert", "arguments": {"amount": ten', "invalid"),
    "the turn ended inside the call": (H + '{"name": "add_todo", "arguments": {"title": "a"}}<|im_end|>', "invalid"),
}


@pytest.mark.parametrize("case", JSON_CASES)
def test_a_hermes_json_call_is_open_closed_or_invalid_against_the_declarations(case):
    text, state = JSON_CASES[case]
    assert call_state(text, TOOLS, "hermes-json") == state


def test_a_tokenizer_s_own_template_is_read_in_the_form_its_call_opens_with():
    assert call_state(H + '{"name": "add_t', TOOLS, "tokenizer template") == "open"
    assert call_state(S + "call:add_t", TOOLS, "tokenizer template") == "open"
    assert call_state(S + "call:order", TOOLS, "tokenizer template") == "invalid"
    assert call_state("plain words", TOOLS, "tokenizer template") == "outside"
    assert call_state(S + "call:add_t", TOOLS, "hermes-json") == "outside"


def test_where_no_likely_token_keeps_the_call_valid_a_punctuation_token_closes_it(tiny_models, monkeypatch):
    """The model is sure of a letter where only ',' or '}' can follow; none of its top tokens fits (a top 1 here,
    2048 for a real vocabulary), so the punctuation tokens are tried before the model would go free."""
    import torch

    from desktune.infer import strict_calls
    from desktune.infer.strict_calls import StrictCalls
    from test_tools_data import chat_for

    tokenizer = chat_for(tiny_models, "gemma3", "gemma").tokenizer
    ids = tokenizer.encode(S + f"call:add_todo{{title:{X}a{X}", add_special_tokens=False)
    assert call_state(tokenizer.decode(ids, skip_special_tokens=False), TOOLS) == "open"
    scores = torch.zeros(1, len(tokenizer))
    scores[0, tokenizer.encode("x", add_special_tokens=False)[0]] = 10.0
    monkeypatch.setattr(strict_calls, "SEARCH_WIDTHS", (1,))
    guided = StrictCalls(tokenizer, 0, TOOLS, "functiongemma", greedy=True)(torch.tensor([ids]), scores)
    chosen = tokenizer.decode([guided[0].argmax().item()])
    assert chosen in (",", "}") and torch.isinf(guided[0]).sum() == len(tokenizer) - 1


def test_a_declared_name_begun_with_a_piece_no_likely_token_continues_is_spelled_out(tiny_models, monkeypatch):
    """The model wrote `pri` of `priority` and is sure of a letter that fits nothing; no punctuation may follow
    either, so a token spelling the rest of the name is taken (the built-in once wrote `ame` of `amenities`
    and went free)."""
    import torch

    from desktune.infer import strict_calls
    from desktune.infer.strict_calls import StrictCalls
    from test_tools_data import chat_for

    tokenizer = chat_for(tiny_models, "gemma3", "gemma").tokenizer
    ids = tokenizer.encode(S + "call:add_todo{pri", add_special_tokens=False)
    scores = torch.zeros(1, len(tokenizer))
    scores[0, tokenizer.encode("x", add_special_tokens=False)[0]] = 10.0
    monkeypatch.setattr(strict_calls, "SEARCH_WIDTHS", (1,))
    guided = StrictCalls(tokenizer, 0, TOOLS, "functiongemma", greedy=True)(torch.tensor([ids]), scores)
    written = tokenizer.decode(ids + [guided[0].argmax().item()], skip_special_tokens=False)
    assert written.startswith(S + "call:add_todo{pri") and len(written) > len(S + "call:add_todo{pri")
    assert "priority:".startswith(written.split("{")[-1]) or written.endswith("priority:")
