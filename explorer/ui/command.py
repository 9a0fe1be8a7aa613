"""``gan-explorer serve``: the CLI entry to the web app (argparse only; gradio loads on run)."""

from __future__ import annotations

import argparse
import os


def add_serve_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``serve`` on the main CLI's sub-parsers; returns its parser.

    The parser's ``func`` default takes the parsed namespace, serves until interrupted, and
    returns an exit code.
    """
    p = subparsers.add_parser(
        "serve",
        help="open the web app on the shipped, imported and trained models",
        description="Serve the GAN Explorer web app (Explore, Stylize, Discriminator, Train, Evaluate, Models).",
    )
    p.add_argument("--host", default=os.environ.get("GAN_EXPLORER_HOST", "127.0.0.1"),
                   help="interface to listen on (default 127.0.0.1; 0.0.0.0 serves the network)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GAN_EXPLORER_PORT", "7860")), help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="also open a public Gradio share link (needs internet; anyone with the link can use the app)")
    p.add_argument("--models", dest="model_dirs", action="append", default=None, metavar="DIR",
                   help="folder of shipped .safetensors models (repeatable; default: the repository's checkpoints/)")
    p.add_argument("--user-dir", default=None, metavar="DIR",
                   help="folder for imported and trained models (default: $GAN_EXPLORER_HOME/models)")
    p.add_argument("--organiser-password", default=None, metavar="TEXT",
                   help="password of the 'organiser' login needed on any non-loopback host (default: "
                        "$GAN_EXPLORER_ORGANISER_PASSWORD, else generated and printed at start)")
    p.add_argument("--no-training", action="store_true", help="hide the Train tab")
    p.add_argument("--open", action="store_true", help="open the app in a browser tab")
    p.set_defaults(func=run_serve)
    return p


def run_serve(args: argparse.Namespace) -> int:
    from explorer.ui.app import serve  # imports gradio: only when the app is served, not when the CLI starts

    serve(host=args.host, port=args.port, share=args.share, model_dirs=args.model_dirs, user_dir=args.user_dir,
          enable_training=not args.no_training, open_browser=args.open, organiser_password=args.organiser_password)
    return 0
