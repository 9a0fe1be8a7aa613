"""The 2-D GAN playground: a tiny GAN on points of the plane, trained live, for teaching.

In the spirit of GAN Lab (Kahng et al. 2019), inside this app: G and D are small MLPs, the data a
ring of Gaussians, two moons, a spiral or a set the user draws; training uses the image
trainer's losses (:mod:`explorer.losses`). Each frame shows real and generated points, D's output
over the plane, how G bends a grid of latent points and where G's loss pushes its points, and a
readout counts the ring's covered modes, so mode collapse is visible as a picture and a number.
No gradio here (the Train tab's ``explorer.ui.train_playground`` is a thin layer on top)::

    from explorer.playground import Playground, PRESETS, render_frame
    pg = Playground(PRESETS["ring-covers"][1])
    pg.train(100)                       # 100 G steps
    image = render_frame(pg.frame())    # [H, W, 3] uint8
    pg.readout()                        # {"step": 100, "modes_covered": ..., "coverage": ...}

Modules: ``data`` (distributions, drawn sets, CSV), ``engine`` (config, presets, training,
readout, the per-server store), ``render`` (the picture).
"""

from explorer.playground.data import (
    DISTRIBUTIONS,
    EXTENT,
    MAX_DRAWN_POINTS,
    check_points,
    parse_points_csv,
    sample_real,
)
from explorer.playground.engine import PRESETS, Frame, Playground, PlaygroundConfig, PlaygroundStore
from explorer.playground.render import blank_frame, frame_png, render_frame, to_plane

__all__ = [
    "DISTRIBUTIONS", "EXTENT", "MAX_DRAWN_POINTS", "PRESETS", "Frame", "Playground", "PlaygroundConfig", "PlaygroundStore",
    "blank_frame", "check_points", "frame_png", "parse_points_csv", "render_frame", "sample_real", "to_plane",
]
