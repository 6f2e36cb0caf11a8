"""The paper's claims (Misra et al., arXiv:2308.14969) tested on any study's own cells (docs/claims.md).

Each claim is a registry entry with an explicit effect, interval, test and decision rule, and evaluates to
``supported``, ``contradicted`` or ``not enough data``. A claim whose cells are absent (or whose interval is
not decisive) gives ``not enough data`` with a ``reason``, never an exception, so the same registry runs on
the demo, the paper study or a user's models.

- :mod:`.base`: the :class:`Claim` entry, thresholds, seed pairing, clustered intervals and verdicts;
- :mod:`.accuracy`: Table 1's drop levels and the low-N trend;
- :mod:`.calibration`: ECE under pruning and quantization;
- :mod:`.label_maps`: label-map agreement and drift;
- :mod:`.registry`: :data:`CLAIMS` and :func:`evaluate_claims`;
- :mod:`.report`: the claims table of the report.
"""

from vpbench.results.claims.accuracy import PAPER_TABLE1
from vpbench.results.claims.base import (
    CLAIM_COLUMNS,
    DROP_BANDS,
    ECE_MARGIN_PP,
    HIGH_DROP_PP,
    LOW_DROP_PP,
    MIN_TREND_POINTS,
    NOT_ENOUGH,
    VERDICTS,
    Claim,
    band_verdict,
    calibration_shots,
    clustered_interval,
    seed_pairs,
    sign_verdict,
)
from vpbench.results.claims.label_maps import (
    AGREEMENT_COLUMNS,
    IMAGENET_SUPERCLASS_RANGES,
    dense_seed_agreement,
    imagenet_superclass,
    label_map_agreement,
    learned_map_methods,
)
from vpbench.results.claims.registry import CLAIMS, evaluate_claims

__all__ = [
    "AGREEMENT_COLUMNS",
    "CLAIMS",
    "CLAIM_COLUMNS",
    "DROP_BANDS",
    "ECE_MARGIN_PP",
    "HIGH_DROP_PP",
    "IMAGENET_SUPERCLASS_RANGES",
    "LOW_DROP_PP",
    "MIN_TREND_POINTS",
    "NOT_ENOUGH",
    "PAPER_TABLE1",
    "VERDICTS",
    "Claim",
    "band_verdict",
    "calibration_shots",
    "clustered_interval",
    "dense_seed_agreement",
    "evaluate_claims",
    "imagenet_superclass",
    "label_map_agreement",
    "learned_map_methods",
    "seed_pairs",
    "sign_verdict",
]
