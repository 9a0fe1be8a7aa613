"""Reading what a checkpoint's metadata says about its training — one reader per fact (issue 11).

Training summaries and model cards written by different code paths over the project's life name
the same facts differently; the readers here accept every spelling so the rest of the code asks
once. (Typed ``ModelCard`` / ``TrainingSummary`` classes are the next step; these readers are what
they will replace.)
"""

from __future__ import annotations

from typing import Any


def dataset_name(meta: dict[str, Any], domain: str | None = None) -> str | None:
    """The data set a model was trained on (a shipped name or a path), if its metadata says.

    ``meta``: a checkpoint's metadata (``{"summary": …, "card": …}``). Accepted spellings, summary
    first, then card: ``dataset`` / ``data`` / ``data_set`` as a name, or a dict with
    ``name``/``source``/``path``; then ``summary["preprocessing"]["source"]``. ``domain`` ("A"/"B")
    picks one side of a two-domain (CycleGAN) model (``dataset_a`` / ``dataset_b``, or a pair).
    """
    summary = dict(meta.get("summary") or {})
    card = dict(meta.get("card") or {})
    keys = [f"dataset_{domain.lower()}", f"dataset_{domain}"] if domain else []
    keys += ["dataset", "data", "data_set"]
    for source in (summary, card):
        for key in keys:
            value = source.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict):
                for sub in ("name", "source", "path"):
                    if isinstance(value.get(sub), str) and value.get(sub):
                        return value[sub]
            if domain and isinstance(value, (list, tuple)) and len(value) == 2:
                return str(value[0 if domain == "A" else 1])
    prep = summary.get("preprocessing")
    if isinstance(prep, dict) and isinstance(prep.get("source"), str) and not domain:
        return prep["source"]
    return None


def model_dataset_name(model) -> str | None:
    """:func:`dataset_name` of a loaded model (its ``summary`` and ``card``)."""
    return dataset_name({"summary": getattr(model, "summary", None), "card": getattr(model, "card", None)})
