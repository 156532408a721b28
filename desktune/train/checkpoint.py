"""Checkpoints that describe themselves and are never half-written.

checkpoints/step-NNNNNN/ holds the adapter (PEFT format; the whole model for method=full), optimizer.pt, rng.pt and state.json. It is
written under a temporary name, synced, then renamed: a folder named step-* is always complete.
"""

import json
import os
import shutil
from pathlib import Path

import torch

from desktune.config.load import differences
from desktune.errors import RunError
from desktune.models.adapters import save_tuned_weights
from desktune.train.state import TrainState, rng_state, set_rng_state

ADAPTER_FILE = "adapter_model.safetensors"
REFERENCE_FILE = "reference.safetensors"  # dpo: the reference log-probabilities computed before step 1


def save_checkpoint(folder: Path, model, optimizer, state: TrainState, meta: dict, gathered=None) -> Path:
    """Write checkpoints/step-NNNNNN atomically; returns its path. gathered: (weights, optimizer state) of a
    sharded run, gathered from every process."""
    final = folder / f"step-{state.step:06d}"
    tmp = folder / f".tmp-step-{state.step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    _check_disk(folder, model)
    save_tuned_weights(model, tmp, gathered[0] if gathered else None, rows_as_lora=False)  # resumable form
    torch.save(gathered[1] if gathered else optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(rng_state(), tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps({**state.to_dict(), **meta}, indent=2))
    if state.reference is not None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.reference.items()}, tmp / REFERENCE_FILE)
    _sync_tree(tmp)
    old = folder / f".old-step-{state.step:06d}"  # a resumed run writes a step again: the one there goes aside
    shutil.rmtree(old, ignore_errors=True)       # whole first, so a kill never leaves it half deleted
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    _sync_dir(folder)
    shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    done = sorted(p for p in folder.glob("step-*") if (p / "state.json").exists())
    return done[-1] if done else None


def load_checkpoint(path: Path, model, optimizer, sharded=None) -> tuple[TrainState, dict]:
    """Restore adapter weights, optimizer and RNG in place; returns the state and the saved metadata.
    sharded: the FSDP-sharded loss module of a sharded run (each process keeps its shard)."""
    from safetensors.torch import load_file

    saved = json.loads((path / "state.json").read_text())
    meta = {k: saved.pop(k) for k in list(saved) if k not in TrainState.__dataclass_fields__}
    if sharded is not None and not (path / ADAPTER_FILE).exists():
        # the optimizer comes back with the weights, each process keeping its shard
        from desktune.train.distributed import scatter_state

        scatter_state(sharded, optimizer, _full_weights(path), torch.load(path / "optimizer.pt", weights_only=True))
    else:
        restore_weights(path, model)
    if sharded is None:
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    set_rng_state(torch.load(path / "rng.pt", weights_only=False))  # python/numpy RNG states are tuples
    state = TrainState.from_dict(saved)
    if (path / REFERENCE_FILE).exists():
        state.reference = load_file(path / REFERENCE_FILE)
    return state, meta


def restore_weights(path: Path, model) -> None:
    """The trained weights saved in path (resumable form: a checkpoint, or checkpoints/best) put back in place."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    if (path / ADAPTER_FILE).exists():
        set_peft_model_state_dict(model, load_file(path / ADAPTER_FILE))
        return
    result = model.load_state_dict(_full_weights(path), strict=False)
    if set(result.missing_keys) - {"lm_head.weight"} or result.unexpected_keys:
        raise RunError(f"checkpoint {path} does not match this model ({len(result.missing_keys)} weights "
                       "missing)", "resume with the model the run started with")


def _full_weights(path: Path) -> dict:
    """method=full: the whole model, possibly in several files; tied weights are saved once."""
    from safetensors.torch import load_file

    return {k: v for f in sorted(path.glob("model*.safetensors")) for k, v in load_file(f).items()}


def resume_from(folder: Path, model, optimizer, meta: dict, allow_changes: bool, sharded=None) -> TrainState:
    """Restore the newest checkpoint in folder, refusing when the config or data changed since. None yet (the
    run stopped before its first): training starts again from step 0."""
    path = latest_checkpoint(folder)
    if path is None:
        shutil.rmtree(folder / "best", ignore_errors=True)  # kept by evaluations of the lost steps
        return TrainState()
    state, saved = load_checkpoint(path, model, optimizer, sharded)
    changes = differences(saved.get("config", {}), meta["config"])
    if saved.get("data_fingerprint") != meta["data_fingerprint"]:
        changes.append("the training or eval data")
    if changes and not allow_changes:
        raise RunError(f"cannot resume {folder.parent}: changed since the checkpoint: {', '.join(changes)}",
                       "undo the change, or pass --allow-changes to resume anyway")
    return state


def prune(folder: Path, keep: int, best_step: int) -> None:
    """Keep the newest `keep` checkpoints and the best one."""
    done = sorted(folder.glob("step-*"))
    for path in done[:-keep] if keep > 0 else done:
        if path.name != f"step-{best_step:06d}":
            shutil.rmtree(path, ignore_errors=True)


def _check_disk(folder: Path, model) -> None:
    need = 3 * sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad) + (64 << 20)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise RunError(f"only {free / 1e9:.2f} GB free at {folder}, a checkpoint needs about {need / 1e9:.2f} GB",
                       "free some disk space, then resume with --resume")


def _sync_tree(folder: Path) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
    _sync_dir(folder)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
