"""How fast a desktune adapter with trained token rows generates when loaded the ways people load it.

    .venv/bin/python benchmarks/peft_speed.py [--tokens 64] [--repeats 2] [--adapter DIR]

On the built-in Gemma 3 270M (fp32 weights, fp32 compute: no autocast), greedy, the same prompt, N new tokens:
(a) plain `PeftModel.from_pretrained(base, adapter)`, unmerged, as a user of the saved adapter does;
(b) the same merged (`merge_and_unload()`); (c) desktune's own `load_adapter`. The adapter is built here (base +
`add_lora` with <start_of_turn>/<end_of_turn> rows trained, small random LoRA B and row changes, saved by
`save_tuned_weights`, so in the form training writes); --adapter measures a saved one instead. Prints tokens/s
(the best of --repeats) and whether the plain PEFT ways gave desktune's tokens.
"""

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from desktune.config.schema import LoraConfig
from desktune.models.adapters import add_lora, load_adapter, save_tuned_weights
from desktune.models.load import load_model, load_tokenizer, resolve

MODEL = "builtin:gemma-3-270m"
PROMPT = [{"role": "user", "content": "Why is the sky blue? Answer in a few sentences."}]


def build_adapter(folder: str, tokenizer) -> None:
    """An adapter as training leaves one: LoRA on every linear layer and two trained embedding rows."""
    ids = tokenizer.convert_tokens_to_ids(["<start_of_turn>", "<end_of_turn>"])
    model = add_lora(load_model(resolve(MODEL)), LoraConfig(), token_ids=ids)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad and ("lora_B" in name or "trainable_tokens" in name):
                p.add_(0.02 * torch.randn(p.shape, generator=generator))
    save_tuned_weights(model, folder)
    tokenizer.save_pretrained(folder)


def loaded(way: str, folder: str):
    from peft import PeftModel

    base = load_model(resolve(MODEL))
    if way == "desktune load_adapter":
        return load_adapter(base, folder).eval()
    model = PeftModel.from_pretrained(base, folder)
    return (model.merge_and_unload() if way == "PEFT merged" else model).eval()


def tokens_per_s(model, prompt, new_tokens: int, repeats: int) -> tuple[float, list[int]]:
    """Greedy, exactly new_tokens tokens (no early stop); the best of repeats after one short warm-up."""
    settings = dict(do_sample=False, min_new_tokens=new_tokens, max_new_tokens=new_tokens, pad_token_id=0)
    with torch.inference_mode():
        model.generate(prompt, **settings | dict(min_new_tokens=2, max_new_tokens=2))
        best = 0.0
        for _ in range(repeats):
            started = time.perf_counter()
            out = model.generate(prompt, **settings)
            best = max(best, new_tokens / (time.perf_counter() - started))
    return best, out[0, prompt.shape[1]:].tolist()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--adapter", default="", help="a saved adapter folder (default: build one)")
    args = ap.parse_args()
    tokenizer = load_tokenizer(resolve(MODEL))
    folder = args.adapter or tempfile.mkdtemp(prefix="desktune-peft-speed-")
    if not args.adapter:
        build_adapter(folder, tokenizer)
    prompt = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    prompt = prompt["input_ids"]
    print(f"{cpu()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
          f"; fp32 weights and compute (no autocast); {prompt.shape[1]}-token prompt, {args.tokens} new tokens greedy;"
          f" adapter {folder}", flush=True)
    results = {}
    for way in ("desktune load_adapter", "PEFT unmerged", "PEFT merged"):
        speed, results[way] = tokens_per_s(loaded(way, folder), prompt, args.tokens, args.repeats)
        same = "" if way.startswith("desktune") else f"  same tokens as desktune's: {results[way] == results['desktune load_adapter']}"
        print(f"{way:24s} {speed:7.2f} tokens/s{same}", flush=True)


def cpu() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    return f"{name or platform.machine()}{' (AVX-512 BF16)' if 'avx512_bf16' in info else ''}"


if __name__ == "__main__":
    main()
