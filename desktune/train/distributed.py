"""Data parallelism on top of accelerate (launched by `accelerate launch` or `torchrun`).

Every process builds the same data and the same step batches; each takes every world_size-th example
of a step, and gradients are averaged by torch DDP. Scaling each process's loss by world_size / (trained
tokens in the whole step) makes the averaged gradient exactly the single-process one.
"""

import os

import torch


def is_main_process() -> bool:
    """Before accelerate starts: torchrun and accelerate launch name each process's rank in RANK."""
    return int(os.environ.get("RANK", "0")) == 0


def leave_process_group() -> None:
    """At the end of a launched process. One that exits with its process group open can abort on the way out
    (gloo's threads: "terminate called without an active exception", SIGABRT) and fail the whole launch after
    training finished (seen once in CI, tests/test_distributed.py)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_if_launched(code: int) -> None:
    """A process of a launch (torchrun, accelerate launch) ends here, skipping the interpreter's teardown: gloo's
    worker threads can still hold tensors then and abort the process (SIGABRT, "terminate called without an
    active exception") after training finished, failing the whole launch. CI saw it twice, the second time after
    the process group had been destroyed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def launch_problem(local_processes: int, cuda_devices: int) -> str | None:
    """Why this launch cannot work, or None. NCCL (the backend whenever CUDA is visible) refuses two processes on
    one GPU ("Duplicate GPU detected") only after every process has loaded the model."""
    if cuda_devices == 0 or local_processes <= cuda_devices:
        return None
    return (f"{local_processes} processes on this machine but {cuda_devices} CUDA device"
            f"{'s' if cuda_devices > 1 else ''}: data parallelism over NCCL needs one GPU per process")


def check_launch() -> None:
    """Refuse, before any process group starts, a launch with more processes per node than GPUs."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if local <= 1:
        return
    import torch

    problem = launch_problem(local, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if problem:
        from desktune.errors import ConfigError

        raise ConfigError(problem, f"launch with --nproc_per_node {torch.cuda.device_count()} (one process per GPU), or "
                          "train on the CPU with gloo: CUDA_VISIBLE_DEVICES= torchrun --nproc_per_node N -m desktune "
                          "train CONFIG")


def my_share(items: list, accelerator) -> list:
    return items[accelerator.process_index::accelerator.num_processes]


def sum_over_processes(accelerator, value: float, device) -> float:
    """The sum of value over all processes."""
    if accelerator.num_processes == 1:
        return value
    return float(accelerator.reduce(torch.tensor(float(value), dtype=torch.float64, device=device), "sum"))


def step_seed(seed: int, step: int, rank: int) -> int:
    """Dropout randomness from (seed, step, process): a resumed run draws what the uninterrupted one drew."""
    return (seed * 1_000_003 + step * 9_176 + rank) % (2**63)


def use_fsdp(cfg, processes: int) -> bool:
    """train.fsdp shards a full fine-tune over several processes; with one process it changes nothing."""
    if not cfg.train.fsdp:
        return False
    if cfg.method not in ("full", "auto"):  # auto with train.fsdp is a full fine-tune (autoplan.choose_method)
        from desktune.errors import ConfigError

        raise ConfigError(f"train.fsdp shards every trained weight; with method={cfg.method} only the small adapter "
                          "trains, and each process holding its own copy is faster", "drop train.fsdp (or use method=full)")
    return processes > 1


def shard(loss_fn):
    """FSDP2: each decoder layer's weights, gradients and optimizer state split across the processes, gathered
    only while that layer runs; the rest (embeddings, final norm) form the root group."""
    from torch.distributed.fsdp import fully_shard

    from desktune.train.forward import causal_lm

    for layer in causal_lm(loss_fn.model).get_decoder().layers:
        fully_shard(layer)
    return fully_shard(loss_fn)


def gather_weights(loss_fn) -> dict:
    """The whole model from its shards (every process must call; the main one gets them), keyed as the model's,
    a tied weight once (as save_pretrained writes it)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    weights = get_model_state_dict(loss_fn, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    model = loss_fn.model
    tied = {n for n, _ in model.named_parameters(remove_duplicate=False)} - {n for n, _ in model.named_parameters()}
    return {k.removeprefix("model."): v for k, v in weights.items() if k.removeprefix("model.") not in tied}


def gather_optimizer(loss_fn, optimizer) -> dict:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(loss_fn, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def scatter_state(loss_fn, optimizer, weights: dict, optim: dict) -> None:
    """The inverse of the gathers: every process reads the whole state and keeps its shard."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(loss_fn, optimizer, model_state_dict={f"model.{k}": v for k, v in weights.items()},
                   optim_state_dict=optim, options=StateDictOptions(full_state_dict=True, strict=False))


def even_rows(rows: list, accelerator) -> tuple[list, int]:
    """Sharded layers gather their weights at every forward, so every process must run as many rows as the
    busiest one: extra rows repeat the first and count for nothing. Returns (rows, how many are real)."""
    import torch.distributed as dist

    most = torch.tensor(len(rows), device=accelerator.device)  # NCCL refuses CPU tensors
    dist.all_reduce(most, op=dist.ReduceOp.MAX)
    return rows + [rows[0]] * (int(most) - len(rows)), len(rows)


def any_process(flag: bool) -> bool:
    """True on every process when it is true on one (so all of them take part in a collective save)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return flag
    value = torch.tensor(int(flag), device=training_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value)


def training_device() -> torch.device:
    """The device this process trains on (the Accelerator's): collectives need their tensors there, since NCCL
    refuses CPU tensors and gloo takes them."""
    from accelerate import PartialState

    return PartialState().device
