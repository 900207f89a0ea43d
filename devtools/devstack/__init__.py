"""The local real-component stack for dev and CI: Kafka (KRaft), Triton server, PostgreSQL.

Entry points: :func:`devtools.devstack.stack.up`, :func:`~devtools.devstack.stack.down` and
:func:`~devtools.devstack.stack.status`, configured by
:class:`devtools.devstack.settings.DevStackSettings`.
"""
