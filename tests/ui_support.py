"""Shared helpers for the app's tests (test_ui_api.py, test_ui_browser.py).

Tiny random-init models of every family (built from the families' configs and saved with
``explorer.save``) stand in for the shipped ones, so the tests are fast and do not depend on
which checkpoints exist. They live in a temporary "shipped" folder passed to ``build_app``;
the real app never shows such models.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from pathlib import Path
from types import SimpleNamespace

import torch

import explorer

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "assets" / "samples"
#: Debian Chromium flags for headless runs in containers and CI (never `playwright install`)
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    for path in (os.environ.get("GAN_EXPLORER_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if path and os.path.exists(path):
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tiny_models(folder: Path) -> dict[str, Path]:
    """One small model per family (+ a classifier), with summaries naming shipped data sets."""
    from explorer.models.classifier import Classifier, ClassifierConfig
    from explorer.models.cyclegan import CycleGAN, CycleGANConfig
    from explorer.models.dcgan import DCGAN, DCGANConfig
    from explorer.models.srgan import SRGAN, SRGANConfig
    from explorer.models.stylegan import StyleGAN, StyleGANConfig

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    specs = {
        "dcgan_digits": (DCGAN(DCGANConfig(resolution=32, channels=1, latent_dim=16, num_classes=10, ngf=8, ndf=8)),
                         {"name": "tiny DCGAN digits"}, {"dataset": "digits"}),
        "stylegan_emoji": (StyleGAN(StyleGANConfig(resolution=16, channels=3, latent_dim=16, w_dim=16, mapping_layers=2,
                                                   channel_base=256, max_channels=32)),
                           {"name": "tiny StyleGAN emoji"}, {"dataset": "emoji-google"}),
        "cyclegan_emoji": (CycleGAN(CycleGANConfig(ngf=4, ndf=4, num_blocks=1, resolution=32)),
                           {"name": "tiny CycleGAN emoji"}, {"dataset": "emoji-google", "dataset_b": "emoji-twitter"}),
        "srgan_emoji": (SRGAN(SRGANConfig(num_blocks=1, num_features=8, d_features=4, resolution=32)),
                        {"name": "tiny SR emoji"}, {"dataset": "emoji-google"}),
        "classifier_digits": (Classifier(ClassifierConfig(channels=1, resolution=28, num_classes=10, width=4)),
                              {"name": "tiny digits classifier"}, {"dataset": "digits"}),
    }
    with torch.no_grad():  # DCGAN's N(0, 0.02) init makes every image the same grey; widen it so images differ
        for mod in specs["dcgan_digits"][0].G.modules():
            if isinstance(mod, torch.nn.ConvTranspose2d):
                mod.weight.mul_(8)
    paths = {}
    for stem, (model, card, summary) in specs.items():
        model.eval()
        paths[stem] = explorer.save(model, folder / f"{stem}.safetensors", card=card, summary=summary)
    return paths


@contextlib.contextmanager
def scoped_env(env: dict[str, str]):
    """Set environment variables for the body of a ``with`` and restore the previous values after."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def running_app(tmp: Path, shipped: Path, monkeypatch=None, **build_kwargs):
    """Build the app on ``shipped`` models and serve it on a free port; yields url, demo, ctx paths."""
    from explorer.ui.app import build_app, launch_options

    home = tmp / "home"
    with scoped_env({"GAN_EXPLORER_HOME": str(home), "GAN_EXPLORER_CACHE": str(tmp / "cache")}):
        demo = build_app(model_dirs=[shipped], user_dir=home / "models", **build_kwargs)
        port = free_port()
        demo.launch(**launch_options(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True))
        try:
            yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", demo=demo, home=home, user_dir=home / "models")
        finally:
            demo.close()
