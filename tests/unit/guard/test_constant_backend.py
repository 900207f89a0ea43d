import numpy as np
import pytest

from guardstream.guard.constant_backend import DEFAULT_P_UNSAFE, constant_outputs, constant_p_unsafe


def test_outputs_have_the_guard_contract_shapes_and_types() -> None:
    outputs = constant_outputs(3, 0.2)
    assert set(outputs) == {"P_UNSAFE", "CATEGORY", "CATEGORY_SCORE"}
    assert outputs["P_UNSAFE"].shape == (3, 1) and outputs["P_UNSAFE"].dtype == np.float32
    assert np.allclose(outputs["P_UNSAFE"], 0.2)
    assert outputs["CATEGORY"].dtype == np.object_ and outputs["CATEGORY"][0, 0] == b""
    assert outputs["CATEGORY_SCORE"].shape == (3, 1)


def test_p_unsafe_comes_from_the_config() -> None:
    assert constant_p_unsafe({"parameters": {"p_unsafe": {"string_value": "0.7"}}}) == 0.7
    assert constant_p_unsafe({}) == DEFAULT_P_UNSAFE
    with pytest.raises(ValueError):
        constant_p_unsafe({"parameters": {"p_unsafe": {"string_value": "1.5"}}})
