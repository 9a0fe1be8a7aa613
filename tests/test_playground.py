"""The 2-D playground's engine (explorer.playground): distributions, drawn sets, training with the
shared losses, determinism, the mode-coverage readout on the two presets, frames and pictures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.errors import TrainingError
from explorer.losses import GAN_LOSSES
from explorer.playground import (
    EXTENT, MAX_DRAWN_POINTS, PRESETS, Playground, PlaygroundConfig, PlaygroundStore, blank_frame, check_points,
    parse_points_csv, render_frame, sample_real, to_plane,
)
from explorer.playground.data import MAX_CSV_BYTES, RING_STD, ring_centres
from explorer.playground.engine import GRID_LINES, GRID_POINTS, MAP_RES, NUM_ARROWS, NUM_SHOWN
from explorer.playground.render import LEGEND, SIZE, to_pixels

SMALL = dict(hidden=16, batch_size=32)  # fast configs for the tests that do not need a good GAN


@pytest.mark.parametrize("name", ["ring", "moons", "spiral"])
def test_distributions_are_seeded_and_inside_the_plane(name):
    a = sample_real(name, 2000, torch.Generator().manual_seed(3))
    b = sample_real(name, 2000, torch.Generator().manual_seed(3))
    assert a.shape == (2000, 2) and torch.equal(a, b)
    assert a.abs().max() < EXTENT
    assert not torch.equal(a, sample_real(name, 2000, torch.Generator().manual_seed(4)))


def test_ring_samples_sit_on_eight_modes():
    x = sample_real("ring", 4000, torch.Generator().manual_seed(0))
    nearest, mode = torch.cdist(x, ring_centres()).min(dim=1)
    assert (nearest < 4 * RING_STD).float().mean() > 0.99
    counts = torch.bincount(mode, minlength=8)
    assert counts.min() > 400  # each of the 8 modes gets about 1/8


def test_drawn_set_is_a_mixture_around_the_points():
    points = torch.tensor([[0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]])
    x = sample_real("drawn", 3000, torch.Generator().manual_seed(0), points)
    assert torch.cdist(x, points).min(dim=1).values.max() < 0.25
    with pytest.raises(TrainingError, match="at least 3 points"):
        sample_real("drawn", 10, torch.Generator(), points[:2])


def test_csv_points_are_parsed_and_rescaled():
    pts = parse_points_csv(b"x,y\n10,20\n30;40\n# a comment\n\n50\t60\n")
    assert pts.shape == (3, 2) and pts.dtype == np.float32
    assert np.allclose(pts, [[-1, -1], [0, 0], [1, 1]])  # centred, farthest coordinate at 1


@pytest.mark.parametrize("data, message", [
    (b"1,2\n3,4\nfoo,bar\n", "line 3"),
    (b"1,2,3\n4,5,6\n7,8,9\n", "expected two numbers"),
    (b"1,2\n3,nan\n5,6\n", "NaN or infinite"),
    (b"1,2\n3,4\n", "at least 3"),
    (b"x,y\n", "no points"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (("0,0\n" * (MAX_DRAWN_POINTS + 1)).encode(), "at most"),
    (b"1" * (MAX_CSV_BYTES + 1), "KB"),
])
def test_bad_csv_gets_a_clear_error(data, message):
    with pytest.raises(TrainingError, match=message):
        parse_points_csv(data)


def test_drawn_points_are_bounded_and_checked():
    with pytest.raises(TrainingError, match="inside the plane"):
        check_points([[0, 0], [0.5, 0.5], [EXTENT + 0.1, 0]])
    with pytest.raises(TrainingError, match="at most"):
        check_points(np.zeros((MAX_DRAWN_POINTS + 1, 2)))
    with pytest.raises(TrainingError, match=r"shape \[3, 3\]"):
        check_points(np.zeros((3, 3)))
    with pytest.raises(TrainingError, match="Drawn|draw at least"):
        Playground(PlaygroundConfig(distribution="drawn"))  # no points at all


@pytest.mark.parametrize("changes, message", [
    ({"distribution": "swirl"}, "unknown distribution"),
    ({"loss": "nope"}, "unknown GAN loss"),
    ({"lr_g": 0.0}, "lr_g"),
    ({"lr_d": 5.0}, "lr_d"),
    ({"d_steps": 0}, "d_steps"),
    ({"batch_size": 10**6}, "batch_size"),
    ({"hidden": 2.5}, "hidden"),
])
def test_bad_settings_are_refused(changes, message):
    with pytest.raises(TrainingError, match=message):
        Playground(PlaygroundConfig().replace(**changes))


@pytest.mark.parametrize("loss", sorted(GAN_LOSSES))
def test_every_image_trainer_loss_trains_and_changes_both_nets(loss):
    pg = Playground(PlaygroundConfig(loss=loss, **SMALL))
    g0 = [p.detach().clone() for p in pg.G.parameters()]
    d0 = [p.detach().clone() for p in pg.D.parameters()]
    losses = pg.train(3)
    assert pg.step == 3 and set(losses) == {"d", "g"} and all(np.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(g0, pg.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, pg.D.parameters()))
    if loss == "wgan-clip":
        assert max(p.abs().max().item() for p in pg.D.parameters()) <= 0.01 + 1e-7


def test_same_seed_same_run_other_seed_other_run():
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    runs = [Playground(PlaygroundConfig(seed=s, **SMALL)) for s in (7, 7, 8)]
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is left alone
    for pg in runs:
        pg.train(20)
    frames = [pg.frame() for pg in runs]
    assert np.array_equal(frames[0].fake, frames[1].fake) and np.array_equal(frames[0].realness, frames[1].realness)
    assert runs[0].readout() == runs[1].readout()
    assert not np.array_equal(frames[0].fake, frames[2].fake)


def test_frame_shapes_and_meaning():
    pg = Playground(PlaygroundConfig(**SMALL))
    pg.train(5)
    f = pg.frame()
    assert f.real.shape == f.fake.shape == (NUM_SHOWN, 2)
    assert f.realness.shape == (MAP_RES, MAP_RES) and 0 <= f.realness.min() and f.realness.max() <= 1
    assert f.grid.shape == (2 * GRID_LINES, GRID_POINTS, 2) and f.arrows.shape == (NUM_ARROWS, 2)
    assert f.step == 5
    with torch.no_grad():  # the grid is G's image of the latent grid: its first point is G(-1, -1)
        assert np.allclose(f.grid[0, 0], pg.G(torch.tensor([[-1.0, -1.0]]))[0].numpy(), atol=1e-6)
        # row 0 of the map is the top of the plane: D at (-EXTENT, +EXTENT), through the sigmoid
        assert np.isclose(f.realness[0, 0], torch.sigmoid(pg.D(torch.tensor([[-EXTENT, EXTENT]]))).item(), atol=1e-5)
    # an arrow points downhill on G's loss: a small move along it lowers the loss at that point
    x = torch.from_numpy(f.fake[:1])
    step = torch.from_numpy(f.arrows[:1]) * 1e-3 / np.linalg.norm(f.arrows[0])
    with torch.no_grad():
        assert pg.loss.g_loss(pg.D(x + step).squeeze(1)) < pg.loss.g_loss(pg.D(x).squeeze(1))


def test_render_draws_points_where_they_are():
    pg = Playground(PlaygroundConfig(**SMALL))
    image = render_frame(pg.frame())
    assert image.shape == (SIZE + LEGEND, SIZE, 3) and image.dtype == np.uint8
    # the first real point is drawn in the real-point green at its pixel (or a generated point covers it)
    x, y = np.round(to_pixels(pg.real_shown[0].numpy())).astype(int)
    assert tuple(image[y, x]) in {(22, 128, 60), (118, 42, 160)}
    # a click on a pixel comes back as the plane point drawn there
    assert np.allclose(to_pixels(np.array(to_plane(120.0, 360.0))), [120, 360])
    with pytest.raises(TrainingError, match="inside the plane"):
        to_plane(100, SIZE + 10)
    blank = render_frame(blank_frame([[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5]]))
    assert tuple(blank[SIZE // 2, SIZE // 2]) == (22, 128, 60)


def test_presets_one_covers_the_ring_one_collapses():
    """The two ring presets, 1,500 steps each (about 3 s apiece on one thread)."""
    covers, collapses = Playground(PRESETS["ring-covers"][1]), Playground(PRESETS["ring-collapses"][1])
    covers.train(1500)
    collapses.train(1500)
    good, bad = covers.readout(), collapses.readout()
    assert good["num_modes"] == 8 and good["modes_covered"] >= 6, good
    assert bad["modes_covered"] <= 2, bad
    assert good["coverage"] > 3 * bad["coverage"]
    with torch.no_grad():  # collapse is visible as geometry too: the generated points bunch up
        spread = {name: (f - f.mean(0)).norm(dim=1).mean().item() for name, f in
                  (("good", covers.G(covers.z_shown)), ("bad", collapses.G(collapses.z_shown)))}
    assert spread["bad"] < 0.5 < spread["good"]  # the real ring: about 1.0


def test_store_is_bounded_and_drops():
    store = PlaygroundStore(capacity=2)
    pgs = [Playground(PlaygroundConfig(**SMALL, seed=i)) for i in range(3)]
    keys = [store.add(pg) for pg in pgs]
    assert len(store) == 2 and store.get(keys[0]) is None and store.get(keys[2]) is pgs[2]
    store.drop(keys[2])
    assert store.get(keys[2]) is None and store.get(None) is None and len(set(keys)) == 3
