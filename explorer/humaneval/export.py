"""Exports of human-evaluation sessions (CSV, JSON, stimuli as PNG) and the results table that
puts human scores next to the automatic metrics of the same models.

Exports never contain the organiser's or the raters' secret tokens.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence

from explorer.humaneval.config import HumanEvalError, SessionConfig
from explorer.humaneval.stats import summarize

EXPORT_FORMAT = "gan-explorer-humaneval"
EXPORT_VERSION = 1
ANSWER_FIELDS = (
    "session", "task", "rater_id", "rater_name", "position", "item", "is_check", "truth", "model_a", "model_b",
    "track", "seed", "swap", "response", "choice", "correct", "exposure_ms", "served_at", "answered_at", "rt_ms",
    "client_rt_ms",
)
_INT_FIELDS = {"rater_id", "position", "item", "is_check", "track", "seed", "swap", "correct", "exposure_ms"}
_FLOAT_FIELDS = {"served_at", "answered_at", "rt_ms", "client_rt_ms"}
_NULLABLE_STR = {"model_a", "model_b"}


def write_answers_csv(answers: Sequence[Mapping], path: str | os.PathLike) -> str:
    """One row per answer, columns :data:`ANSWER_FIELDS`; empty cell = no value."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=ANSWER_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for a in answers:
            writer.writerow({k: "" if a.get(k) is None else (repr(a[k]) if isinstance(a[k], float) else a[k])
                             for k in ANSWER_FIELDS})
    return os.fspath(path)


def read_answers_csv(path: str | os.PathLike) -> list[dict]:
    """Answer records back from :func:`write_answers_csv`, with their original types."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rec: dict = {}
            for k in ANSWER_FIELDS:
                v = row.get(k, "")
                if k in _INT_FIELDS:
                    rec[k] = int(v) if v != "" else None
                elif k in _FLOAT_FIELDS:
                    rec[k] = float(v) if v != "" else None
                elif k in _NULLABLE_STR:
                    rec[k] = v or None
                else:
                    rec[k] = v
            out.append(rec)
    return out


def summary_rows(summary: Mapping) -> list[dict]:
    """Flat per-model rows of a summary: ``<stat>``, ``<stat>_ci_low``, ``<stat>_ci_high``, ``<stat>_n``."""
    rows = []
    for name in summary["models"]:
        row: dict = {"model": name}
        for stat, entry in summary["scores"][name].items():
            row[stat] = entry["value"]
            row[f"{stat}_ci_low"], row[f"{stat}_ci_high"] = entry["ci"]
            if "n" in entry:
                row[f"{stat}_n"] = entry["n"]
        rows.append(row)
    return rows


def _write_rows_csv(rows: Sequence[Mapping], path: str | os.PathLike) -> str:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if r.get(k) is None else
                             (json.dumps(r[k]) if isinstance(r[k], (dict, list)) else r[k]) for k in fields})
    return os.fspath(path)


def session_record(store, code: str, summary_kwargs: Mapping | None = None) -> dict:
    """Everything about a session as one JSON-serialisable dict (config, items, raters, answers,
    summary); the summary can be recomputed from ``config`` and ``answers`` alone."""
    info = store.session(code)
    answers = store.answers(code)
    kwargs = dict(summary_kwargs or {})
    return dict(
        format=EXPORT_FORMAT, version=EXPORT_VERSION,
        session=dict(code=info.code, config=info.config.to_json(), seed=info.seed, status=info.status,
                     created_at=info.created_at, num_items=info.num_items),
        raters=store.raters(code), items=store.items(code), answers=answers,
        summary=summarize(info.config, answers, num_items=info.num_items, **kwargs),
        summary_options=kwargs,
    )


def export_session(store, code: str, directory: str | os.PathLike, include_stimuli: bool = False,
                   **summary_kwargs) -> dict[str, str]:
    """Write ``answers.csv``, ``raters.csv``, ``summary.csv`` and ``session.json`` (all of it)
    into ``directory`` (and the stimuli as PNG with an index CSV if asked). Returns the paths."""
    os.makedirs(directory, exist_ok=True)
    record = session_record(store, code, summary_kwargs)
    paths = dict(
        answers=write_answers_csv(record["answers"], os.path.join(directory, "answers.csv")),
        raters=_write_rows_csv(record["summary"]["raters"], os.path.join(directory, "raters.csv")),
        summary=_write_rows_csv(summary_rows(record["summary"]), os.path.join(directory, "summary.csv")),
    )
    paths["json"] = os.path.join(directory, "session.json")
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, allow_nan=False)
    if include_stimuli:
        stim_dir = os.path.join(directory, "stimuli")
        os.makedirs(stim_dir, exist_ok=True)
        index = []
        for s in store.stimuli(code):
            fname = f"{s['id']}.png"
            with open(os.path.join(stim_dir, fname), "wb") as f:
                f.write(s["png"])
            index.append(dict(stimulus_id=s["id"], kind=s["kind"], source=s["source"], seed=s["seed"], file=fname))
        paths["stimuli"] = _write_rows_csv(index, os.path.join(stim_dir, "index.csv"))
    return paths


def read_session_json(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if data.get("format") != EXPORT_FORMAT:
        raise HumanEvalError(f"{path} is not a GAN Explorer human-evaluation export")
    return data


def resummarize(record: Mapping, **summary_kwargs) -> dict:
    """Recompute the summary of an exported session record (e.g. with other options)."""
    config = SessionConfig.from_json(record["session"]["config"])
    kwargs = {**record.get("summary_options", {}), **summary_kwargs}
    return summarize(config, record["answers"], num_items=record["session"]["num_items"], **kwargs)


# -- results table -----------------------------------------------------------------------------
def results_table(summary: Mapping, metrics: Mapping[str, Mapping] | None = None) -> list[dict]:
    """Per-model rows: the human scores (value and CI bounds) followed by the caller's automatic
    metrics of the same models (``metrics[model_name] = {"fid": ..., "kid": ..., ...}``; nested
    dicts are flattened as ``key.subkey``). Models without metrics get human scores only."""
    rows = summary_rows(summary)
    for row in rows:
        for key, value in _flatten((metrics or {}).get(row["model"], {})).items():
            row[key if key not in row else f"metric.{key}"] = value
    return rows


def _flatten(d: Mapping, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _inert(text) -> str:
    """Model names, titles and labels come from users: no HTML, links or emphasis in Markdown."""
    s = str(text)[:300].replace("\n", " ")
    for ch in "\\`*_{}[]()<>#|!":
        s = s.replace(ch, "\\" + ch)
    return s


def format_results_markdown(summary: Mapping, metrics: Mapping[str, Mapping] | None = None, digits: int = 3) -> str:
    """The results table as Markdown, each human score shown as ``value [low, high]``."""
    rows = results_table(summary, metrics)
    if not rows:
        return "_no models_"
    level = int(round(100 * summary.get("bootstrap", {}).get("level", 0.95)))
    columns = ["model"]
    for key in rows[0]:
        if key.endswith(("_ci_low", "_ci_high", "_n")) or key == "model":
            continue
        columns += [key] if key not in columns else []
    for r in rows[1:]:
        columns += [k for k in r if k not in columns and not k.endswith(("_ci_low", "_ci_high", "_n"))]

    def fmt(x) -> str:
        if x is None:
            return "–"
        if isinstance(x, float):
            return "nan" if not math.isfinite(x) else f"{x:.{digits}g}" if abs(x) >= 1000 else f"{x:.{digits}f}"
        return _inert(x)

    def cell(row, key) -> str:
        if f"{key}_ci_low" in row:
            return f"{fmt(row.get(key))} [{fmt(row[f'{key}_ci_low'])}, {fmt(row[f'{key}_ci_high'])}]"
        return fmt(row.get(key))

    head = [c if f"{c}_ci_low" not in rows[0] else f"{c} ({level}% CI)" for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r, c) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
