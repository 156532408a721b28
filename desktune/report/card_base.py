"""What a model card can say of a run's base model offline: the path to load it from, the Hub id it is (front
matter base_model, which the Hub takes only as an id) and its license (the built-in's known one, or what a local
folder's own card declares; a hub id's card is not fetched)."""

from dataclasses import dataclass
from pathlib import Path

from desktune.models.builtin import HUB_ORIGIN, converted_folder


@dataclass
class Base:
    """The model a run was tuned from, as a card names it."""
    ref: str  # as the config says: builtin:NAME, a folder, a .gguf file or a hub id
    path: str  # what from_pretrained takes
    hub_id: str | None = None  # the Hub model it is, when known: front matter base_model (the Hub takes only ids)
    license: str | None = None
    gguf_file: str | None = None
    note: str = ""


def base_of(ref: str) -> Base:
    """Where the base comes from and what is known of it offline: a hub id's own card is not fetched."""
    if ref.startswith("builtin:"):
        return _builtin(ref.removeprefix("builtin:"))
    path = Path(ref).expanduser()
    if path.suffix == ".gguf" or path.is_dir():
        return _local(ref, path)
    return Base(ref, ref, ref, note=f"The base is [`{ref}`](https://huggingface.co/{ref}) on the Hub.")


def _local(ref: str, path: Path) -> Base:
    folder = path.parent if path.suffix == ".gguf" else path
    hub_id = _hub_id_in_cache(folder)
    note = ("The base is a local folder: `base` in the snippet is its path on the machine that trained it "
            + (f"(a copy of [`{hub_id}`](https://huggingface.co/{hub_id}) from the Hugging Face cache: elsewhere, use "
               "that id)." if hub_id else "(not being a Hub id, it is not named as `base_model` above the card)."))
    return Base(ref, str(folder.resolve()), hub_id, _local_license(folder),
                path.name if path.suffix == ".gguf" else None, note)


def _builtin(name: str) -> Base:
    origin, folder = HUB_ORIGIN.get(name, {}), converted_folder(name)
    hub_id = origin.get("hub_id")
    note = (f"The base is desktune's built-in `builtin:{name}`: {hub_id} dequantised from the Q4_K_M GGUF "
            f"{origin.get('gguf')} (PyPI package `{origin.get('package')}`) and saved by desktune as a transformers "
            f"folder. `base` in the snippet is that folder, `{folder}`: desktune makes it the first time it uses "
            f"`builtin:{name}` (`desktune train` with no config, for one). Without desktune, load "
            f"[`{hub_id}`](https://huggingface.co/{hub_id}) instead: the same model at full precision, so answers "
            "differ slightly from the ones measured here.") if hub_id else ""
    return Base(f"builtin:{name}", str(folder), hub_id, origin.get("license"), note=note)


def _hub_id_in_cache(folder: Path) -> str | None:
    """A folder inside the Hugging Face cache (…/models--org--name/snapshots/REV) is that Hub model."""
    for part in folder.resolve().parts:
        if part.startswith("models--") and part.count("--") == 2:
            return part.removeprefix("models--").replace("--", "/")
    return None


def _local_license(folder: Path) -> str | None:
    """The license a local base's own card declares, if it has one."""
    from huggingface_hub import ModelCard

    readme = folder / "README.md"
    if not readme.is_file():
        return None
    try:
        return ModelCard.load(readme, ignore_metadata_errors=True).data.license
    except Exception:  # a README that is no card (no front matter, bad YAML) declares nothing
        return None
