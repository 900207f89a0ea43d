"""The evaluation report: ``report.html`` with a confusion matrix and a calibration curve as PNG,
and, per source whose items carry p_unsafe, a reliability diagram and a threshold curve
(accuracy and F1 against the unsafe threshold) with the best threshold in a table.

Figures use English labels (matplotlib's bundled fonts have no Chinese glyphs); the HTML tables
carry the Chinese category and source names, and per-source figures are numbered in the tables'
order. Matplotlib runs on its non-interactive Agg backend.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.evaluation.metrics import Prediction
from training.evaluation.score_curves import SourceCurves, curves_by_source

CONFUSION_PNG = "confusion_matrix.png"
CALIBRATION_PNG = "calibration.png"
SOURCE_CALIBRATION_PNG = "calibration_source{index}.png"
SOURCE_THRESHOLD_PNG = "thresholds_source{index}.png"


def _confusion_png(path: Path, predictions: Sequence[Prediction]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = ("safe", "unsafe", "unparseable")
    counts = [[0, 0, 0], [0, 0, 0]]
    for p in predictions:
        row = 1 if p.record.unsafe else 0
        col = 2 if p.predicted_unsafe is None else (1 if p.predicted_unsafe else 0)
        counts[row][col] += 1
    fig, ax = plt.subplots(figsize=(4.8, 3.6), dpi=100)
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(3), columns)
    ax.set_yticks(range(2), ("safe", "unsafe"))
    ax.set_xlabel("model output")
    ax.set_ylabel("gold label")
    peak = max(max(r) for r in counts) or 1
    for i in range(2):
        for j in range(3):
            ax.text(
                j, i, str(counts[i][j]), ha="center", va="center", color="white" if counts[i][j] > peak / 2 else "black"
            )
    ax.set_title("confusion matrix")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _calibration_png(path: Path, table: Sequence[dict[str, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.0), dpi=100)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    if table:
        ax.plot(
            [row["mean_p_unsafe"] for row in table],
            [row["unsafe_fraction"] for row in table],
            marker="o",
            label="model",
        )
    else:
        ax.text(0.5, 0.5, "no p_unsafe scores", ha="center", va="center")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean p_unsafe (score mode)")
    ax.set_ylabel("fraction gold unsafe")
    ax.set_title("calibration")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _source_calibration_png(path: Path, curves: SourceCurves, index: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.4, 4.0), dpi=100)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    x = [row["mean_p_unsafe"] for row in curves.calibration]
    y = [row["unsafe_fraction"] for row in curves.calibration]
    ax.plot(x, y, color="tab:blue", label="model")
    ax.scatter(
        x, y, s=[20 + 200 * row["count"] / curves.items for row in curves.calibration], color="tab:blue", zorder=3
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean p_unsafe in bin (marker size: items)")
    ax.set_ylabel("fraction gold unsafe")
    ax.set_title(f"source {index}: reliability ({curves.items} items)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _source_threshold_png(path: Path, curves: SourceCurves, index: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds = [row["threshold"] for row in curves.thresholds]
    fig, ax = plt.subplots(figsize=(4.4, 4.0), dpi=100)
    for metric, style in (("accuracy", "-"), ("f1_unsafe", "--"), ("f1_safe", ":")):
        ax.plot(thresholds, [row[metric] for row in curves.thresholds], linestyle=style, label=metric)
    best = curves.best()
    ax.axvline(best["threshold"], color="grey", linewidth=0.8)
    ax.annotate(
        f"best accuracy {best['accuracy']:.3f} at {best['threshold']:.2f}",
        (best["threshold"], best["accuracy"]),
        textcoords="offset points",
        xytext=(4, -14),
        fontsize=8,
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("unsafe threshold on p_unsafe")
    ax.set_ylabel("score")
    ax.set_title(f"source {index}: threshold curve")
    ax.legend(loc="lower center")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _per_source_section(out_dir: Path, predictions: Sequence[Prediction]) -> str:
    """The per-source calibration and threshold figures with their table; empty without scores."""
    curves = curves_by_source(predictions)
    if not curves:
        return "<p>No p_unsafe scores: no calibration or threshold curves.</p>"
    rows = []
    figures = []
    for index, source in enumerate(curves, start=1):
        calibration, thresholds = SOURCE_CALIBRATION_PNG.format(index=index), SOURCE_THRESHOLD_PNG.format(index=index)
        _source_calibration_png(out_dir / calibration, source, index)
        _source_threshold_png(out_dir / thresholds, source, index)
        best, half = source.best(), source.at(0.5)
        ece = "n/a" if source.expected_calibration_error is None else source.expected_calibration_error
        rows.append(
            (
                index,
                source.source,
                source.items,
                ece,
                half["accuracy"],
                best["threshold"],
                best["accuracy"],
                source.best("f1_unsafe")["threshold"],
            )
        )
        figures.append(
            f'<figure><img src="{calibration}" alt="reliability diagram, source {index}">'
            f'<img src="{thresholds}" alt="threshold curve, source {index}">'
            f"<figcaption>source {index}: {html.escape(source.source)}</figcaption></figure>"
        )
    headers = (
        "#",
        "source",
        "scored items",
        "ECE",
        "accuracy at 0.5",
        "best-accuracy threshold",
        "its accuracy",
        "best-F1-unsafe threshold",
    )
    return _table(headers, rows) + "".join(figures)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def write_report(
    out_dir: Path,
    metrics: dict[str, dict[str, float]],
    details: dict[str, Any],
    predictions: Sequence[Prediction],
    *,
    title: str,
    extra_sections: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write the figures and ``report.html``; ``extra_sections`` are (heading, html) pairs."""
    _confusion_png(out_dir / CONFUSION_PNG, predictions)
    _calibration_png(out_dir / CALIBRATION_PNG, details.get("calibration", []))
    metric_rows = [
        (name, m["accuracy"], m["f1_safe"], m["f1_unsafe"]) for name, m in metrics.items() if name != "average"
    ]
    average = metrics["average"]
    metric_rows.append(("average (unweighted)", average["accuracy"], average["f1_safe"], average["f1_unsafe"]))
    category_rows = [(name, int(v["count"]), v["accuracy"]) for name, v in details.get("per_category", {}).items()]
    ece = details.get("expected_calibration_error")
    wrong = [p for p in predictions if not p.correct][:20]
    wrong_rows = [
        (p.record.id, p.record.label, p.record.question[:80], p.record.response[:80], p.critic[:160]) for p in wrong
    ]
    sections = [
        ("Libra-Test metrics per source", _table(("source", "accuracy", "F1-safe", "F1-unsafe"), metric_rows)),
        (
            "Summary",
            f"<p>{details.get('count', len(predictions))} items, {details.get('unparseable', 0)} unparseable "
            f"(counted as wrong). Model: {html.escape(str(details.get('model', '')))}.</p>",
        ),
        ("Accuracy per category", _table(("category_name", "items", "accuracy"), category_rows)),
        ("Confusion matrix", f'<img src="{CONFUSION_PNG}" alt="confusion matrix">'),
        (
            "Calibration",
            f'<img src="{CALIBRATION_PNG}" alt="calibration curve"><p>Expected calibration error: '
            f"{'n/a (no scores)' if ece is None else f'{ece:.4f}'}</p>",
        ),
        ("Calibration and thresholds per source", _per_source_section(out_dir, predictions)),
        *extra_sections,
        ("First wrong answers", _table(("id", "gold", "question", "response", "critic"), wrong_rows)),
    ]
    body = "\n".join(f"<h2>{html.escape(h)}</h2>\n{content}" for h, content in sections)
    page = (
        '<!doctype html>\n<html lang="zh"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#eee}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
