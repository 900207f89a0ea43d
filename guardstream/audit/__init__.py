"""The SQL audit store: every verdict and dead letter, written idempotently by event."""
