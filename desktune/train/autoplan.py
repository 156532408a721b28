"""The planner fed with a real job: the model's config, the encoded data and this device."""

import math

from desktune.data.pack import steps_per_epoch
from desktune.hardware.detect import DeviceFacts, device_memory, usable_memory
from desktune.hardware.probe import matmul_gflops
from desktune.plan.estimate import Job, Shape
from desktune.plan.fit import Plan, fit


def make_plan(cfg, model_config, train_examples: list, facts: DeviceFacts, precision: str, processes: int = 1) -> Plan:
    lengths = [len(e.encoded.ids) for e in train_examples] or [1]
    trained = sum(sum(e.encoded.trained) for e in train_examples)
    per_epoch = steps_per_epoch(len(train_examples), cfg.train.batch_size)
    steps = cfg.train.max_steps or math.ceil(cfg.train.epochs * per_epoch)
    targets = () if cfg.lora.targets == "all-linear" else tuple(t.strip() for t in cfg.lora.targets.split(","))
    job = Job(cfg.method, precision, 0, trained / sum(lengths), cfg.lora.r, targets)
    if cfg.train.fsdp and cfg.method == "full":
        job.shards = processes
    _, available = device_memory(facts.kind)
    tokens_per_step = sum(lengths) / len(lengths) * cfg.train.batch_size / processes
    return fit(Shape.from_config(model_config), job, facts.kind, usable_memory(facts.kind, available),
               matmul_gflops(facts.kind, precision), max(lengths), tokens_per_step, steps,
               cfg.train.micro_batch_tokens, cfg.train.gradient_checkpointing, cfg.train.low_memory)
