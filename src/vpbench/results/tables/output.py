"""Writing a report table (HTML with caption, CSV, LaTeX) and the cell texts every table shares."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vpbench.results.frames import summarise
from vpbench.runtime import atomic_io

GAP = "—"
SAMPLE_MARK = "†"  # an interval over test samples (one seed), not across seeds
HTML_STYLES: list[dict[str, Any]] = [
    {"selector": "", "props": "border-collapse: collapse; font-family: sans-serif; font-size: 0.85em;"},
    {"selector": "caption", "props": "caption-side: top; text-align: left; padding: 0.4em 0; color: #333;"},
    {"selector": "th", "props": "background: #f0f3f7; padding: 0.3em 0.6em; border-bottom: 1px solid #bbb;"},
    {"selector": "td", "props": "padding: 0.25em 0.6em; text-align: right; white-space: nowrap;"},
    {"selector": "tbody tr:nth-child(even)", "props": "background: #fafafa;"},
]
LATEX_REPLACEMENTS = {
    "±": r"$\pm$",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "—": "--",
    "×": r"$\times$",
    "Δ": r"$\Delta$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "→": r"$\rightarrow$",
    "−": "-",
    "†": r"$^\dagger$",
    "‖": r"$\|$",
}


def write_table(table: pd.DataFrame, out_stem: str | Path, *, caption: str) -> dict[str, Path]:
    """Write ``table`` as pretty HTML (with caption), CSV and LaTeX next to ``out_stem``; return the paths."""
    stem = Path(out_stem)
    paths = {fmt: stem.with_name(f"{stem.name}.{fmt}") for fmt in ("html", "csv", "tex")}
    styler = (
        table.style.format(escape="html")
        .format_index(escape="html", axis=0)
        .format_index(escape="html", axis=1)
        .set_caption(html.escape(caption))
        .set_table_styles(HTML_STYLES)
    )
    atomic_io.write_text(paths["html"], styler.to_html())
    atomic_io.write_text(paths["csv"], table.to_csv())
    latex = table.to_latex(
        escape=True, caption=_latex_escape(caption), multicolumn=True, multirow=True, multicolumn_format="c"
    )
    for symbol, replacement in LATEX_REPLACEMENTS.items():
        latex = latex.replace(symbol, replacement)
    atomic_io.write_text(paths["tex"], latex)
    return paths


def _latex_escape(text: str) -> str:
    """Escape LaTeX specials in free text (captions are not escaped by ``to_latex``)."""
    for char in ("\\", "&", "%", "$", "#", "_", "{", "}"):
        text = text.replace(char, "\\" + char)
    return text


def finish(table: pd.DataFrame, caption: str, out_stem: str | Path | None) -> pd.DataFrame:
    """Fill gaps with "—", attach the caption, write when asked."""
    table = table.astype(object).where(table.notna(), GAP)
    table.attrs["caption"] = caption
    if out_stem is not None:
        write_table(table, out_stem, caption=caption)
    return table


def mean_std_text(mean: float, std: float, *, scale: float = 100.0, digits: int = 2) -> str:
    """``"91.01 ± 1.21"`` (std only with ≥ 2 seeds), or "—" for a missing mean."""
    if mean is None or pd.isna(mean):
        return GAP
    text = f"{mean * scale:.{digits}f}"
    if std is not None and not pd.isna(std):
        text += f" ± {std * scale:.{digits}f}"
    return text


def interval_text(
    mean: float, low: float, high: float, *, over_samples: bool = False, scale: float = 100.0, digits: int = 2
) -> str:
    """``"91.01 [89.52, 92.40]"`` (``†`` when the interval is over test samples), the mean alone without an
    interval, or "—" without a mean."""
    if mean is None or pd.isna(mean):
        return GAP
    text = f"{mean * scale:.{digits}f}"
    if low is not None and high is not None and not (pd.isna(low) or pd.isna(high)):
        text += f" [{low * scale:.{digits}f}, {high * scale:.{digits}f}]" + (
            SAMPLE_MARK if over_samples else ""
        )
    return text


def summary_lookup(
    cells: pd.DataFrame, keys: Sequence[str], metric: str = "accuracy"
) -> dict[tuple, pd.Series]:
    """``key tuple → summary row`` of :func:`summarise` for quick cell lookup."""
    summary = summarise(cells, list(keys), metric)
    return {tuple(row[k] for k in keys): row for _, row in summary.iterrows()}


def number_text(value: float, digits: int = 2, *, signed: bool = False) -> str:
    """A float with ``digits`` decimals (sign shown when asked), or "—" for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return GAP
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
