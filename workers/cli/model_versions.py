"""`guardstream model list|load|promote|rollback|restore`: versions served by Triton, without downtime.

``--model generative`` (the default) acts on the generative guard (``guard`` and its explain model),
``--model fast`` on the cascade's fast guard (``guard_fast``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer

VERSION = Annotated[str, typer.Argument(help="Version number: a folder under triton_models/<model>/.")]
AS_JSON = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
MODEL = Annotated[
    str, typer.Option("--model", help="Which guard: generative (guard, with guard_explain) or fast (guard_fast).")
]
MODELS = ("generative", "fast")


def _versions(model: str) -> Any:
    from guardstream.paths import repository_root
    from guardstream.settings import load_settings
    from workers.model_versions import ModelVersions

    if model not in MODELS:
        raise typer.BadParameter(f"--model must be one of {', '.join(MODELS)}, got {model!r}")
    triton = load_settings().triton
    name = triton.fast_model_name if model == "fast" else triton.model_name
    return ModelVersions(triton, repository_root() / "triton_models", name)


def _run(action: Any) -> Any:
    from guardstream.errors import GuardstreamError

    try:
        return action()
    except GuardstreamError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def list_versions(as_json: AS_JSON = False, model: MODEL = "generative") -> None:
    """List the guard model's versions: on disk, loaded, current and previous."""
    from rich.console import Console
    from rich.table import Table

    rows = _run(lambda: _versions(model).rows())
    if as_json:
        typer.echo(json.dumps([asdict(row) for row in rows], indent=2))
        return
    table = Table(title=f"{model} guard versions")
    for column in ("version", "state", "role"):
        table.add_column(column)
    for row in rows:
        role = "current" if row.current else "previous (rollback)" if row.previous else ""
        table.add_row(row.version, row.state, role)
    Console().print(table)


def load_version(version: VERSION, model: MODEL = "generative") -> None:
    """Load VERSION beside the current one (both modes); traffic stays on the current version."""
    pointer = _run(lambda: _versions(model).load(version))
    typer.echo(f"loaded {version}; current is still {pointer.current} (loaded: {', '.join(pointer.loaded)})")


def promote_version(version: VERSION, model: MODEL = "generative") -> None:
    """Smoke-check the loaded VERSION and make it current; workers follow within seconds."""
    pointer = _run(lambda: _versions(model).promote(version))
    typer.echo(f"current is now {pointer.current}; previous {pointer.previous or 'none'} stays loaded for rollback")


def rollback_version(model: MODEL = "generative") -> None:
    """Make the previous version current again (it stayed loaded since the last promotion)."""
    pointer = _run(lambda: _versions(model).rollback())
    typer.echo(f"rolled back: current is now {pointer.current}")


def retire_version(version: VERSION, model: MODEL = "generative") -> None:
    """Unload VERSION (not the current one); its folder stays on disk and can be loaded again."""
    pointer = _run(lambda: _versions(model).retire(version))
    typer.echo(f"retired {version}; loaded: {', '.join(pointer.loaded)}")


def restore_versions(model: MODEL = "generative") -> None:
    """Re-apply the saved current/previous versions after Triton restarted (no-op without one)."""
    pointer = _run(lambda: _versions(model).restore())
    typer.echo("nothing saved to restore" if pointer is None else f"restored: current is {pointer.current}")


def smoke_version(version: VERSION, as_json: AS_JSON = False, model: MODEL = "generative") -> None:
    """Score and explain a fixed smoke set with VERSION and report what came back."""
    report = _run(lambda: _versions(model).smoke(version))
    if as_json:
        typer.echo(json.dumps({**asdict(report), "ok": report.ok}, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"version {version}: {'ok' if report.ok else 'FAILED: ' + '; '.join(report.problems)}")
        for score, text in zip(report.p_unsafe, report.explanations + [""] * len(report.p_unsafe), strict=False):
            typer.echo(f"  p_unsafe={score:.4f} {text[:100]!r}")
    if not report.ok:
        raise typer.Exit(1)
