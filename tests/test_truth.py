"""Issue 13 ("numbers and views that tell the truth"), the gradio-free parts: the training slot's
resume, the memorisation check's numbers, metric names and edge cases, human-evaluation results."""

from __future__ import annotations

import pytest

from ui_support import make_tiny_models


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shipped")
    make_tiny_models(folder)
    return folder


# ----- item 3: resume is one run, one model, whole history --------------------------------------
def test_resume_updates_the_same_model_and_keeps_the_whole_history(tmp_path, shipped):
    from explorer.train import TrainConfig
    from explorer.ui.catalog import Catalog
    from explorer.ui.jobs import TrainingJobs

    catalog = Catalog([shipped], tmp_path / "models")
    jobs = TrainingJobs(catalog, tmp_path / "runs")
    cfg = TrainConfig(name="r", out=str(jobs.runs_dir), family="dcgan", data="digits", batch_size=8, iterations=6,
                      model={"ngf": 8, "ndf": 8, "latent_dim": 16}, classifier=None, num_samples=8, log_every=1,
                      sample_every=3, checkpoint_every=3, num_threads=1)
    jobs.start(cfg)
    assert jobs.wait(300) and jobs.view().state == "done", jobs.view().message
    assert jobs.view().model_id == "user:r"

    resumed = TrainConfig.from_file(jobs.runs_dir / "r" / "config.json").replace(out=str(jobs.runs_dir), iterations=10)
    jobs.start(resumed, resume=True)
    assert jobs.wait(300)
    view = jobs.view()
    assert view.state == "done", view.message
    assert [s["step"] for s in view.steps] == list(range(1, 11))  # the chart starts at step 1, not at the resume step
    assert [s["step"] for s in view.samples][:2] == [3, 6] and view.samples[-1]["step"] == 10
    assert view.model_id == "user:r" and "updated" in view.message
    user_models = sorted(e.id for e in catalog.entries() if e.source == "user")
    assert user_models == ["user:r"]  # no "r-2"
    assert catalog.resolve("user:r").summary["steps"] == 10
