"""desktune export: merged model → GGUF + Ollama Modelfile, checked by llama.cpp before it is called done."""

import json
from pathlib import Path

from desktune.errors import DesktuneError
from desktune.export.ollama import modelfile
from desktune.export.to_gguf import FILE_TYPES, quantize_with_llama_cpp, write_gguf
from desktune.export.verify import Check, tool_prompts_of, verify
from desktune.files import refuse_taken_output, replaced_folder
from desktune.infer.generate import load_for_chat
from desktune.report.card import write_export_card


# the export folder beside the GGUF: the Ollama recipe and llama.cpp's verdict
MODELFILE, VERDICT = "Modelfile", "verify.json"


class ExportCheckFailed(DesktuneError):
    pass


def export_gguf(source: str, out: Path, quant: str, overwrite: bool = False, check: bool = True) -> tuple[Path, Check | None]:
    """Write OUT/model-QUANT.gguf and OUT/Modelfile; returns the GGUF path and llama.cpp's verdict."""
    refuse_taken_output(out, overwrite)
    model, chat = load_for_chat(source)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()  # into the fp32 base: never merged into a quantised copy
    name = f"model-{quant}.gguf"
    with replaced_folder(out) as tmp:
        tmp.mkdir()
        path = _write(model, chat, tmp, name, quant)
        result = verify(path, model, chat, quant, *tool_prompts_of(source, chat)) if check else None
        stops = chat.stop_tokens
        context = model.config.max_position_embeddings
        (tmp / MODELFILE).write_text(modelfile(name, chat.name, stops, min(context, 8192)))
        if result:
            verdict = result.__dict__ | {"passed": result.passed, "meets_targets": result.meets_targets}
            (tmp / VERDICT).write_text(json.dumps(verdict, indent=2) + "\n")
    write_export_card(source, out)
    if result and not result.passed:
        raise ExportCheckFailed(f"llama.cpp does not reproduce the model from {out / name}: {result.summary()}",
                                f"see {VERDICT} (transformers' and llama.cpp's answers and calls side by side); a coarser "
                                "--quant than f16 may round a small fine-tune away (use q8_0 or f16); if f16 fails, "
                                "report the model type")
    return out / name, result


def _write(model, chat, folder: Path, name: str, quant: str) -> Path:
    if quant in FILE_TYPES:
        return write_gguf(model, chat, folder / name, quant, name.removesuffix(".gguf"))
    f16 = write_gguf(model, chat, folder / ".f16.gguf", "f16", name.removesuffix(".gguf"))
    quantize_with_llama_cpp(f16, folder / name, quant)
    f16.unlink()
    return folder / name
