"""The numpy-only unpickler: plain arrays load, anything needing other globals is refused unexecuted."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from vpbench.errors import UnsafeCheckpointError
from vpbench.sources.safe_pickle import load_numpy_pickle


class _RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [3, 4, 5])
@pytest.mark.parametrize("dtype", ["uint8", "int64", "float32"])
def test_plain_numpy_arrays_round_trip(protocol, dtype):
    array = np.arange(24, dtype=dtype).reshape(2, 3, 4)
    loaded = load_numpy_pickle(pickle.dumps(array, protocol=protocol), source="array")
    np.testing.assert_array_equal(loaded, array)
    assert loaded.dtype == array.dtype


def test_a_pickle_that_calls_os_system_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsAShellCommand(marker))
    with pytest.raises(UnsafeCheckpointError, match=r"references (posix|os|nt)\.system"):
        load_numpy_pickle(payload, source="evil.pkl")
    assert not marker.exists()


def test_builtins_eval_is_refused():
    payload = b"cbuiltins\neval\n(S'1+1'\ntR."
    with pytest.raises(UnsafeCheckpointError, match=r"builtins\.eval"):
        load_numpy_pickle(payload, source="eval.pkl")


def test_object_arrays_and_non_arrays_are_refused():
    with pytest.raises(UnsafeCheckpointError, match="numeric numpy array"):
        load_numpy_pickle(pickle.dumps(np.array(["a", 1], dtype=object)), source="objects.pkl")
    with pytest.raises(UnsafeCheckpointError, match="got dict"):
        load_numpy_pickle(pickle.dumps({"a": 1}), source="dict.pkl")


def test_truncated_pickle_is_refused():
    with pytest.raises(UnsafeCheckpointError, match=r"truncated\.pkl"):
        load_numpy_pickle(pickle.dumps(np.zeros(100))[:40], source="truncated.pkl")
