"""An Ollama Modelfile whose TEMPLATE renders conversations exactly as the run's chat template did in training.

Ollama adds BOS itself (the GGUF's add_bos_token), so the Go templates below start after it.
"""

GEMMA = """{{- $system := "" }}
{{- range .Messages }}{{ if eq .Role "system" }}{{ $system = .Content }}{{ end }}{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<start_of_turn>user
{{ if $system }}{{ $system }}

{{ $system = "" }}{{ end }}{{ .Content }}<end_of_turn>
{{ if $last }}<start_of_turn>model
{{ end }}
{{- else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}<end_of_turn>
{{ end }}
{{- end }}"""

CHATML = """{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ if and $last (ne .Role "assistant") }}<|im_start|>assistant
{{ end }}
{{- end }}"""

LLAMA3 = """{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>
{{- if and $last (ne .Role "assistant") }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- end }}"""

GO_TEMPLATES = {"gemma": GEMMA, "chatml": CHATML, "llama3": LLAMA3}
DEFAULTS = {"temperature": 0.7, "top_p": 0.95, "repeat_penalty": 1.0}


def modelfile(gguf_name: str, template_name: str, stops: list[str], context: int) -> str:
    lines = ["# Made by desktune. Run: ollama create NAME -f Modelfile && ollama run NAME", f"FROM ./{gguf_name}", ""]
    template = GO_TEMPLATES.get(template_name)
    if template:
        lines += [f'TEMPLATE """{template}"""', ""]
    else:  # the model's own jinja template: recent Ollama versions match it from the GGUF metadata
        lines += ["# No TEMPLATE: the model's own chat template is in the GGUF (tokenizer.chat_template).", ""]
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    lines += [f"PARAMETER {key} {value}" for key, value in DEFAULTS.items()]
    lines.append(f"PARAMETER num_ctx {context}")
    return "\n".join(lines) + "\n"
