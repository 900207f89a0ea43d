"""Verdict first, analysis after: explain mode for every flagged verdict, off the critical path.

moderation.flagged ─► AnalysisLoop (own thread, own group) ─► Analyst ─► guard_explain (Triton)
                                                                │
                                      AnalysisSink: audit store, then one Kafka transaction
                                      (moderation.analyses + the flagged offsets)
"""
