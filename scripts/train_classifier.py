"""Train the project's small classifier on a shipped data set and write it to checkpoints/.

The classifier judges class coverage for the training loop's mode-collapse monitor and is the
"domain-classifier" feature extractor for metrics (labelled as not comparable with published FIDs).

    python scripts/train_classifier.py digits      # -> checkpoints/classifier_digits.safetensors
    python scripts/train_classifier.py fashion
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

import explorer
from explorer.data import get_dataset
from explorer.models.classifier import Classifier, ClassifierConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=["digits", "fashion", "emoji-google", "emoji-twitter"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--resolution", type=int, default=None, help="default: the data set's own size (28 for digits)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    train = get_dataset(args.dataset, resolution=args.resolution, split="train")
    held = get_dataset(args.dataset, resolution=args.resolution, split="heldout")
    x, y = train.tensors()
    xh, yh = held.tensors()
    config = ClassifierConfig(
        channels=train.channels, resolution=train.resolution, num_classes=train.num_classes,
        width=args.width, class_names=tuple(train.class_names),
    )
    model = Classifier(config)
    start = time.time()
    history = model.fit(x, y, epochs=args.epochs, seed=args.seed,
                        on_epoch=lambda e, loss: print(f"epoch {e + 1}/{args.epochs}  loss {loss:.4f}", flush=True))
    wall = time.time() - start
    acc_train = (model.predict(x) == y).float().mean().item()
    acc_held = (model.predict(xh) == yh).float().mean().item()
    print(f"accuracy: train {acc_train:.4f}  held-out {acc_held:.4f}  ({wall:.0f} s)")
    out = args.out or Path("checkpoints") / f"classifier_{args.dataset}.safetensors"
    command = f"python scripts/train_classifier.py {args.dataset} --epochs {args.epochs} --width {args.width} --seed {args.seed}"
    explorer.save(
        model, out,
        summary={
            "dataset": args.dataset, "preprocessing": train.preprocessing, "epochs": args.epochs,
            "steps": model.summary.get("steps"), "final_loss": history[-1], "wall_time_s": round(wall, 1),
            "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
            "train_accuracy": acc_train, "heldout_accuracy": acc_held,
        },
        card={
            "title": f"Classifier for {args.dataset}",
            "intended_use": "class-coverage judge for the mode-collapse monitor; domain feature extractor for metrics",
            "data": f"shipped '{args.dataset}' data set, train split ({len(x)} images); held-out split for accuracy",
            "limits": "small CNN; features are domain-specific, so FIDs computed with it are not comparable with published FIDs",
            "reproduce": command,
            "source": "trained by the GAN Explorer project",
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
