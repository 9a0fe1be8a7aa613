"""``gan-explorer edit``: apply a saved or exported edit (see :mod:`explorer.edits`) to a batch of seeds.

    gan-explorer edit MODEL --edit FILE_OR_NAME --seeds 0-7 --out DIR [--strength S] [--class C]

``--edit`` is an exported ``.json`` edit, or the name of an edit saved for this model in the app's
library (``<app_home>/edits``). Writes one lossless PNG per seed (``seed0000.png`` …, provenance
naming the edit) and ``compare.png``: the unedited images above the edited ones. ``--list`` prints
the model's saved edits instead. Registered through ``explorer.cli.COMMAND_MODULES``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from explorer.cli_common import common_parent, load_model, model_identity, parse_labels, progress_bar
from explorer.edits import MAX_STRENGTH, EditLibrary, apply_to_seeds, range_label, resolve
from explorer.errors import ExplorerError
from explorer.images import make_grid, save_png
from explorer.latent import parse_seeds


def add_edit_command(sub) -> None:
    p = sub.add_parser("edit", parents=[common_parent()], help="apply a saved/exported latent edit to a batch of seeds")
    p.add_argument("checkpoint")
    p.add_argument("--edit", default=None, help="an exported edit .json, or the name of an edit saved for this model in the app")
    p.add_argument("--list", action="store_true", help="list the edits saved for this model and exit")
    p.add_argument("--seeds", default="0-7", help="seeds, e.g. 0-7,12 (default 0-7)")
    p.add_argument("--strength", type=float, default=None, help="override the edit's strength (standard deviations)")
    lab = p.add_mutually_exclusive_group()
    lab.add_argument("--class", dest="class_", metavar="CLASS", default=None, help="class id or name for every image (conditional models)")
    lab.add_argument("--labels", default=None, help="class ids, one per image or one for all")
    p.add_argument("--truncation", type=float, default=1.0, help="truncation ψ before the edit (1 = off)")
    p.add_argument("--out", default="edited", help="output folder (default ./edited)")
    p.add_argument("--library", default=None, metavar="DIR",
                   help="folder of saved edits (default <app home>/edits; an app served with --user-dir D keeps them in D/../edits)")
    p.set_defaults(func=cmd_edit)


def cmd_edit(args) -> int:
    model = load_model(args, args.checkpoint)
    if not model.can_generate:
        raise ExplorerError(f"a {model.kind} model has no latent space to edit")
    library = EditLibrary(args.library)
    if args.list:
        edits = library.list(model)
        for e in edits:
            where = range_label(model, e.layers) if e.layers else "all layers"
            print(f"{e.name}\t{e.space}-space\tstrength {e.strength:+.2f}\t{where}")
        print(f"{len(edits)} saved edit{'s' if len(edits) != 1 else ''} ({library.path_for(model)})")
        return 0
    if not args.edit:
        raise ExplorerError("name the edit with --edit (a .json file or a saved name; --list shows the saved ones)")
    if args.strength is not None and not -MAX_STRENGTH <= args.strength <= MAX_STRENGTH:
        raise ExplorerError(f"--strength must lie between {-MAX_STRENGTH:g} and {MAX_STRENGTH:g}")
    edit = resolve(model, args.edit, library)
    seeds = parse_seeds(args.seeds, max_count=1024)
    labels = parse_labels(model, args.class_, args.labels, len(seeds))
    strength = edit.strength if args.strength is None else args.strength
    before, after = [], []
    with progress_bar(args, len(seeds), f"edit '{edit.name}'") as bar:
        for i in range(0, len(seeds), 64):
            lb = labels[i : i + 64] if labels is not None else None
            b, a = apply_to_seeds(model, edit, seeds[i : i + 64], lb, args.truncation, strength)
            before.append(b.float().cpu())
            after.append(a.float().cpu())
            bar.update(len(seeds[i : i + 64]))
    before, after = torch.cat(before), torch.cat(after)  # [N, C, H, W]
    out = Path(args.out)
    common = {**model_identity(args.checkpoint), "kind": model.kind, "truncation": args.truncation,
              "edit": {"name": edit.name, "strength": strength, "layers": list(edit.layers) if edit.layers else None,
                       "space": edit.space, "source": edit.source}}
    for i, seed in enumerate(seeds):
        save_png(after[i], out / f"seed{seed:04d}.png", {**common, "seed": seed, "label": int(labels[i]) if labels is not None else None})
    save_png(make_grid(torch.cat([before, after]), nrow=len(seeds)), out / "compare.png",
             {**common, "seeds": seeds, "content": "top row: unedited; bottom row: edited"})
    where = range_label(model, edit.layers) if edit.layers else "all layers"
    print(f"applied '{edit.name}' (strength {strength:+.2f}, {where}) to {len(seeds)} seed{'s' if len(seeds) != 1 else ''} -> {out}/ (seed*.png, compare.png)")
    return 0
