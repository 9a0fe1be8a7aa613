"""Importer for pytorch/examples ``dcgan/main.py`` checkpoints (``netG_epoch_N.pth`` / ``netD_epoch_N.pth``).

Those files are bare ``state_dict``s of two ``nn.Sequential`` stacks named ``main``:

- Generator (64×64 out): ``main.0`` ConvT(nz, ngf·8, 4, 1, 0), BN, ReLU, then ConvT(·, ·/2, 4, 2, 1),
  BN, ReLU ×3 (``main.3``, ``main.6``, ``main.9``), then ``main.12`` ConvT(ngf, nc, 4, 2, 1), Tanh.
  All convolutions are bias-free. Keys: ``main.0.weight``, ``main.1.{weight,bias,running_mean,...}``, ...
- Discriminator: ``main.0`` Conv(nc, ndf, 4, 2, 1), LeakyReLU(0.2), then Conv+BN+LeakyReLU ×3
  (``main.2``/``main.3``, ``main.5``/``main.6``, ``main.8``/``main.9``), ``main.11`` Conv(ndf·8, 1, 4, 1, 0), Sigmoid.

nz, ngf, ndf and nc are read from the tensor shapes; the number of layers gives the resolution
(the published script is 64 px; a stack one stage shorter or longer maps to our 32/128 px
layouts if its widths follow ours). Our DCGAN at the same settings is the same network, so
``generate`` reproduces the original generator exactly.

Their discriminator ends with a Sigmoid; ours returns the logit before it:
**their D(x) = sigmoid(our discriminate(x).scores)**.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from explorer.errors import CheckpointError
from explorer.importers.base import ForeignFile, imported_card
from explorer.models.dcgan import DCGAN, DCGANConfig

_FILE_RE = re.compile(r"^net([GD])_epoch_(\d+)\.pth?$")
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")
_RES_BY_NUM_CONVS = {4: 32, 5: 64, 6: 128}


def _indices(shapes: dict[str, tuple[int, ...]]) -> dict[int, dict[str, tuple[int, ...]]] | None:
    """{layer index: {param name: shape}} for keys ``main.<i>.<param>``; None if any key differs."""
    layers: dict[int, dict[str, tuple[int, ...]]] = {}
    for key, shape in shapes.items():
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "main" or not parts[1].isdigit():
            return None
        layers.setdefault(int(parts[1]), {})[parts[2]] = shape
    return layers


def _is_conv(layer: dict | None) -> bool:
    return layer is not None and set(layer) == {"weight"} and len(layer["weight"]) == 4 and layer["weight"][2:] == (4, 4)


def _is_bn(layer: dict | None, ch: int) -> bool:
    return layer is not None and all(layer.get(k) == (ch,) for k in _BN_KEYS) and set(layer) <= {*_BN_KEYS, "num_batches_tracked"}


def _generator_convs(layers: dict) -> list[int] | None:
    """Indices of the ConvTranspose layers if ``layers`` is a pytorch/examples generator, else None."""
    convs = sorted(i for i in layers if _is_conv(layers[i]))
    if len(convs) not in _RES_BY_NUM_CONVS or convs != [3 * k for k in range(len(convs))]:
        return None
    if sorted(layers) != sorted(convs + [i + 1 for i in convs[:-1]]):
        return None
    # ConvTranspose2d weights are [in, out, k, k]: the BN after conv i normalises its out channels
    if not all(_is_bn(layers[i + 1], layers[i]["weight"][1]) for i in convs[:-1]):
        return None
    return convs


def _discriminator_convs(layers: dict) -> list[int] | None:
    """Indices of the Conv layers if ``layers`` is a pytorch/examples discriminator, else None."""
    convs = sorted(i for i in layers if _is_conv(layers[i]))
    if len(convs) not in _RES_BY_NUM_CONVS or convs != [0] + [2 + 3 * j for j in range(len(convs) - 1)]:
        return None
    if sorted(layers) != sorted(convs + [i + 1 for i in convs[1:-1]]):
        return None
    if not all(_is_bn(layers[i + 1], layers[i]["weight"][0]) for i in convs[1:-1]):
        return None
    if layers[convs[-1]]["weight"][0] != 1:
        return None
    return convs


def _widths_check(widths: list[int], base: int, mults: list[int], what: str, name: str) -> None:
    if widths != [base * m for m in mults]:
        raise CheckpointError(
            f"{name}: {what} layer widths {widths} do not follow the DCGAN layout {[f'{what[0]}*{m}' for m in mults]}; "
            "only the pytorch/examples channel progression can be imported exactly"
        )


class PytorchDCGANImporter:
    name = "pytorch-examples-dcgan"
    description = (
        "pytorch/examples dcgan/main.py: netG_epoch_N.pth and/or netD_epoch_N.pth (raw state_dicts, keys main.N.*); "
        "imported as kind 'dcgan'"
    )

    def match(self, shapes: dict[str, tuple[int, ...]]) -> str | None:
        layers = _indices(shapes)
        if not layers:
            return None
        if _generator_convs(layers):
            return "G"
        if _discriminator_convs(layers):
            return "D"
        return None

    def pick_from_directory(self, files: list[Path]) -> list[Path]:
        by_epoch: dict[int, list[Path]] = {}
        for p in files:
            m = _FILE_RE.match(p.name)
            if m:
                by_epoch.setdefault(int(m.group(2)), []).append(p)
        return sorted(by_epoch[max(by_epoch)]) if by_epoch else []

    def siblings(self, file: ForeignFile) -> list[Path]:
        m = _FILE_RE.match(file.path.name)
        if not m:
            return []
        other = "D" if m.group(1) == "G" else "G"
        sib = file.path.with_name(f"net{other}_epoch_{m.group(2)}{file.path.suffix}")
        return [sib] if sib.is_file() else []

    def build(self, files: list[ForeignFile]) -> DCGAN:
        by_role: dict[str, ForeignFile] = {}
        for f in files:
            if f.role in by_role:
                raise CheckpointError(f"two DCGAN {f.role} files given ({by_role[f.role].path.name}, {f.path.name}); pass one G and/or one D")
            by_role[f.role] = f
        settings: dict = {}
        mapped: dict[str, torch.Tensor] = {}
        if "G" in by_role:
            g = by_role["G"]
            layers = _indices(g.shapes)
            convs = _generator_convs(layers)
            res = _RES_BY_NUM_CONVS[len(convs)]
            nz = layers[0]["weight"][0]
            ngf = layers[convs[-1]]["weight"][0]
            nc = layers[convs[-1]]["weight"][1]
            probe = DCGANConfig(resolution=res, channels=1, latent_dim=1, ngf=1, ndf=1)
            _widths_check([layers[i]["weight"][1] for i in convs[:-1]], ngf, probe.d_mults[::-1], "ngf", g.path.name)
            settings.update(resolution=res, latent_dim=nz, ngf=ngf, channels=nc)
            names = ["G.stem"] + [f"G.blocks.{k}" for k in range(len(convs) - 2)]
            for name, i in zip(names, convs[:-1]):
                mapped[f"{name}.0.weight"] = g.state[f"main.{i}.weight"]
                for p in (*_BN_KEYS, "num_batches_tracked"):
                    mapped[f"{name}.1.{p}"] = g.state.get(f"main.{i + 1}.{p}", torch.tensor(0))
            mapped["G.to_rgb.0.weight"] = g.state[f"main.{convs[-1]}.weight"]
        if "D" in by_role:
            d = by_role["D"]
            layers = _indices(d.shapes)
            convs = _discriminator_convs(layers)
            res = _RES_BY_NUM_CONVS[len(convs)]
            ndf, nc = layers[0]["weight"][:2]
            probe = DCGANConfig(resolution=res, channels=1, latent_dim=1, ngf=1, ndf=1)
            _widths_check([layers[i]["weight"][0] for i in convs[:-1]], ndf, probe.d_mults, "ndf", d.path.name)
            for key, val in (("resolution", res), ("channels", nc)):
                if key in settings and settings[key] != val:
                    raise CheckpointError(
                        f"{by_role['G'].path.name} and {d.path.name} do not belong together ({key}: {settings[key]} vs {val})"
                    )
            settings.update(resolution=res, channels=nc, ndf=ndf)
            mapped["D.blocks.0.0.weight"] = d.state["main.0.weight"]
            for k, i in enumerate(convs[1:-1], start=1):
                mapped[f"D.blocks.{k}.0.weight"] = d.state[f"main.{i}.weight"]
                for p in (*_BN_KEYS, "num_batches_tracked"):
                    mapped[f"D.blocks.{k}.1.{p}"] = d.state.get(f"main.{i + 1}.{p}", torch.tensor(0))
            mapped["D.head.weight"] = d.state[f"main.{convs[-1]}.weight"]
        if settings.get("channels") not in (1, 3):
            raise CheckpointError(f"{files[0].path.name}: {settings.get('channels')}-channel images are not supported (1 or 3)")
        parts = [p for p in ("G", "D") if p in by_role]
        model = DCGAN(DCGANConfig(**settings, parts=tuple(parts)))
        try:
            model.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in mapped.items()}, strict=True)
        except RuntimeError as exc:  # a layout we mis-read; say so instead of a torch traceback
            raise CheckpointError(f"could not map {', '.join(f.path.name for f in files)} onto a DCGAN: {str(exc)[:300]}") from None
        notes = [
            f"imported {' and '.join(parts)} ({', '.join(f'{r}: {f.path.name}' for r, f in by_role.items())})",
            "discriminate() returns logits: the original D(x) = sigmoid(score)",
        ]
        if "D" not in by_role:
            notes.append("no discriminator file (netD_epoch_N.pth) was found: discriminate() is unavailable")
        if "G" not in by_role:
            notes.append("no generator file (netG_epoch_N.pth) was found: generate() is unavailable")
        model.card.update(imported_card("pytorch/examples dcgan", list(by_role.values()), parts, notes))
        model.summary.imported_from = "pytorch/examples dcgan"
        return model
