"""Facts about a model the UI shows but the model does not carry directly: class names, the
data set it was trained on, and its model card as Markdown. No gradio here.

The data set's name comes from :func:`explorer.metadata.dataset_name` (every spelling old files use).
"""

from __future__ import annotations

import json
from typing import Any

from explorer.metadata import dataset_name  # noqa: F401  (re-exported for the tabs)
from explorer.ui.catalog import ModelEntry


def md_text(text: Any, limit: int = 300) -> str:
    """User- or file-supplied text made inert for Markdown (no HTML, no links, no emphasis)."""
    s = str(text)[:limit]
    for ch in "\\`*_{}[]()<>#|!":
        s = s.replace(ch, "\\" + ch)
    return s.replace("\n", " ")


def md_code(text: Any, limit: int = 300) -> str:
    """Text for inside a Markdown code span, which shows every character as is (a backslash
    escape would show up as a backslash): only backticks, which would end the span, and line
    breaks are replaced."""
    return str(text)[:limit].replace("`", "'").replace("\n", " ")


def class_names(model, entry: ModelEntry | None = None) -> list[str]:
    """Names of the generator's classes (``[]`` for an unconditional model)."""
    k = int(getattr(model, "num_classes", 0) or 0)
    if not k:
        return []
    meta = entry.meta if entry is not None else {"summary": getattr(model, "summary", {}), "card": getattr(model, "card", {})}
    for source in (meta.get("summary") or {}, meta.get("card") or {}):
        names = source.get("class_names")
        if isinstance(names, (list, tuple)) and len(names) == k:
            return [str(n) for n in names]
    name = dataset_name(meta)
    if name:
        try:
            from explorer.data import shipped_arrays
            from explorer.data.shipped import is_shipped

            if is_shipped(name):
                names = shipped_arrays(name)["class_names"]
                if len(names) == k:
                    return [str(n) for n in names]
        except Exception:  # noqa: BLE001 - a missing data file only costs us the pretty names
            pass
    return [str(i) for i in range(k)]


def class_choices(model, entry: ModelEntry | None = None) -> list[tuple[str, int]]:
    """``(label, index)`` pairs for a class dropdown."""
    return [(f"{i}: {n}" if n != str(i) else n, i) for i, n in enumerate(class_names(model, entry))]


def card_markdown(entry: ModelEntry) -> str:
    """A model card rendered as Markdown: what it is, what it was trained on, its limits."""
    card, summary, config = entry.card, entry.summary, entry.config
    lines = [f"### {md_text(entry.name)}", f"*{entry.kind_name} · {entry.source}* — `{md_code(entry.path.name)}`", ""]
    facts = []
    for key, label in (("resolution", "resolution"), ("channels", "channels"), ("latent_dim", "latent size"), ("num_classes", "classes")):
        if config.get(key):
            facts.append(f"{label} {config[key]}")
    if facts:
        lines.append("**Model:** " + ", ".join(facts))
    ds = dataset_name(entry.meta)
    if ds and card.get("data") in (None, "", [], {}):  # the card's own "data" line says it (once)
        lines.append(f"**Data:** {md_text(ds)}")
    for key, label in (("steps", "steps"), ("iterations", "steps"), ("wall_time_s", "training time (s)"), ("machine", "machine")):
        if key in summary and not isinstance(summary[key], (dict, list)):
            lines.append(f"**{label.capitalize()}:** {md_text(summary[key])}")
    losses = summary.get("final_losses") or summary.get("losses")
    if isinstance(losses, dict) and losses:
        lines.append("**Final losses:** " + ", ".join(f"{md_text(k)} {float(v):.3f}" for k, v in losses.items() if isinstance(v, (int, float))))
    if summary.get("imported_from"):
        lines.append(f"**Imported from:** {md_text(summary['imported_from'])}")
    for key in ("description", "intended_use", "data", "limits", "known_limits", "reproduce", "command", "notes"):
        value = card.get(key)
        if value in (None, "", [], {}):
            continue
        if isinstance(value, (list, tuple)):
            value = "; ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = json.dumps(value)[:300]
        lines.append(f"**{key.replace('_', ' ').capitalize()}:** {md_text(value, 600)}")
    metrics = summary.get("metrics") or card.get("metrics")
    if isinstance(metrics, dict) and metrics:
        lines.append("**Metrics:** " + ", ".join(f"{md_text(k)} {md_text(v, 40)}" for k, v in list(metrics.items())[:8]))
    return "\n\n".join(lines)
