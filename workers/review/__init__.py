"""The review web app: moderators label flagged chat; their labels feed the training loop.

The queue reads the audit store (the moderation worker writes every verdict there before its
Kafka transaction commits, with the question, text and context), so no consumer of
``moderation.flagged`` is needed; labels are written to the audit store and relayed, exactly
once, to ``moderation.feedback``.
"""
