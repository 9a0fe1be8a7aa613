"""GAN Explorer: explore, train and evaluate generative adversarial networks.

Public API (stable)::

    import explorer
    m = explorer.load("checkpoints/dcgan_digits.safetensors")   # or a foreign .pth
    z = explorer.latents_from_seeds(m, [0, 1, 2])
    x = m.generate(z, labels=torch.tensor([0, 1, 2]))            # [-1, 1], [N, C, H, W]
    explorer.save(m, "copy.safetensors", card={"notes": "..."})

Importing this package is cheap: nothing loads models or touches devices at import time.
"""

from explorer._version import __version__
from explorer.checkpoint import file_hash, load, read_metadata, save
from explorer.errors import CheckpointError, DataError, ExplorerError, ImageInputError, TrainingError
from explorer.latent import latents_from_seeds
from explorer.model_cache import load_cached

__all__ = [
    "CheckpointError",
    "DataError",
    "ExplorerError",
    "ImageInputError",
    "TrainingError",
    "file_hash",
    "latents_from_seeds",
    "load",
    "load_cached",
    "read_metadata",
    "save",
    "__version__",
]
