"""Human evaluation of generative models: multi-rater sessions stored in SQLite.

An organiser creates a session (:meth:`HumanEvalStore.create_session`) and hands out its join
code; raters join (:meth:`HumanEvalStore.join`), fetch trials (:meth:`~HumanEvalStore.next_trial`)
and answer them (:meth:`~HumanEvalStore.answer`, committed per click). :func:`summarize` turns
the answers into scores with bootstrap CIs; :mod:`explorer.humaneval.export` writes CSV/JSON and
puts human scores next to automatic metrics. No gradio in here: the UI tab is a thin layer.

Example::

    from explorer.humaneval import HumanEvalStore, SessionConfig, summarize
    store = HumanEvalStore("runs/humaneval.sqlite3")
    info = store.create_session(SessionConfig(task="real_vs_fake", models=("ckpt/a.safetensors",),
                                              real_set="digits", num_trials=40, exposure="fixed",
                                              exposure_ms=500))
    rater = store.join(info.code, "Ada")
    trial = store.next_trial(rater.token)            # images, exposure_ms, choices
    store.answer(rater.token, trial.position, "fake")
    summary = summarize(info.config, store.answers(info.code))
"""

from explorer.humaneval.config import (
    CHOICES,
    EXPOSURES,
    TASKS,
    HumanEvalError,
    SessionConfig,
    StaircaseConfig,
)
from explorer.humaneval.export import (
    export_session,
    format_results_markdown,
    read_answers_csv,
    read_session_json,
    results_table,
    resummarize,
    session_record,
    write_answers_csv,
)
from explorer.humaneval.staircase import Staircase, replay
from explorer.humaneval.stats import bootstrap_weights, bradley_terry, rater_stats, summarize
from explorer.humaneval.stimuli import StimulusProvider, default_stimulus_provider
from explorer.humaneval.store import (
    AnswerResult,
    HumanEvalStore,
    RaterInfo,
    SessionInfo,
    Trial,
    default_db_path,
    normalise_code,
)


def summarize_session(store: HumanEvalStore, code: str, **kwargs) -> dict:
    """:func:`summarize` of a stored session (kwargs as for :func:`summarize`)."""
    info = store.session(code)
    return summarize(info.config, store.answers(code), num_items=info.num_items, **kwargs)


__all__ = [
    "AnswerResult", "CHOICES", "EXPOSURES", "HumanEvalError", "HumanEvalStore", "RaterInfo", "SessionConfig",
    "SessionInfo", "Staircase", "StaircaseConfig", "StimulusProvider", "TASKS", "Trial", "bootstrap_weights",
    "bradley_terry", "default_db_path", "default_stimulus_provider", "export_session", "format_results_markdown",
    "normalise_code", "rater_stats", "read_answers_csv", "read_session_json", "replay", "results_table",
    "resummarize", "session_record", "summarize", "summarize_session", "write_answers_csv",
]
