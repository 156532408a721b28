"""An Ollama Modelfile whose TEMPLATE renders conversations exactly as the run's chat template did in training.

Ollama adds BOS itself (the GGUF's add_bos_token), so the Go templates below start after it. With `.Tools` set
(an /api/chat request with "tools"), each writes the declarations, the assistant's `.ToolCalls` and the `tool`
messages in the run's tool format (desktune/models/templates.py); without tools it renders as it always did.
tests/test_tool_export.py runs them with Go's text/template beside the jinja templates. Where Go cannot match
jinja byte for byte (Ollama hands a template its objects as Go maps, so their keys come in alphabetical order):
- hermes-json and llama3-json: a declaration is written in the order type, description, enum, items, properties,
  required (parameters: type, properties, required) and property names alphabetically; a past call's arguments
  alphabetically. Training kept the row's own order: the same JSON, in another order when the data's was not this.
- functiongemma sorts keys itself, so its declarations and calls match; it can only capitalise the JSON-schema type
  names (STRING, INTEGER, ...), leaves out an empty 'required' list, and sorts upper-case keys before lower-case
  ones (jinja's dictsort ignores case).
- every format: contents are not trimmed (jinja's `| trim`); a number is written as JSON writes it (2, not 2.0);
  strings in JSON as Go's %q writes them (the same as Python's json.dumps but for control characters and
  invisible Unicode).
A `tool` message names its function by `tool_name`, else by `tool_call_id`, else it answers the next call in order.
"""

# Python-style JSON (", " and ": " between items, as jinja's tojson writes), for values from Ollama's JSON decoder.
_JSON = """{{- define "pyjson" }}{{ $t := printf "%T" . }}
{{- if eq $t "string" }}{{ printf "%q" . }}
{{- else if eq $t "map[string]interface {}" }}{ {{- $sep := "" }}{{ range $k, $v := . }}{{ $sep }}{{ printf "%q" $k }}: {{ template "pyjson" $v }}{{ $sep = ", " }}{{ end }}}
{{- else if eq $t "[]interface {}" }}[{{ $sep := "" }}{{ range . }}{{ $sep }}{{ template "pyjson" . }}{{ $sep = ", " }}{{ end }}]
{{- else }}{{ json . }}{{ end }}{{ end }}
{{- define "jsonargs" }}{ {{- $sep := "" }}{{ range $k, $v := . }}{{ $sep }}{{ printf "%q" $k }}: {{ template "pyjson" $v }}{{ $sep = ", " }}{{ end }}}{{ end }}
{{- define "jsonstrings" }}[{{ $sep := "" }}{{ range . }}{{ $sep }}{{ printf "%q" . }}{{ $sep = ", " }}{{ end }}]{{ end }}
{{- define "jsonprop" }}{ {{- $sep := "" }}
{{- if .AnyOf }}"anyOf": [{{ range $i, $p := .AnyOf }}{{ if $i }}, {{ end }}{{ template "jsonprop" $p }}{{ end }}]{{ $sep = ", " }}{{ end }}
{{- if .Type }}{{ $sep }}"type": {{ json .Type }}{{ $sep = ", " }}{{ end }}
{{- if .Description }}{{ $sep }}"description": {{ printf "%q" .Description }}{{ $sep = ", " }}{{ end }}
{{- if .Enum }}{{ $sep }}"enum": {{ template "pyjson" .Enum }}{{ $sep = ", " }}{{ end }}
{{- if .Items }}{{ $sep }}"items": {{ template "pyjson" .Items }}{{ $sep = ", " }}{{ end }}
{{- if .Properties }}{{ $sep }}"properties": {{ template "jsonprops" .Properties.ToMap }}{{ $sep = ", " }}{{ end }}
{{- if .Required }}{{ $sep }}"required": {{ template "jsonstrings" .Required }}{{ end }}}{{ end }}
{{- define "jsonprops" }}{ {{- $sep := "" }}{{ range $k, $v := . }}{{ $sep }}{{ printf "%q" $k }}: {{ template "jsonprop" $v }}{{ $sep = ", " }}{{ end }}}{{ end }}
{{- define "jsontool" }}{"type": "function", "function": {"name": {{ printf "%q" .Function.Name }}, "description": {{ printf "%q" .Function.Description }}, "parameters": {
{{- with .Function.Parameters }}{{ $sep := "" }}{{ if .Type }}"type": {{ printf "%q" .Type }}{{ $sep = ", " }}{{ end }}
{{- $sep }}"properties": {{ template "jsonprops" .Properties }}
{{- if .Required }}, "required": {{ template "jsonstrings" .Required }}{{ end }}{{ end }}}}}{{ end }}"""

# FunctionGemma's value markup: {key:value,...} keys sorted, strings between <escape> marks; in declarations the
# schema's type names in capitals.
_FUNCTIONGEMMA = """{{- define "fg" }}{{ $t := printf "%T" . }}
{{- if eq $t "string" }}<escape>{{ . }}<escape>
{{- else if eq $t "map[string]interface {}" }}{{ template "fgmap" . }}
{{- else if eq $t "[]interface {}" }}[{{ $sep := "" }}{{ range . }}{{ $sep }}{{ template "fg" . }}{{ $sep = "," }}{{ end }}]
{{- else }}{{ json . }}{{ end }}{{ end }}
{{- define "fgmap" }}{ {{- $sep := "" }}{{ range $k, $v := . }}{{ $sep }}{{ $k }}:{{ template "fg" $v }}{{ $sep = "," }}{{ end }}}{{ end }}
{{- define "FG" }}{{ $t := printf "%T" . }}
{{- if eq $t "map[string]interface {}" }}{ {{- $sep := "" }}{{ range $k, $v := . }}{{ $sep }}{{ $k }}:
{{- if and (eq $k "type") (eq (printf "%T" $v) "string") }}<escape>{{ template "TYPE" $v }}<escape>{{ else }}{{ template "FG" $v }}{{ end }}{{ $sep = "," }}{{ end }}}
{{- else if eq $t "[]interface {}" }}[{{ $sep := "" }}{{ range . }}{{ $sep }}{{ template "FG" . }}{{ $sep = "," }}{{ end }}]
{{- else }}{{ template "fg" . }}{{ end }}{{ end }}
{{- define "TYPE" }}{{ if eq . "string" }}STRING{{ else if eq . "integer" }}INTEGER{{ else if eq . "number" }}NUMBER
{{- else if eq . "boolean" }}BOOLEAN{{ else if eq . "object" }}OBJECT{{ else if eq . "array" }}ARRAY{{ else if eq . "null" }}NULL
{{- else }}{{ . }}{{ end }}{{ end }}
{{- define "fgstrings" }}[{{ $sep := "" }}{{ range . }}{{ $sep }}<escape>{{ . }}<escape>{{ $sep = "," }}{{ end }}]{{ end }}
{{- define "fgprop" }}{ {{- $sep := "" }}
{{- if .AnyOf }}anyOf:[{{ range $i, $p := .AnyOf }}{{ if $i }},{{ end }}{{ template "fgprop" $p }}{{ end }}]{{ $sep = "," }}{{ end }}
{{- if .Description }}{{ $sep }}description:<escape>{{ .Description }}<escape>{{ $sep = "," }}{{ end }}
{{- if .Enum }}{{ $sep }}enum:{{ template "FG" .Enum }}{{ $sep = "," }}{{ end }}
{{- if .Items }}{{ $sep }}items:{{ template "FG" .Items }}{{ $sep = "," }}{{ end }}
{{- if .Properties }}{{ $sep }}properties:{{ template "fgprops" .Properties.ToMap }}{{ $sep = "," }}{{ end }}
{{- if .Required }}{{ $sep }}required:{{ template "fgstrings" .Required }}{{ $sep = "," }}{{ end }}
{{- if .Type }}{{ $sep }}type:{{ if eq (len .Type) 1 }}<escape>{{ template "TYPE" (index .Type 0) }}<escape>{{ else }}{{ template "fgstrings" .Type }}{{ end }}{{ end }}}{{ end }}
{{- define "fgprops" }}{ {{- $sep := "" }}{{ range $k, $v := . }}{{ $sep }}{{ $k }}:{{ template "fgprop" $v }}{{ $sep = "," }}{{ end }}}{{ end }}
{{- define "fgparams" }}{ {{- $sep := "" }}
{{- if .Defs }}$defs:{{ template "FG" .Defs }}{{ $sep = "," }}{{ end }}
{{- if .Items }}{{ $sep }}items:{{ template "FG" .Items }}{{ $sep = "," }}{{ end }}
{{- $sep }}properties:{{ template "fgprops" .Properties }}
{{- if .Required }},required:{{ template "fgstrings" .Required }}{{ end }}
{{- if .Type }},type:<escape>{{ template "TYPE" .Type }}<escape>{{ end }}}{{ end }}
"""

# The function a tool message answers ($name): tool_name, else the waiting call with its tool_call_id, else the next.
_TOOL_NAME = """{{- $m := . }}{{ $name := .ToolName }}
{{- if not $name }}{{ with $waiting }}{{ range . }}{{ if and $m.ToolCallID (eq .ID $m.ToolCallID) }}{{ $name = .Function.Name }}{{ end }}{{ end }}{{ end }}{{ end }}
{{- if not $name }}{{ with $waiting }}{{ $name = (index . 0).Function.Name }}{{ end }}{{ end }}
{{- with $waiting }}{{ $waiting = slice . 1 }}{{ end }}"""

GEMMA = _FUNCTIONGEMMA + """{{- $system := "" }}
{{- range .Messages }}{{ if eq .Role "system" }}{{ $system = .Content }}{{ end }}{{ end }}
{{- if .Tools }}<start_of_turn>developer
{{ if $system }}{{ $system }}

{{ $system = "" }}{{ end }}
{{- range .Tools }}<start_function_declaration>declaration:{{ .Function.Name }}{description:<escape>{{ .Function.Description }}<escape>,parameters:{{ template "fgparams" .Function.Parameters }}}<end_function_declaration>{{ end }}<end_of_turn>
{{ end }}
{{- $waiting := "" }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<start_of_turn>user
{{ if $system }}{{ $system }}

{{ $system = "" }}{{ end }}{{ .Content }}<end_of_turn>
{{ if $last }}<start_of_turn>model
{{ end }}
{{- else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}{{ range .ToolCalls }}<start_function_call>call:{{ .Function.Name }}{{ template "fgmap" .Function.Arguments }}<end_function_call>{{ end }}<end_of_turn>
{{ $waiting = .ToolCalls }}
{{- else if eq .Role "tool" }}""" + _TOOL_NAME + """<start_of_turn>developer
<start_function_response>response:{{ $name }}{value:<escape>{{ .Content }}<escape>}<end_function_response><end_of_turn>
{{ if $last }}<start_of_turn>model
{{ end }}
{{- end }}
{{- end }}"""

CHATML = _JSON + """{{- $skip := -1 }}
{{- if .Tools }}<|im_start|>system
{{ with .Messages }}{{ if eq (index . 0).Role "system" }}{{ (index . 0).Content }}

{{ $skip = 0 }}{{ end }}{{ end }}# Tools

You can call these functions, given as JSON schema:
<tools>{{ range .Tools }}
{{ template "jsontool" . }}{{ end }}
</tools>

To call one, answer with a JSON object in <tool_call></tool_call> tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call><|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq $i $skip }}
{{- else if eq .Role "tool" }}<|im_start|>tool
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ if $last }}<|im_start|>assistant
{{ end }}
{{- else }}<|im_start|>{{ .Role }}
{{ .Content }}{{ $m := . }}{{ range $j, $_ := .ToolCalls }}{{ if or $m.Content $j }}
{{ end }}<tool_call>
{"name": {{ printf "%q" .Function.Name }}, "arguments": {{ template "jsonargs" .Function.Arguments }}}
</tool_call>{{ end }}<|im_end|>
{{ if and $last (ne .Role "assistant") }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- end }}"""

LLAMA3 = _JSON + """{{- $skip := -1 }}
{{- if .Tools }}<|start_header_id|>system<|end_header_id|>

{{ with .Messages }}{{ if eq (index . 0).Role "system" }}{{ (index . 0).Content }}

{{ $skip = 0 }}{{ end }}{{ end -}}
You can call these functions, given as JSON schema. To call one, answer with a JSON object {"name": function name, "parameters": its arguments}, one call per line.
{{- range .Tools }}

{{ template "jsontool" . }}{{ end }}<|eot_id|>
{{- end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if ne $i $skip }}<|start_header_id|>{{ if eq .Role "tool" }}ipython{{ else }}{{ .Role }}{{ end }}<|end_header_id|>

{{ .Content }}{{ $m := . }}{{ range $j, $_ := .ToolCalls }}{{ if or $m.Content $j }}
{{ end }}{"name": {{ printf "%q" .Function.Name }}, "parameters": {{ template "jsonargs" .Function.Arguments }}}{{ end }}<|eot_id|>
{{- if and $last (ne .Role "assistant") }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- end }}
{{- end }}"""

GO_TEMPLATES = {"gemma": GEMMA, "chatml": CHATML, "llama3": LLAMA3}
# Ollama's own reader of FunctionGemma calls; the JSON formats need none (Ollama reads JSON calls by itself).
PARSERS = {"gemma": "functiongemma"}
DEFAULTS = {"temperature": 0.7, "top_p": 0.95, "repeat_penalty": 1.0}


def modelfile(gguf_name: str, template_name: str, stops: list[str], context: int) -> str:
    lines = ["# Made by desktune. Run: ollama create NAME -f Modelfile && ollama run NAME", f"FROM ./{gguf_name}", ""]
    template = GO_TEMPLATES.get(template_name)
    if template:
        lines += [f'TEMPLATE """{template}"""', ""]
        if template_name in PARSERS:
            lines += ["# how Ollama reads the model's tool calls back (the template writes them in this format)",
                      f"PARSER {PARSERS[template_name]}", ""]
    else:  # the model's own jinja template: recent Ollama versions match it from the GGUF metadata
        lines += ["# No TEMPLATE: the model's own chat template is in the GGUF (tokenizer.chat_template).", ""]
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    lines += [f"PARAMETER {key} {value}" for key, value in DEFAULTS.items()]
    lines.append(f"PARAMETER num_ctx {context}")
    return "\n".join(lines) + "\n"
