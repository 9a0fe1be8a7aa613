"""Statistics and reports of the augmentation experiment (:mod:`explorer.experiments.augment`): Student-t
intervals, the per-arm summary and the paired differences, the Markdown table, the chart (PNG drawn
with PIL, with provenance) and the results files.

Everything here reads the plain results dict that :func:`~explorer.experiments.augment.run_augment`
returns, so a saved results JSON can be reported again without rerunning anything.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from explorer import __version__
from explorer.atomic import atomic_path
from explorer.errors import ExplorerError

#: the arms of the experiment, in the order reports list them
ARMS = ("real", "real+synthetic", "synthetic")


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t confidence interval of the mean (low = high = mean for one value)."""
    # here, not at the top: scipy.stats takes about a second to import, and this module is loaded by
    # explorer.export.cli, i.e. with every `gan-explorer` subcommand that is not built in
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ExplorerError("no values")
    mean = float(v.mean())
    if v.size < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (arm, real, synthetic_per_class): accuracies over seeds, mean and 95 % t interval."""
    groups: dict[tuple, list[float]] = {}
    for r in runs:
        groups.setdefault((r["arm"], r["real"], r["synthetic_per_class"]), []).append(r["accuracy"])
    out = []
    for (arm, real, syn), accs in sorted(groups.items(), key=lambda kv: (ARMS.index(kv[0][0]), kv[0][1], kv[0][2])):
        mean, lo, hi = t_interval(accs)
        lo, hi = max(lo, 0.0), min(hi, 1.0)  # an accuracy interval past 0 or 100 % says nothing more
        out.append({"arm": arm, "real": real, "synthetic_per_class": syn, "n": len(accs), "accuracies": accs,
                    "mean": mean, "ci95": [lo, hi]})
    return out


def paired_differences(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (real, N): per-seed accuracy(real + synthetic) − accuracy(real only), mean and 95 % t interval."""
    base = {(r["seed"], r["real"]): r["accuracy"] for r in runs if r["arm"] == "real"}
    groups: dict[tuple, list[float]] = {}
    for r in runs:
        if r["arm"] == "real+synthetic" and (r["seed"], r["real"]) in base:
            groups.setdefault((r["real"], r["synthetic_per_class"]), []).append(r["accuracy"] - base[(r["seed"], r["real"])])
    out = []
    for (real, syn), diffs in sorted(groups.items()):
        mean, lo, hi = t_interval(diffs)
        out.append({"real": real, "synthetic_per_class": syn, "n": len(diffs), "differences": diffs, "mean": mean, "ci95": [lo, hi]})
    return out


def _pct(mean: float, ci: Sequence[float], signed: bool = False) -> str:
    fmt = "{:+.1f}" if signed else "{:.1f}"
    return f"{fmt.format(100 * mean)} [{fmt.format(100 * ci[0])}, {fmt.format(100 * ci[1])}]"


def markdown_table(results: dict[str, Any]) -> str:
    """The results as a Markdown table (accuracy in %, 95 % t intervals in brackets)."""
    summary = {(s["arm"], s["real"], s["synthetic_per_class"]): s for s in results["summary"]}
    paired = {(p["real"], p["synthetic_per_class"]): p for p in results["paired"]}
    n_seeds = len(results["settings"]["seeds"])
    lines = [
        "| real labelled | synthetic / class | accuracy, real only (%) | accuracy, real + synthetic (%) | paired difference (points) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for (real, syn), p in sorted(paired.items()):
        base = summary[("real", real, 0)]
        aug = summary[("real+synthetic", real, syn)]
        lines.append(f"| {real} | {syn} | {_pct(base['mean'], base['ci95'])} | {_pct(aug['mean'], aug['ci95'])} | "
                     f"{_pct(p['mean'], p['ci95'], signed=True)} |")
    for (arm, real, syn), s in sorted(summary.items()):
        if arm == "synthetic":
            lines.append(f"| 0 (synthetic only) | {syn} | – | {_pct(s['mean'], s['ci95'])} | – |")
    s = results["settings"]
    lines.append("")
    lines.append(
        f"Mean over {n_seeds} seeds, 95 % Student-t interval in brackets; evaluated on {results['eval']['num_images']} held-out "
        f"real images. Classifier width {s['width']}, {s['steps']} steps of batch {s['batch_size']} per run; generator "
        f"{results['generator']['model']} ({results['generator']['model_hash']}), truncation {s['truncation']:g}"
        + (f", confidence filter {s['min_confidence']:g}" if s.get("min_confidence") is not None else "") + "."
    )
    return "\n".join(lines)


def plot(results: dict[str, Any], path: str | os.PathLike, size: tuple[int, int] = (760, 460)) -> Path:
    """Accuracy vs real labelled images, with 95 % interval bars, as a PNG (drawn with PIL)."""
    summary = results["summary"]
    series, flat = _plot_series(summary)
    frame = _Frame.fit(summary, size)
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=14)
    small = ImageFont.load_default(size=12)
    _draw_axes(d, frame, font, small)
    legend_y = _draw_series(d, frame, series, small)
    legend_y = _draw_synthetic_only(d, frame, flat, small, legend_y)
    n_seeds = len(results["settings"]["seeds"])
    d.text((frame.right + 15, legend_y + 10), f"{n_seeds} seeds per point", fill=(90, 90, 90), font=small)
    d.text((frame.right + 15, legend_y + 26), f"generator {results['generator']['model']}", fill=(90, 90, 90), font=small)
    return _save_chart(img, results, path)


def _plot_series(summary: list[dict[str, Any]]) -> tuple[list[tuple[str, tuple[int, int, int], list[dict]]], list[dict]]:
    """The chart's lines, (label, colour, rows): real only, then real + N synthetic per N; and the
    synthetic-only rows (drawn as dashed horizontal lines)."""
    series: list[tuple[str, tuple[int, int, int], list[dict]]] = [
        ("real only", (60, 60, 60), [s for s in summary if s["arm"] == "real"])]
    palette = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
    for i, syn in enumerate(sorted({s["synthetic_per_class"] for s in summary if s["arm"] == "real+synthetic"})):
        series.append((f"real + {syn}/class synthetic", palette[i % len(palette)],
                       [s for s in summary if s["arm"] == "real+synthetic" and s["synthetic_per_class"] == syn]))
    flat = [s for s in summary if s["arm"] == "synthetic"]
    return series, flat


@dataclass(frozen=True)
class _Frame:
    """The plot area in pixels, the accuracy range it shows and the budgets along x."""

    left: int
    right: int
    top: int
    bottom: int
    lo: float
    hi: float
    reals: list[int]

    @classmethod
    def fit(cls, summary: list[dict[str, Any]], size: tuple[int, int]) -> "_Frame":
        reals = sorted({s["real"] for s in summary if s["arm"] != "synthetic"})
        values = [v for s in summary for v in (s["ci95"][0], s["ci95"][1])]
        lo = max(0.0, math.floor(min(values) * 20) / 20 - 0.025)
        hi = min(1.0, math.ceil(max(values) * 20) / 20 + 0.005)
        w, h = size
        return cls(left=70, right=w - 230, top=40, bottom=h - 60, lo=lo, hi=hi, reals=reals)

    def y_of(self, acc: float) -> float:  # clipped to the frame: t intervals of tiny runs can leave [0, 1]
        return min(self.bottom, max(self.top, self.bottom - (acc - self.lo) / (self.hi - self.lo) * (self.bottom - self.top)))

    def x_of(self, i: int) -> float:
        return self.left + (i + 0.5) * (self.right - self.left) / len(self.reals)


def _draw_axes(d: ImageDraw.ImageDraw, f: _Frame, font, small) -> None:
    """Title, frame, horizontal grid with accuracy labels, budgets along x, axis titles."""
    left, right, top, bottom = f.left, f.right, f.top, f.bottom
    d.text((left, 10), "Classifier accuracy on held-out real digits (mean, 95 % CI)", fill="black", font=font)
    d.rectangle([left, top, right, bottom], outline="black")
    step = 0.05 if f.hi - f.lo > 0.2 else 0.02 if f.hi - f.lo > 0.08 else 0.01
    tick = math.ceil(f.lo / step) * step
    while tick <= f.hi + 1e-9:
        y = f.y_of(tick)
        d.line([left, y, right, y], fill=(225, 225, 225))
        d.text((left - 8, y), f"{100 * tick:.0f}" if step >= 0.01 else f"{100 * tick:.1f}", fill="black", font=small, anchor="rm")
        tick += step
    d.text((18, (top + bottom) / 2), "%", fill="black", font=font, anchor="mm")
    for i, real in enumerate(f.reals):
        d.text((f.x_of(i), bottom + 8), str(real), fill="black", font=small, anchor="ma")
    d.text(((left + right) / 2, bottom + 30), "real labelled training images", fill="black", font=font, anchor="ma")


def _draw_series(d: ImageDraw.ImageDraw, f: _Frame, series: list, small) -> float:
    """Each line with its interval bars and legend entry (side by side at a budget); returns the legend's next y."""
    offsets = np.linspace(-12, 12, len(series)) if len(series) > 1 else [0.0]
    legend_y = f.top
    for (label, colour, rows), dx in zip(series, offsets):
        pts = []
        for s in sorted(rows, key=lambda r: r["real"]):
            x = f.x_of(f.reals.index(s["real"])) + dx
            d.line([x, f.y_of(s["ci95"][0]), x, f.y_of(s["ci95"][1])], fill=colour, width=2)
            for yy in (f.y_of(s["ci95"][0]), f.y_of(s["ci95"][1])):
                d.line([x - 4, yy, x + 4, yy], fill=colour, width=2)
            pts.append((x, f.y_of(s["mean"])))
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        for x, y in pts:
            d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colour)
        d.line([f.right + 15, legend_y + 8, f.right + 40, legend_y + 8], fill=colour, width=3)
        d.text((f.right + 46, legend_y), label, fill="black", font=small)
        legend_y += 22
    return legend_y


def _draw_synthetic_only(d: ImageDraw.ImageDraw, f: _Frame, flat: list[dict], small, legend_y: float) -> float:
    """Synthetic-only accuracies as dashed lines across the chart, with legend entries; returns the legend's next y."""
    dashed = [(255, 127, 14), (140, 86, 75), (227, 119, 194), (188, 189, 34)]
    for i, s in enumerate(flat):
        y, colour = f.y_of(s["mean"]), dashed[i % len(dashed)]
        for x0 in range(f.left, f.right, 12):
            d.line([x0, y, min(x0 + 6, f.right), y], fill=colour, width=2)
        d.line([f.right + 15, legend_y + 8, f.right + 40, legend_y + 8], fill=colour, width=3)
        d.text((f.right + 46, legend_y), f"{s['synthetic_per_class']}/class synthetic only", fill="black", font=small)
        d.text((f.right + 46, legend_y + 14), _pct(s["mean"], s["ci95"]), fill="black", font=small)
        legend_y += 36
    return legend_y


def _save_chart(img: Image.Image, results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the chart as a PNG with provenance text chunks (atomically); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Description", "Chart of the GAN Explorer augmentation experiment (measured accuracies, not a generated image).")
    info.add_itxt("Software", f"GAN Explorer {__version__}")
    info.add_itxt("gan-explorer", json.dumps({"experiment": "augment", "generator": results["generator"],
                                              "settings": results["settings"]}, sort_keys=True, default=str))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG", pnginfo=info)
    return path


def write_results(results: dict[str, Any], json_path: str | os.PathLike | None = None,
                  plot_path: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write the results JSON (with the Markdown table inside) and/or the plot; returns what was written."""
    written: dict[str, Path] = {}
    if json_path is not None:
        p = Path(json_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({**results, "table_markdown": markdown_table(results)}, indent=1) + "\n", encoding="utf-8")
        written["json"] = p
    if plot_path is not None:
        written["plot"] = plot(results, plot_path)
    return written
