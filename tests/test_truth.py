"""Issue 13 ("numbers and views that tell the truth"), the gradio-free parts: the training slot's
resume, the memorisation check's numbers, metric names and edge cases, human-evaluation results."""

from __future__ import annotations


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
    user_models = sorted(e.id for e in catalog.entries() if e.id.startswith("user:"))
    assert user_models == ["user:r"]  # no "r-2"
    assert catalog.resolve("user:r").summary["steps"] == 10


# ----- item 6: human-evaluation results next to metrics of the very images raters saw ----------
def test_stimulus_metrics_are_computed_on_the_session_images(tmp_path):
    import numpy as np
    import torch

    from explorer.humaneval import HumanEvalStore, SessionConfig
    from explorer.humaneval.metrics import stimulus_metrics
    from explorer.humaneval.stimuli import decode_png
    from explorer.metrics import evaluate
    from explorer.metrics.extractors import FeatureExtractor

    class Pool(FeatureExtractor):
        name, display_name, feature_dim = "test-pool", "test pool", 9

        def __init__(self):
            super().__init__()
            self.register_buffer("dummy", torch.zeros(1))

        def _forward(self, x):
            return torch.nn.functional.adaptive_avg_pool2d(x.mean(1, keepdim=True), 3).flatten(1), None

    def provider(kind, source, seeds):  # reals bright; model "near" almost as bright, "far" dark
        base = {"real": 200, "near": 190}.get(kind if kind == "real" else source.split("/")[-1], 40)
        return np.stack([np.clip(base + np.random.default_rng(int(s) % 2**32).integers(-30, 30, (6, 6, 1)), 0, 255)
                         .astype(np.uint8) for s in seeds])

    cfg = SessionConfig(task="real_vs_fake", models=("m/near", "m/far"), real_set="digits", num_trials=24,
                        num_checks=2, exposure="fixed", exposure_ms=500, seed=1)
    store = HumanEvalStore(tmp_path / "he.sqlite3")
    info = store.create_session(cfg, provider)
    stimuli = store.stimuli(info.code)
    ext = Pool()
    res = stimulus_metrics(cfg, stimuli, extractor=ext)
    assert set(res) == {"near", "far"}
    assert res["near"]["images"] == "6 fake vs 12 real" and res["near"]["extractor"] == "test pool"
    assert res["near"]["FD (test pool)"] < res["far"]["FD (test pool)"]
    # the same numbers as evaluate() on exactly those decoded images (checks left out)
    def stack(kind, source=None):
        return torch.from_numpy(np.stack([decode_png(s["png"]) for s in stimuli if s["kind"] == kind
                                          and (source is None or s["source"] == source)])).permute(0, 3, 1, 2)
    direct = evaluate(stack("fake", "far"), real=stack("real"), metrics=("fd", "kid", "1nn"), extractor=ext,
                      use_cache=False, num_real=12)
    assert res["far"]["FD (test pool)"] == direct["fd"] and res["far"]["1-NN accuracy"] == direct["one_nn_accuracy"]
    pair = SessionConfig(task="pairwise", models=("a", "b"), num_trials=4, num_checks=0, seed=1)
    assert stimulus_metrics(pair, [], extractor=ext) == {}


# ----- item 7: the README says what the code does ---------------------------------------------
def test_readme_extractor_claims_match_the_code():
    from pathlib import Path

    from explorer.metrics.evaluate import KNOWN_METRICS
    from explorer.metrics.extractors import available_extractors
    from explorer.metrics.cli import add_metrics_command
    from explorer.ui.tab_evaluate import EXTRACTOR_CHOICES, METRIC_CHOICES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(): line for line in readme.splitlines() if line.startswith("| `") and "extractor" not in line}
    # the tab offers every extractor and every metric the library has
    assert {v for _, v in EXTRACTOR_CHOICES} == {e for e in available_extractors() if not e.startswith("test-")}  # other tests register toys
    assert {v for _, v in METRIC_CHOICES} == set(KNOWN_METRICS)
    # torchvision Inception weights are marked not comparable in the code, and so in the README
    assert "torchvision weights: **no**" in rows["`inception-v3`"]
    # the trunk's batch-norm statistics are not ImageNet's: the README must not say it is unchanged
    assert "re-estimated" in rows["`imagenet-trunk` (CLI default)"] and "still the frozen" not in readme
    import argparse

    parser = argparse.ArgumentParser()
    add_metrics_command(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["metrics", "x"]).extractor == "imagenet-trunk"  # "(CLI default)" is true


# ----- item 10: cards and samples that fit -------------------------------------------------------
def test_card_shows_the_file_name_verbatim_and_data_once():
    from pathlib import Path

    from explorer.ui.catalog import ModelEntry
    from explorer.ui.modelinfo import card_markdown

    entry = ModelEntry.from_metadata(id="shipped:dcgan_digits", path=Path("/x/dcgan_digits.safetensors"), source="shipped",
                       meta={"kind": "dcgan", "card": {"name": "DCGAN digits", "data": "digits (MNIST), 60,000 images"},
                             "summary": {"dataset": "digits"}, "config": {"resolution": 32}})
    text = card_markdown(entry)
    assert "`dcgan_digits.safetensors`" in text and "\\_" not in text.split("`")[1]
    assert text.count("**Data:**") == 1 and "60,000 images" in text
    bare = ModelEntry.from_metadata(id="user:m", path=Path("/x/m.safetensors"), source="trained",
                      meta={"kind": "dcgan", "card": {}, "summary": {"dataset": "digits"}})
    assert card_markdown(bare).count("**Data:** digits") == 1


def test_stylize_samples_are_those_of_the_sections_data():
    from explorer.ui.tab_stylize import sample_images

    emoji = sample_images({"emoji-google", "emoji-twitter"})
    assert emoji and all("emoji-" in p for p in emoji)
    assert not any("digits" in p or "fashion" in p for p in emoji)
    assert all("digits_" in p for p in sample_images({"digits"}))


# ----- item 8: an honest ETA for training ------------------------------------------------------
def test_training_message_has_an_eta_from_the_recent_pace():
    from explorer.ui.jobs import eta_text, format_duration

    assert format_duration(5) == "5 s" and format_duration(245) == "4 min 05 s" and format_duration(4020) == "1 h 07 min"
    assert eta_text([], 100) == "" and eta_text([{"step": 1, "elapsed_s": 2.0}], 100) == ""
    # slow warm-up, then 2 s per step: the estimate follows the recent pace, not the average since the start
    steps = [{"step": 1, "elapsed_s": 30.0}] + [{"step": s, "elapsed_s": 30.0 + 2.0 * (s - 1)} for s in range(2, 101)]
    text = eta_text(steps, 150)
    assert "about 1 min 40 s left" in text and "2.00 s/step" in text  # 50 steps x 2 s
    # across a resume whose clock restarted lower, only the steps after it count
    resumed = steps + [{"step": 101, "elapsed_s": 10.0}, {"step": 102, "elapsed_s": 14.0}]
    assert "4.00 s/step" in eta_text(resumed, 150)


def test_stage_clock_estimates_the_time_left_in_the_current_stage():
    from explorer.ui.jobs import StageClock

    now = [100.0]
    clock = StageClock(now=lambda: now[0])
    assert clock("samples", 0, 1000) == "samples 0/1000"
    now[0] = 110.0  # 200 samples in 10 s -> 800 more in 40 s
    assert clock("samples", 200, 1000) == "samples 200/1000 · about 40 s left in this stage"
    now[0] = 150.0
    assert clock("real features", 0, 500) == "real features 0/500"  # a new stage: a new pace
    now[0] = 151.0
    assert clock("real features", 250, 500).endswith("about 1 s left in this stage")
    assert clock("real features", 500, 500) == "real features 500/500"
