"""loss.png: train and eval loss, learning rate, and throughput/memory against the step."""

from pathlib import Path


def plot_run(metrics: list[dict], out: Path, title: str, eval_before: float | None = None) -> None:
    """eval_before: the held-out loss before the first step, drawn at step 0."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    steps = [m["step"] for m in metrics]
    evals = [(0, eval_before)] if eval_before is not None else []
    evals += [(m["step"], m["eval_loss"]) for m in metrics if "eval_loss" in m]
    fig, (ax_loss, ax_lr, ax_speed) = plt.subplots(3, 1, figsize=(8, 8), sharex=True,
                                                   gridspec_kw={"height_ratios": [3, 1, 1]})
    ax_loss.plot(steps, [m["loss"] for m in metrics], label="train loss", color="tab:blue")
    if evals:
        ax_loss.plot(*zip(*evals), "o-", label="eval loss (held out)", color="tab:orange")
    ax_loss.set_ylabel("loss")
    if all("tokens" in m for m in metrics) and len(steps) > 1:
        # (0, 0) and a point past the end keep the mapping linear beyond the data, where the axis margins are
        at_steps, tokens = [0] + steps, [0] + [m["tokens"] for m in metrics]
        at_steps, tokens = at_steps + [2 * steps[-1]], tokens + [2 * tokens[-1]]
        top = ax_loss.secondary_xaxis("top", functions=(lambda s: np.interp(s, at_steps, tokens),
                                                         lambda t: np.interp(t, tokens, at_steps)))
        top.set_xlabel("tokens seen")
        top.xaxis.set_major_locator(MaxNLocator(6))
    ax_loss.set_title(title)
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_lr.plot(steps, [m["lr"] for m in metrics], color="tab:green")
    ax_lr.set_ylabel("learning rate")
    ax_lr.grid(alpha=0.3)
    ax_speed.plot(steps, [m["tokens_per_s"] for m in metrics], color="tab:purple")
    ax_speed.set_ylabel("tokens/s", color="tab:purple")
    ax_mem = ax_speed.twinx()
    ax_mem.plot(steps, [m["memory_gb"] for m in metrics], color="tab:gray")
    ax_mem.set_ylabel("peak memory (GB)", color="tab:gray")
    ax_speed.set_xlabel("optimizer step")
    fig.tight_layout()
    tmp = out.with_name(f".tmp-{out.name}")
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    tmp.replace(out)
