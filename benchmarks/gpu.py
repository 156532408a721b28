"""desktune against the common TRL QLoRA/LoRA recipe on one CUDA GPU, and the planner against what each run used.

    python benchmarks/gpu.py MODEL_DIR DATA [--steps 15]

MODEL_DIR: a model folder (e.g. Gemma3ForCausalLM with random weights at a published size, saved with
save_pretrained: no download needed); DATA: a chat file in any format desktune reads. Each run is its own
process, warm-up first, then the contenders in turn; memory is torch.cuda.max_memory_allocated (GB); tokens/s:
desktune's median logged step after the second, TRL's real tokens over train(). "qlora on an 8 GB card" runs in a
process capped at 8 GB (torch.cuda.set_per_process_memory_fraction), which desktune plans for as it would for such a
card. Without CUDA it prints one line and exits 0.
"""

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESKTUNE = {  # name: (method, overrides, GB the process may allocate: 0 for the whole card)
    "qlora default": ("qlora", [], 0),
    "qlora checkpointing": ("qlora", ["train.gradient_checkpointing=on"], 0),
    "qlora low_memory": ("qlora", ["train.low_memory=true"], 0),
    "lora default": ("lora", [], 0),
    "qlora on an 8 GB card": ("qlora", [], 8),
}
# desktune's CLI in a process capped as a smaller card would be; its plan reads the cap (hardware/detect.py)
CAPPED = ("import sys, torch; from desktune.cli import main; "
          "torch.cuda.set_per_process_memory_fraction(float(sys.argv.pop(1)) * 1e9 / torch.cuda.mem_get_info()[1]); "
          "sys.exit(main(sys.argv[1:]))")


def trl(data: str, model_dir: str, method: str, steps: int) -> dict:
    """The recipe most people run: TRL SFTTrainer + PEFT LoRA r16/alpha32 all-linear, NF4 base with double
    quantisation and bf16 compute (qlora), bf16, gradient checkpointing, batch 8, no packing, max length 1024."""
    import time

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(model_dir)
    kw = dict(dtype=torch.bfloat16, device_map={"": 0})
    if method == "qlora":
        kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                       bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kw)
    rows = [json.loads(line) for line in open(data) if line.strip()]
    real = sum(min(1024, len(tok.apply_chat_template(r["messages"], tokenize=True)["input_ids"])) for r in rows[:steps * 8])
    args = SFTConfig(output_dir=tempfile.mkdtemp(prefix="trl-"), per_device_train_batch_size=8, learning_rate=2e-4,
                     save_strategy="no", gradient_checkpointing=True, report_to="none", bf16=True, max_length=1024,
                     max_steps=steps, assistant_only_loss=False, dataloader_num_workers=0)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM", target_modules="all-linear")
    trainer = SFTTrainer(model=model, train_dataset=Dataset.from_list(rows), peft_config=lora, args=args, processing_class=tok)
    torch.cuda.reset_peak_memory_stats()
    started = time.time()
    trainer.train()
    torch.cuda.synchronize()
    return {"tokens_per_s": real / (time.time() - started), "peak_gb": torch.cuda.max_memory_allocated() / 1e9}


def desktune(data: str, model_dir: str, method: str, overrides: list[str], cap_gb: float, steps: int,
             work: Path) -> dict:
    run = work / "run"
    launch = ["-c", CAPPED, str(cap_gb)] if cap_gb else ["-m", "desktune"]
    subprocess.run([sys.executable, *launch, "train", f"model={model_dir}", f"data.train={data}",
                    f"method={method}", f"train.max_steps={steps}", "train.eval_every=0", "train.eval_samples=0",
                    f"output={run}", "--samples=0", "--overwrite", *overrides], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    steps_seen = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    plan = json.loads((run / "plan.json").read_text())
    return {"tokens_per_s": statistics.median(s["tokens_per_s"] for s in steps_seen[2:] or steps_seen),
            "peak_gb": max(s["memory_gb"] for s in steps_seen), "planned_gb": plan["peak_memory_gb"]}


def in_process(kind: str, *args) -> dict:
    """One contender in its own process, so its peak memory is its own."""
    done = subprocess.run([sys.executable, __file__, "--one", kind, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{kind} {args} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    import torch

    if not torch.cuda.is_available():
        print("benchmarks/gpu.py: skipped, no CUDA GPU here (it measures desktune against TRL on one NVIDIA GPU)")
        return
    if len(argv) < 2:
        raise SystemExit(__doc__)
    model_dir, data = argv[0], argv[1]
    steps = argv[argv.index("--steps") + 1] if "--steps" in argv else "15"
    in_process("trl", data, model_dir, "qlora", "3")  # warm-up: a fresh machine's first run is half speed
    base = {m: in_process("trl", data, model_dir, m, steps) for m in ("qlora", "lora")}
    print(f"{torch.cuda.get_device_name(0)}, {steps} steps of 8 examples\n")
    print("| run | tokens/s | peak GB | vs TRL speed | vs TRL memory | planned GB | plan error |\n|---|---|---|---|---|---|---|")
    for m, r in base.items():
        print(f"| TRL {m} | {r['tokens_per_s']:,.0f} | {r['peak_gb']:.2f} | 1.00x | 1.00x | — | — |")
    for name, (method, overrides, cap_gb) in DESKTUNE.items():
        r, b = in_process("desktune", data, model_dir, method, steps, json.dumps(overrides), str(cap_gb)), base[method]
        print(f"| desktune {name} | {r['tokens_per_s']:,.0f} | {r['peak_gb']:.2f} | {r['tokens_per_s'] / b['tokens_per_s']:.2f}x | "
              f"{r['peak_gb'] / b['peak_gb']:.2f}x | {r['planned_gb']:.2f} | {100 * (r['planned_gb'] / r['peak_gb'] - 1):+.0f}% |")


def one(kind: str, data: str, model_dir: str, method: str, steps: str, overrides: str = "[]", cap_gb: str = "0") -> None:
    if kind == "trl":
        result = trl(data, model_dir, method, int(steps))
    else:
        result = desktune(data, model_dir, method, json.loads(overrides), float(cap_gb), int(steps),
                          Path(tempfile.mkdtemp(prefix="dt-")))
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one(*sys.argv[2:])
    else:
        main(sys.argv[1:])
