"""``gan-explorer translate``, ``upscale`` and ``score``: pictures in, pictures or scores out, through
:mod:`explorer.pipelines.translate` and :mod:`explorer.pipelines.score` (what the app and the API use).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.cli_common import load_model, model_identity, output_paths, parse_labels, progress_bar, tile_callback
from explorer.errors import ExplorerError
from explorer.images import fit_to, load_image, save_png, tensor_to_pil
from explorer.pipelines import translate


def add_image_commands(sub, common: list) -> None:
    """Add ``translate``, ``upscale`` and ``score`` to the sub-parsers ``sub``."""
    p = sub.add_parser("translate", parents=common, help="image-to-image translation (CycleGAN)")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--direction", default=None, help="AtoB or BtoA (default: the model's first)")
    p.add_argument("--tile", type=int, default=768, help="images larger than this are translated in tiles")
    p.add_argument("--overlap", type=int, default=64)
    p.add_argument("--out", default=None, help="output .png (one input) or folder (default ./translated)")
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("upscale", parents=common, help="super-resolution at the model's scale (×2/×3/×4/×8), tiled for large images")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--tile", type=int, default=128, help="tile side in input pixels")
    p.add_argument("--overlap", type=int, default=16)
    p.add_argument("--out", default=None, help="output .png (one input) or folder (default ./upscaled)")
    p.set_defaults(func=cmd_upscale)

    p = sub.add_parser("score", parents=common, help="discriminator scores of images")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--domain", choices=("A", "B"), default=None, help="CycleGAN: which domain's discriminator")
    p.add_argument("--labels", default=None, help="class ids for conditional discriminators (one, or one per image)")
    p.add_argument("--fit", choices=("center-crop", "pad", "resize"), default="center-crop",
                   help="how images are brought to a fixed-size discriminator's resolution "
                        "(center-crop: as the training data were prepared)")
    p.add_argument("--patch-map", default=None, help="PatchGAN: write the per-patch heat map here (.png)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_score)


def _image_to_image(args, model, direction: str, tile: int, overlap: int, suffix: str, default_dir: str) -> int:
    outputs = output_paths(args.images, args.out, default_dir, suffix)
    identity = model_identity(args.checkpoint)
    for src, dst in zip(args.images, outputs):
        img = load_image(src, mode=translate.input_mode(model, direction), allow_animated=False)
        w, h = img.size
        with progress_bar(args, None, Path(src).name, unit="tile") as bar:
            y = translate.run(model, img, direction, tile=tile, overlap=overlap, progress=tile_callback(bar))
        meta = {**identity, "kind": model.kind, "direction": direction, "source_image": Path(src).name,
                "source_size": [int(w), int(h)]}
        save_png(y.cpu(), dst, meta)
        print(f"{src} -> {dst} ({w}×{h} → {y.shape[-1]}×{y.shape[-2]})")
    return 0


def cmd_translate(args) -> int:
    model = load_model(args, args.checkpoint)
    if model.caps.upscales:
        raise ExplorerError(f"a {model.kind} model does not translate images; use 'upscale'")
    direction = translate.check_direction(model, args.direction)
    return _image_to_image(args, model, direction, args.tile, args.overlap, suffix=direction, default_dir="translated")


def cmd_upscale(args) -> int:
    model = load_model(args, args.checkpoint)
    if not model.caps.upscales:
        raise ExplorerError(f"a {model.kind} model does not upscale images (need a super-resolution model)")
    return _image_to_image(args, model, model.directions[0], args.tile, args.overlap,
                           suffix=f"x{int(model.config.scale)}", default_dir="upscaled")


def cmd_score(args) -> int:
    # imported here, not at the top: explorer.data loads torchvision's models and the score pipeline
    # pandas (1.8 s together); every other command starts without them
    from explorer.data.dataset import prepare_image
    from explorer.pipelines.score import score_image

    model = load_model(args, args.checkpoint)
    if model.caps.domains and args.domain is None:
        raise ExplorerError(f"a {model.display_name} has one discriminator per domain: pass --domain A or --domain B")
    channels = model.channels_of(args.domain) if args.domain else model.image_channels
    fixed = model.resolution if model.fixed_size_discriminator else 0
    labels = parse_labels(model, None, args.labels, len(args.images)) if model.num_classes or args.labels else None
    rows = []
    maps = []
    for i, src in enumerate(args.images):
        img = load_image(src, mode="RGB")
        # --fit other than center-crop is a deliberate departure from the training policy
        prepared = prepare_image(fit_to(img, fixed, args.fit), channels) if fixed and args.fit != "center-crop" else None
        result = score_image(model, img, args.domain, int(labels[i]) if labels is not None else None, prepared=prepared)
        rows.append({"image": src, "score": result.logit, "p_real": result.p_real})
        if result.patch_map is not None:
            maps.append((src, tensor_to_pil(result.shown[0]), result.patch_map))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["image"]) for r in rows)
        print(f"{'image':<{width}s}  {'logit':>9s}  {'P(real)':>7s}")
        for r in rows:
            print(f"{r['image']:<{width}s}  {r['score']:9.4f}  {r['p_real']:7.4f}")
    if args.patch_map:
        if not maps:
            raise ExplorerError(f"a {model.kind} discriminator gives one score per image, no patch map")
        for j, (src, img, pmap) in enumerate(maps):
            dst = Path(args.patch_map)
            if len(maps) > 1:
                dst = dst.with_name(f"{dst.stem}_{j}{dst.suffix or '.png'}")
            _save_heat_map(img, pmap, dst, {**model_identity(args.checkpoint), "kind": model.kind, "source_image": Path(src).name,
                                            "domain": args.domain, "content": "PatchGAN heat map: red = judged real, blue = judged fake"})
            print(f"patch map of {src} ({pmap.shape[1]}×{pmap.shape[0]} patches) -> {dst}")
    return 0


def _save_heat_map(img, patch_logits, dst: Path, meta: dict) -> None:
    """Overlay sigmoid(patch logits) on the image: blue (fake) – white (0.5) – red (real)."""
    p = 1.0 / (1.0 + np.exp(-np.clip(patch_logits.numpy(), -60, 60)))  # [h, w] in (0, 1)
    red = np.clip(2 * p, 0, 1)
    blue = np.clip(2 * (1 - p), 0, 1)
    green = np.minimum(red, blue)
    heat = (np.stack([red, green, blue], axis=2) * 255).round().astype(np.uint8)  # [h, w, 3]
    heat_img = Image.fromarray(heat, "RGB").resize(img.size, Image.NEAREST)
    base = img.convert("RGB")
    save_png(Image.blend(base, heat_img, 0.6), dst.with_suffix(".png"), meta)
