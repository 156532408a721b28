"""desktune export RUN [--format gguf] [--quant f16|q8_0|q4_k_m] [--out DIR] [--overwrite] [--no-verify]"""

import argparse
from pathlib import Path

from desktune.runs import RunDir


def run(argv: list[str]) -> int:
    from desktune.export.to_gguf import QUANTS

    parser = argparse.ArgumentParser(prog="desktune export",
                                     description="Export a run (merged) or a model folder to GGUF with an Ollama Modelfile.")
    parser.add_argument("run", help="run folder made by desktune train, or a merged model folder")
    parser.add_argument("--format", default="gguf", choices=["gguf"])
    parser.add_argument("--quant", default="f16", choices=QUANTS, help="q4_k_m uses llama.cpp's quantizer (cyllama)")
    parser.add_argument("--out", default=None, help="output folder (default: RUN/export)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--no-verify", action="store_true", help="skip the llama.cpp check")
    args = parser.parse_args(argv)
    run_dir = RunDir(args.run)
    run_dir.require_model()

    from desktune.export.gguf_export import MODELFILE, export_gguf

    out = Path(args.out) if args.out else run_dir.export
    path, check = export_gguf(args.run, out, args.quant, args.overwrite, check=not args.no_verify)
    print(f"GGUF: {path} ({path.stat().st_size / 1e6:.0f} MB)\nOllama: {out / MODELFILE}")
    if check:
        print(f"checked with llama.cpp: {check.summary()}")
        for ours, theirs in check.pairs[:2]:
            print(f"  transformers: {ours!r}\n  llama.cpp:    {theirs!r}")
        for pair in check.tool_pairs[:2]:
            print(f"  tool prompt {pair['request']!r}: transformers calls {pair['transformers_calls']}, "
                  f"llama.cpp calls {pair['llama_cpp_calls']}")
    else:
        print("not checked (--no-verify)")
    print(f"try: cd {out} && ollama create my-model -f {MODELFILE} && ollama run my-model")
    return 0
