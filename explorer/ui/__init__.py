"""The GAN Explorer web app (Gradio). The only package that imports gradio.

    from explorer.ui import build_app, launch_options, serve
    demo = build_app()                      # gr.Blocks: Explore, Stylize, Discriminator, Train, Evaluate, Models
    demo.launch(**launch_options())         # or serve(host, port), or `gan-explorer serve`

Importing ``explorer.ui`` is cheap; gradio is imported when one of the names above is used.
``explorer.ui.command.add_serve_command`` registers the CLI sub-command without importing gradio.
"""

from __future__ import annotations

from typing import Any

from explorer.ui.command import add_serve_command  # argparse only: cheap, and the CLI imports it anyway

__all__ = ["add_serve_command", "build_app", "launch_options", "serve"]


def __getattr__(name: str) -> Any:
    if name in ("build_app", "launch_options", "serve"):
        # imports gradio: only when the app is used, so `import explorer.ui` (and the CLI) stays light
        from explorer.ui import app

        return getattr(app, name)
    raise AttributeError(f"module 'explorer.ui' has no attribute {name!r}")
