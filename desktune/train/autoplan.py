"""The planner fed with a real job: the model's config, the encoded data and the device (this one, or a profile)."""

import copy
import math

from desktune.data.pack import row_groups, row_length
from desktune.data.schedule import Schedule
from desktune.plan.device import DeviceProfile
from desktune.plan.estimate import Job, Shape
from desktune.plan.fit import Plan, fit, forward_seconds

BATCH_SIZE, EPOCHS = 8, 3.0
# Adam moves each weight about lr per step whatever the batch, so a small set needs enough steps, not bigger ones:
# 54 long garden answers x 2 epochs at 8 a step (14 steps): 0 of 4 answers ended; at 4 (28 steps) 5 of 6;
# at 2 (54 steps) 6 of 6 (benchmarks/own_data.py)
MIN_STEPS = 48
# Tool rows learn at half the rate (optim.TOOL_LR) in steps of 4 for 4 epochs: the same loss for less forgetting,
# which buys the 4th epoch. Measured on the built-in, the bundled tool rows with one tool list (benchmarks/README.md,
# fp32): the chat default (1e-4, 8, 3 epochs) held-out split loss 0.330 at neutral +7.3%, right function 52.8%,
# exact arguments 22.2%; this 0.296 at +8.2%, 66.7% and 30.6%
TOOL_BATCH_SIZE, TOOL_EPOCHS = 4, 4.0
LONGER_SHARED_ROWS = (1024, 2048, 4096)
# method auto, tool rows: a model this small trains every weight where it fits. Measured on the built-in (errands set,
# 150 rows, fp32, benchmarks/README.md): a full fine-tune at its defaults (2e-5, batch 8, 3 epochs) called the right
# function on 82% of held-out requests, 68% with exact arguments, neutral text +7.0%; the adapter's tool schedule 50%,
# 29%, +8.2%. Google fine-tunes FunctionGemma (270M) whole too. Up to 0.6B: the built-in, SmolLM2 360M, Qwen2.5 0.5B
SMALL_MODEL = 0.6e9
# fp32 weight, gradient and two Adam moments (16 bytes a parameter), and as much again for activations, logits, heap:
# the built-in planned 8.1-10.4 GB on rows of 1024-2048
FULL_BYTES_PER_PARAM = 32


def this_device(facts, precision: str) -> DeviceProfile:
    """This machine's free memory and probed matmul speed."""
    from desktune.hardware.detect import device_memory, usable_memory
    from desktune.hardware.probe import matmul_gflops

    _, available = device_memory(facts.kind)
    return DeviceProfile(facts.kind, facts.name, usable_memory(facts.kind, available),
                         matmul_gflops(facts.kind, precision), facts.bf16_matmul, facts.avx512)


def make_plan(cfg, model_config, train_examples: list, facts, precision: str, processes: int = 1,
              device: DeviceProfile | None = None) -> Plan:
    """device: plan for that profile instead of this machine (facts then unused). A preference pair is one
    example of both its sequences (they share a row); dpo adds the reference pass."""
    device = device or this_device(facts, precision)
    choose_method(cfg, train_examples, model_config, device.usable)  # where the caller left it auto
    lengths = [sum(len(s.ids) for s in e.sequences) for e in train_examples] or [1]
    trained = sum(sum(s.trained) for e in train_examples for s in e.sequences)
    tools = tool_schedule(cfg, train_examples)
    batch, _ = batch_size(cfg.train, len(lengths), tools)
    schedule = Schedule(len(lengths), batch, cfg.train.seed)
    steps = schedule.total(epochs(cfg.train, tools)[0], cfg.train.max_steps)
    targets = () if cfg.lora.targets == "all-linear" else tuple(t.strip() for t in cfg.lora.targets.split(","))
    job = Job(cfg.method, precision, 0, trained / sum(lengths), cfg.lora.r, targets)
    if cfg.train.fsdp and cfg.method == "full":
        job.shards = processes
    tokens_per_step = sum(lengths) / len(lengths) * batch / processes
    largest = largest_step(lengths, schedule, min(steps, schedule.per_epoch)) / processes
    shape = Shape.from_config(model_config)

    def fit_rows(row_tokens: int, share: float = 1.0) -> tuple[Plan, Job]:
        """The plan (and the job it decided) where the packed rows compute this share of the examples' tokens."""
        shared = copy.copy(job)
        shared.trained_fraction = min(1.0, job.trained_fraction / share)
        return fit(shape, shared, device.kind, device.usable, device.gflops, max(lengths), tokens_per_step * share,
                   steps, row_tokens, cfg.train.gradient_checkpointing, cfg.train.low_memory,
                   largest_step=largest, avx512=device.avx512), shared

    def share(row_tokens: int) -> float:
        return computed_share(train_examples, schedule, min(steps, schedule.per_epoch), row_tokens, cfg.data.packing)

    plan, decided = fit_rows(cfg.train.micro_batch_tokens)
    computed = share(plan.row_tokens)
    if computed < 1:  # rows hold shared prefixes once: fewer tokens a step, as many trained ones
        plan, decided = fit_rows(cfg.train.micro_batch_tokens, computed)
        if not cfg.train.micro_batch_tokens and not cfg.train.low_memory:
            plan, decided = longer_shared_rows((plan, decided), fit_rows, share)
    plan.objective = cfg.train.objective
    if cfg.train.objective == "dpo":
        plan.reference_seconds = forward_seconds(shape, decided, device.kind, device.gflops, sum(lengths) / processes,
                                                    device.avx512)
    return plan


def longer_shared_rows(best: tuple[Plan, Job], fit_rows, share) -> tuple[Plan, Job]:
    """The auto row lengthened (to 1024, 2048, 4096 tokens) while that is faster and fits: a longer row holds a
    shared prefix once for more examples, which can outweigh its bigger attention matrix on CPU
    (benchmarks/shared_prefix.py)."""
    for row_tokens in [n for n in LONGER_SHARED_ROWS if n > best[0].row_tokens]:
        computed = share(row_tokens)
        longer, job = fit_rows(row_tokens, computed)
        if not longer.fits or longer.seconds_per_step >= best[0].seconds_per_step:
            break
        longer.row_tokens_why = (f"auto, {row_tokens}: examples that start alike hold their shared start once a row, "
                                 f"so rows this long compute {computed:.0%} of the examples' tokens")
        best = longer, job
    return best


def tool_schedule(cfg, examples: list) -> bool:
    """An adapter learning calls (SFT, most examples declare tools): it trains on the tool schedule."""
    return cfg.method != "full" and cfg.train.objective == "sft" and declares_tools(examples)


def declares_tools(examples: list) -> bool:
    """Most examples declare tools: the model is learning to call them."""
    return 2 * sum(1 for e in examples if getattr(e, "tools", None) is not None) > len(examples)


def choose_method(cfg, examples: list, model_config, usable: float) -> str:
    """Sets cfg.method when it is auto; returns why. usable: the bytes a training job may plan to use here."""
    if cfg.method != "auto":
        return "requested"
    if cfg.train.fsdp:
        cfg.method = "full"
        return "auto: train.fsdp shards a full fine-tune"
    cfg.method = "lora"
    if cfg.init_from or cfg.train.objective != "sft" or not declares_tools(examples):
        return "auto"
    params = Shape.from_config(model_config).params
    if params > SMALL_MODEL:
        return f"auto: tool rows, and a model of {params / 1e9:.1f}B parameters trains an adapter"
    if FULL_BYTES_PER_PARAM * params > usable:
        return (f"auto: tool rows, but a full fine-tune of {params / 1e9:.2f}B parameters needs about "
                f"{FULL_BYTES_PER_PARAM * params / 1e9:.0f} GB and {usable / 1e9:.1f} GB are usable here")
    cfg.method = "full"
    return (f"auto: a small model ({params / 1e9:.2f}B parameters) learning tool calls trains every weight, as Google "
            "tunes FunctionGemma (errands set: right function 82% against 50% with an adapter)")


def epochs(train, tools: bool = False) -> tuple[float, str]:
    """train.epochs with auto (0) resolved, and why."""
    if train.epochs:
        return train.epochs, "requested"
    if tools:
        return TOOL_EPOCHS, "auto: tool rows, at half the rate, take a 4th epoch"
    return EPOCHS, "auto"


def batch_size(train, n_examples: int, tools: bool = False) -> tuple[int, str]:
    """train.batch_size with auto (0) resolved for this many training examples, and why."""
    if train.batch_size:
        return train.batch_size, "requested"
    n_epochs, base = epochs(train, tools)[0], TOOL_BATCH_SIZE if tools else BATCH_SIZE
    if train.max_steps or n_examples * n_epochs >= MIN_STEPS * base:
        return base, "auto: tool rows learn in smaller steps" if tools else "auto"
    size = max(2, int(n_examples * n_epochs // MIN_STEPS))
    return size, (f"auto: {n_examples} examples x {n_epochs:g} epochs make only "
                  f"{math.ceil(n_examples / base * n_epochs)} steps of {base}; a small set needs "
                  f"about {MIN_STEPS} updates to learn its answers' form and end")


def computed_share(examples: list, schedule: Schedule, steps: int, row_tokens: int, packing: bool = True) -> float:
    """The share of the examples' tokens that the first steps' packed rows compute (below 1 where examples side by
    side hold a shared prefix once; data/pack.py)."""
    total = computed = 0
    for step in range(min(steps, 200)):
        batch = [examples[i] for i in schedule.batch(step)]
        total += sum(len(s.ids) for e in batch for s in e.sequences)
        for row in row_groups(batch, row_tokens, packing, sequences=lambda e: e.sequences):
            computed += row_length([s for e in row for s in e.sequences])
    return computed / max(total, 1)


def largest_step(lengths: list[int], schedule: Schedule, steps: int) -> int:
    """Tokens of the biggest of the first `steps` steps, in the order training takes them."""
    return max(sum(lengths[i] for i in schedule.batch(s)) for s in range(steps))
