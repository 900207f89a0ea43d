"""`guardstream model …`: build and inspect guard model checkpoints."""

from __future__ import annotations

import logging
import multiprocessing
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from guardstream.paths import repository_root

if TYPE_CHECKING:
    from training.embedded_fast_guard import FastDefaultSpec

# Inside the checkout (found when a command runs, never at import): the served checkpoints, the cache.
DEFAULT_CHECKPOINT = Path("triton_models") / "guard" / "1" / "checkpoint"
FAST_CHECKPOINT = Path("triton_models") / "guard_fast" / "1" / "checkpoint"
CACHE = Path(".cache")

app = typer.Typer(
    help="Guard model checkpoints: build the embedded default cascade that Triton serves.",
    no_args_is_help=True,
)


@app.callback()
def model() -> None:
    """Guard model checkpoints: build the embedded default cascade that Triton serves."""


@app.command("build-default")
def build_default(
    out: Annotated[
        Path | None,
        typer.Option(
            help=f"Generative guard checkpoint folder to write (replaced atomically when rebuilt); "
            f"default: {DEFAULT_CHECKPOINT} in the checkout."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generative guard's initial weights.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if a complete checkpoint is there.")] = False,
    steps: Annotated[
        int | None, typer.Option(help="Generative guard training steps (default: the embedded default's).")
    ] = None,
    fast_profile: Annotated[
        str,
        typer.Option(
            envvar="GUARDSTREAM_FAST_PROFILE",
            help="Fast guard build: full (the served default: all real data, ~15 min on 2 cores) or test "
            "(a slice of it, a few minutes; what make test serves).",
        ),
    ] = "full",
    real_data: Annotated[
        Path | None,
        typer.Option(
            envvar="GUARDSTREAM_REAL_DATA_DIR",
            help="Folder of real labelled Libra-Test-format files: *train*.jsonl are trained on, *dev*.jsonl "
            "measured (default: ../shared/datasets beside the checkout, when it exists).",
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(help=f"Cache of pretrained weights and fast-guard builds; default: {CACHE} in the checkout."),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            min=1,
            max=2,
            help="2: build the two guards side by side, in two processes of one thread each (what make test "
            "does; on 2 cores these small models build sooner so than one after the other on two threads each). "
            "The builds are the same either way.",
        ),
    ] = 1,
) -> None:
    """Build the embedded default cascade: the generative guard (tiny, trained from scratch on synthetic
    data) and the fast guard (bge-small-zh-v1.5 from Maven Central, fine-tuned on synthetic then real
    data). Both are cached: a build whose spec, code and data are unchanged is skipped."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    root = repository_root()
    real_data = real_data if real_data is not None else default_real_data_dir()
    fast_build = (fast_profile, real_data, cache or root / CACHE, root / FAST_CHECKPOINT, force)
    _fast_spec(fast_profile)  # a bad profile is refused before anything is built
    if jobs == 1:
        _build_generative(out or root / DEFAULT_CHECKPOINT, seed, force, steps)
        _build_fast(*fast_build)
        return
    beside = multiprocessing.get_context("spawn").Process(target=_build_fast_in_process, args=fast_build)
    beside.start()
    try:
        _build_generative(out or root / DEFAULT_CHECKPOINT, seed, force, steps, threads=1)
    finally:
        beside.join()
    if beside.exitcode != 0:
        typer.echo(f"the fast guard's build failed (exit code {beside.exitcode}); its error is above", err=True)
        raise typer.Exit(1)


def default_real_data_dir() -> Path | None:
    shared = repository_root().parent / "shared" / "datasets"
    return shared if shared.is_dir() else None


def _build_generative(out: Path, seed: int, force: bool, steps: int | None, threads: int | None = None) -> None:
    from dataclasses import replace

    from training.default_model import DefaultModelSpec
    from training.embedded_default import TrainedDefaultSpec, build_trained_default, is_complete

    spec = TrainedDefaultSpec(model=DefaultModelSpec(seed=seed))
    if steps is not None:
        spec = replace(spec, steps=steps)
    if threads is not None:
        spec = replace(spec, threads=threads)
    if not force and is_complete(out, spec):
        typer.echo(f"up to date: {out} (seed {seed}); use --force to rebuild")
        return
    from training.trainer.progress import RichProgress

    started = time.perf_counter()
    manifest = build_trained_default(out, spec, force=force, observer=RichProgress())
    metrics = manifest["heldout"]["metrics"]["average"]
    typer.echo(
        f"built {out} (seed {seed}) in {time.perf_counter() - started:.1f} s: training "
        f"{manifest['training']['seconds']} s, held-out synthetic accuracy {metrics['accuracy']:.4f} "
        f"(F1-safe {metrics['f1_safe']:.4f}, F1-unsafe {metrics['f1_unsafe']:.4f}); report: {out}/evaluation/report.html"
    )


def _fast_spec(profile_name: str) -> FastDefaultSpec:
    from training.embedded_fast_guard import profile

    try:
        return profile(profile_name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fast-profile") from None


def _build_fast_in_process(profile_name: str, real_data: Path | None, cache: Path, link: Path, force: bool) -> None:
    """The fast guard's build in a process of its own, on one thread (``--jobs 2``)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    _build_fast(profile_name, real_data, cache, link, force, threads=1)


def _build_fast(
    profile_name: str, real_data: Path | None, cache: Path, link: Path, force: bool, threads: int | None = None
) -> None:
    from dataclasses import replace

    from training.embedded_fast_guard import build_fast_default, is_complete, real_data_files

    spec = _fast_spec(profile_name)
    if threads is not None:
        spec = replace(spec, threads=threads)
    built = cache / "models" / f"guard_fast-{spec.profile}"
    if force or not is_complete(built, spec, real_data):
        if not real_data_files(real_data)[0]:
            typer.echo(f"no real training data (looked in {real_data}): the fast guard learns from synthetic data only")
        from training.trainer.progress import RichProgress

        started = time.perf_counter()
        build_fast_default(
            built, spec, cache_dir=cache / "pretrained", real_data_dir=real_data, force=force, observer=RichProgress()
        )
        typer.echo(f"built the fast guard ({spec.profile}) in {time.perf_counter() - started:.1f} s: {built}")
    else:
        typer.echo(f"up to date: {built} (fast guard, {spec.profile})")
    _point(link, built)
    typer.echo(f"serving {link} -> {built}; model card: {built}/MODEL_CARD.md")


def _point(link: Path, target: Path) -> None:
    """Make ``link`` a symbolic link to ``target``, replaced atomically."""
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.exists() and not link.is_symlink():
        import shutil

        shutil.rmtree(link)
    staged = link.with_name(f".{link.name}.link")
    staged.unlink(missing_ok=True)
    staged.symlink_to(target.resolve())
    staged.replace(link)


@app.command("render-repository")
def render_repository(
    out: Annotated[Path, typer.Option(help="Model repository to write (config.pbtxt and 1/model.py per model).")],
    device: Annotated[
        str | None, typer.Option(help="cuda (KIND_GPU) or cpu; default: GUARDSTREAM_SERVING__DEVICE, cuda.")
    ] = None,
    gpus: Annotated[
        str | None, typer.Option(help="Comma-separated GPU ids for cuda; default: GUARDSTREAM_SERVING__GPUS, [0].")
    ] = None,
    dtype: Annotated[
        str | None,
        typer.Option(help="float32, bfloat16 or float16; default: GUARDSTREAM_SERVING__DTYPE, else each config's."),
    ] = None,
) -> None:
    """Write the Triton model repository for where it is served: the packaged configs with each network
    model's instance kind and device set (KIND_GPU and cuda for the GPU). Checkpoints and published
    versions already under OUT stay."""
    from guardstream.errors import ConfigurationError
    from guardstream.guard.model_repository import load_serving_settings
    from guardstream.guard.model_repository import render_repository as render

    overrides: dict[str, object] = {}
    if device is not None:
        overrides["device"] = device
    if gpus is not None:
        overrides["gpus"] = tuple(part.strip() for part in gpus.split(",") if part.strip())
    if dtype is not None:
        overrides["dtype"] = dtype
    try:
        models = render(out, load_serving_settings(**overrides))
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for model in models:
        typer.echo(f"{model.name}: {'GPU' if model.on_gpu else 'CPU'} ({model.config})")
