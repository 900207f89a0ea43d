"""The escalation agent: windowed, stateful rules over moderation verdicts → moderation.actions.

Data flow (one faust app, built by :func:`workers.escalation.app.build_app` from settings):

``moderation.verdicts`` (read_committed) → router agent → ``<app_id>-keyed`` (each verdict twice:
keyed ``user:<id>`` and ``conversation:<id>``) → windows agent with the ``windows`` table
(changelog-backed) → ``moderation.actions``.

Pure parts, tested without Kafka: :mod:`~workers.escalation.rules` (the YAML rules),
:mod:`~workers.escalation.windows` (window math), :mod:`~workers.escalation.engine` (counting and
firing). Kafka parts: :mod:`~workers.escalation.transport` (faust over read_committed),
:mod:`~workers.escalation.sink` (actions out, and the ids already out), :mod:`~workers.escalation.app`,
:mod:`~workers.escalation.status` (what ``guardstream escalate status`` shows).
"""
