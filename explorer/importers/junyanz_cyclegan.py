"""Importer for junyanz/pytorch-CycleGAN-and-pix2pix CycleGAN checkpoints.

A run folder holds ``<epoch>_net_G_A.pth``, ``_net_G_B.pth``, ``_net_D_A.pth``, ``_net_D_B.pth``
(``<epoch>`` = ``latest`` or a number); its pretrained test models are a single ``latest_net_G.pth``.
Each is a bare ``state_dict`` of an ``nn.Sequential`` called ``model``:

- ``ResnetGenerator`` (``--netG resnet_6blocks|resnet_9blocks``, ``--norm instance``): conv keys
  ``model.1`` (7×7), ``model.4``, ``model.7`` (down), ``model.<10+i>.conv_block.{1,5}`` (residual
  blocks; ``.6`` when trained with dropout), two transposed convs, final 7×7 ``model.<17+n>``.
  InstanceNorm has no parameters, so convolutions carry biases. Files from PyTorch < 0.4 also
  hold InstanceNorm ``running_mean``/``running_var`` buffers, unused at inference: they are dropped.
- ``NLayerDiscriminator`` (``--netD basic``, 3 layers = 70×70 PatchGAN): ``model.0``, ``model.2``,
  ``model.5``, ``model.8``, ``model.11`` — the same positions as our ``PatchDiscriminator.net``.

Naming (from their ``cycle_gan_model.py``): ``G_A`` maps A→B and ``G_B`` maps B→A, so they become
our ``G_AB`` and ``G_BA``. Their ``D_A`` is trained on ``fake_B = G_A(real_A)`` against ``real_B``
(``loss_D_A = backward_D_basic(netD_A, real_B, fake_B)``): it judges **domain B** and becomes our
``D_B``; their ``D_B`` judges domain A and becomes our ``D_A``.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from explorer.errors import CheckpointError
from explorer.importers.base import ForeignFile, imported_card
from explorer.models.cyclegan import CycleGAN, CycleGANConfig

_FILE_RE = re.compile(r"^(?P<prefix>.+)_net_(?P<net>[GD])(?:_(?P<side>[AB]))?\.pth?$")
_STALE_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
#: their file role → our part
_THEIR_TO_OURS = {"G_A": "G_AB", "G_B": "G_BA", "D_A": "D_B", "D_B": "D_A"}


def _clean(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop InstanceNorm buffers that PyTorch < 0.4 saved (InstanceNorm then tracked stats)."""
    return {k: v for k, v in state.items() if k.rsplit(".", 1)[-1] not in _STALE_NORM_BUFFERS}


def _conv_weight(shapes: dict, key: str, k: int) -> tuple[int, ...] | None:
    s = shapes.get(key)
    return s if s is not None and len(s) == 4 and s[2:] == (k, k) else None


def _generator_layout(shapes: dict[str, tuple[int, ...]]) -> dict | None:
    """ngf, in/out channels, number of blocks and dropout of a ResnetGenerator state_dict, or None."""
    stem = _conv_weight(shapes, "model.1.weight", 7)
    if stem is None:
        return None
    blocks = sorted({int(m.group(1)) for k in shapes if (m := re.match(r"^model\.(\d+)\.conv_block\.", k))})
    nb = len(blocks)
    if nb == 0 or blocks != list(range(10, 10 + nb)):
        return None
    second = {int(m.group(1)) for k in shapes if (m := re.match(r"^model\.10\.conv_block\.(\d+)\.weight$", k))}
    if second not in ({1, 5}, {1, 6}):
        return None
    head = _conv_weight(shapes, f"model.{17 + nb}.weight", 7)
    if head is None:
        return None
    return {
        "ngf": stem[0],
        "in_ch": stem[1],
        "out_ch": head[0],
        "num_blocks": nb,
        "use_dropout": second == {1, 6},
        "batch_norm": "model.2.weight" in shapes,  # --norm batch: affine norm parameters after the stem
    }


def _discriminator_layout(shapes: dict[str, tuple[int, ...]]) -> dict | None:
    """ndf, channels and number of layers of an NLayerDiscriminator state_dict, or None."""
    if any(".conv_block." in k for k in shapes):
        return None
    convs = sorted(int(m.group(1)) for k in shapes if (m := re.match(r"^model\.(\d+)\.weight$", k)) and _conv_weight(shapes, k, 4))
    if len(convs) < 3 or convs != [0] + [2 + 3 * j for j in range(len(convs) - 1)]:
        return None
    if shapes[f"model.{convs[-1]}.weight"][0] != 1:
        return None
    first = shapes["model.0.weight"]
    return {"ndf": first[0], "in_ch": first[1], "num_layers": len(convs) - 2}


def _their_role(file: ForeignFile, notes: list[str]) -> str:
    """'G_A', 'G_B', 'D_A' or 'D_B' from the file name; a nameless single net counts as side A."""
    m = _FILE_RE.match(file.path.name)
    side = m.group("side") if m else None
    if side is None:
        side = "A"
        notes.append(
            f"{file.path.name} does not say A or B (test-mode single network?): treated as {file.role}_A, "
            + ("i.e. it translates AtoB" if file.role == "G" else "i.e. a judge of domain-B images")
        )
    return f"{file.role}_{side}"


class JunyanzCycleGANImporter:
    name = "junyanz-cyclegan"
    description = (
        "junyanz/pytorch-CycleGAN-and-pix2pix CycleGAN: a run folder, or latest_net_G_A.pth / latest_net_G_B.pth "
        "(ResnetGenerator, instance norm, 6 or 9 blocks) and latest_net_D_A.pth / latest_net_D_B.pth (70x70 PatchGAN); "
        "imported as kind 'cyclegan'"
    )

    def match(self, shapes: dict[str, tuple[int, ...]]) -> str | None:
        if not shapes or not all(k.startswith("model.") for k in shapes):
            return None
        clean = {k: v for k, v in shapes.items() if k.rsplit(".", 1)[-1] not in _STALE_NORM_BUFFERS}
        if _generator_layout(clean):
            return "G"
        if _discriminator_layout(clean):
            return "D"
        return None

    def pick_from_directory(self, files: list[Path]) -> list[Path]:
        groups: dict[str, list[Path]] = {}
        for p in files:
            m = _FILE_RE.match(p.name)
            if m:
                groups.setdefault(m.group("prefix"), []).append(p)
        if not groups:
            return []
        if "latest" in groups:
            return sorted(groups["latest"])
        numeric = [g for g in groups if g.isdigit()]
        return sorted(groups[max(numeric, key=int)] if numeric else groups[sorted(groups)[0]])

    def siblings(self, file: ForeignFile) -> list[Path]:
        return []  # a lone generator is a one-way translator; pass the folder or both files for A↔B

    def build(self, files: list[ForeignFile]) -> CycleGAN:
        notes: list[str] = []
        theirs: dict[str, ForeignFile] = {}
        for f in files:
            role = _their_role(f, notes)
            if role in theirs:
                raise CheckpointError(f"{theirs[role].path.name} and {f.path.name} are both {role}; pass one file per network")
            theirs[role] = f
        shapes = {r: {k: tuple(v.shape) for k, v in _clean(f.state).items()} for r, f in theirs.items()}
        g_layouts = {r: _generator_layout(s) for r, s in shapes.items() if r.startswith("G")}
        d_layouts = {r: _discriminator_layout(s) for r, s in shapes.items() if r.startswith("D")}
        settings: dict = {}

        def agree(key: str, value, source: str) -> None:
            if key in settings and settings[key] != value:
                raise CheckpointError(f"{source} does not fit the other files ({key} {value} vs {settings[key]})")
            settings[key] = value

        for role, lay in g_layouts.items():
            src_ch, dst_ch = ("channels_a", "channels_b") if role == "G_A" else ("channels_b", "channels_a")
            name = theirs[role].path.name
            if lay["batch_norm"]:
                raise CheckpointError(f"{name} was trained with --norm batch; only instance-norm CycleGAN generators can be imported")
            agree(src_ch, lay["in_ch"], name)
            agree(dst_ch, lay["out_ch"], name)
            for key in ("ngf", "num_blocks", "use_dropout"):
                agree(key, lay[key], name)
        for role, lay in d_layouts.items():
            judged = "channels_b" if role == "D_A" else "channels_a"  # their D_A judges B images
            name = theirs[role].path.name
            agree(judged, lay["in_ch"], name)
            agree("ndf", lay["ndf"], name)
            agree("num_d_layers", lay["num_layers"], name)

        parts = tuple(p for p in ("G_AB", "G_BA", "D_A", "D_B") if p in {_THEIR_TO_OURS[r] for r in theirs})
        model = CycleGAN(CycleGANConfig(**settings, parts=parts))
        mapped: dict[str, torch.Tensor] = {}
        for role, f in theirs.items():
            ours = _THEIR_TO_OURS[role]
            state = _clean(f.state)
            if role.startswith("G"):
                mapped.update({f"{ours}.{k}": v for k, v in _map_generator(state, g_layouts[role]["num_blocks"]).items()})
            else:
                mapped.update({f"{ours}.net.{k[len('model.'):]}": v for k, v in state.items()})
        try:
            model.load_state_dict({k: v.to(torch.float32) for k, v in mapped.items()}, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"could not map {', '.join(f.path.name for f in files)} onto a CycleGAN: {str(exc)[:300]}") from None

        notes.insert(0, "imported " + ", ".join(f"{theirs[r].path.name} as {_THEIR_TO_OURS[r]}" for r in sorted(theirs)))
        notes.append("junyanz G_A (A→B) = our G_AB; their D_A judges domain B = our D_B (and vice versa)")
        if model.directions != ("AtoB", "BtoA"):
            notes.append(f"only {', '.join(model.directions) or 'no'} translation available (the other generator file was not given)")
        model.card.update(imported_card("junyanz/pytorch-CycleGAN-and-pix2pix cyclegan", list(theirs.values()), list(parts), notes))
        model.summary.imported_from = "junyanz/pytorch-CycleGAN-and-pix2pix"
        return model


def _map_generator(state: dict[str, torch.Tensor], nb: int) -> dict[str, torch.Tensor]:
    """junyanz ResnetGenerator keys → our ResnetGenerator keys."""
    where = {1: "stem.1", 4: "down.0", 7: "down.3", 10 + nb: "up.0", 13 + nb: "up.3", 17 + nb: "head.1"}
    out = {}
    for key, val in state.items():
        _, idx, rest = key.split(".", 2)
        i = int(idx)
        if i in where:
            out[f"{where[i]}.{rest}"] = val
        elif 10 <= i < 10 + nb and rest.startswith("conv_block."):
            out[f"blocks.{i - 10}.body.{rest[len('conv_block.'):]}"] = val
        else:
            raise CheckpointError(f"unexpected tensor {key} in a ResnetGenerator checkpoint")
    return out
