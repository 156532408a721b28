"""report.md: what a run was, what it did, and how it went, in one page beside loss.png."""

from desktune.report.plot import plot_run
from desktune.files import write_atomic


def write_report(run) -> None:
    """Write report.md and loss.png for a run folder from the files training left there."""
    summary = run.read_json(run.summary)
    data = run.read_json(run.data_json)
    metrics, _ = run.read_metrics()
    if metrics:
        plot_run(metrics, run.loss_png, f"{summary.get('model', run.path.name)}: {run.path.name}",
                 summary.get("eval_loss_start"))
    write_atomic(run.report_md, _markdown(run, summary, data, metrics))


def _markdown(run, s: dict, d: dict, metrics: list[dict]) -> str:
    evals = [m["eval_loss"] for m in metrics if "eval_loss" in m]
    speeds = [m["tokens_per_s"] for m in metrics]
    lines = [f"# Run {run.path.name}", ""]
    rows = [
        ("model", s.get("model")), ("method", s.get("method")), ("device", s.get("device")),
        ("precision", s.get("precision")),
        ("data", f"{d.get('train_examples')} train / {d.get('eval_examples')} eval examples, "
                 f"{d.get('train_tokens')} tokens ({d.get('trained_tokens')} trained) per epoch, "
                 f"{d.get('truncated', 0)} truncated, {d.get('dropped', 0)} dropped"),
        ("steps", f"{s.get('steps_done')} — {s.get('stop_reason')}"),
        ("wall time", f"{s.get('seconds')} s"),
        ("tokens/s", f"{sum(speeds) / len(speeds):.0f} mean" if speeds else None),
        ("peak memory", f"{s.get('peak_memory_gb')} GB (planned {s.get('planned_peak_memory_gb')} GB)"),
        ("seconds per step", _per_step(s, metrics)),
        ("train loss", f"{_f(s.get('loss_start'))} → {_f(s.get('loss_end'))}"),
        ("eval loss", f"{_f(s.get('eval_loss_start'))} → kept {_f(s.get('best_eval_loss'))} (step "
                      f"{s.get('best_step')}: {s.get('best_checkpoint', 'the lowest')}) → end "
                      f"{_f(evals[-1] if evals else None)}"),
        ("held-out preference", _preference(s)),
        ("forgetting", None if s.get("forgetting_pct") is None else
         f"neutral-text perplexity {s['forgetting_pct']:+.1f}% against the base; guard: {s.get('forgetting_guard')}"),
    ]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows if v is not None]
    lines += ["", f"![loss]({run.loss_png.name})", ""]
    if run.samples.exists():
        lines += [run.samples.read_text()]
    return "\n".join(lines) + "\n"


def _per_step(s: dict, metrics: list[dict]) -> str | None:
    """Measured from tokens/s (evaluations and samples excluded), beside the planner's estimate."""
    timed = [m["tokens"] - p["tokens"] for p, m in zip(metrics, metrics[1:])]
    speeds = [m["tokens_per_s"] for m in metrics[1:]]
    if not timed:
        return None
    measured = sum(t / v for t, v in zip(timed, speeds)) / len(timed)
    return f"{measured:.2f} s (planned {s.get('planned_seconds_per_step')} s)"


def _preference(s: dict) -> str | None:
    """dpo / orpo: how the kept adapter does on the held-out pairs (TRL's eval_rewards)."""
    r = s.get("eval_rewards")
    if not r:
        return None
    return (f"chosen wins {100 * r['rewards/accuracies']:.0f}% of the pairs, reward margin {r['rewards/margins']:+.3f} "
            f"(chosen {r['rewards/chosen']:+.3f}, rejected {r['rewards/rejected']:+.3f}) at step {s.get('best_step')}")


def _f(x) -> str:
    return f"{x:.4f}" if isinstance(x, (int, float)) else "—"
