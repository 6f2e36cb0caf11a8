"""Unpickle plain numpy arrays without allowing a pickle to run code.

Only numpy's array-reconstruction globals resolve; any other global (``os.system``, ``builtins.eval``, a
class of some package) raises :class:`UnsafeCheckpointError` before it is looked up, so nothing executes.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, BinaryIO

import numpy as np

from vpbench.errors import UnsafeCheckpointError

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

# (module, name) as written in the pickle -> the object it may resolve to. Both numpy 1 (numpy.core) and
# numpy 2 (numpy._core) spellings map to the same functions, without importing the deprecated alias.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy.core.numeric", "_frombuffer"): _numeric._frombuffer,  # pickle protocol 5
    ("numpy._core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _NumpyArrayUnpickler(pickle.Unpickler):
    """An unpickler whose only reachable globals are numpy's array and dtype reconstructors."""

    def __init__(self, stream: BinaryIO, source: str) -> None:
        super().__init__(stream)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"refused to unpickle {self._source}: it references {module}.{name}, and only numpy array "
                "reconstruction is allowed. The file is not a plain numpy array pickle; it was not loaded."
            ) from None


def load_numpy_pickle(stream: BinaryIO | bytes, source: str) -> np.ndarray:
    """Unpickle one numeric numpy array; anything else raises :class:`UnsafeCheckpointError`."""
    if isinstance(stream, bytes):
        stream = io.BytesIO(stream)
    try:
        value = _NumpyArrayUnpickler(stream, source).load()
    except (pickle.UnpicklingError, EOFError) as exc:
        raise UnsafeCheckpointError(f"refused to unpickle {source}: {exc}") from exc
    if not isinstance(value, np.ndarray) or value.dtype.hasobject:
        raise UnsafeCheckpointError(
            f"refused {source}: expected a numeric numpy array, got {type(value).__name__}"
            + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else "")
        )
    return value
