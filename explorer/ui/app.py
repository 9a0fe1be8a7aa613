"""The GAN Explorer web app: ``build_app`` assembles the tabs, ``serve`` runs it.

Layout: one module per tab (``tab_*.py``), each a ``build(ctx)`` that lays out its widgets and
wires short handlers to the core; this module creates the shared context (model catalog,
per-session state, the server's training-job slot), links the tabs (a trained or imported model
appears in every picker; an inverted upload opens in Explore) and sets the server policy:

* ``queue(api_open=False)``: every request goes through the queue — no direct REST bypass —
  with ``default_concurrency_limit`` workers; heavy handlers share ``concurrency_id="heavy"``
  (limit 1) so they cannot starve slider previews. Slider *previews* skip the queue (they are a
  few milliseconds of work and latency is the point) and are coalesced client-side by
  ``trigger_mode="always_last"``.
* UI handlers are private; the public API is the handful of endpoints in :mod:`explorer.ui.api`.
* Slider previews do not use Gradio events at all: a JavaScript-only listener fetches each frame
  from one small route (:mod:`explorer.ui.previews`), added through ``app_kwargs``.
* Uploads: Gradio refuses files over ``MAX_UPLOAD_MB``; images are decoded by
  :func:`explorer.images.load_image` under a pixel cap; bad files give a readable message.
"""

from __future__ import annotations

import logging
import os
import webbrowser
from pathlib import Path
from typing import Any, Iterable

import gradio as gr

from explorer import __version__, memory
from explorer.ui import (
    api,
    previews,
    roles,
    sessions,
    tab_discriminator,
    tab_evaluate,
    tab_explore,
    tab_models,
    tab_stylize,
    tab_train,
    warmup,
)
from explorer.ui.catalog import Catalog
from explorer.ui.common import MAX_UPLOAD_MB, AppContext, handler, new_session
from explorer.ui.humaneval_tab import build_rater_app
from explorer.ui.jobs import TrainingJobs

log = logging.getLogger(__name__)

CSS_PATH = Path(__file__).with_name("style.css")
HEAVY_CONCURRENCY = 1


def default_concurrency() -> int:
    """Queue workers: the CPU count, between 2 and 8 (torch already uses several threads per call)."""
    return max(2, min(8, os.cpu_count() or 2))


def build_app(
    model_dirs: Iterable[str | os.PathLike] | None = None,
    user_dir: str | os.PathLike | None = None,
    *,
    enable_training: bool = True,
    concurrency: int | None = None,
    title: str = "GAN Explorer",
) -> gr.Blocks:
    """Build the app (nothing is loaded or launched until a page asks for it).

    Args:
        model_dirs: read-only folders of shipped ``.safetensors`` models (default: the
            repository's ``checkpoints/``).
        user_dir: folder for imported and trained models (default ``$GAN_EXPLORER_HOME/models``
            or ``~/.local/share/gan-explorer/models``); deleting is allowed only here.
        enable_training: offer the Train tab (one job at a time per server).
        concurrency: queue workers (default: :func:`default_concurrency`).
        title: browser tab title.
    Returns:
        The ``gr.Blocks``; launch it with ``demo.launch(**launch_options())`` or use :func:`serve`.
    """
    catalog = Catalog(model_dirs, user_dir)
    jobs = None
    if enable_training:
        jobs = TrainingJobs(catalog)

    with gr.Blocks(title=title, delete_cache=(3600, 3600)) as demo:
        demo.explorer_catalog = catalog  # for serve()'s warm-up of the first page (explorer.ui.warmup)
        session = gr.State(new_session())
        ctx = AppContext(catalog=catalog, session=session, jobs=jobs)
        demo.explorer_previews = ctx.previews  # for the slider preview route (explorer.ui.previews)
        gr.Markdown(
            f"# GAN Explorer\nExplore, stylize, inspect, train and evaluate generative adversarial networks — offline, on this machine. "
            f"<small>v{__version__}</small>",
            elem_id="app-header",
        )
        api.register(ctx)  # first, so the public endpoint names are not taken by private handlers
        with gr.Tabs(elem_id="tabs", overflow_behavior="wrap") as tabs:  # a phone shows every tab, none behind "•••"
            with gr.Tab("Explore", id="explore", elem_id="tab-explore") as t_explore:
                explore = tab_explore.build(ctx)
            with gr.Tab("Stylize", id="stylize", elem_id="tab-stylize") as t_stylize:
                with gr.Tabs(elem_id="stylize-tabs", overflow_behavior="wrap"):
                    stylize = tab_stylize.build(ctx)
            with gr.Tab("Discriminator", id="discriminator", elem_id="tab-discriminator") as t_disc:
                tab_discriminator.build(ctx)
            train = t_train = None
            if jobs is not None:
                with gr.Tab("Train", id="train", elem_id="tab-train") as t_train:
                    train = tab_train.build(ctx)
            with gr.Tab("Evaluate", id="evaluate", elem_id="tab-evaluate") as t_eval:
                tab_evaluate.build(ctx)
            with gr.Tab("Models", id="models", elem_id="tab-models") as t_models:
                models = tab_models.build(ctx)

        _link_tabs(ctx, demo, tabs, explore, stylize, train, models)
        sessions.install(demo)  # a closed tab's session state is freed (Gradio would keep it)
        if train is not None:
            # the training dashboard polls only while its tab is open
            t_train.select(lambda: gr.Timer(active=True), None, train.timer, api_visibility="private", queue=False)
            for other in (t_explore, t_stylize, t_disc, t_eval, t_models):
                other.select(lambda: gr.Timer(active=False), None, train.timer, api_visibility="private", queue=False)
                # the 2-D playground pauses too (Play resumes it): no frames computed for a hidden tab
                other.select(lambda: gr.Timer(active=False), None, train.playground_timer, api_visibility="private", queue=False)
        t_models.select(handler(models.refresh), None, models.table, api_visibility="private")

    demo.queue(api_open=False, default_concurrency_limit=concurrency or default_concurrency())
    return demo


def _link_tabs(ctx: AppContext, demo: gr.Blocks, tabs: gr.Tabs, explore, stylize, train, models) -> None:
    pickers = ctx.picker_components

    def refresh(*values, prefer=None):
        return ctx.refresh_pickers(*values, prefer=prefer)

    # a page opened after models were added/deleted sees the current catalog, then Explore renders
    # (queue=False, like the slider previews: three light steps a new visitor waits for, which should
    # not queue behind other visitors' heavy work or pay the queue's join round trip)
    loaded = demo.load(handler(refresh), pickers, pickers, api_visibility="private", queue=False)
    first_image = loaded.then(
        explore.on_model, [explore.model, explore.method, ctx.session], explore.model_outputs, api_visibility="private",
        show_progress_on=explore.image, queue=False,
    ).then(explore.full, explore.inputs, explore.render_outputs, api_visibility="private", show_progress="hidden", queue=False)
    # the other tabs' set-up (their models' class lists, cards...) waits for the first image: on a
    # busy server it would otherwise take the workers and cores the Explore image needs (issue 15)
    for fn, inputs, outputs in ctx.on_page_load:
        first_image.then(fn, inputs, outputs, api_visibility="private", show_progress="hidden")

    # catalog changes (import, delete, finished training) refresh every picker
    def refresh_prefer(prefer, *values):
        return refresh(*values, prefer=prefer or None)

    models.last_changed.change(handler(refresh_prefer), [models.last_changed, *pickers], pickers, api_visibility="private")

    if train is not None:
        # the training poll also notices a newly finished model: it joins every picker and the table
        def new_model(seen_id, *values):
            model_id = ctx.jobs.finished_model_id
            if not model_id or model_id == seen_id:
                return (gr.skip(),) * (2 + len(values))
            return (model_id, *refresh(*values, prefer=model_id), models.refresh())

        train.timer.tick(handler(new_model), [train.finished, *pickers], [train.finished, *pickers, models.table],
                         show_progress="hidden", api_visibility="private", queue=False)

    # "Edit in Explore": the inversion put a custom latent in the session; show it there
    def open_in_explore(model_id):  # ψ = 1: the inverted latent is the image's, not to be truncated again
        return gr.Tabs(selected="explore"), gr.update(value=model_id), gr.update(value=1.0)

    # .success, not .then: a refused step must not run the next ones (which raised the error again)
    stylize.inverted.success(handler(open_in_explore), [stylize.inversion_model], [tabs, explore.model, explore.truncation], api_visibility="private").success(
        explore.on_model, [explore.model, explore.method, ctx.session], explore.model_outputs, api_visibility="private",
        show_progress_on=explore.image,
    ).success(explore.full, explore.inputs, explore.render_outputs, api_visibility="private", show_progress="hidden")


def launch_options(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch`` that the app needs (theme, CSS, upload cap, footer)."""
    opts: dict[str, Any] = {
        "theme": gr.themes.Soft(primary_hue="indigo", secondary_hue="sky"),
        "css_paths": [CSS_PATH],
        "max_file_size": f"{MAX_UPLOAD_MB}mb",
        "footer_links": ["gradio", "settings"],
        "show_error": True,
        "app_kwargs": {"routes": previews.routes()},  # the Explore slider previews (explorer.ui.previews)
    }
    opts.update(overrides)
    return opts


def serve(host: str = "127.0.0.1", port: int = 7860, share: bool = False, model_dirs=None, user_dir=None, enable_training: bool = True,
          open_browser: bool = False, organiser_password: str | None = None) -> None:
    """Build the app and serve it until interrupted.

    On a loopback ``host`` the one local user does everything without a password. On any other
    address the app needs the organiser login (``organiser_password``, else
    ``$GAN_EXPLORER_ORGANISER_PASSWORD``, else a generated one printed here) and raters use the
    separate rater app at ``/rate/`` (see :mod:`explorer.ui.roles`). ``share=True`` asks Gradio
    for a public tunnel (it needs internet access), always behind the organiser login.
    """

    memory.limit_arenas()  # before the worker threads exist: freed memory stays reusable and trimmable
    demo = build_app(model_dirs=model_dirs, user_dir=user_dir, enable_training=enable_training)
    password = None
    if share or not roles.is_loopback(host):
        password, generated = roles.organiser_password(organiser_password)
        if generated:
            print(f"Organiser login — user: {roles.ORGANISER}  password: {password}\n"
                  f"(set {roles.PASSWORD_ENV} or --organiser-password to choose it)", flush=True)
    if share:
        demo.launch(**launch_options(server_name=host, server_port=port, share=True, inbrowser=open_browser,
                                     auth=roles.check_login(password)))
        return
    app = roles.build_server(demo, build_rater_app(), password, launch_options())
    warmup.start(demo.explorer_catalog, host, port)  # once listening: the first visitor's model and directions
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"GAN Explorer on http://{shown}:{port}/  ·  raters: http://{shown}:{port}{roles.RATER_PATH}/", flush=True)
    if open_browser:
        webbrowser.open(f"http://{shown}:{port}/")
    roles.serve_app(app, host, port)
