"""The moderation worker: consume chat events, batch, ask the guard model, produce verdicts."""
