"""Latent-space tools: deterministic seeds → latents, interpolation, truncation, directions.

``latents_from_seeds`` is the one documented mapping from integer seeds to latents: for
each seed ``s`` it draws ``torch.randn(latent_dim)`` from a CPU ``torch.Generator`` seeded
with ``s`` (float32). Each latent depends only on its own seed — not on batch size, order,
device or the global RNG — so the same seed gives the same image everywhere.
"""

from __future__ import annotations

from typing import Iterable

import torch

from explorer.errors import ExplorerError


def latents_from_seeds(model_or_dim, seeds: Iterable[int]) -> torch.Tensor:
    """Return latents [N, latent_dim] (float32, CPU) for integer ``seeds``.

    ``model_or_dim`` is a model (its ``latent_dim`` is used) or an int.
    """
    latent_dim = model_or_dim if isinstance(model_or_dim, int) else model_or_dim.latent_dim
    if latent_dim <= 0:
        raise ExplorerError("this model takes no latent vector")
    rows = []
    for seed in seeds:
        seed = int(seed)
        if not 0 <= seed < 2**63:
            raise ExplorerError(f"seed must be a non-negative integer below 2**63, got {seed}")
        gen = torch.Generator(device="cpu").manual_seed(seed)
        rows.append(torch.randn(latent_dim, generator=gen))
    if not rows:
        raise ExplorerError("no seeds given")
    return torch.stack(rows)  # [N, latent_dim]
