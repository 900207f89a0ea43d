"""A component refuses to start on ports another process holds, and names the settings that move them."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devtools.devstack.errors import DevStackError
from devtools.devstack.kafka import KafkaBroker
from devtools.devstack.processes import ProcessSupervisor
from devtools.devstack.settings import DevStackSettings
from devtools.devstack.triton import TritonServer


@pytest.mark.parametrize(
    ("component", "field", "variable"),
    [(KafkaBroker, "kafka_port", "GUARDSTREAM_DEV_KAFKA_PORT"), (TritonServer, "triton_grpc_port", "_GRPC_PORT")],
)
def test_a_port_held_by_a_stranger_is_refused_with_the_variable_to_change(
    tmp_path: Path, component: type, field: str, variable: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        settings = DevStackSettings(runtime_dir=tmp_path, **{field: port})
        instance = component(settings, ProcessSupervisor(tmp_path))
        with pytest.raises(DevStackError, match=variable) as error:
            instance.check_ports_free()
        assert str(port) in str(error.value)
    assert instance.record() is None and instance.stop() is False
