"""``gan-explorer train`` (and ``python -m explorer.train`` for torchrun): settings from a
config file and/or flags, a progress bar with the losses, clean stop on Ctrl-C / SIGTERM.

Examples::

    gan-explorer train --config configs/dcgan_digits.json
    gan-explorer train --family dcgan --data digits --loss hinge --iterations 2000 --name my-run
    gan-explorer train --resume runs/my-run                      # continue where it stopped
    torchrun --nproc_per_node=2 -m explorer.train --config configs/dcgan_digits.json

Flags override the config file; ``--set key=value`` reaches any ``TrainConfig`` field
(value parsed as JSON when it parses, else taken as a string), ``--model key=value`` any
field of the family's model config.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from explorer.errors import ExplorerError
from explorer.train.config import TrainConfig
from explorer.train.loop import config_from_checkpoint, resolve_resume, train

# flag -> TrainConfig field (argparse dest is the field name)
_FLAGS: list[tuple[str, str, type, str]] = [
    ("--name", "name", str, "run name: output goes to <out>/<name> (default: run)"),
    ("--out", "out", str, "folder for runs (default: runs)"),
    ("--family", "family", str, "dcgan | stylegan | cyclegan | srgan"),
    ("--data", "data", str, "shipped data set (digits, fashion, emoji-google, emoji-twitter), folder or .zip"),
    ("--data-b", "data_b", str, "second domain for CycleGAN"),
    ("--loss", "loss", str, "minimax | nonsaturating | wgan-clip | wgan-gp | hinge | lsgan"),
    ("--lr-g", "lr_g", float, "generator learning rate"),
    ("--lr-d", "lr_d", float, "discriminator learning rate"),
    ("--batch-size", "batch_size", int, "images per step (per process under torchrun)"),
    ("--iterations", "iterations", int, "generator steps to train for"),
    ("--n-critic", "n_critic", int, "discriminator steps per generator step"),
    ("--ema-beta", "ema_beta", float, "EMA decay of the generator weights (0 = off)"),
    ("--resolution", "resolution", int, "training image size"),
    ("--channels", "channels", int, "1 (grey) or 3 (RGB)"),
    ("--seed", "seed", int, "random seed"),
    ("--mixed-precision", "mixed_precision", str, "auto (default: bf16 where the device has native bf16) | no | bf16"),
    ("--device", "device", str, "auto | cpu | cuda | cuda:N"),
    ("--threads", "num_threads", int, "CPU threads for torch"),
    ("--log-every", "log_every", int, "steps between progress reports"),
    ("--checkpoint-every", "checkpoint_every", int, "steps between checkpoints"),
    ("--sample-every", "sample_every", int, "steps between sample grids"),
    ("--max-seconds", "max_seconds", float, "stop cleanly after this many seconds"),
]


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the training flags to ``p`` (shared by the CLI sub-command and ``python -m explorer.train``)."""
    # unset flags stay absent from the namespace (SUPPRESS), so they neither override the config
    # file nor clobber the same-named global options of `gan-explorer` (--device, --threads)
    S = argparse.SUPPRESS
    p.add_argument("--config", default=None, help="training config file (.json or .toml); flags override it")
    for flag, dest, typ, help_ in _FLAGS:
        p.add_argument(flag, dest=dest, type=typ, default=S, help=help_)
    p.add_argument("--conditional", action="store_true", default=S, help="train on class labels")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false", default=S,
                   help="keep the NCHW memory format (channels_last is the default: faster convolutions on CPU)")
    p.add_argument("--model", action="append", default=[], metavar="KEY=VALUE",
                   help="model config field, e.g. --model ngf=32 (repeatable)")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="any training setting, e.g. --set r1_gamma=1 (repeatable)")
    p.add_argument("--resume", nargs="?", const="auto", default=None, metavar="RUN_OR_CHECKPOINT",
                   help="continue a run: its folder or checkpoint (no value: the run named by --name)")
    p.add_argument("--no-progress", action="store_true", help="print one line per report instead of a progress bar")
    return p


def add_train_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train`` on an argparse sub-parser collection; sets ``func`` to :func:`run_train_command`."""
    p = subparsers.add_parser("train", help="train a GAN (config file or flags)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run_train_command)
    return p


def _parse_kv(items: list[str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ExplorerError(f"{what} takes KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def config_from_args(args: argparse.Namespace):
    """Build the ``TrainConfig`` the parsed flags describe."""

    dests = [dest for _, dest, _, _ in _FLAGS] + ["conditional", "channels_last"]
    flags = {k: getattr(args, k) for k in dests if getattr(args, k, None) is not None}
    if "num_threads" not in flags and getattr(args, "threads", None):  # `gan-explorer --threads N train`
        flags["num_threads"] = args.threads
    flags.update(_parse_kv(args.settings, "--set"))
    model_over = _parse_kv(args.model, "--model")
    resume_from = None
    if not args.config and args.resume is not None:
        # resuming without a config file: the run's own settings (from its checkpoint), then the flags
        run_dir = Path(flags.get("out", "runs")) / flags.get("name", "run")
        resume_from = resolve_resume(args.resume, run_dir)
    if args.config:
        cfg = TrainConfig.from_file(args.config, **flags)
    elif resume_from is not None:
        cfg = TrainConfig.from_dict({**config_from_checkpoint(resume_from).to_dict(), **flags})
    else:
        cfg = TrainConfig.from_dict(flags)
    if model_over:
        cfg = cfg.replace(model={**cfg.model, **model_over})
    return cfg


def run_train_command(args: argparse.Namespace) -> int:
    """Run training from parsed flags; returns a process exit code."""

    try:
        cfg = config_from_args(args)
    except ExplorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = {"requested": False}

    def request_stop(signum, frame):  # first signal: clean stop with a checkpoint; second: default
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        print("\nstopping after this step (checkpoint and model will be written); press Ctrl-C again to abort",
              file=sys.stderr)

    old = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    quiet = args.no_progress or getattr(args, "quiet", False)
    bar = _Progress(cfg.iterations, enabled=not quiet and int(os.environ.get("RANK", "0")) == 0)
    try:
        result = train(cfg, on_event=bar.on_event, should_stop=lambda: stop["requested"], resume=args.resume)
    except ExplorerError as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    bar.close()
    if result.model_path is not None:
        state = "stopped" if result.stopped else "finished"
        print(f"{state} at step {result.step}/{result.iterations} in {result.wall_time_s:.0f} s; "
              f"model: {result.model_path}; resume with --resume {result.run_dir}")
    return 0


class _Progress:
    """tqdm bar fed by training events (or plain lines with ``enabled=False``)."""

    def __init__(self, total: int, enabled: bool = True):
        self.total = total
        self.enabled = enabled
        self.bar = None

    def _write(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg)
        else:
            print(msg, flush=True)

    def on_event(self, event) -> None:
        kind = event.type
        if kind == "start":
            if self.enabled:
                self.bar = tqdm(total=event.iterations, initial=event.step, desc=os.path.basename(event.run_dir),
                                unit="it", dynamic_ncols=True)
            if event.resumed_from:
                self._write(f"resumed {event.resumed_from} at step {event.step}")
            elif event.config.get("init_from"):
                self._write(f"fine-tuning: starting from the weights of {event.config['init_from']}")
        elif kind == "step":
            short = {k: f"{v:.3g}" for k, v in event.losses.items() if k in ("d_loss", "g_loss")}
            short["img/s"] = f"{event.images_per_s:.0f}"
            if self.bar is not None:
                self.bar.update(event.step - self.bar.n)
                self.bar.set_postfix(short, refresh=False)
            else:
                self._write(f"step {event.step}/{self.total} " + " ".join(f"{k}={v}" for k, v in short.items()))
        elif kind == "alert":
            self._write(f"ALERT ({event.kind}) at step {event.step}: {event.message}")
        elif kind == "checkpoint" and self.bar is None:
            self._write(f"checkpoint at step {event.step}: {event.path}")
        elif kind == "error":
            self._write(f"error at step {event.step}: {event.message}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def main(argv: list[str] | None = None) -> int:
    """``python -m explorer.train`` (what torchrun launches)."""
    p = argparse.ArgumentParser(prog="python -m explorer.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run_train_command(p.parse_args(argv))
