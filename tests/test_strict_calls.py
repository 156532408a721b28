"""Strict tool calls: which texts keep a FunctionGemma call within the declared functions (the reader the logits
processor asks, token by token). The processor itself runs in test_tool_calls.py, on a tuned tiny model."""

import pytest

from desktune.infer.strict_calls import call_state

S, E, X = "<start_function_call>", "<end_function_call>", "<escape>"
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
