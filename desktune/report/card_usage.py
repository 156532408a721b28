"""The card's "How to use it": snippets for PEFT, transformers, llama.cpp and Ollama that run as written, naming
the folder (or, once pushed, the Hub repo) they load from."""

import json
import re
from pathlib import Path

CHAT = '''messages = [{"role": "user", "content": "Hello!"}]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")
output = model.generate(**inputs, max_new_tokens=128)
print(tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))'''

RESIZE = '''if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:  # the run added tokens to the vocabulary
    model.resize_token_embeddings(len(tokenizer))
'''


def usage(kind: str, base, folder: Path, where: str, facts, repo_id: str | None) -> str:
    """The section for a card of this kind (adapter | full | merged | gguf); where: folder path or repo id."""
    if kind == "adapter":
        return _adapter(base, where, facts, repo_id)
    if kind == "gguf":
        return _gguf(folder, facts.name, repo_id)
    return _model(where, facts, repo_id)


def _adapter(base, where: str, facts, repo_id: str | None) -> str:
    gguf = f", gguf_file={json.dumps(base.gguf_file)}" if base.gguf_file else ""
    code = (f"from peft import PeftModel\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f"base = {json.dumps(base.path)}\nadapter = {json.dumps(where)}\n"
            "tokenizer = AutoTokenizer.from_pretrained(adapter)  # carries the chat template the run trained with\n"
            f"model = AutoModelForCausalLM.from_pretrained(base{gguf})\n"
            + (RESIZE if facts.cfg.get("new_tokens") else "")
            + f"model = PeftModel.from_pretrained(model, adapter)\n{CHAT}")
    head = ["## How to use it", "", "With PEFT and transformers (`pip install peft transformers`):", "", "```python",
            code, "```", "", base.note, ""]
    if repo_id:
        return "\n".join(head + ["For one plain transformers model, merge it into the base (PEFT's "
                                 "`merge_and_unload()`); llama.cpp and Ollama need that merged model as GGUF."])
    run = facts.path
    return "\n".join(head + [
        f"- desktune uses it as trained: `desktune chat {run}`, `desktune generate {run} --prompt 'Hi'`.",
        f"- transformers alone: `desktune merge {run}` writes `merged/`, one model folder (with its own card) that "
        "`AutoModelForCausalLM.from_pretrained` loads without PEFT.",
        f"- llama.cpp and Ollama: `desktune export {run} --format gguf` writes a GGUF file and an Ollama `Modelfile` "
        "into `export/`."])


def _model(where: str, facts, repo_id: str | None) -> str:
    code = (f"from transformers import AutoModelForCausalLM, AutoTokenizer\n\nmodel_id = {json.dumps(where)}\n"
            "tokenizer = AutoTokenizer.from_pretrained(model_id)  # carries the chat template the run trained with\n"
            f"model = AutoModelForCausalLM.from_pretrained(model_id)\n{CHAT}")
    lines = ["## How to use it", "", "With transformers (`pip install transformers`):", "", "```python", code, "```"]
    if not repo_id:
        lines += ["", f"For llama.cpp and Ollama, `desktune export {facts.path} --format gguf` writes a GGUF file and "
                      "an Ollama `Modelfile`."]
    return "\n".join(lines)


def _gguf(folder: Path, name: str, repo_id: str | None) -> str:
    files = sorted(p.name for p in folder.glob("*.gguf")) or ["model.gguf"]
    tag = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "my-model"
    lines = ["## How to use it", "", f"Files: {', '.join(f'`{f}`' for f in files)}, and `Modelfile` (Ollama: the chat "
             "template and stop tokens the run trained with).", "", "With llama.cpp, in this folder:", "", "```sh",
             f"llama-cli -m {files[0]}      # chat in the terminal, with the chat template stored in the GGUF",
             f"llama-server -m {files[0]}   # an OpenAI-compatible server on http://127.0.0.1:8080", "```", "",
             "With Ollama, in this folder:", "", "```sh", f"ollama create {tag} -f Modelfile", f"ollama run {tag}",
             "```"]
    if repo_id:
        lines += ["", f"Straight from the Hub: `llama-cli -hf {repo_id}`, or `ollama run hf.co/{repo_id}` (Ollama then "
                      "uses the template stored in the GGUF rather than the Modelfile)."]
    return "\n".join(lines + _check(folder))


def _check(folder: Path) -> list[str]:
    """What llama.cpp's check (export's verify.json) found, when the export ran it."""
    path = folder / "verify.json"
    if not path.exists():
        return ["", "This export was not checked against llama.cpp (`--no-verify`)."]
    v = json.loads(path.read_text())
    n = len(v.get("pairs", [])) or "?"
    verdict = "passed" if v.get("passed") else "did not pass"
    return ["", f"desktune's llama.cpp check {verdict}: {v.get('full_matches')}/{n} prompts gave the same greedy "
                f"continuation as transformers, {v.get('same_tokenization')}/{n} tokenized the same (verify.json)."]
