"""The training recipe, in the order things happen: setup -> train -> save. No hooks or callbacks: the steps
call the reporter themselves."""

import math
import shutil
import time

import torch

from desktune.files import replaced_folder
from desktune.hardware.detect import peak_memory_gb
from desktune.infer.samples import compare_samples, quick_look
from desktune.models.adapters import save_tuned_weights
from desktune.report.card import write_tuned_card
from desktune.report.progress import Reporter, Silent
from desktune.train.checkpoint import (
    latest_checkpoint,
    prune,
    restore_weights,
    resume_from,
    save_checkpoint,
)
from desktune.train.distributed import (
    any_process,
    gather_optimizer,
    gather_weights,
    my_share,
    step_seed,
    sum_over_processes,
)
from desktune.train.forward import loss_and_count
from desktune.train.optim import lr_at
from desktune.train.pairs import compute_reference, held_out, pair_step
from desktune.train.setup import Training, set_up
from desktune.train.sft_step import sft_step
from desktune.train.safety import (
    ctrl_c_finishes_the_step,
    diverged,
    failure_recorded,
    plain_out_of_memory,
)
from desktune.train.summary import early_stop_text, summarise, summary_text


def train(cfg, run, samples: int = 3, resume: bool = False, overwrite: bool = False,
          allow_changes: bool = False) -> dict:
    """Fine-tune cfg.model on cfg.data into run (continuing its last checkpoint if resume); returns the summary.
    Whatever stops it once the run folder is open, its files are closed, running.pid removed, and failed.json
    written (not for Ctrl-C); the checkpoints stay, so resume=True continues from the last one."""
    started = time.perf_counter()
    t = set_up(cfg, run)
    _open_run(t, resume, overwrite, allow_changes)
    with failure_recorded(run if t.main else None, lambda: min(t.state.step + 1, t.total), lambda: t.report.close()):
        _start(t)
        _run_steps(t)
        return _wrap_up(t, samples, started)


def _open_run(t: Training, resume: bool, overwrite: bool, allow_changes: bool) -> None:
    """Make the run folder, or, resuming, restore its last checkpoint (none: start again from step 0)."""
    if t.main and not resume:
        t.run.create(overwrite)
    t.accelerator.wait_for_everyone()
    if resume:
        t.state = resume_from(t.run.checkpoints, t.model, t.optimizer, t.meta, allow_changes,
                              t.loss_fn if t.sharded else None)


def _start(t: Training) -> None:
    """Mark the run running, write what was decided, start the report, measure the eval loss before training."""
    run, cfg = t.run, t.cfg
    if t.main:
        run.mark_running()
        run.trim_metrics(t.state.step)  # resumed: the steps after the checkpoint are logged again
        run.write_json(run.data_json, t.data.stats)
        run.write_json(run.plan_json, t.plan.to_dict())
        run.write_json(run.decisions_json, t.decisions)
        _write_resolved_config(run, t.meta["config"], t.decisions)

    t.report = Reporter(run, t.total, cfg.train.report_to) if t.main else Silent()
    t.report.say(f"training {cfg.model} ({_method_text(cfg)}) on {t.decisions['device']}, {t.precision}; "
                 f"{len(t.data.train)} train / {len(t.data.eval)} eval examples, {t.total} steps"
                 + (f"; resuming after step {t.state.step}" if t.state.step else ""))
    if not t.plan.fits:
        t.report.say(f"warning: the plan puts peak memory at {t.plan.peak / 1e9:.1f} GB, above the "
                     f"{t.plan.usable / 1e9:.1f} GB this device can give; if it runs out, try: "
                     + "; ".join(t.plan.advice))
    if cfg.train.objective == "dpo" and t.state.reference is None:
        compute_reference(t)
    if t.eval_rows and not t.state.eval_loss:
        t.state.eval_loss.append([0, _held_out(t)["eval_loss"]])
        t.report.say(f"eval loss before training: {t.state.eval_loss[0][1]:.4f}")
    if t.neutral_rows and t.state.neutral_base is None:
        t.state.neutral_base = _eval_loss(t.judge, t.neutral_rows, t.accelerator, t.sharded)


def _run_steps(t: Training) -> None:
    """Optimizer steps until the last one or an early stop; Ctrl-C writes a checkpoint, then stops."""
    # generating runs on the main process alone, which sharded weights do not allow
    looks = [e for e in t.data.eval if e.messages and not t.sharded][: t.cfg.train.eval_samples]
    with ctrl_c_finishes_the_step() as interrupted:
        while t.state.step < t.total and not t.state.stop_reason:
            record = _step(t)
            _evaluate(t, record, looks)
            stop = any_process(interrupted()) if t.sharded else interrupted()  # sharded saves need every process
            _checkpoint(t, stop)
            if stop:
                t.report.end_steps()
                t.report.say(f"interrupted: checkpoint written at step {t.state.step}; continue with --resume")
                raise KeyboardInterrupt
    t.report.end_steps()


def _step(t: Training) -> dict:
    """One optimizer step over the next batch; returns its metrics record."""
    cfg, state, accelerator = t.cfg, t.state, t.accelerator
    started = time.perf_counter()
    indices = t.schedule.batch(state.step)
    mine = my_share(indices, accelerator)
    weight = 1.0 if mine else 0.0  # a process with no example this step still joins the gradient exchange
    lr = lr_at(state.step, t.total, cfg.train.lr, cfg.train.warmup, cfg.train.min_lr_ratio)
    for group in t.optimizer.param_groups:
        group["lr"] = lr
    torch.manual_seed(step_seed(cfg.train.seed, state.step, accelerator.process_index))
    extra = {}
    with plain_out_of_memory(cfg):
        if cfg.train.objective == "sft":
            loss, real_tokens = sft_step(t, mine or indices[:1], weight)
        else:  # dpo, orpo: both answers of each pair, their loss and rewards (train/pairs.py)
            loss, real_tokens, extra = pair_step(t, mine or indices[:1], weight)
    if not math.isfinite(loss):
        raise diverged(cfg, state, loss, latest_checkpoint(t.run.checkpoints))
    if cfg.train.max_grad_norm > 0:
        accelerator.clip_grad_norm_(t.params, cfg.train.max_grad_norm)
    t.optimizer.step()
    t.optimizer.zero_grad(set_to_none=True)

    state.step += 1
    state.epoch = round(state.step / t.schedule.per_epoch, 3)
    state.tokens += real_tokens
    state.loss.append([state.step, loss])
    return {"step": state.step, "epoch": state.epoch, "tokens": state.tokens, "loss": loss, "lr": lr,
            "tokens_per_s": real_tokens / (time.perf_counter() - started), "memory_gb": peak_memory_gb(t.kind), **extra}


def _evaluate(t: Training, record: dict, looks: list) -> None:
    """At eval steps: held-out loss, the best adapter kept, early stopping, a quick look; then report the step."""
    cfg, state = t.cfg, t.state
    if t.eval_rows and (state.step == t.total or (cfg.train.eval_every and state.step % cfg.train.eval_every == 0)):
        record |= _held_out(t)
        within = _forgetting_within_budget(t, record)
        if state.record_eval(state.step, record["eval_loss"], cfg.train.early_stopping_delta, within,
                             record.get("calls_loss")):
            weights = gather_weights(t.loss_fn) if t.sharded else None
            if t.main:
                _save_tuned(t.model, t.tokenizer, t.run.checkpoints / "best", weights, resumable=True)
        elif cfg.train.early_stopping and state.evals_without_gain >= cfg.train.early_stopping:
            state.stop_reason = early_stop_text(state, bool(t.neutral_rows), bool(t.call_rows))
    if state.step % cfg.train.log_every == 0 or "eval_loss" in record or state.step == t.total:
        t.report.step(record)
    if t.main and looks and "eval_loss" in record:
        with t.accelerator.autocast():
            t.report.say(quick_look(t.model, t.chat, [e.messages for e in looks], tools=[e.tools for e in looks]))


def _forgetting_within_budget(t: Training, record: dict) -> bool:
    """The forgetting guard: the neutral-text perplexity change against the base, noted in the record."""
    if not t.neutral_rows:
        return True
    neutral = _eval_loss(t.judge, t.neutral_rows, t.accelerator, t.sharded)
    record["forgetting_pct"] = 100 * (math.exp(neutral - t.state.neutral_base) - 1)
    t.state.forgetting.append([t.state.step, record["forgetting_pct"]])
    return record["forgetting_pct"] <= t.cfg.train.forgetting_budget


def _checkpoint(t: Training, stop: bool) -> None:
    """A checkpoint at the end, every save_every steps, and when stopped."""
    cfg, state = t.cfg, t.state
    at_end = state.step == t.total or state.stop_reason
    if stop or at_end or (cfg.train.save_every and state.step % cfg.train.save_every == 0):
        gathered = (gather_weights(t.loss_fn), gather_optimizer(t.loss_fn, t.optimizer)) if t.sharded else None
        if t.main:
            save_checkpoint(t.run.checkpoints, t.model, t.optimizer, state, t.meta, gathered)
            prune(t.run.checkpoints, cfg.train.keep_checkpoints, state.best_step)


def _wrap_up(t: Training, samples: int, started: float) -> dict:
    """Save the tuned adapter (or model), write the summary, show base-vs-tuned answers."""
    cfg, run, state = t.cfg, t.run, t.state
    state.stop_reason = state.stop_reason or f"finished all {t.total} steps"
    t.accelerator.wait_for_everyone()
    weights = gather_weights(t.loss_fn) if t.sharded and not state.best_step else None  # no best: save the last
    if not t.main:
        return {}
    t.optimizer.state.clear()  # the last checkpoint holds it; a full fine-tune's moments are twice its weights
    _final_tuned(t, weights)
    summary = summarise(cfg, t.decisions, state, t.data, time.perf_counter() - started, t.kind)
    summary |= {"planned_peak_memory_gb": round(t.plan.peak / 1e9, 2),
                "planned_seconds_per_step": round(t.plan.seconds_per_step, 2)}
    if cfg.train.objective != "sft":
        summary["eval_rewards"] = _rewards_at(run, state.best_step or state.step)
    if cfg.train.objective == "dpo":
        summary["reference_seconds"] = round(t.reference_seconds, 2)
    run.write_json(run.summary, summary)
    write_tuned_card(run)  # after save_pretrained: PEFT's own README.md template is replaced
    t.report.say(summary_text(summary))
    if samples and t.sharded:
        t.report.say(f"base-vs-tuned answers skipped: generating needs the whole model in one process; "
                     f"run `desktune eval {run.path}` for them")
    if samples and not t.sharded and any(e.messages for e in t.data.eval):
        with t.accelerator.autocast():
            shown = [e for e in t.data.eval if e.messages][:samples]  # a tool row's prompt holds its functions
            t.report.say(compare_samples(t.model, t.chat, [e.messages for e in shown], cfg.model, run.samples,
                                         tools=[e.tools for e in shown]))
    t.report.close()
    return summary


def _held_out(t: Training) -> dict:
    """The held-out loss as eval_loss (pairs: the preference loss, with the eval_ rewards beside it; tool rows:
    the calls' loss alone as calls_loss)."""
    if t.cfg.train.objective != "sft":
        return held_out(t)
    record = {"eval_loss": _eval_loss(t.judge, t.eval_rows, t.accelerator, t.sharded)}
    if t.call_rows:
        record["calls_loss"] = _eval_loss(t.judge, t.call_rows, t.accelerator, t.sharded)
    return record


def _eval_loss(model, rows, accelerator, sharded: bool = False) -> float:
    """Held-out mean token loss; each process takes a share of the rows. Sharded: model is the sharded loss
    module and every process runs every row (each forward gathers weights from all of them)."""
    if sharded:
        with accelerator.autocast():
            loss, count = loss_and_count(model, rows, accelerator.device)
        return loss / max(count, 1)
    with accelerator.autocast():
        loss, count = loss_and_count(model, my_share(rows, accelerator), accelerator.device)
    loss = sum_over_processes(accelerator, loss, accelerator.device)
    return loss / max(sum_over_processes(accelerator, count, accelerator.device), 1)


def _write_resolved_config(run, resolved: dict, decisions: dict) -> None:
    """config.yaml, its decisions repeated as comments for people (programs read decisions.json)."""
    header = "# resolved by desktune; every 'auto' decided:\n" + "".join(f"# {k}: {v}\n" for k, v in decisions.items())
    run.write_yaml(run.config, resolved, header)


def _method_text(cfg) -> str:
    if cfg.method == "full":
        return "full fine-tune"
    return f"{'Q' if cfg.method == 'qlora' else ''}{'DoRA' if cfg.lora.dora else 'LoRA'} r={cfg.lora.r}"


def _rewards_at(run, step: int) -> dict:
    """The held-out rewards logged at that step (the adapter kept), from metrics.jsonl."""
    records, _ = run.read_metrics()
    logged = [r for r in records if r["step"] == step and "eval_loss" in r]
    return {k.removeprefix("eval_"): v for k, v in logged[-1].items() if k.startswith("eval_rewards/")} if logged else {}


def _save_tuned(model, tokenizer, folder, weights: dict | None = None, resumable: bool = False) -> None:
    """The PEFT adapter (or, method=full, the whole model; weights: gathered from shards) + tokenizer with the
    chat template used in training; resumable: in the form restore_weights reads back."""
    with replaced_folder(folder) as tmp:
        save_tuned_weights(model, tmp, weights, rows_as_lora=not resumable)
        tokenizer.save_pretrained(tmp)


def _final_tuned(t: Training, weights: dict | None) -> None:
    """adapter/ (model/ for method=full) is the best evaluated one when there is one, else the last. Unsharded,
    the best is put back in the model first: the base-vs-tuned answers that follow are the saved model's."""
    final = t.run.model_dir if t.cfg.method == "full" else t.run.adapter
    best = t.run.checkpoints / "best"
    if best.exists() and t.sharded:
        with replaced_folder(final) as tmp:
            shutil.copytree(best, tmp)
        return
    if best.exists() and t.state.best_step != t.state.step:
        restore_weights(best, t.model)
    _save_tuned(t.model, t.tokenizer, final, weights)
