"""The decision after each chunk of a streamed reply, and the final one: pure functions.

After a chunk the stream model's score for the reply so far is read through the policy
(:mod:`guardstream.streaming.rules`): a score the policy calls unsafe opens (or goes on with) a
*suspicion*, and the stream is on **hold** (a client shows nothing past where the suspicion
began); ``debounce_chunks`` scores in a row at or above the stop threshold **stop** it; a score the
policy does not call unsafe ends the suspicion and the stream **continues** (all but the last
``hold_back_chars`` characters may be shown). A stop is final for the provisional decisions: later
chunks repeat it.

At the reply's last chunk the whole reply gets its verdict (:func:`finish`). When that verdict and
the last published provisional action disagree (stopped but the whole reply is safe; never stopped
but the whole reply is unsafe) that action is **retracted** openly, never changed in silence.
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
        run = before.run + 1 if score.p_unsafe >= rules.stop(score.category) else 0
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


def finish(
    published: StreamProgress, decided: StreamProgress, final_label: VerdictLabel
) -> tuple[StreamProgress, Retraction | None]:
    """The last chunk's progress given the whole reply's verdict, and the retraction it needs.

    ``published`` is the stream as its last provisional decision left it (what clients were told),
    ``decided`` the same after the last chunk's own decision. A reply the whole verdict calls
    unsafe ends stopped; one it calls safe ends shown in full, even if the last chunk stopped it;
    under review a stop stands and anything else is shown. A stop that was published and is
    withdrawn, or published decisions that let an unsafe reply through, are retracted openly.
    """
    if final_label is VerdictLabel.UNSAFE or (decided.stopped and final_label is not VerdictLabel.SAFE):
        finished = replace(decided, action=StreamAction.STOP)
    else:
        finished = replace(decided, action=StreamAction.CONTINUE, visible_chars=decided.chars)
    if published.seq < 0:
        return finished, None  # nothing was published before the last chunk
    if published.stopped and finished.action is StreamAction.CONTINUE:
        reason = "the verdict on the whole reply is safe: the stop is withdrawn"
    elif not published.stopped and final_label is VerdictLabel.UNSAFE:
        reason = "the verdict on the whole reply is unsafe: what was let through is retracted"
    else:
        return finished, None
    return finished, Retraction(published.action, finished.action, reason)
