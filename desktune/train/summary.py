"""What a finished training says about itself: summary.json and the lines printed at the end."""

from desktune.hardware.detect import peak_memory_gb
from desktune.train.state import TrainState


def summarise(cfg, decisions, state: TrainState, data, seconds, kind) -> dict:
    evals = [v for _, v in state.eval_loss]
    chosen = {k: v for k, v in decisions.items() if k != "method"}  # summary's method stays the bare name
    return {"model": cfg.model, "method": cfg.method, **chosen, "steps_done": state.step,
            "stop_reason": state.stop_reason, "best_step": state.best_step, "best_eval_loss": state.best_eval,
            "seconds": round(seconds, 1), "tokens_seen": state.tokens,
            "trained_tokens_per_epoch": data.stats["trained_tokens"], "tokens_per_epoch": data.stats["train_tokens"],
            "peak_memory_gb": round(peak_memory_gb(kind), 2),
            "loss_start": state.loss[0][1] if state.loss else None,
            "loss_end": state.loss[-1][1] if state.loss else None,
            "eval_loss_start": evals[0] if evals else None, "eval_loss_end": evals[-1] if evals else None,
            "forgetting_pct": dict(state.forgetting).get(state.best_step or state.step)}


def summary_text(s: dict) -> str:
    lines = [f"done in {s['seconds']:.0f}s on {s['device']} ({s['precision']}); {s['stop_reason']}"]
    if s["loss_start"] is not None:
        lines.append(f"train loss {s['loss_start']:.4f} -> {s['loss_end']:.4f}; peak memory {s['peak_memory_gb']} GB")
    if s["eval_loss_start"] is not None and s["best_eval_loss"] is None:
        tuned = "model" if s["method"] == "full" else "adapter"
        lines.append(f"no evaluation was within the forgetting budget: {tuned}/ is the last step's; lower train.lr "
                     "or train.epochs, or raise train.forgetting_budget")
    elif s["eval_loss_start"] is not None:
        drop = 100 * (1 - s["eval_loss_end"] / s["eval_loss_start"])
        lines.append(f"eval loss {s['eval_loss_start']:.4f} -> {s['eval_loss_end']:.4f} ({drop:.0f}% lower); "
                     f"{'model' if s['method'] == 'full' else 'adapter'}/ is from step {s['best_step']}, "
                     f"{s.get('best_checkpoint', 'the lowest held-out loss')} (eval {s['best_eval_loss']:.4f})")
    if s.get("eval_rewards"):
        r = s["eval_rewards"]
        lines.append(f"held-out pairs: the chosen answer wins {100 * r['rewards/accuracies']:.0f}% of them, reward "
                     f"margin {r['rewards/margins']:+.3f} (chosen {r['rewards/chosen']:+.3f}, rejected "
                     f"{r['rewards/rejected']:+.3f})")
    if s["forgetting_pct"] is not None:
        lines.append(f"neutral-text perplexity {s['forgetting_pct']:+.1f}% against the base ({s['forgetting_guard']})")
    return "\n".join(lines)


def early_stop_text(state: TrainState, guarded: bool, calls: bool = False) -> str:
    if state.best_eval is None:
        return f"early stopping: {state.evals_without_gain} evaluations forgot more than the budget"
    judged = "the calls' held-out loss" if calls else "eval loss"
    return (f"early stopping: {judged} did not improve"
            f"{' within the forgetting budget' if guarded else ''} for {state.evals_without_gain} evaluations "
            f"(best {state.best_score:.4f} at step {state.best_step})")
