"""The training recipe, in the order things happen: setup -> train -> save. Hooks only report."""

import contextlib
import hashlib
import math
import random
import shutil
import time

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState

from desktune.config.load import to_dict
from desktune.data.dataset import build_dataset
from desktune.data.pack import epoch_order, pack, steps_per_epoch
from desktune.data.template import ChatFormat
from desktune.files import replaced_folder
from desktune.hardware.detect import detect, peak_memory_gb
from desktune.hardware.precision import choose_precision
from desktune.infer.samples import compare_samples, quick_look
from desktune.models.adapters import save_tuned_weights
from desktune.models.load import load_model, load_tokenizer, resolve
from desktune.models.methods import check_method, prepare, quantization_kwargs
from desktune.models.untrained import tokens_to_train
from desktune.models.vocab import add_new_tokens
from desktune.report.progress import Reporter, Silent
from desktune.train.autoplan import batch_size, make_plan
from desktune.train.checkpoint import (
    latest_checkpoint,
    prune,
    resume_from,
    save_checkpoint,
)
from desktune.train.distributed import (
    any_process,
    check_launch,
    even_rows,
    gather_optimizer,
    gather_weights,
    my_share,
    shard,
    step_seed,
    sum_over_processes,
    use_fsdp,
)
from desktune.train.forward import RowLoss, loss_and_count
from desktune.train.optim import lr_at, make_optimizer
from desktune.train.safety import (
    catch_ctrl_c,
    diverged,
    plain_out_of_memory,
    release_ctrl_c,
)
from desktune.train.state import TrainState


ADAPTER_LR, FULL_LR = 2e-4, 2e-5


def train(cfg, run, samples: int = 3, resume: bool = False, overwrite: bool = False, allow_changes: bool = False) -> dict:
    """Fine-tune cfg.model on cfg.data into run (continuing its last checkpoint if resume); returns the summary."""
    started = time.perf_counter()
    random.seed(cfg.train.seed)
    torch.manual_seed(cfg.train.seed)
    check_launch()  # before NCCL: two processes on one GPU would crash inside it
    facts = detect()
    check_method(cfg.method, facts)
    precision, why = choose_precision(cfg.train.precision, facts)
    # accelerate scales fp16 losses and skips steps whose gradients overflowed. Its precision is process-wide
    # state: forget the previous run's (the process group, if any, stays).
    AcceleratorState._reset_state()
    accelerator = Accelerator(mixed_precision=precision if precision != "fp32" else "no", cpu=facts.kind == "cpu")
    device = accelerator.device
    sharded = use_fsdp(cfg, accelerator.num_processes)

    source = resolve(cfg.model)
    tokenizer = load_tokenizer(source)
    model = load_model(source, **quantization_kwargs(cfg.method))
    token_ids = add_new_tokens(tokenizer, model, cfg.new_tokens)
    chat = ChatFormat(tokenizer, cfg.data.template, model.config.model_type)
    data = build_dataset(cfg.data, chat, cfg.train.seed)
    untrained, untrained_why = tokens_to_train(cfg.untrained_tokens, cfg.method, model, tokenizer,
                                               (e.encoded.ids for e in data.train), chat.end_of_turn)
    token_ids = sorted(set(token_ids) | set(untrained))
    cfg.train.batch_size, batch_why = batch_size(cfg.train, len(data.train))
    plan = make_plan(cfg, model.config, data.train, facts, precision, accelerator.num_processes)
    lr_why = "requested"
    if not cfg.train.lr:
        full = cfg.method == "full"
        cfg.train.lr = FULL_LR if full else ADAPTER_LR
        lr_why = "auto: every weight moves, so 10x gentler than an adapter" if full else "auto: adapter"
    # the planner's decisions replace the auto values, so the resolved config (and eval, resume) use them
    cfg.train.micro_batch_tokens = plan.row_tokens
    cfg.train.gradient_checkpointing = "on" if plan.checkpointing else "off"
    if plan.checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model = prepare(model, cfg.method, cfg.lora, precision, token_ids)
    model.train()
    if sharded:  # FSDP2 shards the loss module's weights in place; the optimizer is made on the shards
        loss_fn = shard(RowLoss(model))
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = make_optimizer(params, cfg.train.lr, cfg.train.weight_decay, device, fused=False)
    else:  # DDP (several processes) wraps the loss module; `model` stays the plain one for saving and generating
        params = [p for p in model.parameters() if p.requires_grad]
        loss_fn, optimizer = accelerator.prepare(RowLoss(model),
                                                 make_optimizer(params, cfg.train.lr, cfg.train.weight_decay, device))
    main = accelerator.is_main_process
    per_epoch = steps_per_epoch(len(data.train), cfg.train.batch_size)
    total = cfg.train.max_steps or math.ceil(cfg.train.epochs * per_epoch)
    pad_id = tokenizer.pad_token_id or 0
    eval_rows = pack([e.encoded for e in data.eval], cfg.train.micro_batch_tokens, cfg.data.packing, pad_id)
    processes = f" x {accelerator.num_processes} processes" if accelerator.num_processes > 1 else ""
    decisions = {"device": f"{facts.kind} ({facts.name}){processes}", "precision": f"{precision}: {why}",
                 "template": chat.name, "untrained_tokens": untrained_why, "lr": f"{cfg.train.lr:g} ({lr_why})",
                 "batch_size": f"{cfg.train.batch_size} ({batch_why})",
                 "steps": f"{total} ({per_epoch} per epoch, {len(data.train)} examples)",
                 "micro_batch_tokens": plan.row_tokens_why, "gradient_checkpointing": plan.checkpointing_why}
    resolved = _resolved_config(cfg, run, precision, chat.name)
    meta = {"config": resolved, "data_fingerprint": _fingerprint(data)}

    if main and not resume:
        run.create(overwrite)
    accelerator.wait_for_everyone()
    state = TrainState()
    if resume:
        state = resume_from(run.checkpoints, model, optimizer, meta, allow_changes, loss_fn if sharded else None)
    if main:
        run.mark_running()
        if resume:
            run.trim_metrics(state.step)
        run.write_json(run.data_json, data.stats)
        run.write_json(run.plan_json, plan.to_dict())
        _write_resolved_config(run, resolved, decisions)

    report = Reporter(run, total, cfg.train.report_to) if main else Silent()
    report.say(f"training {cfg.model} ({_method_text(cfg)}) on {decisions['device']}, {precision}; "
               f"{len(data.train)} train / {len(data.eval)} eval examples, {total} steps"
               + (f"; resuming after step {state.step}" if state.step else ""))
    if not plan.fits:
        report.say(f"warning: the plan puts peak memory at {plan.peak / 1e9:.1f} GB, above the {plan.usable / 1e9:.1f} GB "
                   f"this device can give; if it runs out, try: {'; '.join(plan.advice)}")
    judge = loss_fn if sharded else model  # a sharded model only runs through its sharded root module
    if eval_rows and not state.eval_loss:
        state.eval_loss.append([0, _eval_loss(judge, eval_rows, accelerator, sharded)])
        report.say(f"eval loss before training: {state.eval_loss[0][1]:.4f}")

    # generating runs on the main process alone, which sharded weights do not allow
    looks = [e.messages for e in data.eval if e.messages and not sharded][: cfg.train.eval_samples]
    interrupted = catch_ctrl_c()
    checkpoints = run.checkpoints
    while state.step < total and not state.stop_reason:
        t0 = time.perf_counter()
        epoch, index = divmod(state.step, per_epoch)
        order = epoch_order(len(data.train), cfg.train.seed, epoch)
        batch = [data.train[i].encoded for i in order[index * cfg.train.batch_size:(index + 1) * cfg.train.batch_size]]
        mine = my_share(batch, accelerator)
        weight = 1.0 if mine else 0.0  # a process with no example this step still joins the gradient exchange
        rows = pack(mine or batch[:1], cfg.train.micro_batch_tokens, cfg.data.packing, pad_id)
        n_trained = sum_over_processes(accelerator, weight * sum(r.n_trained for r in rows), device)
        real_tokens = int(sum_over_processes(accelerator, weight * sum(r.n_real for r in rows), device))
        rows, n_rows = even_rows(rows, accelerator) if sharded else (rows, len(rows))
        lr = lr_at(state.step, total, cfg.train.lr, cfg.train.warmup, cfg.train.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(step_seed(cfg.train.seed, state.step, accelerator.process_index))
        loss_sum = torch.zeros((), device=device)
        with plain_out_of_memory(cfg):
            for i, row in enumerate(rows):
                last = i == len(rows) - 1  # gradients are exchanged once per step, after the last row
                counts = weight if i < n_rows else 0.0  # rows that only keep sharded processes in step count 0
                with contextlib.nullcontext() if last else accelerator.no_sync(loss_fn):
                    with accelerator.autocast():
                        row_sum, _ = loss_fn(row)
                    # the mean over the whole step's trained tokens, however rows and processes split them
                    accelerator.backward(row_sum * (counts * accelerator.num_processes / n_trained))
                loss_sum += row_sum.detach() * counts
        loss = sum_over_processes(accelerator, loss_sum.item(), device) / n_trained
        if not math.isfinite(loss):
            raise diverged(cfg, state, loss, latest_checkpoint(checkpoints))
        if cfg.train.max_grad_norm > 0:
            accelerator.clip_grad_norm_(params, cfg.train.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

        state.step += 1
        state.epoch = round(state.step / per_epoch, 3)
        state.tokens += real_tokens
        state.loss.append([state.step, loss])
        record = {"step": state.step, "epoch": state.epoch, "tokens": state.tokens, "loss": loss, "lr": lr,
                  "tokens_per_s": real_tokens / (time.perf_counter() - t0),
                  "memory_gb": peak_memory_gb(facts.kind)}
        if eval_rows and (state.step == total or (cfg.train.eval_every and state.step % cfg.train.eval_every == 0)):
            record["eval_loss"] = _eval_loss(judge, eval_rows, accelerator, sharded)
            if state.record_eval(state.step, record["eval_loss"], cfg.train.early_stopping_delta):
                weights = gather_weights(loss_fn) if sharded else None
                if main:
                    _save_tuned(model, tokenizer, checkpoints / "best", weights)
            elif cfg.train.early_stopping and state.evals_without_gain >= cfg.train.early_stopping:
                state.stop_reason = (f"early stopping: eval loss did not improve for {state.evals_without_gain} "
                                     f"evaluations (best {state.best_eval:.4f} at step {state.best_step})")
        if state.step % cfg.train.log_every == 0 or "eval_loss" in record or state.step == total:
            report.step(record)
        if main and looks and "eval_loss" in record:
            with accelerator.autocast():
                report.say(quick_look(model, chat, looks))
        at_end = state.step == total or state.stop_reason
        stop = any_process(interrupted()) if sharded else interrupted()  # sharded saves need every process
        if stop or at_end or (cfg.train.save_every and state.step % cfg.train.save_every == 0):
            gathered = (gather_weights(loss_fn), gather_optimizer(loss_fn, optimizer)) if sharded else None
            if main:
                save_checkpoint(checkpoints, model, optimizer, state, meta, gathered)
                prune(checkpoints, cfg.train.keep_checkpoints, state.best_step)
        if stop:
            report.end_steps()
            report.say(f"interrupted: checkpoint written at step {state.step}; continue with --resume")
            raise KeyboardInterrupt

    release_ctrl_c()
    report.end_steps()
    state.stop_reason = state.stop_reason or f"finished all {total} steps"
    accelerator.wait_for_everyone()
    weights = gather_weights(loss_fn) if sharded and not state.best_step else None  # no best: save the last
    if not main:
        return {}
    _final_tuned(model, tokenizer, run.model_dir if cfg.method == "full" else run.adapter, checkpoints / "best",
                 weights)
    if cfg.method == "full":
        model.desktune_base = cfg.model  # base_model() swaps these weights in for the base-vs-tuned samples
    summary = _summary(cfg, decisions, state, data, time.perf_counter() - started, facts.kind)
    summary |= {"planned_peak_memory_gb": round(plan.peak / 1e9, 2),
                "planned_seconds_per_step": round(plan.seconds_per_step, 2)}
    run.write_json(run.summary, summary)
    report.say(_summary_text(summary))
    if samples and sharded:
        report.say(f"base-vs-tuned answers skipped: generating needs the whole model in one process; "
                   f"run `desktune eval {run.path}` for them")
    if samples and not sharded and any(e.messages for e in data.eval):
        with accelerator.autocast():
            chats = [e.messages for e in data.eval if e.messages][:samples]
            report.say(compare_samples(model, chat, chats, run.samples))
    report.close()
    return summary


def _eval_loss(model, rows, accelerator, sharded: bool = False) -> float:
    """Held-out mean token loss; each process takes a share of the rows. Sharded: model is the sharded loss
    module and every process runs every row (each forward gathers weights from all of them)."""
    if sharded:
        with accelerator.autocast():
            loss, count = loss_and_count(model, rows, accelerator.device)
        return loss / max(count, 1)
    with accelerator.autocast():
        loss, count = loss_and_count(model, my_share(rows, accelerator), accelerator.device)
    return sum_over_processes(accelerator, loss, accelerator.device) / max(sum_over_processes(accelerator, count, accelerator.device), 1)


def _fingerprint(data) -> str:
    h = hashlib.sha256()
    for split in (data.train, data.eval):
        for e in split:
            h.update(repr((e.encoded.ids, e.encoded.trained)).encode())
        h.update(b"|")
    return h.hexdigest()[:16]


def _resolved_config(cfg, run, precision: str, template: str) -> dict:
    resolved = to_dict(cfg)
    resolved["output"] = str(run.path)
    resolved["train"]["precision"] = precision
    resolved["data"]["template"] = template
    return resolved


def _write_resolved_config(run, resolved: dict, decisions: dict) -> None:
    header = "# resolved by desktune; every 'auto' decided:\n" + "".join(f"# {k}: {v}\n" for k, v in decisions.items())
    run.write_yaml(run.config, resolved, header)


def _method_text(cfg) -> str:
    if cfg.method == "full":
        return "full fine-tune"
    return f"{'Q' if cfg.method == 'qlora' else ''}{'DoRA' if cfg.lora.dora else 'LoRA'} r={cfg.lora.r}"


def _save_tuned(model, tokenizer, folder, weights: dict | None = None) -> None:
    """The PEFT adapter (or, method=full, the whole model; weights: gathered from shards) + tokenizer with the
    chat template used in training."""
    with replaced_folder(folder) as tmp:
        save_tuned_weights(model, tmp, weights)
        tokenizer.save_pretrained(tmp)


def _final_tuned(model, tokenizer, final, best, weights: dict | None = None) -> None:
    """adapter/ (model/ for method=full) is the best evaluated one when there is one, else the last."""
    if not best.exists():
        return _save_tuned(model, tokenizer, final, weights)
    with replaced_folder(final) as tmp:
        shutil.copytree(best, tmp)


def _summary(cfg, decisions, state: TrainState, data, seconds, kind) -> dict:
    evals = [v for _, v in state.eval_loss]
    return {"model": cfg.model, "method": cfg.method, **decisions, "steps_done": state.step,
            "stop_reason": state.stop_reason, "best_step": state.best_step, "best_eval_loss": state.best_eval,
            "seconds": round(seconds, 1), "tokens_seen": state.tokens,
            "trained_tokens_per_epoch": data.stats["trained_tokens"], "tokens_per_epoch": data.stats["train_tokens"],
            "peak_memory_gb": round(peak_memory_gb(kind), 2),
            "loss_start": state.loss[0][1] if state.loss else None, "loss_end": state.loss[-1][1] if state.loss else None,
            "eval_loss_start": evals[0] if evals else None, "eval_loss_end": evals[-1] if evals else None}


def _summary_text(s: dict) -> str:
    lines = [f"done in {s['seconds']:.0f}s on {s['device']} ({s['precision']}); {s['stop_reason']}"]
    if s["loss_start"] is not None:
        lines.append(f"train loss {s['loss_start']:.4f} -> {s['loss_end']:.4f}; peak memory {s['peak_memory_gb']} GB")
    if s["eval_loss_start"] is not None:
        drop = 100 * (1 - s["eval_loss_end"] / s["eval_loss_start"])
        lines.append(f"eval loss {s['eval_loss_start']:.4f} -> {s['eval_loss_end']:.4f} ({drop:.0f}% lower); "
                     f"{'model' if s['method'] == 'full' else 'adapter'}/ is from step {s['best_step']} "
                     f"(best eval {s['best_eval_loss']:.4f})")
    return "\n".join(lines)
