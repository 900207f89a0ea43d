"""The figures of one end-to-end run, and the machine-readable SUMMARY line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from guardstream.records import Analysis, AnalysisStatus, Verdict


@dataclass(frozen=True, slots=True)
class RunSummary:
    events: int
    verdicts: int
    dlq: int
    by_label: dict[str, int]
    eps: float
    p50_ms: float
    p99_ms: float

    def line(self) -> str:
        labels = self.by_label
        return (
            f"SUMMARY events={self.events} verdicts={self.verdicts} dlq={self.dlq} "
            f"safe={labels.get('safe', 0)} unsafe={labels.get('unsafe', 0)} review={labels.get('review', 0)} "
            f"eps={self.eps:.1f} p50_ms={self.p50_ms:.1f} p99_ms={self.p99_ms:.1f}"
        )


def summarise(events: int, verdicts: Iterable[Verdict], dlq: int, first_produced_ms: int) -> RunSummary:
    """eps counts verdicts per second from the first event's produce time to the last verdict."""
    verdict_list = list(verdicts)
    latencies = sorted(float(v.verdict_at_ms - v.event_created_at_ms) for v in verdict_list)
    last_verdict_ms = max((v.verdict_at_ms for v in verdict_list), default=first_produced_ms)
    elapsed_s = max(1e-3, (last_verdict_ms - first_produced_ms) / 1000.0)
    return RunSummary(
        events=events,
        verdicts=len(verdict_list),
        dlq=dlq,
        by_label=dict(Counter(v.label.value for v in verdict_list)),
        eps=len(verdict_list) / elapsed_s if verdict_list else 0.0,
        p50_ms=nearest_rank(latencies, 50),
        p99_ms=nearest_rank(latencies, 99),
    )


def nearest_rank(sorted_values: list[float], percentile: float) -> float:
    """The nearest-rank percentile of already sorted values (0.0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-int(percentile * len(sorted_values)) // 100))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """The served verdicts against the load generator's own labels."""

    true_unsafe_share: float
    served_unsafe_share: float
    agreement: float
    """Share of verdicts whose safe/unsafe side (review counts as unsafe: a person looks) is the truth's."""

    @property
    def ratio(self) -> float:
        return self.served_unsafe_share / self.true_unsafe_share if self.true_unsafe_share else float("inf")


def against_truth(verdicts: Iterable[Verdict], expected: dict[str, str]) -> GroundTruth:
    judged = [(v, expected[v.event_id]) for v in verdicts if v.event_id in expected]
    if not judged:
        return GroundTruth(0.0, 0.0, 0.0)
    unsafe_truth = sum(truth == "unsafe" for _, truth in judged)
    served_unsafe = sum(v.label.value == "unsafe" for v, _ in judged)
    agree = sum((v.label.value != "safe") == (truth == "unsafe") for v, truth in judged)
    return GroundTruth(unsafe_truth / len(judged), served_unsafe / len(judged), agree / len(judged))


def analysis_rows(flagged: set[str], analyses: list[Analysis]) -> list[tuple[str, str]]:
    """The demo table's figures of analyses: how many flagged verdicts got one, and how late."""
    explained = {a.event_id for a in analyses if a.status is AnalysisStatus.EXPLAINED}
    lags = sorted(float(a.analysed_at_ms - a.verdict_at_ms) for a in analyses)
    return [
        ("analyses of flagged verdicts", f"{len({a.event_id for a in analyses})} of {len(flagged)}"),
        ("analyses explained / unavailable", f"{len(explained)} / {len({a.event_id for a in analyses} - explained)}"),
        ("duplicate analyses", str(len(analyses) - len({a.event_id for a in analyses}))),
        ("p50 verdict→analysis ms", f"{nearest_rank(lags, 50):.1f}"),
        ("p99 verdict→analysis ms", f"{nearest_rank(lags, 99):.1f}"),
    ]
