"""Decide the settings left on auto, and say whether the job fits this machine and how long it takes."""

from dataclasses import dataclass, field

from desktune.plan.estimate import (
    GB,
    Job,
    Shape,
    adapted_linears,
    flops_per_token,
    forward_flops_per_token,
    loading_peak,
    memory,
    padded_length,
    trainable_params,
)

# Share of the probed matmul peak a training step reaches. CPU figures were fitted to real runs on 2-core AMD
# EPYCs (benchmarks/plan_accuracy.py; bf16 refitted 2026-11-28 once the loss stopped recomputing a frozen head;
# fp32 on 2026-12-05 to both kinds: 0.53 fitted one with AVX-512, 0.36-0.50 one without; then 0.50 once the loss
# through a frozen head went to one buffer, train/vocab_loss.py; bf16 0.43 and fp32 0.52 with LORA_MODULE_SECONDS,
# 2026-12-06, fp32 re-planned on paper from the 2026-12-05 table, no CPU without AVX-512 at hand): bf16 matmuls are
# fast there but casts, norms and attention are not. CUDA bf16 was fitted on an H100 (see LAYER_PASS_SECONDS); MPS
# and CUDA fp32 are guesses.
EFFICIENCY = {("cpu", "fp32"): 0.52, ("cpu", "bf16"): 0.43, ("mps", "fp32"): 0.4, ("cuda", "bf16"): 0.2,
              ("cuda", "fp16"): 0.2, ("cuda", "fp32"): 0.5}
# fp32 on a CPU with AVX-512 (one with bf16 too, told to train in fp32): the built-in, rows of 256, stepped in
# 4.68-6.26 s over five runs of check.py plan (2026-12-06); with LORA_MODULE_SECONDS 0.63 plans 4.70 s for its 5.02
CPU_FP32_AVX512 = 0.63
# AdamW reads and writes weights, gradients and two moments, and clipping, zeroing and dense embedding gradients
# pass over them too: memory-bound (bytes/s, same provenance; CPU with the fused AdamW).
OPTIMIZER_BANDWIDTH = {"cpu": 8e9, "mps": 100e9, "cuda": 1000e9}
STEP_OVERHEAD = 0.05  # seconds of Python, packing and bookkeeping per step (what tiny models show)
# CUDA: seconds per decoder layer per row and pass (forward, backward, recomputation) that do not shrink with
# the row: kernel launches and the Python of PEFT and bitsandbytes. Fitted with EFFICIENCY to the H100 table in
# benchmarks/README.md (gpu.py; 4B/12B shapes, rows of 512 and 4096 tokens).
LAYER_PASS_SECONDS = {"cuda": 0.006}
# CPU: seconds per adapted linear layer per row, forward and backward: PEFT's Python, dispatch and the adapter's two
# small matmuls, whatever the row's length. Tiny Llama, 256-token rows, 32 examples a step, 12 steps (2026-12-06,
# bf16, alone): 0.256 s with all 14 adapters, 0.192 s with q_proj and v_proj. Fitted with the bf16 efficiency (0.43)
# to the 13 runs of check.py plan. A full fine-tune's step there (0.227 s) shows rows cost on their own too, which
# the planner leaves out (it plans that step of ~14 short rows at 0.09 s); the built-in's 1-2 rows a step lose little
LORA_MODULE_SECONDS = {"cpu": 0.4e-3}
# CPU: seconds per element of the [heads, T, T] attention matrix and pass (forward, backward twice, recomputation):
# the flash kernel builds it block by block, and its mask, exponentials and their gradients are not in the matmul
# flops. Fitted on the tiny model's 2048-token rows, where they are most of a step (benchmarks/plan_accuracy.py,
# bf16, 2026-12-05; fp32 the same day: -4% on them).
MATRIX_ELEMENT_SECONDS = {"cpu": 0.52e-9}
MATRIX_ATTENTION_ROW = 512  # CPU/MPS: attention visits [heads, T, T]; longer rows cost more than they save
LOW_MEMORY_ROW = 256  # train.low_memory: activations grow with the row


@dataclass
class Plan:
    row_tokens: int
    row_tokens_why: str
    checkpointing: bool
    checkpointing_why: str
    parts: dict  # bytes by part
    usable: float  # bytes this device can give the job
    seconds_per_step: float
    steps: int
    loading: float = 0.0  # bytes while the model loads (CPU/MPS), when that is above training's peak
    advice: list = field(default_factory=list)
    objective: str = "sft"  # dpo/orpo: each example is a pair, two sequences in the same row
    reference_seconds: float = 0.0  # dpo: the reference pass, one forward over the training pairs before step 1

    @property
    def peak(self) -> float:
        return max(sum(self.parts.values()), self.loading)

    @property
    def fits(self) -> bool:
        return self.peak <= self.usable

    def to_dict(self) -> dict:
        return {"micro_batch_tokens": self.row_tokens, "micro_batch_tokens_why": self.row_tokens_why,
                "gradient_checkpointing": self.checkpointing, "gradient_checkpointing_why": self.checkpointing_why,
                "memory_gb": {k: round(v / GB, 3) for k, v in self.parts.items()},
                "loading_memory_gb": round(self.loading / GB, 2),
                "peak_memory_gb": round(self.peak / GB, 2), "usable_memory_gb": round(self.usable / GB, 2),
                "fits": self.fits, "seconds_per_step": round(self.seconds_per_step, 3), "steps": self.steps,
                "total_minutes": round((self.seconds_per_step * self.steps + self.reference_seconds) / 60, 1),
                "advice": self.advice, **self._objective()}

    def _objective(self) -> dict:
        if self.objective == "sft":
            return {}
        return {"objective": self.objective, "sequences_per_example": 2,
                "reference_pass_seconds": round(self.reference_seconds, 1)}


def fit(shape: Shape, job: Job, kind: str, usable: float, gflops: float | None, longest: int, tokens_per_step: float,
        steps: int, row_tokens: int = 0, checkpointing: str = "auto", low_memory: bool = False,
        largest_step: float = 0, avx512: bool = False) -> Plan:
    """job's row_tokens/checkpointing are overwritten by the decisions; longest: the longest example in tokens;
    largest_step: tokens of the run's biggest step (default tokens_per_step), which makes the biggest row.
    low_memory: auto values take the smallest footprint instead of the fastest that fits.
    gflops None: the device's speed is unknown, and so is the time (seconds_per_step 0)."""
    job.attention_matrix, job.matrix_kept = kind != "cuda", kind == "mps"
    chosen, row_why = _row_tokens(row_tokens, longest, job.attention_matrix, low_memory)
    biggest = max(largest_step, tokens_per_step)
    job.row_tokens = min(chosen, padded_length(int(biggest)))  # a step may not fill a whole row
    job.checkpointing, ckpt_why = checkpointing == "on", f"requested ({checkpointing})"
    if checkpointing == "auto" and low_memory:
        job.checkpointing, ckpt_why = True, "on: train.low_memory"
    elif checkpointing == "auto":
        job.checkpointing = sum(memory(shape, job, kind).values()) > usable
        ckpt_why = ("on: without it the peak would exceed usable memory" if job.checkpointing
                    else "off: everything fits without recomputing layers")
    if not row_tokens and job.checkpointing and sum(memory(shape, job, kind).values()) > usable:
        chosen, row_why = _shrink_rows(shape, job, kind, usable, longest, chosen, row_why)
    parts = memory(shape, job, kind)
    seconds = _seconds_per_step(shape, job, kind, gflops * efficiency(kind, job.precision, avx512),
                                tokens_per_step) if gflops else 0.0
    plan = Plan(chosen, row_why, job.checkpointing, ckpt_why, parts, usable, seconds, steps,
                loading_peak(shape, job, kind))
    plan.advice = advice(shape, job, plan, kind)
    return plan


def _shrink_rows(shape: Shape, job: Job, kind: str, usable: float, longest: int, chosen: int, why: str):
    """Halve an auto row (not below the longest example) until the job fits with checkpointing."""
    need = padded_length(longest)
    while chosen > need and sum(memory(shape, job, kind).values()) > usable:
        chosen = max(need, padded_length(chosen // 2))
        job.row_tokens = min(job.row_tokens, chosen)
        why = f"shortened to {chosen} so that the job fits this memory (checkpointing alone was not enough)"
    return chosen, why


def efficiency(kind: str, precision: str, avx512: bool = False) -> float:
    """The share of the probed matmul peak a training step reaches."""
    if kind == "cpu" and precision == "fp32" and avx512:
        return CPU_FP32_AVX512
    return EFFICIENCY.get((kind, precision), 0.3)


def _seconds_per_step(shape: Shape, job: Job, kind: str, reached_gflops: float, tokens_per_step: float) -> float:
    flops = flops_per_token(shape, job, kind) * tokens_per_step
    compute = flops / (reached_gflops * 1e9)
    rows = -(-tokens_per_step // job.row_tokens)
    fixed = rows * shape.layers * (3 if job.checkpointing else 2) * LAYER_PASS_SECONDS.get(kind, 0.0)
    matrix = job.attention_matrix * rows * shape.layers * shape.heads * job.row_tokens ** 2 * \
        (4 if job.checkpointing else 3) * MATRIX_ELEMENT_SECONDS.get(kind, 0.0)
    optimizer = trainable_params(shape, job) * 28 / OPTIMIZER_BANDWIDTH.get(kind, 100e9)
    adapters = 0 if job.method == "full" else len(adapted_linears(shape, job)) * shape.layers
    lora = rows * adapters * (1.5 if job.checkpointing else 1) * LORA_MODULE_SECONDS.get(kind, 0.0)
    return STEP_OVERHEAD + compute + fixed + matrix + optimizer + lora + _weight_casts(shape, job, kind, rows)


def _weight_casts(shape: Shape, job: Job, kind: str, rows: float) -> float:
    """A full fine-tune in bf16/fp16 keeps fp32 weights: autocast casts each to the compute dtype for every row's
    forward, and the copy's gradient back to fp32 (6 + 10 bytes a parameter a row; the built-in's full 512 row, bf16,
    stepped in 8.1-10.2 s over four runs where the plan without this said 6.9-8.0)."""
    if job.method != "full" or job.precision == "fp32":
        return 0.0
    return rows * shape.params * 16 / job.shards / OPTIMIZER_BANDWIDTH.get(kind, 100e9)


def forward_seconds(shape: Shape, job: Job, kind: str, gflops: float | None, tokens: float,
                    avx512: bool = False) -> float:
    """A forward pass without gradients over this many tokens (dpo's reference pass); 0 when the speed is unknown."""
    if not gflops:
        return 0.0
    return tokens * forward_flops_per_token(shape, job) / (gflops * 1e9 * efficiency(kind, job.precision, avx512))


def _row_tokens(requested: int, longest: int, attention_matrix: bool, low_memory: bool) -> tuple[int, str]:
    need = padded_length(longest)
    if requested:
        return max(requested, need), "requested" if requested >= need else f"raised to the longest example ({need})"
    if low_memory and not attention_matrix:
        # measured on an H100: 768-token rows saved 15% of the peak over 4096-token rows with checkpointing, and
        # ran 5x slower (510 tok/s, a sixth of TRL's); checkpointing alone makes the footprint small
        return max(4096, need), "train.low_memory on CUDA: checkpointing keeps the footprint small; short rows would starve the GPU"
    if low_memory:
        return max(LOW_MEMORY_ROW, need), "train.low_memory: short rows keep activations small (at least the longest example)"
    if attention_matrix:
        target = max(MATRIX_ATTENTION_ROW, need)
        return target, ("this device's attention passes over a tokens x tokens matrix per head, so short rows "
                        "are faster (at least the longest example)")
    target = max(4096, need)
    return target, "memory-efficient attention on CUDA; long rows keep the GPU busy"


def advice(shape: Shape, job: Job, plan: Plan, kind: str) -> list[str]:
    if plan.fits:
        return []
    tips = []
    if job.method == "full":
        full = shape.params * 16 / GB
        tips.append(f"method=lora: a full fine-tune keeps weights, gradients and AdamW state (~{full:.0f} GB for "
                    f"{shape.params / 1e9:.1f}B parameters); LoRA trains ~1% of that")
    if job.method == "lora" and kind == "cuda":
        tips.append("method=qlora: the frozen base in 4-bit takes about a quarter of the memory")
    if plan.parts["activations"] > 0.3 * plan.peak and job.row_tokens > 512:
        tips.append(f"train.micro_batch_tokens={max(512, job.row_tokens // 2)} (or data.max_length lower)")
    if not job.checkpointing:
        tips.append("train.low_memory=true (gradient checkpointing and short rows)")
    weights = plan.parts["weights"] + plan.parts["gradients"] + plan.parts["optimizer"]
    if weights > plan.usable:
        tips.append(f"a bigger machine: the weights and optimizer alone need {weights / GB:.0f} GB and this device "
                    f"gives {plan.usable / GB:.0f} GB; data-parallel GPUs each hold all of it, so pick one GPU with "
                    "more memory, use LoRA/QLoRA, or shard a full fine-tune over N GPUs: "
                    "`torchrun --nproc_per_node N -m desktune train CONFIG train.fsdp=true`")
    return tips


def launch_hint(seconds_total: float) -> str | None:
    """Long jobs: the same config on a multi-GPU machine (docs/multi-gpu.md)."""
    if seconds_total < 3600:
        return None
    return ("this job takes over an hour here; on a machine with N GPUs run "
            "`torchrun --nproc_per_node N -m desktune train CONFIG` (about N x faster; docs/multi-gpu.md)")
