"""The local real-component stack for dev and CI: Kafka (KRaft), Triton server, PostgreSQL.

Entry points: :func:`workers.devstack.stack.up`, :func:`~workers.devstack.stack.down` and
:func:`~workers.devstack.stack.status`, configured by
:class:`workers.devstack.settings.DevStackSettings`.
"""
