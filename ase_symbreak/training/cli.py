"""Command-line layer: ``ase-symbreak train CONFIG.toml`` (see :mod:`ase_symbreak.training.config`).

Use :func:`register` to add the command to the package's main typer app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register", "train_command"]


def train_command(
    config: Annotated[Path, typer.Argument(help="Training recipe (TOML): data, model, loss weights, epochs, out_dir.")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue from out_dir/checkpoint.safetensors.")] = False,
) -> None:
    """Train the package's e3nn potential on energies, forces, stresses and Hessians."""
    import tomllib

    from rich.console import Console

    from ase_symbreak.training.config import train_from_config

    err = Console(stderr=True)
    try:
        with config.open("rb") as f:
            recipe = tomllib.load(f)
    except FileNotFoundError:
        err.print(f"[red]error:[/red] no training config at {config}", highlight=False)
        raise typer.Exit(code=2) from None
    except tomllib.TOMLDecodeError as exc:
        err.print(f"[red]error:[/red] {config} is not valid TOML: {exc}", highlight=False)
        raise typer.Exit(code=2) from None
    if resume:
        recipe["resume"] = True
    base = config.resolve().parent
    for key in ("out_dir",):
        if key in recipe:
            recipe[key] = str(base / recipe[key])
    for key in ("path", "val_path"):
        if key in recipe.get("data", {}):
            recipe["data"][key] = str(base / recipe["data"][key])
    if "init" in recipe.get("model", {}):
        recipe["model"]["init"] = str(base / recipe["model"]["init"])
    recipe.setdefault("out_dir", str(base / "training_run"))
    try:
        train_from_config(recipe, log=lambda line: err.print(line, highlight=False))
    except (ValueError, FileNotFoundError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""
    app.command("train")(train_command)
