"""Publish a finished training run as a shipped model: ``checkpoints/<name>.safetensors`` + ``<name>.png``.

    python scripts/ship_model.py runs/dcgan_digits          # -> checkpoints/dcgan_digits.safetensors
    python scripts/ship_model.py runs/cyclegan_emoji --limits "..."

The weights are the run's exported model (EMA generator + trained discriminator) unchanged. What
this adds is the model card a user reads in the Models tab: intended use, known limits, the
one-line command that reproduces the run (``configs/<name>.json``), and a quality measurement
made here on held-out data, so the card says how good the model is rather than only how it
was trained:

* conditional DCGAN: the shipped digits classifier's accuracy on generated images of each
  requested class (does the label control the digit?) and its class coverage;
* CycleGAN: L1 distance of A→B translations to the true B image of the same emoji (the two
  emoji sets are renderings of the same names), next to the "do nothing" baseline (L1(A, B));
* super-resolution: PSNR of ×4 upscales of held-out images against the originals, next to
  bicubic upscaling of the same low-resolution inputs;
* StyleGAN: no paired truth; a 1-NN two-sample test against held-out real emoji, with the
  Twemoji renderings of the same emoji and other real Noto emoji as reference rows.

The sample grid is what the Models tab shows: seeds × classes (DCGAN) or 64 seeds (StyleGAN) for
generators, input/output/truth rows on held-out images for the translators.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import explorer  # noqa: E402
from explorer.data import get_dataset  # noqa: E402
from explorer.data.dataset import resize_center_crop  # noqa: E402
from explorer.images import make_grid, save_png  # noqa: E402
from explorer.data import sr_mix  # noqa: E402
from explorer.superres import bicubic_upscale, degrade, psnr_8bit  # noqa: E402

LIMIT_BYTES = 20_000_000  # every shipped checkpoint ≤ 20 MB
INTENDED_USE = {
    "dcgan": "teaching and exploring: class-conditional generation, latent walks, synthetic-data experiments",
    "stylegan": "teaching and exploring: style mixing, truncation, latent directions on a small colour set",
    "cyclegan": "teaching and exploring unpaired image-to-image translation between two emoji styles",
    "srgan": "teaching and exploring ×4 super-resolution: small photos, emoji and other drawings, digits",
}
DEFAULT_LIMITS = {
    "dcgan": "32×32 grey digits only; a few samples are malformed; not a substitute for real data in evaluation",
    "stylegan": "trained for under an hour on 2 CPU cores: shapes and colours are emoji-like, fine detail is not",
    "cyclegan": "64×64 emoji on white only; photos or other drawings are outside its training domain",
    "srgan": "trained on 64×64 patches (16×16 inputs) of photos, emoji, digits and clothes for a short CPU budget; "
             "a PSNR-oriented upscaler: textures come out smooth rather than invented",
}


@torch.no_grad()
def quality_dcgan(model) -> tuple[dict, torch.Tensor]:
    from explorer.latent import latents_from_seeds

    clf = explorer.load(ROOT / "checkpoints" / "classifier_digits.safetensors")
    seeds = list(range(1000))
    z = latents_from_seeds(model, seeds)
    labels = torch.arange(len(seeds)) % model.num_classes
    x = torch.cat([model.generate(z[i:i + 200], labels[i:i + 200]) for i in range(0, len(seeds), 200)])
    pred = clf.predict(resize_center_crop(x, clf.config.resolution))  # 32 px samples, 28 px classifier
    acc = (pred == labels).float().mean().item()
    coverage = len(set(pred.tolist())) / model.num_classes
    quality = {"label_accuracy_by_digits_classifier": round(acc, 4), "class_coverage": coverage,
               "num_samples": len(seeds), "how": "classifier_digits (98.8 % held-out accuracy on real digits) "
                                                  "judges 1,000 samples, 100 per requested class, truncation 1"}
    # grid: 10 columns = classes, 10 rows = seeds
    zg = latents_from_seeds(model, list(range(100)))
    lg = torch.arange(100) % 10
    return quality, make_grid(model.generate(zg, lg), nrow=10)


@torch.no_grad()
def quality_cyclegan(model) -> tuple[dict, torch.Tensor]:
    a = get_dataset("emoji-google", resolution=model.resolution, split="heldout").tensors()[0]
    b = get_dataset("emoji-twitter", resolution=model.resolution, split="heldout").tensors()[0]
    ab = torch.cat([model.translate(a[i:i + 32], "AtoB") for i in range(0, len(a), 32)])
    ba = torch.cat([model.translate(b[i:i + 32], "BtoA") for i in range(0, len(b), 32)])
    # L1 in [0, 255] units, so "12" reads as "12 grey levels off on average"
    l1 = lambda p, q: (p - q).abs().mean().item() * 127.5  # noqa: E731
    quality = {"held_out_pairs": len(a), "units": "mean absolute error in 0-255 grey levels",
               "AtoB_vs_true_B": round(l1(ab, b), 2), "identity_A_vs_true_B": round(l1(a, b), 2),
               "BtoA_vs_true_A": round(l1(ba, a), 2), "identity_B_vs_true_A": round(l1(b, a), 2),
               "AtoB_ratio_to_doing_nothing": round(l1(ab, b) / l1(a, b), 3),
               "BtoA_ratio_to_doing_nothing": round(l1(ba, a) / l1(b, a), 3),
               "how": "the two emoji sets render the same names, so each held-out A has its true B"}
    k = 8
    rows = torch.cat([a[:k], ab[:k], b[:k], ba[:k]])
    return quality, make_grid(rows, nrow=k)


@torch.no_grad()
def quality_srgan(model) -> tuple[dict, torch.Tensor]:
    """PSNR (8-bit RGB, mean over images) of ×4 upscales vs bicubic on every held-out kind of sr-mix."""
    scale = model.config.scale
    per_kind, columns = {}, []
    for kind in sr_mix.KINDS:
        hr = sr_mix.heldout_images(kind)
        lr = degrade(hr, scale)
        sr = torch.cat([model.upscale(lr[i:i + 32]) for i in range(0, len(lr), 32)])
        bic = bicubic_upscale(lr, scale)
        per_kind[kind] = {"images": len(hr),
                          "psnr_sr_db": round(sum(psnr_8bit(p, q) for p, q in zip(sr, hr)) / len(hr), 2),
                          "psnr_bicubic_db": round(sum(psnr_8bit(p, q) for p, q in zip(bic, hr)) / len(hr), 2)}
        k = 2 if kind in ("photos", "noto") else 1
        columns.append((lr[:k], bic[:k], sr[:k], hr[:k]))
    quality = {"per_kind": per_kind,
               "how": "64×64 held-out images (sr-mix kinds: shipped held-out split, held-out photographs) → "
                      "16×16 (antialiased bicubic) → ×4; PSNR on 8-bit RGB against the original, mean over images"}
    lr, bic, sr, hr = (torch.cat(parts) for parts in zip(*columns))
    nearest = F.interpolate(lr, scale_factor=scale, mode="nearest")
    return quality, make_grid(torch.cat([nearest, bic, sr, hr]), nrow=len(hr))


@torch.no_grad()
def quality_stylegan(model) -> tuple[dict, torch.Tensor]:
    """1-NN two-sample test (Lopez-Paz & Oquab 2017) against the held-out real Noto emoji, in the
    ImageNet-trunk feature space, next to references measured the same way: other real Noto
    emoji (train split), Twemoji renderings of the very same held-out emoji, and Twemoji
    renderings of other emoji."""
    from explorer.latent import latents_from_seeds
    from explorer.metrics import extract, get_extractor
    from explorer.metrics.scores import one_nn_accuracy

    res = model.resolution
    held = get_dataset("emoji-google", resolution=res, split="heldout")
    real, real_labels = held.tensors()
    n = real.shape[0]
    twemoji = get_dataset("emoji-twitter", resolution=res, split="heldout").tensors()[0]
    train = get_dataset("emoji-google", resolution=res, split="train").tensors()[0]
    pick = torch.randperm(train.shape[0], generator=torch.Generator().manual_seed(0))[:n]
    other_real = train[pick]
    other_twemoji = get_dataset("emoji-twitter", resolution=res, split="train").tensors()[0][pick]
    seeds = list(range(10_000, 10_000 + n))  # seeds no grid or test uses
    z = latents_from_seeds(model, seeds)
    rows = {}
    if model.num_classes:
        # class-matched: one sample per held-out emoji, with that emoji's category
        rows["model (class-matched labels)"] = model.generate(z, real_labels)
        rows["model (labels i mod 10)"] = model.generate(z, torch.arange(n) % model.num_classes)
    else:
        rows["model"] = model.generate(z)
    # paired: each Twemoji's nearest neighbour is often its own Noto twin, which pulls this row
    # below 0.5; the unpaired row (Twemoji of other emoji) is the "another real style" reference
    rows["Twemoji renderings of the same emoji (paired)"] = twemoji
    rows["Twemoji renderings of other emoji (train split)"] = other_twemoji
    rows["other real Noto emoji (train split)"] = other_real
    ext = get_extractor("imagenet-trunk", device="cpu")
    real_f = extract(ext, real, batch_size=64)["features"]
    scores = {}
    for label, images in rows.items():
        r = one_nn_accuracy(extract(ext, images, batch_size=64)["features"], real_f)
        scores[label] = round(r["one_nn_accuracy"], 4)
    quality = {"one_nn_accuracy_vs_heldout_noto": scores, "extractor": ext.info().get("extractor_label", "imagenet-trunk"),
               "num_per_set": n, "truncation": 1.0,
               "how": f"leave-one-out 1-NN accuracy of each set against the {n} held-out Noto emoji at {res} px in the "
                      "ImageNet-trunk feature space (0.5 = indistinguishable, 1.0 = fully apart); latent seeds "
                      f"{seeds[0]}..{seeds[-1]}"}
    zg = latents_from_seeds(model, list(range(64)))
    labels = (torch.arange(64) % model.num_classes) if model.num_classes else None
    return quality, make_grid(model.generate(zg, labels), nrow=8)


TITLES = {
    "dcgan": "Class-conditional DCGAN",
    "stylegan": "StyleGAN2-style generator",
    "cyclegan": "CycleGAN translator",
    "srgan": "×4 super-resolution (SRGAN)",
}
GRID_TEXT = {
    "dcgan": "rows: seeds 0-99 (one per cell), columns: requested class 0-9",
    "stylegan": "seeds 0-63, truncation 1 (conditional models: category i mod 10)",
    "cyclegan": "rows: held-out A (Noto), A→B, true B (Twemoji), B→A",
    "srgan": "rows: 16×16 input (nearest), bicubic ×4, model ×4, original 64×64; columns: held-out photos, "
             "Noto, Twemoji, Noto on dark, digits, Fashion",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="run folder (holds model.safetensors and config.json)")
    ap.add_argument("--name", default=None, help="shipped name (default: the run folder's name)")
    ap.add_argument("--limits", default=None, help="known limits, for the card")
    ap.add_argument("--out", type=Path, default=ROOT / "checkpoints")
    ap.add_argument("--reproduce", default=None,
                    help="the commands that replay the run, when it was not one `train --config` (e.g. it was resumed with new settings)")
    ap.add_argument("--training", default=None,
                    help="how the weights were trained, for the card, when it was more than this run (e.g. a fine-tune)")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    name = args.name or args.run.name
    model = explorer.load(args.run / "model.safetensors", device="cpu").eval()
    kind = model.kind
    quality, grid = {"dcgan": quality_dcgan, "cyclegan": quality_cyclegan, "srgan": quality_srgan,
                     "stylegan": quality_stylegan}[kind](model)
    card = dict(model.card)
    card.update({
        "title": f"{TITLES[kind]} · {card.get('data', name)}",
        "name": name,
        "intended_use": INTENDED_USE[kind],
        "limits": args.limits or DEFAULT_LIMITS[kind],
        "reproduce": args.reproduce or f"gan-explorer train --config configs/{name}.json --threads 1",
        "source": "trained by the GAN Explorer project on data that ships with it",
        **({"training": args.training} if args.training else {}),
        "quality": quality,
        "sample_grid": GRID_TEXT[kind],
        "synthetic": "images this model makes are synthetic; PNGs written by GAN Explorer say so in their metadata",
    })
    summary = dict(model.summary)
    args.out.mkdir(parents=True, exist_ok=True)
    dest = args.out / f"{name}.safetensors"
    explorer.save(model, dest, card=card, summary=summary)  # atomic (temp file + rename)
    if dest.stat().st_size > LIMIT_BYTES:
        # over the repository's per-checkpoint budget: keep the generators exact and store the
        # discriminators (used only for scores and heat maps) in float16; loading casts them back
        for part in [n for n in ("D", "D_A", "D_B") if hasattr(model, n)]:
            getattr(model, part).half()
        card["weights"] = card.get("weights", "as trained") + "; discriminators stored in float16 (≤ 1e-3 relative change in scores)"
        explorer.save(model, dest, card=card, summary=summary)
    save_png(grid, dest.with_suffix(".png"), {"model": name, "model_file": dest.name,
                                              "model_hash": explorer.file_hash(dest), "grid": GRID_TEXT[kind]})
    size_mb = dest.stat().st_size / 1e6
    print(json.dumps({"model": str(dest), "size_mb": round(size_mb, 2), "quality": quality,
                      "steps": summary.get("steps"), "wall_time_s": summary.get("wall_time_s"),
                      "final_losses": summary.get("final_losses")}, indent=1, default=str))
    if dest.stat().st_size > LIMIT_BYTES:
        print(f"error: {dest.name} is {size_mb:.1f} MB, over the {LIMIT_BYTES / 1e6:.0f} MB limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
