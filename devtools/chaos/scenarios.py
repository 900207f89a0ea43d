"""The scenario scripts: which workers run, what is produced, and which fault strikes when.

Faults strike at moments chosen by progress (the share of records already accounted for), so
each lands mid-stream whatever the machine's speed; every wait has the run's deadline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from devtools.chaos.runner import ChaosContext, ChaosFailure, Script
from devtools.chaos.stream import (
    RESENT_CASES,
    Record,
    fuzz_records,
    mixed,
    poison_records,
    resent_stream,
    valid_records,
)
from devtools.devstack import stack
from guardstream.audit.blocklist_store import BlocklistStore
from guardstream.audit.engine import build_engine, migrate
from guardstream.blocklist.files import shipped_lists


def _valid(ctx: ChaosContext, count: int, seed_offset: int = 0) -> Iterator[Record]:
    options = ctx.options
    return valid_records(count, options.seed + seed_offset, ctx.run_id, options.json_share)


def kill9(ctx: ChaosContext) -> None:
    """kill -9 the worker at random moments, restart it with the same id each time."""
    options = ctx.options
    rng = random.Random(options.seed)
    ctx.start_worker(1)
    ctx.produce(_valid(ctx, options.events), options.events)
    moments = sorted(rng.uniform(0.05, 0.85) for _ in range(options.kills))
    for number, fraction in enumerate(moments, start=1):
        ctx.wait_fraction(fraction, f"kill {number}/{len(moments)} at {fraction:.0%}")
        time.sleep(rng.uniform(0.0, 1.5))
        ctx.fleet.kill9(ctx.worker_id(1))
        ctx.fleet.restart(ctx.worker_id(1))
    ctx.notes["kill_moments"] = [round(moment, 3) for moment in moments]


def _restart_component(ctx: ChaosContext, component: str, down_s: float) -> None:
    ctx.start_worker(1)
    ctx.produce(_valid(ctx, ctx.options.events), ctx.options.events)
    ctx.wait_fraction(0.3, f"{component} fault at 30%")
    ctx.say(f"{component} down")
    before = ctx.accounted()
    unavailable_s = stack.restart(component, ctx.devstack, down_s=down_s)
    ctx.notes[f"{component}_unavailable_s"] = round(unavailable_s, 1)
    ctx.notes["accounted_while_down"] = ctx.accounted() - before
    resumed = time.monotonic()
    ctx.wait_accounted(min(ctx.accounted() + 1, ctx.expected), f"{component} back: waiting for the worker to resume")
    ctx.notes["resumed_after_s"] = round(time.monotonic() - resumed, 1)


def triton_restart(ctx: ChaosContext) -> None:
    """Restart the Triton server mid-stream; the worker retries inference until it answers."""
    _restart_component(ctx, "triton", 0.0)


def db_outage(ctx: ChaosContext) -> None:
    """Stop the audit store's PostgreSQL for ``outage_s``; the worker retries and resumes by itself."""
    _restart_component(ctx, "postgres", ctx.options.outage_s)


FALLBACK_POLICY = """\
version: chaos-fallback
unsafe_threshold: 0.5
review_threshold: 0.35
model_unavailable: fallback
fallback_after_s: 2
"""


def fallback(ctx: ChaosContext) -> None:
    """Stop Triton for ``outage_s`` under a fallback policy with the shipped blocklists: events past
    the 2 s deadline get review verdicts from the blocklists, then the model's revision once it is back."""
    policy = ctx.options.output_dir / ctx.group / "fallback-policy.yaml"
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text(FALLBACK_POLICY, encoding="utf-8")
    engine = build_engine(ctx.audit_url)
    migrate(engine)
    store = BlocklistStore(engine)
    for blocklist in shipped_lists():
        store.replace(blocklist, by="chaos")
    ctx.fleet.env |= {"GUARDSTREAM_POLICY__FILE": str(policy), "GUARDSTREAM_TOPICS__REJUDGE": ctx.topics.rejudge}
    ctx.start_worker(1)
    events = ctx.options.events
    ctx.produce(_valid(ctx, events), events, rate=max(5.0, events / 20))  # still arriving while Triton is away
    ctx.wait_fraction(0.2, "triton outage at 20%")
    ctx.say("triton down")
    ctx.notes["triton_unavailable_s"] = round(stack.restart("triton", ctx.devstack, down_s=ctx.options.outage_s), 1)
    if not ctx.wait_all():
        return  # the runner reports what has no output
    ctx.say("waiting for the model's revisions")
    tally = ctx.reader.tally
    if not tally.fallback_ids:
        raise ChaosFailure("Triton was away past the 2 s deadline, yet no event got a fallback verdict")
    while not set(tally.revisions) >= tally.fallback_ids:
        ctx.fleet.check_alive()
        if ctx.expired():
            raise ChaosFailure(f"{len(tally.fallback_ids - set(tally.revisions))} fallback verdicts got no revision")
        time.sleep(0.25)
    ctx.notes["fallback_verdicts"] = len(tally.fallback_ids)


def broker_restart(ctx: ChaosContext) -> None:
    """Stop the Kafka broker mid-stream and start it again (same data folder)."""
    ctx.start_worker(1)
    ctx.produce(_valid(ctx, ctx.options.events), ctx.options.events)
    ctx.stream.join(ctx.deadline - time.monotonic())  # the input is complete before the broker goes
    ctx.wait_fraction(0.3, "broker restart at 30%")
    ctx.say("broker down")
    ctx.notes["kafka_unavailable_s"] = round(stack.restart("kafka", ctx.devstack, down_s=ctx.options.broker_down_s), 1)


def rebalance(ctx: ChaosContext) -> None:
    """Three workers; a fourth joins at 30%, one of the first three is killed at 60%."""
    options = ctx.options
    for index in range(1, options.rebalance_workers + 1):
        ctx.start_worker(index, wait=index == options.rebalance_workers)
    ctx.produce(_valid(ctx, options.events), options.events)
    ctx.wait_fraction(0.3, "adding a worker at 30%")
    ctx.start_worker(options.rebalance_workers + 1, wait=False)
    ctx.wait_fraction(0.6, "killing a worker at 60%")
    ctx.fleet.kill9(ctx.worker_id(1))


def poison(ctx: ChaosContext) -> None:
    """Every kind of bad input, at random places in a valid stream: each must reach the DLQ."""
    options = ctx.options
    bad = poison_records(options.seed)
    ctx.start_worker(1)
    ctx.produce(mixed(_valid(ctx, options.events), bad, options.events, options.seed), options.events + len(bad))
    ctx.notes["poison_case_names"] = sorted({record.case for record in bad})


def fuzz(ctx: ChaosContext) -> None:
    """Events at and beyond every field's limit (devtools.chaos.fuzz) among valid ones: each gets the
    verdict or the dead letter the limits give it, stored as sent, and the worker never exits."""
    options = ctx.options
    cases = fuzz_records(options.seed, ctx.run_id)
    ctx.start_worker(1)
    ctx.produce(mixed(_valid(ctx, options.events), cases, options.events, options.seed), options.events + len(cases))
    ctx.notes["fuzz_cases"] = len(cases)
    ctx.notes["fuzz_dead_letter_kinds"] = sorted({record.expected_kind or "" for record in cases} - {""})


def duplicates(ctx: ChaosContext) -> None:
    """``resend_share`` of the events sent twice: right behind themselves (one batch), further on
    under another key (another partition), and ``resend_after_s`` after the rest is judged, by a
    worker restarted since; a kill -9 midway makes the worker process batches again that hold both
    an event and its copy. Every event must get one verdict, every copy none, recorded instead."""
    options = ctx.options
    ctx.start_worker(1)
    ctx.watch_duplicates()
    stream = resent_stream(list(_valid(ctx, options.events)), options.resend_share, options.seed)
    ctx.produce(iter(stream.first), len(stream.first))
    ctx.wait_fraction(0.5, "kill -9 at 50%")
    ctx.fleet.kill9(ctx.worker_id(1))
    ctx.fleet.restart(ctx.worker_id(1))
    ctx.wait_accounted(len(stream.first), "judging the first copies")
    ctx.stream.join(ctx.deadline - time.monotonic())
    resend_at = time.monotonic() + options.resend_after_s
    while time.monotonic() < resend_at:
        ctx.fleet.check_alive()
        ctx.say(f"late copies in {resend_at - time.monotonic():.0f}s")
        time.sleep(min(1.0, max(0.0, resend_at - time.monotonic())))
    ctx.produce(iter(stream.late), len(stream.late))
    ctx.stream.join(ctx.deadline - time.monotonic())
    partitions: dict[str, set[int]] = {}
    for (partition, _), record in ctx.stream.produced.items():
        partitions.setdefault(record.event_id or "", set()).add(partition)
    resent = [record.case for record in ctx.stream.produced.values() if record.case in RESENT_CASES]
    ctx.notes.update({case.replace(":", "_"): resent.count(case) for case in RESENT_CASES})
    ctx.notes["resent_on_another_partition"] = sum(1 for seen in partitions.values() if len(seen) > 1)


def overload(ctx: ChaosContext) -> None:
    """``overload_factor`` × the sustainable rate for ``overload_s``; RSS is sampled every second."""
    options = ctx.options
    ctx.start_worker(1)
    rate = options.sustainable_rate or _measure_rate(ctx)
    ctx.notes["sustainable_rate"] = round(rate, 1)
    target = rate * options.overload_factor
    count = int(target * options.overload_s) + 1
    begin, before = time.monotonic(), ctx.stream.sent
    ctx.produce(_valid(ctx, count, seed_offset=1), count, rate=target, duration_s=options.overload_s)
    while ctx.stream.running():
        ctx.fleet.check_alive()
        ctx.say(f"overload at {target:.0f} events/s")
        if time.monotonic() > begin + options.overload_s + 120:
            raise ChaosFailure("producing the overload took far longer than its duration")
        time.sleep(0.5)
    ctx.notes["overload_window"] = (begin, time.monotonic())
    ctx.notes["overload_rate"] = round((ctx.stream.sent - before) / max(1e-6, time.monotonic() - begin), 1)


def _measure_rate(ctx: ChaosContext) -> float:
    """Verdicts/s over a backlog of ``calibration_events``, from its first fifth to its end."""
    count = ctx.options.calibration_events
    began = time.monotonic()
    ctx.produce(_valid(ctx, count, seed_offset=2), count)
    ctx.wait_accounted(count // 5, "measuring the sustainable rate")
    first, started = ctx.accounted(), time.monotonic()
    if not ctx.wait_all():
        raise ChaosFailure("the calibration stream was not processed in time")
    elapsed = time.monotonic() - started
    if count > first and elapsed > 0.5:
        return (count - first) / elapsed
    return count / max(1e-3, time.monotonic() - began)  # too quick to split: the whole backlog's rate


SCRIPTS: dict[str, Script] = {
    "kill9": kill9,
    "triton_restart": triton_restart,
    "db_outage": db_outage,
    "broker_restart": broker_restart,
    "rebalance": rebalance,
    "poison": poison,
    "fuzz": fuzz,
    "duplicates": duplicates,
    "fallback": fallback,
    "overload": overload,
}
