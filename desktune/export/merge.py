"""Merge a run's adapter into its full-precision base: a plain transformers folder anyone can load."""

from pathlib import Path

from desktune.files import refuse_taken_output, replaced_folder
from desktune.infer.generate import load_run
from desktune.report.card import write_card


def merge(run, out: Path, overwrite: bool = False) -> Path:
    """Write base + adapter as one fp32 model folder (safetensors, config, tokenizer with chat template)."""
    refuse_taken_output(out, overwrite)
    model, chat = load_run(run)  # base weights loaded in fp32, never from a quantised copy
    merged = model.merge_and_unload()
    with replaced_folder(out) as tmp:
        merged.save_pretrained(tmp)
        chat.tokenizer.save_pretrained(tmp)
    write_card(run, out, "merged")
    return out
