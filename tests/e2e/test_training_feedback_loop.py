"""The training loop fed by people: flagged verdicts are labelled in the review queue, the relay
puts the labels on the real ``moderation.feedback`` topic, `guardstream train run` reads them back
(joined with the audit store's verdicts), trains from the served model, evaluates both models on the
gold set, and the gate publishes a new version, with the reason in the report.

The reviewers follow a policy the served model does not know: this platform allows rumours (its
moderators label them safe), the other categories as before. Training on those labels must move the
model towards them: on held-out labelled items the candidate beats the served version.
"""

from __future__ import annotations

import html
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.feedback_outbox import FeedbackOutbox
from guardstream.audit.store import AuditStore
from guardstream.guard.categories import HarmCategory
from guardstream.paths import repository_root
from guardstream.records import ChatEvent, ChatRole, Feedback, FeedbackLabel, Verdict, VerdictLabel
from guardstream.serde.codec import decode_record, encode_record
from guardstream.settings import Settings
from tests.support.stack import unavailable
from training.data.records import GuardRecord
from training.data.synthetic.generator import SyntheticConfig, generate
from workers.cli.main import app
from workers.kafka_clients import build_reader, build_transactional_producer
from workers.review.queue import ReviewQueue
from workers.review.relay import FeedbackRelay, kafka_scan

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def flagged(index: int, question: str, response: str) -> tuple[ChatEvent, Verdict]:
    event = ChatEvent(
        event_id=f"train-e2e-{index}",
        conversation_id=f"c{index}",
        user_id="u",
        role=ChatRole.ASSISTANT,
        text=response,
        question=question,
        created_at_ms=1_000 + index,
    )
    verdict = Verdict(
        event_id=event.event_id,
        conversation_id=event.conversation_id,
        user_id="u",
        label=VerdictLabel.REVIEW,
        p_unsafe=0.45,
        model_name="guard",
        model_version="1",
        policy_version="test",
        event_created_at_ms=1_000,
        verdict_at_ms=1_100,
        queue_ms=1.0,
        inference_ms=1.0,
        end_to_end_ms=2.0,
        source_topic="chat.events",
        source_partition=0,
        source_offset=index,
    )
    return event, verdict


ALLOWED_HERE = HarmCategory.RUMORS_MISINFORMATION
"""The category this platform's reviewers label safe, unlike the data the served model learnt from."""
SERVED = repository_root() / "triton_models" / "guard" / "1" / "checkpoint"


def serving_version_one(repository: Path) -> None:
    """Version 1 of a private model repository: the default generative guard make test built."""
    if not (SERVED / "model.safetensors").is_file():
        unavailable(f"no default generative guard at {SERVED}", "make test-model builds it")
    folder = repository / "guard" / "1"
    shutil.copytree(SERVED, folder / "checkpoint")
    (folder / "model.py").write_text("from guardstream.guard.triton_backend import TritonPythonModel\n")


def reviewed_items() -> list[tuple[GuardRecord, FeedbackLabel]]:
    """Rumours a reviewer here calls safe, and as many unsafe items of other categories, still unsafe.

    Half the labels say unsafe: with the other categories' safe items too, three labels in four said safe
    (each with the same note), and a short fine-tune could pass on accuracy by answering safe for all.
    """
    pool = generate(SyntheticConfig(count=800, seed=4242, source="chat"))
    allowed = [r for r in pool if r.unsafe and r.category == ALLOWED_HERE][:64]
    others = [r for r in pool if r.unsafe and r.category != ALLOWED_HERE][: len(allowed)]
    assert len(allowed) == len(others) == 64
    labelled = [(r, FeedbackLabel.SAFE) for r in allowed]
    labelled += [(r, FeedbackLabel.UNSAFE) for r in others]
    return [labelled[i] for i in sorted(range(len(labelled)), key=lambda i: (i % len(allowed), i))]


def relay_labels(settings: Settings, outbox: FeedbackOutbox, topic: str) -> int:
    def reader() -> Any:
        return build_reader(settings.kafka, f"scan-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True})

    relay = FeedbackRelay(
        outbox,
        lambda: build_transactional_producer(settings.kafka, f"train-e2e-{uuid.uuid4().hex[:8]}"),
        kafka_scan(reader, topic, lambda value: decode_record(Feedback, value)),
        topic,
        encode_record,
        undo_window_ms=0,
    )
    return relay.run_once()


def test_labels_from_the_feedback_topic_train_a_candidate_that_follows_them(
    stack_settings: Settings, feedback_topic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit_url = f"sqlite:///{tmp_path / 'audit.db'}"
    engine = build_engine(audit_url)
    migrate(engine)
    items = reviewed_items()
    AuditStore(engine).write([flagged(i, r.question, r.response) for i, (r, _) in enumerate(items)], [])
    queue = ReviewQueue(engine)
    for i, (_, label) in enumerate(items):
        outcome = queue.record_label(f"train-e2e-{i}", 1, "alice", label, None, "人工复核", 2_000 + i)
        assert outcome.value == "recorded"
    assert relay_labels(stack_settings, FeedbackOutbox(engine), feedback_topic) == len(items)

    repository = tmp_path / "repo"
    serving_version_one(repository)
    monkeypatch.setenv("GUARDSTREAM_AUDIT__URL", audit_url)
    monkeypatch.setenv("GUARDSTREAM_TOPICS__FEEDBACK", feedback_topic)
    overrides = {
        "runs_dir": str(tmp_path / "runs"),
        "repository": str(repository),
        "model.base": "serving",
        "data.heldout_count": 40,
        "data.test_fraction": 0.25,
        "data.dev_fraction": 0.0,
        "data.use_review_store": "false",  # labels come from the topic only, as the feedback path carries them
        "stage1.steps": 0,
        "stage2.steps": 120,
        "stage2.batch_size": 16,
        "stage2.learning_rate": 0.001,
        "stage2.warmup_steps": 4,
        "gate.eval_batch_size": 20,
    }
    args = ["train", "run", "--model", "generative", "--serving", "local", "--no-load"]
    for key, value in overrides.items():
        args += ["--set", f"{key}={value}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    runs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1
    run = runs[0]
    manifest = json.loads((run / "data" / "data_manifest.json").read_text(encoding="utf-8"))
    human = [entry for entry in manifest["inputs"] if entry["kind"] == "human"]
    assert human and human[0]["records"] == len(items)
    stage2_ids = {
        json.loads(line)["id"] for line in (run / "data" / "stage2.jsonl").read_text(encoding="utf-8").splitlines()
    }
    gold_ids = {
        json.loads(line)["id"] for line in (run / "data" / "gold.jsonl").read_text(encoding="utf-8").splitlines()
    }
    human_ids = {f"fb-train-e2e-{i}" for i in range(len(items))}
    assert human_ids & stage2_ids and human_ids & gold_ids and not (stage2_ids & gold_ids)

    summary = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["guards"]["generative"]
    reason = summary["decision"]["reason"]
    assert summary["serving"] is not None, "the serving version 1 was evaluated on the same gold set"
    report = (run / "report.html").read_text(encoding="utf-8")
    assert reason in result.output and html.escape(reason) in report
    for side in ("candidate", "serving"):
        assert {"metrics.json", "predictions.jsonl", "report.html"} <= {
            p.name for p in (run / "generative" / "eval" / side).iterdir()
        }

    # On the held-out labelled items the candidate follows the reviewers where the served model does not.
    candidate, serving = summary["candidate"]["human-feedback"], summary["serving"]["human-feedback"]
    assert candidate["accuracy"] >= serving["accuracy"] + 0.2, (candidate, serving)
    assert candidate["f1_safe"] > 0 and candidate["f1_unsafe"] > 0, candidate
    assert summary["decision"]["publish"] and reason.startswith("published:")
    published = sorted(p.name for p in (repository / "guard").iterdir() if p.name.isdigit())
    assert published == ["1", "2"]
    assert (repository / "guard" / "2" / "model.py").is_file()
    assert (repository / "guard" / "2" / "checkpoint" / "model.safetensors").is_file()
    assert "quality gate: PUBLISHED" in report
