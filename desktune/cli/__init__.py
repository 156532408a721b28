"""The `desktune` command: a lazy dispatcher to one small module per verb."""

import importlib
import os
import sys

from desktune.errors import DesktuneError

VERBS = {"doctor": "check this machine: device, memory, dtypes that work, disk, a one-step training smoke test",
         "plan": "memory by part, time and a fits / does-not-fit verdict for a config, before training",
         "bench": "measure a config's real tokens/s, peak memory, held-out loss or rewards, MFU (--against trl)",
         "train": "fine-tune a model (no CONFIG: the bundled persona example)",
         "generate": "answer one prompt with a trained run",
         "data": "data check FILE: format, counts, lengths and trained tokens, before training",
         "eval": "held-out loss and perplexity, base vs tuned, forgetting check, side-by-side answers",
         "chat": "chat with a trained run (streaming, /reset, /system)",
         "serve": "an OpenAI-compatible API over a trained run (/v1/chat/completions, streaming, tools)",
         "merge": "merge a run's adapter into its base: a plain transformers model folder",
         "export": "export a run to GGUF (f16/q8_0/q4_k_m) with an Ollama Modelfile, checked by llama.cpp",
         "push": "upload a run's adapter, merged model or GGUF, with its model card, to the Hugging Face Hub",
         "report": "write report.md and loss.png for a run",
         "runs": "list runs (runs [DIR]) or compare two (runs compare A B)",
         "ui": "a web page over the runs: live curves, compare, chat, start and stop (ui [--runs DIR])"}

USAGE = "usage: desktune VERB [args]  (desktune VERB --help)\n\n" + "\n".join(f"  {v:<10} {h}" for v, h in VERBS.items())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    verb, rest = argv[0], argv[1:]
    if verb not in VERBS:
        print(f"error: unknown command '{verb}'\nhint: {USAGE}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"desktune.cli.{verb}")
    try:
        return module.run(rest) or 0
    except DesktuneError as e:
        if os.environ.get("DESKTUNE_DEBUG"):
            raise
        print(f"error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
