"""The model card: README.md in a run's adapter/ (model/ for a full fine-tune), merged/ and export/, written from the
run's own files. The front matter goes through huggingface_hub's ModelCardData (which checks it); the body says
what was tuned and how, the data in figures (never the data), the results, the machine, and how to use it."""

import re
from dataclasses import dataclass
from pathlib import Path

from desktune import __version__
from desktune.files import write_atomic
from desktune.report.card_base import Base, base_of
from desktune.report.card_usage import usage
from desktune.runs import RunDir

LIBRARY = {"adapter": "peft", "full": "transformers", "merged": "transformers", "gguf": "gguf"}
WHAT = {"adapter": "adapter", "full": "fully fine-tuned model", "merged": "merged model (base + adapter, fp32)",
        "gguf": "GGUF export (the merged model, for llama.cpp and Ollama)"}
SAMPLES, SAMPLE_CHARS = 3, 500  # base-vs-tuned answers shown, and how much of each


@dataclass
class Facts:
    """What the run folder knows, read once."""
    name: str
    path: Path
    cfg: dict
    summary: dict
    data: dict
    decisions: dict
    results: dict  # eval.json ({} until desktune eval runs)


def tuned_folder(run) -> tuple[str, Path]:
    """The kind and folder of what training saved: adapter/, or model/ for a full fine-tune."""
    return ("full", run.model_dir) if run.is_full else ("adapter", run.adapter)


def card_folders(run) -> dict[str, Path]:
    """The run's folders that carry a card, by kind (whether or not they exist yet)."""
    return dict([tuned_folder(run), ("merged", run.merged), ("gguf", run.export)])


def write_tuned_card(run) -> Path:
    """The card of what training just saved (merged/ and export/ of an earlier pass are left as they were)."""
    kind, folder = tuned_folder(run)
    return write_card(run, folder, kind)


def write_cards(run) -> list[Path]:
    """(Re)write README.md in each of the run's card folders that exists: after training, eval, merge, export."""
    return [write_card(run, folder, kind) for kind, folder in card_folders(run).items() if folder.is_dir()]


def write_card(run, folder: Path, kind: str) -> Path:
    """README.md in folder: the card of a run's adapter, full model, merged model or GGUF export (kind)."""
    write_atomic(folder / "README.md", card_text(run, folder, kind))
    return folder / "README.md"


def write_export_card(source: str | Path, out: Path) -> Path | None:
    """The card of a GGUF export made from a run folder or from a run's merged/ folder; other model folders carry
    no run facts, so their exports get none."""
    for folder in (Path(source), Path(source).parent):
        if RunDir(folder).config.exists() and RunDir(folder).summary.exists():
            return write_card(RunDir(folder), out, "gguf")
    return None


def card_text(run, folder: Path, kind: str, repo_id: str | None = None) -> str:
    """The card as text; repo_id: the Hub repo it is pushed to (its snippets then load from there)."""
    from huggingface_hub import ModelCard, ModelCardData

    facts = read_facts(run)
    base = base_of(facts.cfg["model"])
    meta = ModelCardData(base_model=base.hub_id, library_name=LIBRARY[kind], pipeline_tag="text-generation",
                         tags=tags(facts.cfg, kind), license=base.license, datasets=hub_datasets(facts.cfg) or None)
    where = repo_id or str(folder.resolve())
    body = [_intro(facts, base, kind), _how_tuned(facts, base), _data(facts), _results(facts), _machine(facts),
            usage(kind, base, folder, where, facts, repo_id)]
    return str(ModelCard(f"---\n{meta.to_yaml()}\n---\n\n" + "\n\n".join(body) + "\n"))  # parsing it checks it


def read_facts(run) -> Facts:
    return Facts(run.path.name, run.path, run.read_config(), run.read_json(run.summary), run.read_json(run.data_json),
                 run.decisions(), run.read_json(run.eval_json))


def tags(cfg: dict, kind: str) -> list[str]:
    extra = ["dora"] if cfg["method"] != "full" and cfg.get("lora", {}).get("dora") else []
    return ["desktune", cfg["method"], *extra] + (["gguf"] if kind == "gguf" else [])


def hub_datasets(cfg: dict) -> list[str]:
    """Hub datasets (hf:org/name[:split]) the run trained or evaluated on, as their ids."""
    specs = [cfg["data"].get("train", ""), str(cfg["data"].get("eval", ""))]
    return list(dict.fromkeys(s.removeprefix("hf:").partition(":")[0] for s in specs if s.startswith("hf:")))


def _intro(f: Facts, base: Base, kind: str) -> str:
    d = f.data
    hub = f" ({base.hub_id})" if base.hub_id and base.hub_id != base.ref else ""
    return (f"# {f.name}\n\n"
            f"The {WHAT[kind]} of the desktune run `{f.name}`: `{base.ref}`{hub} tuned by {method_text(f.cfg)} on "
            f"{d.get('train_examples', '?')} examples ({d.get('eval_examples', '?')} held out). desktune "
            f"{__version__} wrote this card from the run folder; every figure below comes from it.")


def method_text(cfg: dict) -> str:
    """lora/qlora/full as a reader says it."""
    if cfg["method"] == "full":
        return "a full fine-tune (every weight trained)"
    lora = cfg.get("lora", {})
    shape = f"rank {lora.get('r')}, alpha {lora.get('alpha')}"
    name = f"QLoRA (LoRA {shape} on a 4-bit base)" if cfg["method"] == "qlora" else f"LoRA ({shape})"
    return name + (" with DoRA" if lora.get("dora") else "")


def _how_tuned(f: Facts, base: Base) -> str:
    t, d, lora, s = f.cfg["train"], f.cfg["data"], f.cfg.get("lora", {}), f.summary
    rows = [("base model", f"`{base.ref}`"), ("method", method_text(f.cfg)),
            ("adapter", None if f.cfg["method"] == "full" else
             f"dropout {lora.get('dropout')}, targets {lora.get('targets')}"),
            ("objective", _objective(t)), ("started from", t.get("init_from")),
            ("steps", f"{s.get('steps_done', '?')} ({s.get('stop_reason', 'not finished')})" + _kept(s)),
            ("learning rate", f"{t.get('lr')} peak, {100 * t.get('warmup', 0):g}% warmup, cosine decay to "
                              f"{t.get('min_lr_ratio')}x; weight decay {t.get('weight_decay')}"),
            ("batch", f"{t.get('batch_size')} examples per step, {t.get('micro_batch_tokens')} tokens per forward "
                      "pass"),
            ("sequences", f"max length {d.get('max_length')} tokens ({d.get('too_long')} longer ones), packing "
                          f"{'on' if d.get('packing') else 'off'}, loss on {d.get('train_on')} tokens"),
            ("precision", t.get("precision")), ("seed", t.get("seed"))]
    why = [f"- **{k}**: {v}" for k, v in f.decisions.items()]
    return "\n".join(["## What was tuned, and how", "", *_table(rows), "", "Every `auto` setting desktune decided, "
                      "and why:" if why else "No setting was left to `auto`.", "", *why])


def _objective(t: dict) -> str | None:
    """sft, or a preference objective with its beta (absent from configs older than objectives)."""
    objective = t.get("objective")
    beta = (t.get(objective) or {}).get("beta") if objective in ("dpo", "orpo") else None
    return f"{objective}, beta {beta}" if beta is not None else objective


def _kept(s: dict) -> str:
    if not s.get("best_step"):
        return ""
    return f"; the saved weights are step {s['best_step']}'s, {s.get('best_checkpoint', 'the lowest held-out loss')}"


def _data(f: Facts) -> str:
    d, cfg = f.data, f.cfg["data"]
    source = cfg.get("train", "")
    source = (f"the Hub dataset [`{source[3:]}`](https://huggingface.co/datasets/{source[3:].partition(':')[0]})"
              if source.startswith("hf:") else f"a local file, `{Path(source).name}`")
    held = cfg.get("eval", "")
    held = f"a {float(held):.0%} split of the rows" if _is_number(held) else f"`{Path(str(held)).name}`"
    hist = ", ".join(f"{k}: {v}" for k, v in d.get("length_histogram", {}).items())
    rows = [("source", source), ("rows", f"{d.get('rows')} ({_counts(d.get('formats', {}))})"),
            ("examples", f"{d.get('train_examples')} train, {d.get('eval_examples')} held out ({held})"),
            ("dropped / truncated / skipped", f"{d.get('dropped', 0)} / {d.get('truncated', 0)} / "
                                              f"{d.get('skipped_invalid', 0)}"),
            ("tokens per epoch", f"{d.get('train_tokens')}, of which {d.get('trained_tokens')} trained"),
            ("lengths (tokens: examples)", f"{hist}; longest {d.get('max_length_seen')}" if hist else None),
            ("chat template", d.get("template")),
            ("tool calls", None if d.get("tool_format") in (None, "none") else f"format {d.get('tool_format')}")]
    return "\n".join(["## Data", "", *_table(rows), "", "The examples themselves are not part of this card."])


def _results(f: Facts) -> str:
    s, r = f.summary, f.results
    rows = [("training loss", _arrow(s.get("loss_start"), s.get("loss_end"))),
            ("held-out loss", None if s.get("eval_loss_start") is None else
             f"{_arrow(s['eval_loss_start'], s.get('best_eval_loss') or s.get('eval_loss_end'))} "
             f"(before training → {'best, kept' if s.get('best_eval_loss') else 'last'})"),
            ("neutral-text perplexity", None if s.get("forgetting_pct") is None else
             f"{s['forgetting_pct']:+.1f}% against the base (forgetting; {s.get('forgetting_guard', '')})")]
    lines = ["## Results", "", "During training:", "", *_table(rows)]
    if not r:
        return "\n".join(lines + ["", f"Base-vs-tuned perplexity and sample answers come from `desktune eval "
                                      f"{f.path}`, which rewrites this card with them."])
    return "\n".join(lines + ["", _eval_table(r), *_tool_lines(r.get("tool_calls")), *_samples(r.get("samples", []))])


def _eval_table(r: dict) -> str:
    held, neutral = r["held_out"], r["neutral_text"]
    return "\n".join([f"`desktune eval` on {r['examples']} held-out examples:", "", "| | base | tuned |",
                      "|---|---|---|",
                      f"| held-out loss | {held['base']['loss']:.4f} | {held['tuned']['loss']:.4f} |",
                      f"| held-out perplexity | {held['base']['perplexity']:.2f} | {held['tuned']['perplexity']:.2f} |",
                      f"| neutral English text perplexity | {neutral['base']['perplexity']:.2f} | "
                      f"{neutral['tuned']['perplexity']:.2f} ({r['neutral_perplexity_change_pct']:+.1f}%) |"])


def _tool_lines(tools: dict | None) -> list[str]:
    if not tools:
        return []
    b, t = tools["base"], tools["tuned"]
    return ["", f"Tool calls ({tools.get('tool_format')}, {t['call_turns']} turns that should call): right function "
                f"{_pct(b['right_function_pct'])} → {_pct(t['right_function_pct'])}, exact arguments "
                f"{_pct(b['exact_arguments_pct'])} → {_pct(t['exact_arguments_pct'])} (base → tuned)."]


def _samples(records: list[dict]) -> list[str]:
    if not records:
        return []
    lines = ["", "### Sample answers (held-out prompts, greedy)"]
    for rec in records[:SAMPLES]:
        lines += ["", f"**prompt:** {_inline(rec['prompt'])}", "", "base:", _block(rec["base"]), "tuned:",
                  _block(rec["tuned"])]
    return lines


def _machine(f: Facts) -> str:
    s = f.summary
    rows = [("device", s.get("device") or f.decisions.get("device")), ("precision", s.get("precision")),
            ("training time", _duration(s.get("seconds"))), ("tokens seen", s.get("tokens_seen")),
            ("peak memory", None if s.get("peak_memory_gb") is None else
             f"{s['peak_memory_gb']} GB (planned {s.get('planned_peak_memory_gb')} GB)")]
    return "\n".join(["## Machine and time", "", *_table(rows)])


def _table(rows: list[tuple[str, object]]) -> list[str]:
    return ["| | |", "|---|---|"] + [f"| {k} | {_cell(v)} |" for k, v in rows if v not in (None, "")]


def _cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _counts(counts: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items()) or "?"


def _arrow(a, b) -> str | None:
    return None if a is None or b is None else f"{a:.4f} → {b:.4f}"


def _pct(x) -> str:
    return "—" if x is None else f"{x:.0f}%"


def _is_number(x) -> bool:
    return bool(re.fullmatch(r"\d*\.?\d+", str(x)))


def _duration(seconds) -> str | None:
    if seconds is None:
        return None
    m, s = divmod(round(seconds), 60)
    return f"{seconds:.1f} s" if seconds < 60 else f"{m // 60} h {m % 60} min" if m >= 60 else f"{m} min {s} s"


def _inline(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + " …"


def _block(text: str) -> str:
    """An answer as a fenced block: whatever markdown or HTML it holds stays inert."""
    text = text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + " …"
    return "```text\n" + text.replace("```", "'''") + "\n```"
