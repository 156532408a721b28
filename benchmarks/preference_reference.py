"""DPO's reference: switched-off adapter at every step, or log-probabilities computed once before step 1?

Times, on this machine, one DPO training step over a batch of pairs (forward + backward, LoRA r=16, bf16 autocast
where the CPU has it) and the no-grad forward that gives the same pairs' reference log-probabilities with the adapter
switched off. With the adapter off at every step, each epoch pays that forward again; precomputed, the run pays it
once. Run: python benchmarks/preference_reference.py [--shape builtin|tiny] [--pairs 8]

--shape builtin: a randomly initialised model with the built-in Gemma 3 270M's shape (speed does not depend on the
weights; the config comes from the converted built-in in the cache), with its tokenizer; tiny: the tests' tiny Llama.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from desktune.config.schema import DataConfig, LoraConfig  # noqa: E402
from desktune.data.preference import load_pairs, pack_pairs  # noqa: E402
from desktune.data.template import ChatFormat  # noqa: E402
from desktune.hardware.detect import detect  # noqa: E402
from desktune.models.methods import prepare  # noqa: E402
from desktune.train.forward import sequence_logps  # noqa: E402
from desktune.train.objectives import pair_loss  # noqa: E402
from desktune.train.pairs import answer_logps, split_sides  # noqa: E402

DATA = HERE.parent / "desktune" / "examples" / "prefer" / "train.jsonl"


def model_and_tokenizer(shape: str):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if shape == "tiny":
        from conftest import build_model, build_tokenizer

        tokenizer = build_tokenizer()
        return build_model("llama", len(tokenizer)), tokenizer
    from desktune.models.builtin import converted_folder

    folder = converted_folder("gemma-3-270m")
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder)), AutoTokenizer.from_pretrained(folder)


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: kernels, shapes
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=["builtin", "tiny"], default="builtin")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bf16 = detect().bf16_matmul and args.shape == "builtin"  # as training would choose (tiny: fp32, as tests)
    precision = "bf16" if bf16 else "fp32"
    model, tokenizer = model_and_tokenizer(args.shape)
    chat = ChatFormat(tokenizer, "auto", model.config.model_type)
    model = prepare(model, "lora", LoraConfig(), precision)
    pairs, _ = load_pairs(str(DATA), chat, DataConfig())
    pairs = pairs[: args.pairs]
    rows = pack_pairs(pairs, 512)
    autocast = lambda: torch.autocast("cpu", torch.bfloat16, enabled=bf16)  # noqa: E731
    reference = answer_logps(model, rows, len(pairs), "cpu", autocast)

    def step():
        for row, positions in rows:
            with autocast():
                logps = split_sides(*sequence_logps(model, row, "cpu", 2 * len(positions)))
            loss, _ = pair_loss("dpo", 0.1, logps, reference[positions], {"pairs": len(pairs)})
            loss.backward()
        model.zero_grad(set_to_none=True)

    def adapter_off():
        with model.disable_adapter():
            answer_logps(model, rows, len(pairs), "cpu", autocast)

    train_step, off = timed(step, args.repeats), timed(adapter_off, args.repeats)
    tokens = sum(row.example_tokens for row, _ in rows)
    print(json.dumps({"shape": args.shape, "precision": precision, "pairs": len(pairs), "rows": len(rows),
                      "tokens": tokens, "train_step_s": round(train_step, 3), "reference_forward_s": round(off, 3),
                      "adapter_off_adds_per_step_pct": round(100 * off / train_step, 1),
                      "precomputed_adds_per_epoch_pct_at_3_epochs": round(100 * off / train_step / 3, 1)}, indent=2))


if __name__ == "__main__":
    main()
