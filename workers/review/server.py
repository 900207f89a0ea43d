"""Assemble the review app from settings: its stores, explainer and feedback relay; serve it."""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

from fastapi import FastAPI

from guardstream.audit.engine import build_engine, prepare_schema
from guardstream.audit.feedback_outbox import FeedbackOutbox
from guardstream.records import Feedback
from guardstream.serde.codec import AvroDecoder, AvroEncoder
from guardstream.settings import Settings
from workers.review.accounts import AccountStore
from workers.review.analyses import AnalysisStore
from workers.review.app import create_app
from workers.review.auth import CookieSigner
from workers.review.explain import Explainer, TritonExplainer
from workers.review.queue import ReviewQueue
from workers.review.ratelimit import LoginRateLimiter
from workers.review.relay import FeedbackRelay, RelayRunner, kafka_scan
from workers.review.services import ReviewServices
from workers.review.settings import ReviewSettings
from workers.review.trail import ReviewTrail

log = logging.getLogger(__name__)


def build_relay(settings: Settings, review: ReviewSettings, outbox: FeedbackOutbox) -> RelayRunner:
    """The outbox relay over the real Kafka topic (Confluent framing when a registry is set)."""
    from guardstream.serde.confluent import ConfluentSerde
    from workers.kafka_clients import build_reader, build_transactional_producer

    registry = (
        ConfluentSerde.from_url(settings.kafka.schema_registry_url) if settings.kafka.schema_registry_url else None
    )
    encoder, decoder = AvroEncoder(registry), AvroDecoder(registry)
    topic = settings.topics.feedback

    def reader() -> Any:
        group = f"{review.relay_transactional_id}-scan-{secrets.token_hex(4)}"
        return build_reader(settings.kafka, group, **{"enable.partition.eof": True})

    relay = FeedbackRelay(
        outbox,
        lambda: build_transactional_producer(settings.kafka, review.relay_transactional_id),
        kafka_scan(reader, topic, lambda payload: decoder.decode(Feedback, payload)),
        topic,
        lambda feedback: encoder.encode(feedback, topic),
        undo_window_ms=int(review.undo_window_s * 1000),
    )
    return RelayRunner(relay, review.relay_interval_s)


def run_relay(settings: Settings, review: ReviewSettings, stop: threading.Event) -> None:
    """The feedback relay alone (its own process or container), until ``stop`` is set."""
    engine = build_engine(settings.audit.url)
    prepare_schema(engine, settings.audit.migrate_on_start)
    runner = build_relay(settings, review, FeedbackOutbox(engine))
    runner.start()
    log.info("relaying labels to %s every %.1fs", settings.topics.feedback, review.relay_interval_s)
    try:
        stop.wait()
    finally:
        runner.stop()
        engine.dispose()


def build_services(
    settings: Settings, review: ReviewSettings, *, with_relay: bool = True, explainer: Explainer | None = None
) -> ReviewServices:
    engine = build_engine(settings.audit.url)
    prepare_schema(engine, settings.audit.migrate_on_start)
    if review.secret_key is None:
        log.warning("GUARDSTREAM_REVIEW__SECRET_KEY is not set: sessions end when this process stops")
        key = secrets.token_urlsafe(48)
    else:
        key = review.secret_key.get_secret_value()
    return ReviewServices(
        accounts=AccountStore(engine),
        queue=ReviewQueue(engine),
        trail=ReviewTrail(engine),
        analyses=AnalysisStore(engine),
        settings=review,
        signer=CookieSigner(key, review.session_ttl_s),
        limiter=LoginRateLimiter(
            review.login_max_failures,
            review.login_max_failures_per_ip,
            review.login_max_failures_per_account,
            review.login_window_s,
        ),
        explainer=explainer or TritonExplainer(settings.triton),
        feedback_topic=settings.topics.feedback,
        relay=build_relay(settings, review, FeedbackOutbox(engine)) if with_relay else None,
    )


def build_app(settings: Settings, review: ReviewSettings, *, with_relay: bool = True) -> FastAPI:
    return create_app(build_services(settings, review, with_relay=with_relay))


def uvicorn_options(review: ReviewSettings) -> dict[str, Any]:
    """How uvicorn serves the app. Its own proxy-header handling stays off: on, it would believe
    X-Forwarded-* from 127.0.0.1 (or $FORWARDED_ALLOW_IPS) whatever ``trusted_proxies`` says;
    the app itself believes only those (``create_app``)."""
    return {"host": review.host, "port": review.port, "server_header": False, "proxy_headers": False}


def serve(settings: Settings, review: ReviewSettings, *, with_relay: bool = True) -> None:
    import uvicorn

    app = build_app(settings, review, with_relay=with_relay)
    log.info(
        "answering Host names %s only (GUARDSTREAM_REVIEW__ALLOWED_HOSTS); others get a 400",
        ", ".join(review.allowed_hosts),
    )
    log.info(
        "believing X-Forwarded-For/-Proto from %s (GUARDSTREAM_REVIEW__TRUSTED_PROXIES)",
        ", ".join(str(net) for net in review.trusted_proxies) or "no proxy",
    )
    uvicorn.run(app, log_level="info", **uvicorn_options(review))
