"""``guardstream explain EVENT_ID``: the guard model's reasoning for one recorded verdict."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def explain_event(
    event_id: Annotated[
        str, typer.Argument(help="The chat event's event_id (it must have a verdict in the audit store).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    save: Annotated[bool, typer.Option(help="Record the analysis with the verdict in the audit store.")] = True,
) -> None:
    """Run explain mode (greedy generation of the verdict JSON) through Triton for a recorded event.

    The event's question and response are read from the audit store, judged by the version
    serving now, and the analysis (分析) is printed next to the recorded score-mode verdict.
    """
    from guardstream.audit.engine import build_engine, migrate
    from guardstream.audit.store import AuditStore
    from guardstream.errors import GuardstreamError
    from guardstream.guard.verdict_parsing import parse_guard_output
    from guardstream.settings import load_settings
    from workers.triton_client import GuardModelClient

    settings = load_settings()
    engine = build_engine(settings.audit.url)
    migrate(engine)
    store = AuditStore(engine)
    row = store.verdict(event_id)
    event = store.judged_events([event_id]).get(event_id)
    if row is None or event is None:
        typer.echo(f"no verdict recorded for event_id {event_id!r}", err=True)
        raise typer.Exit(1)
    client = GuardModelClient(settings.triton)
    try:
        (text,) = client.explain([event.guard_pair()])
        version = client.version()
    except GuardstreamError as exc:
        typer.echo(f"explanation unavailable: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        client.close()
    parsed = parse_guard_output(text)
    if save and parsed.analysis:
        store.record_analysis(event_id, parsed.analysis)
    result = {
        "event_id": event_id,
        "recorded_label": row["label"],
        "recorded_p_unsafe": row["p_unsafe"],
        "explain_label": parsed.label.value,
        "category": parsed.category.value if parsed.category else None,
        "analysis": parsed.analysis,
        "model_version": version,
        "raw": text,
    }
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for key, value in result.items():
        typer.echo(f"{key:>18}: {value}")
