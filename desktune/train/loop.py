"""The training recipe, in the order things happen: setup -> train -> save. Hooks only report."""

import math
import random
import time

import torch
from accelerate import Accelerator

from desktune.config.load import to_dict
from desktune.data.dataset import build_dataset
from desktune.data.pack import epoch_order, pack, steps_per_epoch
from desktune.data.template import ChatFormat
from desktune.hardware.detect import detect, peak_memory_gb
from desktune.hardware.precision import choose_precision
from desktune.infer.samples import compare_samples
from desktune.models.adapters import add_lora
from desktune.models.load import load_model, load_tokenizer, resolve
from desktune.report.progress import Reporter
from desktune.train.forward import mean_loss, row_loss_sum
from desktune.train.optim import lr_at, make_optimizer

def train(cfg, run, samples: int = 3) -> dict:
    """Fine-tune cfg.model on cfg.data into run; returns the summary."""
    started = time.perf_counter()
    _seed_everything(cfg.train.seed)
    facts = detect()
    precision, why = choose_precision(cfg.train.precision, facts)
    accelerator = Accelerator(mixed_precision="bf16" if precision == "bf16" else "no", cpu=facts.kind == "cpu")
    device = accelerator.device

    source = resolve(cfg.model)
    tokenizer = load_tokenizer(source)
    model = load_model(source)
    chat = ChatFormat(tokenizer, cfg.data.template, model.config.model_type)
    data = build_dataset(cfg.data, chat, cfg.train.seed)
    run.write_json(run.data_json, data.stats)

    model = add_lora(model, cfg.lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    model, optimizer = accelerator.prepare(model, make_optimizer(params, cfg.train.lr, cfg.train.weight_decay, device))
    per_epoch = steps_per_epoch(len(data.train), cfg.train.batch_size)
    total = cfg.train.max_steps or math.ceil(cfg.train.epochs * per_epoch)
    eval_rows = pack([e.encoded for e in data.eval], cfg.train.micro_batch_tokens, cfg.data.packing)
    decisions = {"device": f"{facts.kind} ({facts.name})", "precision": f"{precision}: {why}",
                 "template": chat.name, "steps": f"{total} ({per_epoch} per epoch, {len(data.train)} examples)"}
    _write_resolved_config(run, cfg, precision, chat.name, decisions)

    report = Reporter(run, total)
    report.say(f"training {cfg.model} with LoRA r={cfg.lora.r} on {decisions['device']}, {precision}; "
               f"{len(data.train)} train / {len(data.eval)} eval examples, {total} steps")
    history = {"loss": [], "eval_loss": []}
    if eval_rows:
        with accelerator.autocast():
            history["eval_loss"].append(mean_loss(model, eval_rows, device))
        report.say(f"eval loss before training: {history['eval_loss'][0]:.4f}")

    for step in range(total):
        t0 = time.perf_counter()
        epoch, index = divmod(step, per_epoch)
        order = epoch_order(len(data.train), cfg.train.seed, epoch)
        batch = [data.train[i].encoded for i in order[index * cfg.train.batch_size:(index + 1) * cfg.train.batch_size]]
        rows = pack(batch, cfg.train.micro_batch_tokens, cfg.data.packing)
        n_trained = sum(r.n_trained for r in rows)
        lr = lr_at(step, total, cfg.train.lr, cfg.train.warmup, cfg.train.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=device)
        for row in rows:
            with accelerator.autocast():
                row_sum, _ = row_loss_sum(model, row, device)
            accelerator.backward(row_sum / n_trained)  # mean over the step's trained tokens, however rows split
            loss_sum += row_sum.detach()
        if cfg.train.max_grad_norm > 0:
            accelerator.clip_grad_norm_(params, cfg.train.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

        done = step + 1
        is_eval = eval_rows and (done == total or (cfg.train.eval_every and done % cfg.train.eval_every == 0))
        if is_eval or done % cfg.train.log_every == 0 or done == total:
            loss = loss_sum.item() / n_trained
            history["loss"].append(loss)
            tokens = sum(r.input_ids.numel() for r in rows)
            record = {"step": done, "epoch": round(done / per_epoch, 3), "loss": loss, "lr": lr,
                      "tokens_per_s": tokens / (time.perf_counter() - t0), "memory_gb": peak_memory_gb(facts.kind)}
            if is_eval:
                with accelerator.autocast():
                    record["eval_loss"] = mean_loss(model, eval_rows, device)
                history["eval_loss"].append(record["eval_loss"])
            report.step(record)

    report.end_steps()
    model = accelerator.unwrap_model(model)
    _save_adapter(model, tokenizer, run)
    summary = _summary(cfg, decisions, history, data, time.perf_counter() - started, facts.kind, total)
    run.write_json(run.summary, summary)
    report.say(_summary_text(summary))
    if samples and any(e.messages for e in data.eval):
        with accelerator.autocast():
            chats = [e.messages for e in data.eval if e.messages][:samples]
            report.say(compare_samples(model, chat, chats, run.samples))
    report.close()
    return summary


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _write_resolved_config(run, cfg, precision: str, template: str, decisions: dict) -> None:
    resolved = to_dict(cfg)
    resolved["output"] = str(run.path)
    resolved["train"]["precision"] = precision
    resolved["data"]["template"] = template
    header = "".join(f"# {k}: {v}\n" for k, v in decisions.items())
    run.write_yaml(run.config, resolved)
    run.config.write_text("# resolved by desktune; every 'auto' decided:\n" + header + run.config.read_text())


def _save_adapter(model, tokenizer, run) -> None:
    """PEFT adapter + tokenizer (with the chat template used in training), written then renamed."""
    tmp = run.path / ".adapter.tmp"
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.replace(run.adapter)


def _summary(cfg, decisions, history, data, seconds, kind, total) -> dict:
    evals = history["eval_loss"]
    return {"model": cfg.model, "method": cfg.method, **decisions, "steps": total,
            "seconds": round(seconds, 1), "trained_tokens_per_epoch": data.stats["trained_tokens"],
            "tokens_per_epoch": data.stats["train_tokens"], "peak_memory_gb": round(peak_memory_gb(kind), 2),
            "loss_start": history["loss"][0], "loss_end": history["loss"][-1],
            "eval_loss_start": evals[0] if evals else None, "eval_loss_end": evals[-1] if evals else None}


def _summary_text(s: dict) -> str:
    lines = [f"done in {s['seconds']:.0f}s on {s['device']} ({s['precision']})",
             f"train loss {s['loss_start']:.4f} -> {s['loss_end']:.4f}; peak memory {s['peak_memory_gb']} GB"]
    if s["eval_loss_start"] is not None:
        drop = 100 * (1 - s["eval_loss_end"] / s["eval_loss_start"])
        lines.append(f"eval loss {s['eval_loss_start']:.4f} -> {s['eval_loss_end']:.4f} ({drop:.0f}% lower)")
    return "\n".join(lines)
