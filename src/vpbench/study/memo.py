"""Values derived from a frozen study, computed once per study: what planning asks per job.

Snakemake asks every training job of the paper grid (10,119 jobs, 18,759 cells) for its inputs and
params; most of the answer depends on a few identifiers only (a method's options, a variant's identity,
a (method, model, variant, dataset)'s cache geometry). The study is frozen, so each answer is computed
once and kept in ``study.memo`` (a fresh study, e.g. from ``dataclasses.replace``, starts empty).
Memoised values are shared: callers must not mutate them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from vpbench.study.spec import Study

T = TypeVar("T")


def memoised(study: Study, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` the first time ``key`` is asked of ``study``, the kept value afterwards."""
    try:
        return study.memo[key]
    except KeyError:
        value = study.memo[key] = compute()
        return value
