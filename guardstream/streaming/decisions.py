"""The decision after each chunk of a streamed reply, and the final one: pure functions.

After a chunk the stream model's score for the reply so far is read through the policy: an unsafe
score opens (or lengthens) a run; the run's first chunk puts the stream on **hold** (a client shows
nothing past where the run began), ``debounce_chunks`` in a row **stop** it, and a score that is not
unsafe ends the run and **continues** (all but the last ``hold_back_chars`` characters may be
shown). A stop is final for the provisional decisions: later chunks repeat it.

At the reply's last chunk the whole reply gets its verdict (:func:`finish`). When that verdict and
the last provisional action disagree (stopped but the whole reply is safe; never stopped but the
whole reply is unsafe) the provisional action is **retracted** openly, never changed in silence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from guardstream.guard.categories import HarmCategory
from guardstream.policy import Policy
from guardstream.records import VerdictLabel
from guardstream.streaming.progress import StreamProgress
from guardstream.streaming.records import StreamAction


@dataclass(frozen=True, slots=True)
class ChunkScore:
    """The stream model's answer for a reply so far."""

    p_unsafe: float
    category: HarmCategory | None


@dataclass(frozen=True, slots=True)
class Decision:
    label: VerdictLabel
    action: StreamAction
    visible_chars: int
    first_unsafe_offset: int | None


@dataclass(frozen=True, slots=True)
class Retraction:
    retracted_action: StreamAction
    action: StreamAction
    reason: str


def decide(
    before: StreamProgress, after: StreamProgress, score: ChunkScore, policy: Policy
) -> tuple[StreamProgress, Decision]:
    """The decision on ``after`` (``before`` extended by one chunk) and the progress that records it."""
    label = policy.label(score.p_unsafe, score.category)
    rules = policy.streaming
    if before.stopped:
        decision = Decision(label, StreamAction.STOP, before.visible_chars, before.first_unsafe_offset)
        return after, decision
    if label is VerdictLabel.UNSAFE:
        run = before.run + 1
        run_start = before.run_start if before.run_start is not None else before.chars
        visible = max(before.visible_chars, min(run_start, after.chars - rules.hold_back(score.category)))
        action = StreamAction.STOP if run >= rules.debounce(score.category) else StreamAction.HOLD
        progress = replace(
            after,
            run=run,
            run_start=run_start,
            action=action,
            visible_chars=visible,
            first_unsafe_offset=run_start if action is StreamAction.STOP else None,
        )
        return progress, Decision(label, action, visible, run_start)
    visible = max(before.visible_chars, after.chars - rules.hold_back(score.category))
    progress = replace(after, run=0, run_start=None, action=StreamAction.CONTINUE, visible_chars=visible)
    return progress, Decision(label, StreamAction.CONTINUE, visible, None)


def finish(progress: StreamProgress, final_label: VerdictLabel) -> tuple[StreamProgress, Retraction | None]:
    """The last chunk's progress given the whole reply's verdict, and the retraction it needs, if any.

    A reply that ends shows in full unless it was stopped."""
    if progress.stopped and final_label is VerdictLabel.SAFE:
        retraction = Retraction(
            StreamAction.STOP, StreamAction.CONTINUE, "the verdict on the whole reply is safe: the stop is withdrawn"
        )
        return replace(progress, action=StreamAction.CONTINUE, visible_chars=progress.chars), retraction
    if not progress.stopped and final_label is VerdictLabel.UNSAFE:
        retraction = Retraction(
            progress.action, StreamAction.STOP, "the verdict on the whole reply is unsafe: the reply is stopped"
        )
        return replace(progress, action=StreamAction.STOP), retraction
    if progress.stopped:
        return progress, None
    return replace(progress, action=StreamAction.CONTINUE, visible_chars=progress.chars), None
