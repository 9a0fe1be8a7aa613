"""StyleGAN family: the model class around the networks of :mod:`explorer.models.stylegan_networks`.

:class:`StyleGAN` holds ``G`` (mapping + synthesis, the tracked mean ``G.w_avg``) and ``D``, and
answers the generator protocol: latents → styles (``mapping``, truncated toward ``w_avg``),
styles → images (``synthesis``, ``generate_from_w``), per-layer style mixing, discriminator scores,
the latent-direction hooks (SeFa weights, PCA features in w) and a traceable generator for export.
The architecture, its departures from the paper and the default widths are described in
:mod:`explorer.models.stylegan_networks`; the config and network classes stay importable from here.
"""

from __future__ import annotations

import torch
from torch import nn

from explorer.errors import ExplorerError
from explorer.models.base import Capabilities, DiscriminatorOutput, GANModel
from explorer.models.layers import check_truncation, grad_mode_for
from explorer.models.stylegan_networks import (
    NOISE_MODES,
    DiscriminatorBlock,
    MappingNetwork,
    StyleGANConfig,
    StyleGANDiscriminator,
    StyleGANGenerator,
    SynthesisBlock,
    SynthesisLayer,
    ToRGB,
)
from explorer.registry import register_family

__all__ = [
    "StyleGAN",
    # the config and networks live in explorer.models.stylegan_networks; public here too
    "NOISE_MODES", "DiscriminatorBlock", "MappingNetwork", "StyleGANConfig", "StyleGANDiscriminator",
    "StyleGANGenerator", "SynthesisBlock", "SynthesisLayer", "ToRGB",
]


class _TraceableStyleGAN(nn.Module):
    """(z, labels, ψ) → images with truncated w broadcast to every layer and the stored noise, for export."""

    def __init__(self, g: nn.Module):
        super().__init__()
        self.G = g

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None, psi: float | torch.Tensor) -> torch.Tensor:
        w = self.G.truncate(self.G.mapping(z, labels), psi)  # [N, w_dim]
        ws = w.unsqueeze(1).repeat(1, self.G.num_ws, 1)  # [N, num_ws, w_dim]
        return self.G.synthesis(ws, "const").clamp(-1, 1)  # [N, C, R, R]


@register_family("stylegan")
class StyleGAN(GANModel):
    """StyleGAN generator ``G`` (mapping + synthesis, ``G.w_avg``) and discriminator ``D``.

    The inference verbs clamp images to [-1, 1]; ``G(...)``/``G.synthesis`` return them unclamped
    for training. Verbs run without autograd unless the model trains or an input requires grad.
    """

    config_cls = StyleGANConfig
    display_name = "StyleGAN"
    edit_space = "w"
    trainable, train_label = True, "StyleGAN"
    quick_model = {"channel_base": 1024, "max_channels": 64}

    @classmethod
    def capabilities(cls, config: dict) -> Capabilities:
        return Capabilities(cls.display_name, generates=True, has_discriminator=True)
    fixed_size_discriminator = True

    def __init__(self, config: StyleGANConfig):
        super().__init__(config)
        self.G = StyleGANGenerator(config)
        self.D = StyleGANDiscriminator(config)

    @property
    def num_ws(self) -> int:
        """Number of style inputs of the synthesis network (2·log2(resolution) − 2)."""
        return self.config.num_ws

    @property
    def w_avg(self) -> torch.Tensor:
        return self.G.w_avg

    def style_blocks(self) -> list[tuple[int, list[int]]]:
        """Which style inputs (indices into ws) each resolution's convolutions read, coarse first:
        at 32 px ``[(4, [0]), (8, [1, 2]), (16, [3, 4]), (32, [5, 6, 7])]``.

        The last index (the final toRGB) goes with the last block. A block's own toRGB reads the
        next block's first style (StyleGAN2 shares it), so its colour contribution follows that index.
        """
        out, i = [], 0
        for res, block in zip(self.config.resolutions, self.G.blocks):
            out.append((res, list(range(i, i + block.num_conv))))
            i += block.num_conv
        out[-1][1].extend(range(i, self.num_ws))
        return out

    def update_w_avg(self, w: torch.Tensor) -> None:
        """EMA step of the tracked mean w (decay ``config.w_avg_beta``) toward the mean of ``w`` [N, w_dim]."""
        self.G.update_w_avg(w)

    # ----- latents → styles ------------------------------------------------------------
    def mapping(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0) -> torch.Tensor:
        """Latents z [N, latent_dim] (+ labels [N]) → w [N, w_dim], truncated toward ``w_avg`` by ψ."""
        z, labels = self._check_latents(z, labels)
        psi = check_truncation(truncation)
        with grad_mode_for(self, z):
            return self.G.truncate(self.G.mapping(z, labels), psi)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const", generator: torch.Generator | None = None) -> torch.Tensor:
        """Styles ws [N, num_ws, w_dim] → images [N, C, R, R] clamped to [-1, 1].

        ``noise_mode``: "const" (stored noise; deterministic), "random" (fresh noise from
        ``generator`` if given) or "none".
        """
        ws = self._check_ws(ws)
        if noise_mode not in NOISE_MODES:
            raise ExplorerError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        with grad_mode_for(self, ws):
            return self.G.synthesis(ws, noise_mode, generator).clamp(-1, 1)

    # ----- the verbs ---------------------------------------------------------------------
    truncation_formula = "w' = w_avg + ψ·(w − w_avg)"

    def traceable_generator(self) -> nn.Module:
        """Constant noise (the deterministic mode :meth:`generate` uses by default)."""
        return _TraceableStyleGAN(self.G)

    def sefa_weight(self) -> tuple[torch.Tensor, str]:
        """Effective style-affine weights of every modulated 3x3 conv, stacked: [Σ C_in, w_dim], in w.

        toRGB layers are left out, as in SeFa; the equalised-lr gain is part of the map.
        """
        affines = [layer.conv.affine for block in self.G.blocks for layer in (block.conv0, block.conv1) if layer is not None]
        return torch.cat([(a.weight * a.weight_gain).detach().reshape(a.weight.shape[0], -1) for a in affines]), "w"

    def pca_features(self, z: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, str]:
        """Untruncated w of the mapping network: [S, w_dim] (GANSpace's StyleGAN recipe)."""
        return self.mapping(z, labels), "w"

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0,
                 noise_mode: str = "const", generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents z [N, latent_dim] (+ labels [N]) → images [N, C, R, R] in [-1, 1].

        ``truncation`` ψ: w' = w_avg + ψ (w − w_avg); ψ = 0 gives the "average" image for every z.
        """
        return self.generate_from_w(self.mapping(z, labels, truncation), noise_mode=noise_mode, generator=generator)

    def generate_from_w(self, w: torch.Tensor, truncation: float = 1.0, noise_mode: str = "const",
                        generator: torch.Generator | None = None) -> torch.Tensor:
        """w [N, w_dim] (same style for every layer) or ws [N, num_ws, w_dim] → images in [-1, 1].

        ``truncation`` is applied to the given w (use 1.0 if it is already truncated).
        """
        w = torch.as_tensor(w)
        if w.ndim == 2:
            w = w.unsqueeze(1).expand(-1, self.num_ws, -1)  # [N, num_ws, w_dim]
        ws = self._check_ws(w)
        psi = check_truncation(truncation)
        if psi != 1.0:
            ws = self.G.truncate(ws, psi)
        return self.synthesis(ws, noise_mode, generator)

    def mix_styles(self, z1: torch.Tensor, z2: torch.Tensor, crossover_layer: int, truncation: float = 1.0,
                   labels: torch.Tensor | None = None, labels2: torch.Tensor | None = None,
                   noise_mode: str = "const") -> torch.Tensor:
        """Style mixing: layers < ``crossover_layer`` take z1's w, the rest z2's; → images in [-1, 1].

        ``crossover_layer`` in 0..num_ws (0 = all z2, num_ws = all z1). Low layers set coarse
        structure (pose, shape), high layers fine detail and colour. z1/z2 are [N, latent_dim]; a
        batch of 1 broadcasts against the other. ``labels2`` defaults to ``labels``.
        """
        if not 0 <= int(crossover_layer) <= self.num_ws:
            raise ExplorerError(f"crossover_layer must lie in 0..{self.num_ws}, got {crossover_layer}")
        w1 = self.mapping(z1, labels, truncation)  # [N1, w_dim]
        w2 = self.mapping(z2, labels if labels2 is None else labels2, truncation)  # [N2, w_dim]
        if w1.shape[0] != w2.shape[0] and 1 not in (w1.shape[0], w2.shape[0]):
            raise ExplorerError(f"z1 and z2 batches must match or one must be 1, got {w1.shape[0]} and {w2.shape[0]}")
        n = max(w1.shape[0], w2.shape[0])
        k = int(crossover_layer)
        ws = torch.cat([w1.unsqueeze(1).expand(n, k, -1), w2.unsqueeze(1).expand(n, self.num_ws - k, -1)], dim=1)
        return self.synthesis(ws, noise_mode)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, domain: str | None = None) -> DiscriminatorOutput:
        """Images x [N, C, R, R] in [-1, 1] (+ labels [N]) → ``DiscriminatorOutput(scores [N])`` (logits).

        Note the minibatch-std feature: a score depends slightly on the other images in its group of
        up to ``mbstd_group_size``; score one image at a time for batch-independent numbers.
        """
        x = self._check_images(x)
        r = self.config.resolution
        if x.shape[-2:] != (r, r):
            raise ExplorerError(f"this discriminator judges {r}x{r} images, got {x.shape[-2]}x{x.shape[-1]}")
        if self.num_classes:
            if labels is None:
                raise ExplorerError(f"this discriminator is class-conditional ({self.num_classes} classes): pass labels")
            _, labels = self._check_latents(torch.zeros(x.shape[0], self.latent_dim, device=x.device), labels)
        with grad_mode_for(self, x):
            return DiscriminatorOutput(scores=self.D(x, labels))

    def _check_ws(self, ws: torch.Tensor) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.config.w_dim):
            raise ExplorerError(f"styles must have shape [N, {self.num_ws}, {self.config.w_dim}], got {list(ws.shape)}")
        return ws.to(self.device, torch.float32)

