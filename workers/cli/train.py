"""`guardstream train …`: the periodic fine-tuning job (training/), wired to the running system.

The training package never talks to Kafka or Triton; this module does it for it: it reads human
labels from the review store and from ``moderation.feedback`` (joined with the audit store's
verdicts), evaluates the serving models through Triton when it is up, and after a published run
loads, smoke-checks and promotes each new version in Triton.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from training.config import TrainConfig

app = typer.Typer(
    help="Fine-tune the guards (synthetic stage 1, real + human labels stage 2), evaluate, gate, publish.",
    no_args_is_help=False,
    invoke_without_command=True,
)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="YAML or JSON file of training settings (see training/config.py).")
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override one setting, e.g. --set stage1.steps=50 (repeatable).")
]
FeedbackOption = Annotated[
    bool,
    typer.Option(
        "--feedback-topic/--no-feedback-topic", help="Also read human labels from the moderation.feedback topic."
    ),
]
ServingOption = Annotated[
    str,
    typer.Option(
        "--serving", help="How to evaluate the serving model: auto (Triton if up), triton, or local (its checkpoint)."
    ),
]
LoadOption = Annotated[
    bool,
    typer.Option(
        "--load/--no-load", help="After publishing, load, smoke-check and promote the version in Triton (if it is up)."
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Which guards to train: both (the default, setting `guards`: the served cascade is the two of them; "
        "each is evaluated against its own serving version on the same gold set and gated and published on its own), "
        "fast (the encoder that scores every event; continues from the served fast guard, see fast.base) "
        "or generative (the Libra-Guard-format model behind it).",
    ),
]
GUARD_CHOICES = ("both", "fast", "generative")


@app.callback()
def train(
    ctx: typer.Context,
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule", help="Run only if enough new labels arrived or enough time passed; one run at a time."
        ),
    ] = False,
    config: ConfigOption = None,
    overrides: SetOption = None,
    model: ModelOption = None,
) -> None:
    """Fine-tune the guards (synthetic stage 1, real + human labels stage 2), evaluate, gate, publish."""
    if ctx.invoked_subcommand is not None:
        return
    if not schedule:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    _scheduled(config, _with_model(overrides, model), feedback_topic=True, serving="auto", load=True)


@app.command("run")
def run(
    config: ConfigOption = None,
    overrides: SetOption = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Run folder of an interrupted run to continue.")
    ] = None,
    feedback_topic: FeedbackOption = True,
    serving: ServingOption = "auto",
    load: LoadOption = True,
    model: ModelOption = None,
) -> None:
    """Run one training job now (under the run lock): data, stages, evaluation, gate, publish."""
    from training.schedule import LockBusy, run_lock

    _logging()
    cfg = _config(config, _with_model(overrides, model))
    try:
        with run_lock(Path(cfg.runs_dir)):
            _run(cfg, resume=resume, feedback_topic=feedback_topic, serving=serving, load=load)
    except LockBusy as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(3) from None


@app.command("schedule")
def schedule_command(
    config: ConfigOption = None,
    overrides: SetOption = None,
    feedback_topic: FeedbackOption = True,
    serving: ServingOption = "auto",
    load: LoadOption = True,
    model: ModelOption = None,
) -> None:
    """Same as `guardstream train --schedule`: run if due (new labels or interval), else say why not."""
    _scheduled(config, _with_model(overrides, model), feedback_topic=feedback_topic, serving=serving, load=load)


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", help="File to write (.jsonl or .json, Libra-Test format).")],
    count: Annotated[int, typer.Option(help="How many records.")] = 1000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
    frames: Annotated[
        str, typer.Option(help="Sentence frames: train, or heldout (never used for training).")
    ] = "train",
    source: Annotated[str, typer.Option(help="Value of the records' source field.")] = "guardstream-synthetic",
) -> None:
    """Write synthetic guard data (Libra-Test format) without training."""
    from training.data.files import write_json, write_jsonl
    from training.data.synthetic.generator import SyntheticConfig, generate

    if frames not in ("train", "heldout"):
        raise typer.BadParameter("frames must be train or heldout")
    records = generate(SyntheticConfig(count=count, seed=seed, frames=frames, source=source))  # type: ignore[arg-type]  # checked against the Literal's two values just above
    (write_json if out.suffix == ".json" else write_jsonl)(out, records)
    typer.echo(f"wrote {len(records)} records ({sum(r.unsafe for r in records)} unsafe) to {out}")


# ── the pieces ──────────────────────────────────────────────────────────────────────────────


def _with_model(overrides: list[str] | None, model: str | None) -> list[str]:
    """``--model`` is the setting ``guards``, applied after every --set."""
    if model is None:
        return list(overrides or [])
    if model not in GUARD_CHOICES:
        raise typer.BadParameter(f"--model must be one of {', '.join(GUARD_CHOICES)}, got {model!r}")
    return [*(overrides or []), f"guards={model}"]


def _config(path: Path | None, overrides: list[str]) -> TrainConfig:
    """The training settings, validated before anything runs; a bad one ends the command (status 2)
    with a message that names it."""
    from training.config import ConfigError, load_config

    try:
        return load_config(path, overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")


def _scheduled(config: Path | None, overrides: list[str], *, feedback_topic: bool, serving: str, load: bool) -> None:
    from training.schedule import LockBusy, ScheduleState, check_due, run_lock

    _logging()
    cfg = _config(config, overrides)
    runs_dir = Path(cfg.runs_dir)
    try:
        with run_lock(runs_dir):
            sources, _ = _label_sources(cfg, feedback_topic)
            label_ids = [r.id for s in sources for r in s.labelled_records()]
            state = ScheduleState.load(runs_dir)
            trigger = check_due(cfg.schedule, state, label_ids, time.time())
            if not trigger.due:
                typer.echo(trigger.reason)
                return
            typer.echo(f"run due: {trigger.reason}")
            _run(cfg, resume=None, feedback_topic=feedback_topic, serving=serving, load=load, sources=sources)
            ScheduleState(time.time(), sorted(set(label_ids))).save(runs_dir)
    except LockBusy as exc:
        typer.echo(f"skipped: {exc}")


def _label_sources(cfg: TrainConfig, feedback_topic: bool) -> tuple[list[Any], Any]:
    from guardstream.audit.engine import build_engine, migrate
    from guardstream.settings import load_settings
    from training.data.human_labels import FeedbackJoinLabels, FileLabels, MergedLabels, ReviewStoreLabels

    settings = load_settings()
    engine = build_engine(settings.audit.url)
    migrate(engine)
    sources: list[Any] = []
    if cfg.data.feedback_file:
        sources.append(FileLabels(cfg.data.feedback_file))
    if feedback_topic:
        feedback = read_feedback_topic(settings)
        if feedback:
            sources.append(FeedbackJoinLabels(feedback, engine))
    if cfg.data.use_review_store:
        sources.append(ReviewStoreLabels(engine))
    return ([MergedLabels(sources)] if sources else []), engine


def read_feedback_topic(settings: Any, *, timeout_s: float = 60.0) -> list[Any]:
    """Every Feedback record on the feedback topic (read_committed) to its end, oldest first.

    A read that cannot reach the end raises: training on part of the labels would look complete.
    """
    from guardstream.records import Feedback
    from guardstream.serde.codec import decode_record
    from workers.kafka_clients import one_off_reader, read_to_end

    log = logging.getLogger(__name__)
    records: list[Any] = []
    for _key, value in read_to_end(
        one_off_reader(settings.kafka, "training"), settings.topics.feedback, None, timeout_s
    ):
        try:
            records.append(decode_record(Feedback, value or b""))
        except Exception as exc:  # a bad record on the topic must not stop training
            log.warning("skipping an undecodable feedback record: %s", exc)
    return sorted(records, key=lambda f: f.labelled_at_ms)


def _serving_judges(settings: Any, mode: str, cfg: TrainConfig) -> tuple[dict[str, Any], list[Any]]:
    """How to reach each trained guard's serving version through Triton (guard → Judge), and the
    clients to close; empty when asked for local checkpoints or Triton is not serving (auto)."""
    if mode == "local":
        return {}, []
    from training.fast_candidate import threshold_answer
    from training.judges import Judge
    from workers.triton_client import GuardModelClient

    triton = settings.triton
    judges: dict[str, Any] = {}
    clients: list[Any] = []
    served = (
        ("generative", triton.model_name, triton.model_version),
        ("fast", triton.fast_model_name, triton.fast_model_version),
    )
    for guard, name, pinned in served:
        if not cfg.trains(guard) or not name:
            continue
        client = GuardModelClient(triton.model_copy(update={"model_name": name, "model_version": pinned}))
        try:
            client.score([("你好", "")])
        except Exception as exc:  # Triton down: fall back to the checkpoint on disk unless asked for Triton
            client.close()
            if mode == "triton":
                raise typer.BadParameter(f"Triton is not serving {name}: {exc}") from None
            logging.getLogger(__name__).info(
                "Triton not serving %s (%s); its serving version is evaluated from its checkpoint", name, exc
            )
            continue
        clients.append(client)
        label = f"Triton {name} (serving now)"
        if guard == "fast":
            judges[guard] = Judge(
                label, scorer=client, unsafe=threshold_answer(cfg), batch_size=cfg.fast.eval_batch_size
            )
        else:
            judges[guard] = Judge(label, explainer=client, scorer=client, batch_size=cfg.gate.eval_batch_size)
    return judges, clients


def _run(
    cfg: TrainConfig,
    *,
    resume: Path | None,
    feedback_topic: bool,
    serving: str,
    load: bool,
    sources: list[Any] | None = None,
) -> None:
    from guardstream.settings import load_settings
    from training.job import run_training
    from training.trainer.progress import RichProgress

    settings = load_settings()
    if sources is None:
        sources, _ = _label_sources(cfg, feedback_topic)
    judges, clients = _serving_judges(settings, serving, cfg)
    try:
        outcome = run_training(cfg, label_sources=sources, run_dir=resume, serving=judges, observer=RichProgress())
    finally:
        for client in clients:
            client.close()
    failed = []
    for guard in outcome.guards:
        typer.echo(f"{guard.guard} guard: {guard.decision.reason}")
        if guard.published is None:
            continue
        typer.echo(f"{guard.guard} guard: published version {guard.published.version} at {guard.published.path}")
        if load and guard.guard in judges:
            version = str(guard.published.version)
            if not _load_and_promote(settings, Path(cfg.repository), guard.model_name, version):
                failed.append(guard.model_name)
    typer.echo(f"run folder: {outcome.run_dir} (report.html)")
    if failed:
        raise typer.Exit(4)


def _load_and_promote(settings: Any, repository: Path, model_name: str, version: str) -> bool:
    from workers.model_versions import ModelVersions

    versions = ModelVersions(settings.triton, repository, model_name)
    try:
        versions.load(version)
        pointer = versions.promote(version)
        typer.echo(f"Triton serves {model_name} version {pointer.current} now (previous {pointer.previous or '-'})")
        return True
    except Exception as exc:  # the version stays on disk; promotion can be retried by hand
        model = "fast" if model_name == settings.triton.fast_model_name else "generative"
        typer.echo(
            f"{model_name} version {version} published but not promoted: {exc}; retry with "
            f"`guardstream model promote {version} --model {model}`",
            err=True,
        )
        return False
    finally:
        versions.close()
