"""``ase-symbreak train CONFIG.toml`` (see :mod:`ase_symbreak.training.config`).

Paths in the recipe are relative to it; its ``out_dir`` must lie inside its folder (a shared
recipe writes nothing outside it; ``--out`` writes elsewhere). A missing or malformed recipe
exits with code 2; a recipe the trainer rejects (an unknown key, missing data) exits with
code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import BAD_INPUT, REJECTED, exit_on, fail, writable_folder

__all__ = ["train_command"]


def _relative_to(recipe: dict, base: Path) -> dict:
    """The recipe with its input paths (data path/val_path, model init) under ``base``;
    exit 2 when one is not a string (or its section not a table).
    """
    for section in ("data", "model"):
        if not isinstance(recipe.get(section, {}), dict):
            fail(f"[{section}] must be a table, got {recipe[section]!r}", code=BAD_INPUT)
    for section, key in (
        ("", "out_dir"),
        ("data", "path"),
        ("data", "val_path"),
        ("model", "init"),
    ):
        table = recipe.get(section, {}) if section else recipe
        if key in table and not isinstance(table[key], str):
            where = f"[{section}] {key}" if section else key
            fail(f"{where} must be a string (a path), got {table[key]!r}", code=BAD_INPUT)
    for key in ("path", "val_path"):
        if key in recipe.get("data", {}):
            recipe["data"][key] = str((base / recipe["data"][key]).resolve())
    if "init" in recipe.get("model", {}):
        recipe["model"]["init"] = str((base / recipe["model"]["init"]).resolve())
    return recipe


def train_command(
    config: Annotated[
        Path,
        typer.Argument(help="Training recipe (TOML): data, model, loss weights, epochs, out_dir."),
    ],
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from out_dir/checkpoint.safetensors.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder (default: the recipe's out_dir, which must lie inside the "
            "recipe's folder; training_run there when it names none).",
        ),
    ] = None,
) -> None:
    """Train the package's e3nn potential on energies, forces, stresses and Hessians."""
    from rich.console import Console

    from ase_symbreak.tomlfile import TomlFileError, read_toml
    from ase_symbreak.training.config import recipe_out_dir, train_from_config

    if not config.exists():
        fail(f"no training config at {config}", code=BAD_INPUT)
    with exit_on(TomlFileError, code=BAD_INPUT):
        recipe = read_toml(config, "training recipe")
    if resume:
        recipe["resume"] = True
    base = config.resolve().parent
    recipe = _relative_to(recipe, base)
    with exit_on(ValueError, code=BAD_INPUT):  # checked even with --out: the recipe is wrong
        out_dir = recipe_out_dir(recipe.pop("out_dir", "training_run"), base)
    if out is not None:
        out_dir = writable_folder(out, "--out")
    err = Console(stderr=True)
    with exit_on(ValueError, FileNotFoundError, code=REJECTED):
        train_from_config(
            recipe, log=lambda line: err.print(line, highlight=False), out_dir=out_dir
        )
