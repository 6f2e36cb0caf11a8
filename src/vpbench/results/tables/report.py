"""Report tables about the study itself: its recipe, its missing cells, its statistics and its claims."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from vpbench.results.figures.labels import dataset_label, method_label, method_sort_key, model_label
from vpbench.results.frames import ordered_shots, shots_sort_key
from vpbench.results.tables.output import GAP, finish, number_text
from vpbench.runtime import atomic_io

RECIPE_SETTINGS: tuple[tuple[str, str], ...] = (
    ("epochs", "epochs"),
    ("max_steps", "step budget"),
    ("batch_size", "batch size per N-shot"),
    ("optimizer", "optimiser"),
    ("lr", "learning rate"),
    ("momentum", "momentum"),
    ("weight_decay", "weight decay"),
    ("schedule", "LR schedule"),
    ("milestones", "milestones (fraction of training)"),
    ("gamma", "decay factor"),
    ("warmup_steps", "warm-up steps"),
    ("selection", "reported epoch (selection)"),
    ("precision", "precision (CUDA autocast; CPU runs fp32)"),
    ("eval_batch_size", "evaluation batch size"),
    ("eval_every", "periodic evaluation every k epochs"),
)


def study_recipes(study: Any) -> dict[str, dict[str, str]]:
    """Method → setting → value as every cell of that method resolves it (``engine.settings``), plus the
    study-wide grid; plain text so that the workflow can pass it as a param (a change reruns the table)."""
    from vpbench.engine.settings import train_settings

    recipes: dict[str, dict[str, str]] = {}
    for method in sorted({cell.method for cell in study.cells}, key=method_sort_key):
        cells = [cell for cell in study.cells if cell.method == method]
        resolved = {cell.shots: train_settings(study, cell) for cell in cells}
        first = resolved[ordered_shots(resolved)[0]]
        values: dict[str, str] = {}
        for key, _ in RECIPE_SETTINGS:
            if key == "batch_size":
                values[key] = ", ".join(f"{s}: {resolved[s].batch_size}" for s in ordered_shots(resolved))
            else:
                value = getattr(first, key)
                values[key] = (
                    "—"
                    if value is None
                    else ", ".join(map(str, value))
                    if isinstance(value, tuple)
                    else str(value)
                )
        values["shots"] = ", ".join(ordered_shots(resolved))
        values["seeds"] = ", ".join(str(s) for s in sorted({cell.seed for cell in cells}))
        values["cells"] = str(len(cells))
        recipes[method] = values
    return recipes


def study_context(study: Any) -> dict[str, str]:
    """Study-wide settings shown under the recipe table."""
    return {
        "study": study.name,
        "device": study.device,
        "prompt canvas / patch": f"{study.canvas or 'model input size'} / {study.patch or '—'}",
        "N-shot sampling": study.split_mode,
        "label order": study.label_order,
        "packing": "on" if study.packing.get("enabled") else "off",
        "cells": str(len(study.cells)),
    }


def study_table(
    recipes: Mapping[str, Mapping[str, str]],
    context: Mapping[str, str] | None = None,
    *,
    cells: pd.DataFrame | None = None,
    out_stem: str | Path | None = None,
) -> pd.DataFrame:
    """The resolved recipe per method (columns) and setting (rows), with what the finished cells recorded."""
    labels = dict(RECIPE_SETTINGS) | {"shots": "N-shots", "seeds": "seeds", "cells": "planned cells"}
    order = ["cells", "shots", "seeds", *[key for key, _ in RECIPE_SETTINGS]]
    data = {method_label(m): [values.get(k, GAP) for k in order] for m, values in recipes.items()}
    index = [labels[k] for k in order]
    if cells is not None and len(cells):
        recorded = {
            "epochs": "epochs (recorded by the cells)",
            "lr": "learning rate (recorded)",
            "batch_size": "batch size (recorded)",
            "precision": "precision (recorded)",
            "device": "device (recorded)",
        }
        for column, name in recorded.items():
            if column not in cells.columns:
                continue
            index.append(name)
            for method in recipes:
                values = cells.loc[cells["method"] == method, column].dropna()
                text = ", ".join(str(v) for v in sorted(set(values.map(_plain)), key=str)) or GAP
                data[method_label(method)].append(text)
    table = pd.DataFrame(data, index=pd.Index(index, name="setting"))
    settings = "; ".join(f"{k}: {v}" for k, v in (context or {}).items())
    caption = (
        "The study as run: each method's training recipe as its cells resolve it (the method's published "
        "recipe with the study's settings and per-method overrides on top), and what the finished cells "
        f"recorded. {settings}"
    )
    return finish(table, caption, out_stem)


def _plain(value: Any) -> Any:
    """An int-valued float as an int (so 10.0 epochs reads 10)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def missing_cells_table(
    missing: pd.DataFrame, *, planned: int | None = None, out_stem: str | Path | None = None
) -> pd.DataFrame:
    """Every planned cell that failed or did not finish, with the rule, the log and the reason."""
    columns = ["Dataset", "Model", "Variant", "Method", "N-shot", "Seed", "Rule", "Log", "Reason", "Folder"]
    rows = [
        [
            dataset_label(str(row.get("dataset", ""))),
            str(row.get("model", "")),
            str(row.get("variant", "")),
            method_label(str(row.get("method", ""))),
            str(row.get("shots", "")),
            str(row.get("seed", "")),
            str(row.get("rule", "") or GAP),
            str(row.get("log", "") or GAP),
            str(row.get("reason", "")),
            str(row.get("cell_dir", "")),
        ]
        for row in missing.fillna("").to_dict("records")
    ]
    table = pd.DataFrame(rows, columns=columns)
    of = f" of {planned}" if planned is not None else ""
    if rows:
        caption = (
            f"{len(rows)}{of} planned cells failed or did not finish; tables, figures and claims were "
            "built without them (each figure and claim names the ones it lacks). The failure records are "
            "removed at the end of the run, so the next run retries exactly these cells."
        )
    else:
        count = planned if planned is not None else "all"
        caption = f"Every planned cell finished ({count} cells); none failed."
    return finish(table, caption, out_stem)


def comparisons_table(
    comparisons: pd.DataFrame,
    *,
    cells: pd.DataFrame | None = None,
    metric: str = "accuracy",
    out_stem: str | Path | None = None,
) -> pd.DataFrame:
    """Every dense-versus-compressed comparison of ``metric`` with both paired tests side by side."""
    rows = comparisons.loc[comparisons["metric"] == metric] if len(comparisons) else comparisons
    keys = ["model", "dataset", "method", "variant", "shots"]
    tests = {test: part.set_index(keys) for test, part in rows.groupby("test")} if len(rows) else {}
    index = sorted(
        {tuple(map(str, k)) for part in tests.values() for k in part.index},
        key=lambda k: (k[0], k[1], method_sort_key(k[2]), k[3], shots_sort_key(k[4])),
    )
    scale = 100.0 if metric in ("accuracy", "ece") else 1.0
    records = []
    correction = str(rows["correction"].iloc[0]) if len(rows) else "holm"
    for key in index:
        record = {
            "Model": model_label(key[0], cells),
            "Dataset": dataset_label(key[1]),
            "Method": method_label(key[2]),
            "Variant": key[3],
            "N-shot": key[4],
        }
        for test, name in (
            ("paired_t", "across seeds (paired t)"),
            ("paired_bootstrap", "test samples (bootstrap)"),
        ):
            part = tests.get(test)
            row = part.loc[key] if part is not None and key in part.index else None
            if row is None:
                record |= {f"Δ [95% CI], {name}": GAP, f"p adj., {name}": GAP}
                continue
            delta = number_text(row["delta"] * scale)
            ci = f" [{number_text(row['ci_low'] * scale)}, {number_text(row['ci_high'] * scale)}]"
            record[f"Δ [95% CI], {name}"] = delta + (ci if pd.notna(row["ci_low"]) else "")
            p = number_text(row["p_adjusted"], 4)
            record[f"p adj., {name}"] = (
                p + (" *" if bool(row["significant"]) else "")
                if p != GAP
                else (str(row["reason"])[:60] or GAP)
            )
            record["Seeds"] = int(row["n_seeds"])
        records.append(record)
    table = pd.DataFrame.from_records(records)
    if table.empty:
        table = pd.DataFrame(columns=["Model", "Dataset", "Method", "Variant", "N-shot"])
    table = table.set_index(["Model", "Dataset", "Method", "Variant", "N-shot"])
    name = {"holm": "Holm", "bh": "Benjamini–Hochberg"}.get(correction, correction)
    caption = (
        f"Dense minus compressed {metric} ({'pp' if scale == 100 else 'units'}), every comparison, "
        "paired by seed (the same N-shot subset): the paired t-test across seeds (needs ≥ 2 seeds) and the "
        "paired bootstrap over test samples (valid with one seed; conditional on the trained prompts). "
        f"p-values are {name}-adjusted within each heatmap (model × dataset × method); * = significant at "
        "α = 0.05. Where a test is not estimable, its reason is shown."
    )
    return finish(table, caption, out_stem)


def claims_table(claims: pd.DataFrame, *, out_stem: str | Path | None = None) -> pd.DataFrame:
    """The claims for the report (HTML) and in full (CSV: every column, cell ids included)."""
    records = []
    for row in claims.to_dict("records"):
        interval = GAP
        if pd.notna(row["ci_low"]) and pd.notna(row["ci_high"]):
            interval = f"[{row['ci_low']:.3g}, {row['ci_high']:.3g}]"
        used = [c for c in str(row["cells_used"]).split(";") if c]
        lacking = [c for c in str(row.get("cells_missing", "")).split(";") if c]
        records.append(
            {
                "Claim": row["claim_id"],
                "Statement (source)": f"{row['statement']} ({row['source']})",
                "Expected": row["expected"],
                "Effect": f"{row['effect']:.3g}" if pd.notna(row["effect"]) else GAP,
                "95% interval": interval,
                "Unit (n)": f"{row['unit'] or GAP} ({int(row['n_units'])})",
                "p": number_text(row["p_value"], 4),
                "Verdict": row["verdict"],
                "Reason": row["reason"],
                "Cells used": len(used),
                "Cells missing": len(lacking),
            }
        )
    columns = ["Claim", "Statement (source)", "Expected", "Effect", "95% interval", "Unit (n)", "p",
               "Verdict", "Reason", "Cells used", "Cells missing"]  # fmt: skip
    table = pd.DataFrame.from_records(records, columns=columns).set_index("Claim")
    counts = claims["verdict"].value_counts().to_dict() if len(claims) else {}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items()) or "no claims"
    caption = (
        f"The paper's claims tested on this study's own cells ({summary}). Each effect has a 95% interval "
        "across datasets (across comparisons or series when the study has one dataset) and a decision rule "
        "(docs/claims.md); 'not enough data' means the cells are absent or the interval decides neither "
        "way. claims.csv lists every column, with the cell ids each claim used and lacked."
    )
    display = finish(table, caption, out_stem)
    if out_stem is not None:  # the CSV holds the full evaluation, not the display columns
        atomic_io.write_text(Path(out_stem).with_suffix(".csv"), claims.to_csv(index=False))
    return display


def recipes_json(study: Any) -> str:
    """:func:`study_recipes` and :func:`study_context` as one JSON string (a workflow param)."""
    return json.dumps({"recipes": study_recipes(study), "context": study_context(study)}, sort_keys=True)
