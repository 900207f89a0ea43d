"""``guardstream guard``: checks of the served guard model."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Checks of the guard model served by Triton.", no_args_is_help=True)


@app.callback()
def guard() -> None:
    """Checks of the guard model served by Triton."""


@app.command("agree")
def agree(
    n: Annotated[int, typer.Option("--n", min=1, help="How many generated chat items to judge in both modes.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the generated items.")] = 17,
    batch_size: Annotated[int, typer.Option(min=1, help="Items per request.")] = 16,
    show: Annotated[int, typer.Option(min=0, help="How many disagreements to print.")] = 5,
) -> None:
    """Score N items in score mode and in explain mode through Triton and compare the labels.

    Prints as its last line:
    AGREEMENT n=<int> agree=<float> score_eps=<float> explain_eps=<float>
    """
    from rich.console import Console
    from rich.progress import Progress

    from devtools.fidelity.agreement import measure_agreement
    from devtools.loadgen.chat_stream import generate_chat_events
    from guardstream.errors import GuardstreamError
    from guardstream.settings import load_settings
    from workers.triton_client import GuardModelClient

    pairs = [event.guard_pair() for event in generate_chat_events(n, seed)]
    client = GuardModelClient(load_settings().triton)
    console = Console(stderr=True)
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("explain mode", total=n)
            report = measure_agreement(client, pairs, batch_size, lambda done: progress.update(task, completed=done))
        version = client.version()
    except GuardstreamError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        client.close()
    console.print(
        f"version {version}: {report.n - len(report.disagreements)}/{report.n} agree, "
        f"{report.unparseable} unparseable explanations"
    )
    for question, response, p_unsafe, text in report.disagreements[:show]:
        console.print(f"  p_unsafe={p_unsafe:.3f} q={question[:40]!r} r={response[:40]!r} → {text[:80]!r}")
    print(report.line())
