"""``guardstream demo --streaming``: a few generated replies stream through a real stream worker,
shown live with the decisions as they arrive.

A producer thread sends each reply's chunks at an LLM's pace, round robin over the replies; the
terminal shows per stream the reply so far, split where the last decision put it: what a client
may show (plain), what it holds back (yellow), and, once stopped, what it must never show (red,
struck through). Retractions are listed as they come.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from devtools.demo.replay import wait_for_group_member
from devtools.streams.replies import StreamedReply, generate_replies
from devtools.streams.session import (
    chunk_records,
    create_stream_topics,
    decode_stream_record,
    delete_stream_topics,
    produce_chunks,
    start_stream_worker,
    stream_worker_environment,
)
from guardstream.serde.codec import AvroDecoder
from guardstream.settings import Settings
from guardstream.streaming.records import StreamAction, StreamRetraction, StreamVerdict
from workers.kafka_clients import build_reader, build_settings_admin_client

_STYLE = {StreamAction.CONTINUE: "green", StreamAction.HOLD: "yellow", StreamAction.STOP: "bold red"}


@dataclass(slots=True)
class _View:
    reply: StreamedReply
    last: StreamVerdict | None = None
    retractions: list[StreamRetraction] = field(default_factory=list)

    def text(self) -> Text:
        if self.last is None:
            return Text("…", style="dim")
        shown = self.reply.text[: self.last.chars]
        cut = self.last.visible_chars
        text = Text(shown[:cut])
        rest_style = "red strike" if self.last.action is StreamAction.STOP else "yellow"
        text.append(shown[cut:], style=rest_style)
        return text


def _short(stream_id: str) -> str:
    return stream_id.rsplit("-", 1)[-1]


def _table(views: list[_View], done: int) -> Table:
    table = Table(title=f"streamed replies, decisions as they arrive ({done}/{len(views)} final)", expand=True)
    table.add_column("stream", no_wrap=True)
    table.add_column("reply so far (plain: shown · yellow: held back · red: stopped)", ratio=1, overflow="fold")
    table.add_column("seq", justify="right")
    table.add_column("p_unsafe", justify="right")
    table.add_column("action")
    table.add_column("truth", no_wrap=True)
    for view in views:
        last = view.last
        action = (
            Text(last.action.value + (" (final)" if last.final else ""), style=_STYLE[last.action])
            if last
            else Text("")
        )
        truth = f"harm at {view.reply.harmful_offset}" if view.reply.unsafe else "safe"
        table.add_row(
            _short(view.reply.stream_id),
            view.text(),
            str(last.seq) if last else "",
            f"{last.p_unsafe:.2f}" if last else "",
            action,
            truth,
        )
    return table


def run_streaming_demo(
    settings: Settings,
    streams: int,
    seed: int,
    chunk_interval_ms: float,
    timeout_s: float,
    log_dir: Path,
    console: Console,
) -> bool:
    """Stream ``streams`` replies and show the decisions live; True when every stream got its final verdict."""
    run = uuid.uuid4().hex[:8]
    replies = list(generate_replies(streams, seed, run_id=f"demo-{run}"))
    views = {reply.stream_id: _View(reply) for reply in replies}
    topics = create_stream_topics(settings.kafka, f"demo.streams.{run}")
    group = f"demo-streams-{run}"
    worker = start_stream_worker(stream_worker_environment(settings, topics, settings.audit.url, group), log_dir)
    reader = build_reader(settings.kafka, f"demo-streams-reader-{run}")
    retracted: list[str] = []
    try:
        with console.status("starting a stream worker and waiting for it to join its consumer group…"):
            wait_for_group_member(build_settings_admin_client(settings.kafka), group, worker, 300)
        reader.subscribe([topics.stream_verdicts])
        chunks = chunk_records(replies, open_streams=streams, now_ms=int(time.time() * 1000))
        pace = chunk_interval_ms / 1000.0 / max(1, streams)
        producer = threading.Thread(
            target=produce_chunks,
            args=(settings.kafka, topics.reply_chunks, chunks, lambda _n: time.sleep(pace)),
            daemon=True,
        )
        producer.start()
        decoder = AvroDecoder()
        deadline = time.monotonic() + timeout_s
        done = 0
        with Live(_table(list(views.values()), 0), console=console, refresh_per_second=8) as live:
            while done < streams and time.monotonic() < deadline and worker.alive():
                for message in reader.consume(200, timeout=0.2):
                    value = message.value()
                    if message.error() or value is None:
                        continue
                    record = decode_stream_record(decoder, value)
                    view = views[record.stream_id]
                    if isinstance(record, StreamRetraction):
                        view.retractions.append(record)
                        retracted.append(
                            f"{record.stream_id.rsplit('-', 1)[-1]}: {record.retracted_action.value} → {record.action.value} ({record.reason})"
                        )
                        continue
                    view.last = record
                    done += record.final
                live.update(Group(_table(list(views.values()), done), Text("\n".join(retracted), style="magenta")))
        return done == streams
    finally:
        reader.close()
        worker.stop()
        delete_stream_topics(settings.kafka, topics)
