"""faust over aiokafka, reading only committed records.

faust reads ``read_committed`` only under its ``exactly_once`` guarantee, whose transactions do
not hold with this faust/aiokafka/broker combination (see ``workers/escalation/app.py``). The
agent runs ``at_least_once`` and still must not count verdicts of aborted transactions, so its
consumer is built by faust as usual and then switched to ``read_committed`` before it starts.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT

READ_COMMITTED = "read_committed"


class _ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this attribute to its fetcher on start(); the integration tests check
        # that records of an aborted transaction are never counted.
        consumer._isolation_level = READ_COMMITTED
        return consumer


class _ReadCommittedConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class ReadCommittedTransport(faust_aiokafka.Transport):
    """The aiokafka transport whose worker consumer reads committed records only."""

    Consumer = _ReadCommittedConsumer


class ReadCommittedApp(faust.App):
    """A faust app whose consumer transport is :class:`ReadCommittedTransport`."""

    def _new_transport(self) -> TransportT:
        return ReadCommittedTransport(self.conf.broker_consumer, self)
