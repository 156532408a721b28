"""Built-in chat templates for base models that ship without one (string contents only).

Each also writes tools, in a documented format, when a conversation has them (tools= and OpenAI-form tool_calls):
- gemma: FunctionGemma's markup (ai.google.dev/gemma/docs/functiongemma/formatting-and-best-practices):
  declarations in a developer turn, `<start_function_call>call:NAME{...}<end_function_call>`, results as
  `<start_function_response>response:NAME{...}<end_function_response>`, values with bare keys in alphabetical
  order and strings between <escape> marks. Unlike Google's own template, which carries the result on inside the model's
  turn after `<start_function_response>`, a call turn ends with <end_of_turn> and each result comes in a
  developer turn (as the guide's flow shows it), so generation stops at the one end-of-turn token the Gemma 3
  vocabulary has (its base knows none of the function markers: they are plain text to it).
- chatml: Hermes / Qwen 2.5 style JSON: tools listed in the system turn between <tools></tools>, each call
  `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, results in a `tool` turn in <tool_response>.
- llama3: Llama 3.1 style JSON: tools in the system turn, each call a line `{"name": ..., "parameters": {...}}`,
  results in an `ipython` turn.
A conversation without tools renders exactly as before these were added (the *_WITHOUT_TOOLS texts below).
"""

# FunctionGemma's value markup: {key:value,...} with keys in alphabetical order, strings between <escape> marks,
# and in declarations (caps) every schema 'type' in capitals (STRING, OBJECT), as Google's examples write them.
_FUNCTIONGEMMA_VALUE = (
    "{%- macro fg(value, key='', caps=false) -%}"
    "{%- if value is mapping -%}"
    "{{- '{' -}}{%- for k, v in value | dictsort -%}{{- k + ':' + fg(v, k, caps) -}}"
    "{%- if not loop.last -%}{{- ',' -}}{%- endif -%}{%- endfor -%}{{- '}' -}}"
    "{%- elif value is string -%}{{- '<escape>' + (value | upper if caps and key == 'type' else value) + '<escape>' -}}"
    "{%- elif value is boolean -%}{{- 'true' if value else 'false' -}}"
    "{%- elif value is none -%}{{- 'null' -}}"
    "{%- elif value is sequence -%}"
    "{{- '[' -}}{%- for v in value -%}{{- fg(v, '', caps) -}}{%- if not loop.last -%}{{- ',' -}}{%- endif -%}"
    "{%- endfor -%}{{- ']' -}}"
    "{%- else -%}{{- value -}}"
    "{%- endif -%}"
    "{%- endmacro -%}"
)

GEMMA = _FUNCTIONGEMMA_VALUE + (
    "{{ bos_token }}"
    "{%- if tools -%}"
    "{{ '<start_of_turn>developer\n' }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{{ messages[0]['content'] | trim + '\n\n' }}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for tool in tools -%}"
    "{{ '<start_function_declaration>declaration:' + tool['function']['name'] + fg({'description': "
    "tool['function'].get('description', ''), 'parameters': tool['function'].get('parameters', {})}, '', true)"
    " + '<end_function_declaration>' }}"
    "{%- endfor -%}"
    "{{ '<end_of_turn>\n' }}"
    "{%- set first_user_prefix = '' -%}"
    "{%- elif messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    # user and model alternate, except that a call is followed by its results, and the results by the answer
    "{%- set ns = namespace(previous='') -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = message['role'] -%}"
    "{%- if role == 'tool' -%}{%- set allowed = ns.previous in ['call', 'tool'] -%}"
    "{%- elif role == 'user' -%}{%- set allowed = ns.previous in ['', 'answer'] -%}"
    "{%- else -%}{%- set allowed = ns.previous in ['user', 'tool'] -%}{%- endif -%}"
    "{%- if not allowed -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- if role == 'tool' -%}"
    "{{ '<start_of_turn>developer\n<start_function_response>response:' + message['name'] + fg(message['content'] "
    "if message['content'] is mapping else {'value': message['content']}) + '<end_function_response><end_of_turn>\n' }}"
    "{%- set ns.previous = 'tool' -%}"
    "{%- else -%}"
    "{{ '<start_of_turn>' + ('model' if role == 'assistant' else role) + '\n' "
    "+ (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}"
    "{%- for call in message.get('tool_calls') or [] -%}"
    "{{ '<start_function_call>call:' + call['function']['name'] + fg(call['function']['arguments'])"
    " + '<end_function_call>' }}"
    "{%- endfor -%}"
    "{{ '<end_of_turn>\n' }}"
    "{%- set ns.previous = 'user' if role == 'user' else ('call' if message.get('tool_calls') else 'answer') -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

CHATML = (
    "{%- if tools -%}"
    "{{ '<|im_start|>system\n' }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{{ messages[0]['content'] + '\n\n' }}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{{ '# Tools\n\nYou can call these functions, given as JSON schema:\n<tools>' }}"
    "{%- for tool in tools -%}{{ '\n' + tool | tojson }}{%- endfor -%}"
    "{{ '\n</tools>\n\nTo call one, answer with a JSON object in <tool_call></tool_call> tags:\n<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n' }}"
    "{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'tool' -%}"
    "{{ '<|im_start|>tool\n<tool_response>\n' + message['content'] + '\n</tool_response><|im_end|>\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] }}"
    "{%- for call in message.get('tool_calls') or [] -%}"
    "{{ ('\n' if message['content'] or not loop.first else '') + '<tool_call>\n' + {'name': call['function']['name'], "
    "'arguments': call['function']['arguments']} | tojson + '\n</tool_call>' }}"
    "{%- endfor -%}"
    "{{ '<|im_end|>' + '\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)

LLAMA3 = (
    "{{ bos_token }}"
    "{%- if tools -%}"
    "{{ '<|start_header_id|>system<|end_header_id|>\n\n' }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{{ messages[0]['content'] | trim + '\n\n' }}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{{ 'You can call these functions, given as JSON schema. To call one, answer with a JSON object '"
    " + '{\"name\": function name, \"parameters\": its arguments}, one call per line.' }}"
    "{%- for tool in tools -%}{{ '\n\n' + tool | tojson }}{%- endfor -%}"
    "{{ '<|eot_id|>' }}"
    "{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'ipython' if message['role'] == 'tool' else message['role'] -%}"
    "{{ '<|start_header_id|>' + role + '<|end_header_id|>\n\n' + message['content'] | trim }}"
    "{%- for call in message.get('tool_calls') or [] -%}"
    "{{ ('\n' if (message['content'] | trim) or not loop.first else '') + {'name': call['function']['name'], "
    "'parameters': call['function']['arguments']} | tojson }}"
    "{%- endfor -%}"
    "{{ '<|eot_id|>' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif -%}"
)

TEMPLATES = {"gemma": GEMMA, "chatml": CHATML, "llama3": LLAMA3}
# How each built-in template writes tools (recorded in data.json as tool_format).
TOOL_FORMATS = {"gemma": "functiongemma", "chatml": "hermes-json", "llama3": "llama3-json"}

# The same templates as written before they took tools. The built-in model's cached tokenizer, and folders
# saved from runs before, still hold these texts: they are recognised as the same template.
GEMMA_WITHOUT_TOOLS = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

CHATML_WITHOUT_TOOLS = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)

LLAMA3_WITHOUT_TOOLS = (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif -%}"
)

EARLIER_TEMPLATES = {GEMMA_WITHOUT_TOOLS: "gemma", CHATML_WITHOUT_TOOLS: "chatml", LLAMA3_WITHOUT_TOOLS: "llama3"}

# The token that closes an assistant turn in each template: generation stops there and training must learn it.
END_OF_TURN = {"gemma": "<end_of_turn>", "chatml": "<|im_end|>", "llama3": "<|eot_id|>"}
# Every token that ends an answer in these families (besides the tokenizer's EOS): generation stops at any.
# FunctionGemma's own template closes a call with <start_function_response> (the app writes the result after it),
# so where a vocabulary has that token it ends a reply too; the built-in gemma template closes calls with
# <end_of_turn>.
END_TOKENS = ("<end_of_turn>", "<eos>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>",
              "<start_function_response>")
