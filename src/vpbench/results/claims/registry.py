"""The claims registry and its evaluation on a study's cells: ``claims.csv`` / ``claims.html``."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from vpbench.results.claims.accuracy import LOW_N_CLAIM, PAPER_TABLE1, _table1_claim
from vpbench.results.claims.base import CLAIM_COLUMNS, NOT_ENOUGH, Claim
from vpbench.results.claims.calibration import ECE_TREND_CLAIM, _ece_claim
from vpbench.results.claims.label_maps import _drift_claim
from vpbench.results.stats import cell_id
from vpbench.study.grid import IDENTIFIERS

CLAIMS: tuple[Claim, ...] = (
    *(_table1_claim(compression) for compression in PAPER_TABLE1),
    LOW_N_CLAIM,
    _ece_claim(quantized=False),
    ECE_TREND_CLAIM,
    _ece_claim(quantized=True),
    _drift_claim(superclass=False),
    _drift_claim(superclass=True),
)


def _missing_in_scope(claim: Claim, cells: pd.DataFrame, missing: pd.DataFrame | None) -> list[str]:
    """Cell ids of the planned-but-missing cells the claim could have used."""
    if missing is None or missing.empty:
        return []
    planned = pd.concat([cells.assign(_missing=False), missing.assign(_missing=True)], ignore_index=True)
    in_scope = claim.scope(planned).fillna(False).astype(bool) & planned["_missing"].astype(bool)
    rows = planned.loc[in_scope, list(IDENTIFIERS)].dropna()
    return sorted({cell_id(row) for row in rows.to_dict("records")})


def evaluate_claims(
    cells: pd.DataFrame,
    classes: pd.DataFrame | None = None,
    *,
    missing: pd.DataFrame | None = None,
    claims: Sequence[Claim] = CLAIMS,
) -> pd.DataFrame:
    """One row per claim with :data:`CLAIM_COLUMNS` (``claims.csv``/``claims.html``).

    ``missing`` (planned cells that failed or never finished: the identifiers plus ``is_dense``,
    ``compression`` and ``compression_kind`` from the study) lets each claim list the cells it lacks in
    ``cells_missing``; a verdict reached without them says so in ``reason``.
    """
    rows = []
    for claim in claims:
        evaluated = claim.evaluate(cells, classes)
        lacking = _missing_in_scope(claim, cells, missing) if not cells.empty else []
        if lacking:
            note = f"{len(lacking)} planned cell(s) it could use are missing (failed or not run)"
            if evaluated["verdict"] != NOT_ENOUGH:
                note += ": the verdict rests on the others"
            evaluated["reason"] = f"{evaluated['reason']}; {note}" if evaluated["reason"] else note
        rows.append(
            {
                "claim_id": claim.id,
                "statement": claim.statement,
                "source": claim.source,
                "evaluation": claim.evaluation,
                "needs": claim.needs,
                "expected": claim.expected,
                "decision_rule": claim.decision_rule,
            }
            | evaluated
            | {"cells_missing": ";".join(lacking)}
        )
    table = pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))
    return table.astype(
        {"effect": float, "ci_low": float, "ci_high": float, "level": float, "p_value": float}
    )
