"""The stream worker: streamed LLM replies moderated chunk by chunk, exactly once."""
