"""Grow a trained SRResNet generator to more residual blocks without changing what it computes.

    python scripts/grow_srgan.py checkpoints/srgan_general.safetensors 16 runs/grow16/init.safetensors

The new blocks are appended after the trained ones with the scale and shift of their last
BatchNorm set to zero, so each new block adds ``0`` to its input and the grown network's output
equals the original's exactly (checked here before writing). The new blocks' convolutions start random (``--seed``; the
shipped model's run drew them unseeded), so the added blocks learn from the first step. Training then starts from the
trained model with spare capacity (``init_from`` in a config whose ``model.num_blocks`` is the new
count) — how the shipped ``srgan_general`` went from 12 to 16 blocks (configs/srgan_general_grow16.json).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import explorer  # noqa: E402
from explorer.models.srgan import SRGAN  # noqa: E402


def grow(model: SRGAN, num_blocks: int, seed: int = 0) -> SRGAN:
    """A copy of ``model`` with ``num_blocks`` residual blocks; the added ones start as the identity."""
    old = model.config.num_blocks
    if model.config.generator != "srresnet" or num_blocks <= old:
        raise SystemExit(f"can only add blocks to an SRResNet generator (it has {old}; asked for {num_blocks})")
    torch.manual_seed(seed)  # the new blocks' convolutions start random, as in a fresh model
    grown = SRGAN(replace(model.config, num_blocks=num_blocks))
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("G.blocks.") for k in missing), (missing, unexpected)
    with torch.no_grad():
        for block in grown.G.blocks[old:]:
            last_bn = block.body[4]  # conv, BN, PReLU, conv, BN: the residual branch ends here
            last_bn.weight.zero_()
            last_bn.bias.zero_()
    grown.card, grown.summary = model.card, model.summary
    return grown.eval()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a super-resolution model file (.safetensors)")
    ap.add_argument("num_blocks", type=int, help="residual blocks of the grown generator")
    ap.add_argument("out", help="where to write the grown model (.safetensors)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the new blocks' random convolution weights")
    args = ap.parse_args()
    model = explorer.load(args.model, device="cpu", kind="srgan").eval()
    grown = grow(model, args.num_blocks, args.seed)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1  # [2, 3, 16, 16]
    with torch.no_grad():
        same = torch.equal(model.G(x), grown.G(x))
    if not same:
        raise SystemExit("the grown network does not compute what the original did; nothing written")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    explorer.save(grown, args.out)
    print(f"{args.out}: {model.config.num_blocks} -> {args.num_blocks} blocks, same output")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
