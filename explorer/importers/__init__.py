"""Importers for other projects' checkpoints: foreign state_dict layouts → our model families.

``import_foreign(paths)`` (called by :func:`explorer.load` for anything that is not our own
``.safetensors``) reads every file with :func:`explorer.weights_io.load_state_dict_safely`
(``torch.load(weights_only=True)``: tensors only, no code runs), asks each registered importer
whether it recognises the tensor names and shapes, and lets the one that does build the model.
Formats are recognised by layout, not by file name; names only say which role a file plays
when the layout cannot (junyanz ``G_A`` vs ``G_B``) and which siblings to pick up.

Registered formats (see each module): ``pytorch-examples-dcgan``, ``junyanz-cyclegan``.
TensorFlow.js Layers models (``model.json`` + weight shards, or a folder holding them) are not
PyTorch files: :func:`import_foreign` hands them to :mod:`explorer.importers.upscalerjs`, which
reads them with the one TF.js reader, :mod:`explorer.importers.tfjs`.
An importer is any object with ``name``, ``description`` and the methods of :class:`Importer`.
"""

from __future__ import annotations

from pathlib import Path

from explorer.errors import CheckpointError
from explorer.importers import junyanz_cyclegan, pytorch_dcgan
from explorer.importers.base import ForeignFile, Importer, imported_card
from explorer.importers.tfjs import find_model_json
from explorer.importers.upscalerjs import DESCRIPTION, import_tfjs
from explorer.models.base import GANModel
from explorer.weights_io import load_state_dict_safely

__all__ = [
    "CHECKPOINT_SUFFIXES", "ForeignFile", "Importer", "import_foreign", "imported_card", "importers", "known_formats",
    "read_foreign", "register_importer",
]

#: file suffixes considered when a directory is given
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")

_IMPORTERS: dict[str, Importer] = {}


def register_importer(importer: Importer) -> Importer:
    """Add a format; names must be unique."""
    if importer.name in _IMPORTERS:
        raise ValueError(f"importer {importer.name!r} is already registered")
    _IMPORTERS[importer.name] = importer
    return importer


def importers() -> list[Importer]:
    _register_builtins()
    return list(_IMPORTERS.values())


def known_formats() -> str:
    """One line per known foreign format, for error messages and ``gan-explorer import --help``."""

    return "\n".join([f"  - {imp.description}" for imp in importers()] + [f"  - {DESCRIPTION}"])


def _register_builtins() -> None:
    if not _IMPORTERS:
        register_importer(pytorch_dcgan.PytorchDCGANImporter())
        register_importer(junyanz_cyclegan.JunyanzCycleGANImporter())


def read_foreign(path: Path) -> ForeignFile:
    """Read one file safely; drop a ``module.`` prefix left by (Distributed)DataParallel."""

    state = load_state_dict_safely(path)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return ForeignFile(path=path, state=state)


def _unknown_layout(file: ForeignFile) -> CheckpointError:
    keys = list(file.state)
    sample = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
    return CheckpointError(
        f"{file.path.name}: unrecognised checkpoint layout ({len(keys)} tensors: {sample}).\n"
        f"GAN Explorer reads its own .safetensors checkpoints and these foreign formats:\n{known_formats()}"
    )


def _expand_directory(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
    if not files:
        # an npm package folder: say which TF.js models lie below (two levels, e.g. package/models/x4)
        below = sorted(str(m.parent.relative_to(folder)) for m in [*folder.glob("*/model.json"), *folder.glob("*/*/model.json")])
        if below:
            raise CheckpointError(f"{folder} holds no model itself; TensorFlow.js models lie in: {', '.join(below[:8])}. Pass one of those folders")
        raise CheckpointError(f"{folder} holds no checkpoint files ({', '.join(CHECKPOINT_SUFFIXES)})")
    for imp in importers():
        picked = imp.pick_from_directory(files)
        if picked:
            return picked
    if len(files) == 1:
        return files
    names = ", ".join(p.name for p in files[:6]) + (", ..." if len(files) > 6 else "")
    raise CheckpointError(
        f"{folder} holds several checkpoint files ({names}) and none is named as a known run layout; pass the file(s) to load.\n"
        f"Known formats:\n{known_formats()}"
    )


def _match(file: ForeignFile) -> Importer:
    shapes = file.shapes
    for imp in importers():
        role = imp.match(shapes)
        if role:
            file.role = role
            return imp
    raise _unknown_layout(file)


def import_foreign(paths: list[Path]) -> GANModel:
    """Build one of our models from foreign checkpoint file(s) or a run directory.

    A single file also pulls in the siblings its format defines (pytorch/examples DCGAN:
    ``netD_epoch_N.pth`` next to ``netG_epoch_N.pth``). The model's ``card["imported"]``
    records the format, the files used and the parts present.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise CheckpointError("no checkpoint file given")
    tfjs_model = _tfjs_model_json(paths)
    if tfjs_model is not None:
        shards = {p.name: p for p in paths if p != tfjs_model}
        return import_tfjs(tfjs_model, shards or None)
    if any(p.is_dir() for p in paths):
        if len(paths) != 1:
            raise CheckpointError("give either one run directory or a list of files, not both")
        paths = _expand_directory(paths[0])
    for p in paths:
        if not p.exists():
            raise CheckpointError(f"no such checkpoint file: {p}")
    files = [read_foreign(p) for p in paths]
    found = [_match(f) for f in files]
    imp = found[0]
    if any(other is not imp for other in found):
        kinds = ", ".join(f"{f.path.name}: {i.name}" for f, i in zip(files, found))
        raise CheckpointError(f"these files come from different formats and cannot form one model ({kinds})")
    skipped: list[str] = []
    if len(files) == 1:
        for sib in imp.siblings(files[0]):
            try:
                extra = read_foreign(sib)
                if _match(extra) is imp:
                    files.append(extra)
                    continue
                skipped.append(f"{sib.name} (a different format)")
            except CheckpointError as exc:
                skipped.append(f"{sib.name} ({exc})")
    model = imp.build(files)
    if skipped:
        model.card.imported = model.card.imported or {}
        model.card.imported.setdefault("notes", []).append("sibling file(s) not used: " + "; ".join(skipped))
    return model


def _tfjs_model_json(paths: list[Path]) -> Path | None:
    """The ``model.json`` of a TensorFlow.js model among ``paths`` (a folder holding one, or the
    json plus its shard files given by name), else None."""

    found = [m for m in (find_model_json(p) for p in paths) if m is not None]
    if not found:
        return None
    if len(found) > 1:
        raise CheckpointError("give one TensorFlow.js model at a time (one model.json and its weight shards)")
    others = [p for p in paths if find_model_json(p) is None]
    if any(p.is_dir() for p in others) or (others and any(p.suffix.lower() == ".json" for p in others)):
        raise CheckpointError("give one TensorFlow.js model at a time (one model.json and its weight shards)")
    return found[0]
