"""Human evaluation inside the Evaluate tab: raters take part, organisers create sessions and read results.

``build_humaneval_tab(ctx)`` lays out three sub-tabs and wires short handlers to
:mod:`explorer.humaneval` (all logic, storage and statistics live there):

* **Take part** — the rater page (:mod:`explorer.ui.humaneval_rater`, also served alone at
  ``/rate/`` by :func:`build_rater_app`): join code and name, then trial after trial, with the
  exposure timed in the browser and the rater's token kept there so a reload resumes.
* **Organise** — pick models, a real set, the task and exposure; get a join code for raters and
  an organiser key for results (:mod:`explorer.ui.humaneval_organiser`).
* **Results** — with code + organiser key: human scores with bootstrap CIs next to automatic
  metrics, per-rater statistics and flags, CSV/JSON export, closing the session (same module).

The helpers those modules own are importable from here too (the tests and :mod:`explorer.ui.app`
use this module's names).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import gradio as gr

from explorer.ui.common import AppContext
from explorer.ui.humaneval_organiser import (
    build_organise,
    build_results,
    card_metrics,
    make_config,
    wire_organise,
    wire_results,
)
from explorer.ui.humaneval_rater import (
    LazyStore,
    TakePart,
    build_rater_app,
    build_take_part,
    parse_client_info,
    progress_text,
    trial_html,
)

__all__ = ["HumanEvalTab", "TakePart", "build_humaneval_tab", "build_rater_app", "build_take_part", "card_metrics",
           "make_config", "parse_client_info", "progress_text", "trial_html"]


@dataclass
class HumanEvalTab:
    rater: TakePart
    # organiser
    models: gr.Dropdown
    create: gr.Button
    created: gr.Markdown
    # results
    results_code: gr.Textbox
    results_key: gr.Textbox
    results: gr.Markdown
    raters: gr.Dataframe
    store: LazyStore


def build_humaneval_tab(ctx: AppContext, db_path: str | os.PathLike | None = None) -> HumanEvalTab:
    """Lay out the human-evaluation UI in the current Blocks context (call inside a ``gr.Tab``).

    ``db_path``: the SQLite file (default ``$GAN_EXPLORER_HUMANEVAL_DB`` or
    ``~/.cache/gan-explorer/humaneval.sqlite3``); opened on first use.
    """
    store = LazyStore(db_path or getattr(ctx, "humaneval_db", None))
    catalog = ctx.catalog

    with gr.Tabs(elem_id="he-tabs"):
        with gr.Tab("Take part", id="he-rate", elem_id="he-rate"):
            rate = build_take_part(store)
        with gr.Tab("Organise", id="he-organise", elem_id="he-organise") as organise_tab:
            organise = build_organise(catalog)
        with gr.Tab("Results", id="he-results", elem_id="he-results-tab"):
            results = build_results()

    wire_organise(organise, organise_tab, results, catalog, store)
    wire_results(results, catalog, store)
    return HumanEvalTab(rate, organise.models, organise.create, organise.created, results.code, results.key,
                        results.markdown, results.raters, store)
