"""`guardstream eval`: Libra-Test's protocol on any Libra-Test-format file.

Without ``--model`` what Triton serves now is evaluated: by default the cascade, as users get it
(the fast guard scores every item, the policy's uncertain band goes on to the generative guard,
and the policy's unsafe threshold turns the deciding score into the answer); ``--stage fast``
evaluates the fast guard alone, ``--stage generative`` the generative guard's explain-mode answers
(score mode for calibration). ``--model`` takes a checkpoint folder (a fast guard's or a generative
guard's), or a version number of the generative guard in the model repository, and evaluates it
locally.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from guardstream.paths import repository_root


def run_eval(
    data: Annotated[Path, typer.Option("--data", help="Libra-Test-format file: JSON array, JSONL or Parquet.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for metrics.json, predictions.jsonl and report.html.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Checkpoint folder, or a version number in the model repository; default: Triton's serving version.",
        ),
    ] = None,
    repository: Annotated[
        Path | None,
        typer.Option(
            help="Triton model repository (to resolve a version number); default: triton_models in the checkout."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="Device for a local model: cpu, cuda, cuda:N or auto.")] = "cpu",
    batch_size: Annotated[int, typer.Option(help="Pairs per explain/score call.")] = 16,
    max_new_tokens: Annotated[int, typer.Option(help="Most tokens a local model may generate per answer.")] = 128,
    stage: Annotated[
        str,
        typer.Option(help="What Triton serves to evaluate (without --model): cascade, fast or generative."),
    ] = "cascade",
    attacks: Annotated[
        str | None,
        typer.Option(
            help="Measure injection flips instead: a file of attacks (JSONL or text, one a line) or 'builtin' (the held-out family)."
        ),
    ] = None,
) -> None:
    """Evaluate a guard model on a labelled file with Libra-Test's protocol (accuracy, F1 per source)."""
    from rich.progress import Progress

    from training.data.files import DataFileError, read_records
    from training.evaluation.runner import evaluate

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        records = read_records(data)
    except DataFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if stage not in STAGES:
        raise typer.BadParameter(f"choose one of {', '.join(STAGES)}", param_hint="--stage")
    judge = _judge(model, stage, repository or repository_root() / "triton_models", device, batch_size, max_new_tokens)
    if attacks is not None:
        _injection(records, judge, attacks, out, batch_size)
        return
    try:
        with Progress() as progress:
            task = progress.add_task("evaluating", total=len(records))
            result = evaluate(
                records,
                judge.explainer,
                out,
                scorer=judge.scorer,
                unsafe=judge.unsafe,
                batch_size=batch_size,
                title=f"{judge.name} on {data.name}",
                model=judge.name,
                progress=lambda done: progress.update(task, completed=done),
            )
    finally:
        if judge.close is not None:
            judge.close()
    typer.echo(json.dumps(result.metrics, indent=2, ensure_ascii=False))
    typer.echo(f"wrote {out / 'metrics.json'}, {out / 'predictions.jsonl'}, {out / 'report.html'}")


STAGES = ("cascade", "fast", "generative")


def _injection(records: list[Any], judge: Judge, attacks: str, out: Path, batch_size: int) -> None:
    """Flip rates of the judge's verdicts when an attack is added to each response; the INJECTION line last."""
    from training.evaluation.injection import BUILTIN, measure_injection, read_attacks

    if attacks != BUILTIN and not Path(attacks).is_file():
        raise typer.BadParameter(f"no attack file at {attacks} (or say {BUILTIN})", param_hint="--attacks")
    chosen = attacks if attacks == BUILTIN else read_attacks(Path(attacks))
    try:
        result = measure_injection(
            [r.pair for r in records],
            judge.scorer.score,
            judge.unsafe or _policy_unsafe(),
            chosen,
            batch_size=batch_size,
        )
    finally:
        if judge.close is not None:
            judge.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "injection.json").write_text(json.dumps(asdict(result)) + "\n", encoding="utf-8")
    typer.echo(result.line())


def _policy_unsafe() -> Callable[[float], bool]:
    from guardstream.policy import Policy
    from guardstream.records import VerdictLabel
    from guardstream.settings import load_settings

    policy = Policy.from_settings(load_settings().policy)
    return lambda p_unsafe: policy.label(p_unsafe) is VerdictLabel.UNSAFE


@dataclass(frozen=True)
class Judge:
    """What answers: generated text (explainer) or a score read through the policy (unsafe)."""

    name: str
    explainer: Any = None
    scorer: Any = None
    unsafe: Callable[[float], bool] | None = None
    close: Callable[[], None] | None = None


def _judge(model: str | None, stage: str, repository: Path, device: str, batch: int, max_new_tokens: int) -> Judge:
    from guardstream.policy import Policy
    from guardstream.settings import load_settings

    settings = load_settings()
    policy = Policy.from_settings(settings.policy)
    unsafe = _policy_unsafe()

    if model is None:
        from workers.triton_client import CascadeClient, GuardModelClient

        triton = settings.triton
        if stage == "generative":
            client = GuardModelClient(triton)
            return Judge(f"Triton {triton.model_name} (serving version)", client, client, close=client.close)
        if stage == "fast":
            fast = GuardModelClient(
                triton.model_copy(
                    update={"model_name": triton.fast_model_name, "model_version": triton.fast_model_version}
                )
            )
            return Judge(
                f"Triton {triton.fast_model_name} (serving version)", scorer=fast, unsafe=unsafe, close=fast.close
            )
        cascade = CascadeClient(triton, policy.escalates)
        name = f"Triton cascade {triton.fast_model_name} → {triton.model_name} (policy {policy.version})"
        return Judge(name, scorer=cascade, unsafe=unsafe, close=cascade.close)
    from guardstream.guard.fast_guard import FastGuardScorer, is_fast_guard

    path = Path(model)
    if model.isdigit() and not path.exists():
        path = repository / "guard" / model / "checkpoint"
    if not path.is_dir():
        raise typer.BadParameter(f"no checkpoint folder at {path}", param_hint="--model")
    if is_fast_guard(path):
        return Judge(str(path), scorer=FastGuardScorer(path, device=device, max_batch_size=batch), unsafe=unsafe)
    from guardstream.guard.explaining import GuardExplainer
    from guardstream.guard.scoring import GuardScorer

    explainer = GuardExplainer(path, device=device, max_batch_size=batch, max_new_tokens=max_new_tokens)
    return Judge(str(path), explainer, GuardScorer(path, device=device, max_batch_size=batch))
