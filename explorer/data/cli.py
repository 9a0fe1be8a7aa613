"""``gan-explorer data ...`` commands: ``data list`` and ``data clean``.

The main CLI calls :func:`add_data_commands` with its argparse sub-parsers object; each command
sets ``func`` (``args -> exit code``) via ``set_defaults``.
"""

from __future__ import annotations

import argparse

from explorer.data.cleaning import clean_folder, clean_report_text
from explorer.data.shipped import list_shipped, shipped_info
from explorer.errors import DataError


def add_data_commands(subparsers) -> argparse.ArgumentParser:
    """Register ``data list`` and ``data clean SRC [--out DST] [--size N] [--report FILE]``."""
    data = subparsers.add_parser("data", help="list shipped data sets, clean an image folder")
    sub = data.add_subparsers(dest="data_command", metavar="{list,clean}")
    sub.required = True

    p_list = sub.add_parser("list", help="list the data sets that ship with GAN Explorer")
    p_list.set_defaults(func=_cmd_list)

    p_clean = sub.add_parser("clean", help="check a folder or .zip of images and report bad files",
                             description="Checks every file (corrupt, truncated, animated, too small, "
                                         "blank, exact and near duplicates, unsafe sizes) and prints "
                                         "a report. The source is never modified; --out writes a "
                                         "clean copy.")
    p_clean.add_argument("src", help="folder (class sub-folders allowed) or .zip of images")
    p_clean.add_argument("--out", dest="dst", default=None, help="new folder for the kept files")
    p_clean.add_argument("--size", type=int, default=64, help="target training resolution (default 64)")
    p_clean.add_argument("--no-near-duplicates", action="store_true",
                         help="skip the perceptual near-duplicate check")
    p_clean.add_argument("--report", default=None, help="also write the full report as JSON here")
    p_clean.set_defaults(func=_cmd_clean)
    return data


def _cmd_list(args) -> int:
    for name in list_shipped():
        try:
            info = shipped_info(name)
        except DataError as exc:
            print(f"{name:14s} unavailable: {exc}")
            continue
        shape = "x".join(str(s) for s in info["shape"])
        print(f"{name:14s} {info['count']:6d} images {shape:8s} {len(info['class_names']):3d} classes  "
              f"{info['license'].split(';')[0]}")
    return 0


def _cmd_clean(args) -> int:
    try:
        report = clean_folder(args.src, args.dst, target_size=args.size,
                              near_duplicates=not args.no_near_duplicates)
    except DataError as exc:
        print(f"error: {exc}")
        return 2
    print(clean_report_text(report))
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            f.write(report.to_json())
    return 0
