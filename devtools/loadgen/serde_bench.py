"""Serde throughput on generated chat: ``python -m devtools.loadgen.serde_bench [n]``.

Prints events/s for ChatEvent decode (the worker's input) and Verdict encode (its output), each
on one core, over a realistic mix of generated events. Figures, not assertions.
"""

from __future__ import annotations

import sys
import time

from devtools.loadgen.chat_stream import generate_chat_events
from guardstream.records import CategoryScore, Verdict, VerdictLabel
from guardstream.serde import AvroDecoder, AvroEncoder, ChatEventDecoder


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s"


def main(n: int = 50_000) -> None:
    events = list(generate_chat_events(n, seed=1, start_ms=1_735_689_600_000))
    encoder, decoder, chat = AvroEncoder(), AvroDecoder(), ChatEventDecoder()
    verdicts = [
        Verdict(
            event_id=e.event_id,
            conversation_id=e.conversation_id,
            user_id=e.user_id,
            label=VerdictLabel.SAFE,
            p_unsafe=0.02,
            categories=(CategoryScore(category="隐私财产", score=0.01),),
            model_name="guard",
            model_version="1",
            policy_version="p1",
            event_created_at_ms=e.created_at_ms,
            verdict_at_ms=e.created_at_ms + 40,
            queue_ms=2.5,
            inference_ms=18.0,
            end_to_end_ms=40.0,
            source_topic="chat.events",
            source_partition=0,
            source_offset=i,
        )
        for i, e in enumerate(events)
    ]
    t0 = time.perf_counter()
    payloads = [encoder.encode(e) for e in events]
    t1 = time.perf_counter()
    for p in payloads:
        chat.decode(p)
    t2 = time.perf_counter()
    vpayloads = [encoder.encode(v) for v in verdicts]
    t3 = time.perf_counter()
    for p in vpayloads:
        decoder.decode(Verdict, p)
    t4 = time.perf_counter()
    print(
        f"ChatEvent encode {_rate(n, t1 - t0)}  decode+validate {_rate(n, t2 - t1)}  "
        f"mean size {sum(map(len, payloads)) / n:.0f} B"
    )
    print(
        f"Verdict   encode {_rate(n, t3 - t2)}  decode {_rate(n, t4 - t3)}  "
        f"mean size {sum(map(len, vpayloads)) / n:.0f} B"
    )
    print(f"worker serde per event (ChatEvent decode + Verdict encode): {_rate(n, (t2 - t1) + (t3 - t2))}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
