"""Facts about a model the UI shows but the model does not carry directly: class names, the
data set it was trained on, and its model card as Markdown. No gradio here.

The data set's name comes from :func:`explorer.metadata.dataset_name` (every spelling old files use).
"""

from __future__ import annotations

import json
from typing import Any

from explorer.metadata import class_names as _class_names
from explorer.metadata import dataset_name  # noqa: F401  (re-exported for the tabs)
from explorer.zoo import ModelEntry


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


def class_choices(model, entry: ModelEntry | None = None) -> list[tuple[str, int]]:
    """``(label, index)`` pairs for a class dropdown."""
    return [(f"{i}: {n}" if n != str(i) else n, i) for i, n in enumerate(class_names(model, entry))]


def class_names(model, entry: ModelEntry | None = None) -> list[str]:
    """:func:`explorer.metadata.class_names`, read from the catalog entry's metadata when given."""
    return _class_names(model, entry.meta if entry is not None else None)


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
    if ds and card.data in (None, "", [], {}):  # the card's own "data" line says it (once)
        lines.append(f"**Data:** {md_text(ds)}")
    for value, label in ((summary.steps, "steps"), (summary.wall_time_s, "training time (s)"), (summary.machine, "machine")):
        if value is not None and not isinstance(value, (dict, list)):
            lines.append(f"**{label.capitalize()}:** {md_text(value)}")
    losses = summary.final_losses
    if isinstance(losses, dict) and losses:
        lines.append("**Final losses:** " + ", ".join(f"{md_text(k)} {float(v):.3f}" for k, v in losses.items() if isinstance(v, (int, float))))
    if summary.imported_from:
        lines.append(f"**Imported from:** {md_text(summary.imported_from)}")
    for value, label in ((card.description, "description"), (card.intended_use, "intended use"), (card.data, "data"),
                         (card.limits, "limits"), (card.reproduce, "reproduce"), (card.notes, "notes")):
        if value in (None, "", [], {}):
            continue
        if isinstance(value, (list, tuple)):
            value = "; ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = json.dumps(value)[:300]
        lines.append(f"**{label.capitalize()}:** {md_text(value, 600)}")
    metrics = summary.metrics if isinstance(summary.metrics, dict) and summary.metrics else card.metrics
    if isinstance(metrics, dict) and metrics:
        lines.append("**Metrics:** " + ", ".join(f"{md_text(k)} {md_text(v, 40)}" for k, v in list(metrics.items())[:8]))
    return "\n\n".join(lines)
