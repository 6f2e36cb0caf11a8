"""The Snakemake report of a real (tiny) run, opened in headless Chromium: every category, subcategory and
report() item the workflow declares must render, figures must decode, no JavaScript error may occur.

tests/workflow/report_driver.js walks the report's own React app through every view and leaves a JSON
record in the DOM; a screenshot of the final view is kept as test-artifacts/report.png.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.image
import pytest

from .support import ARTIFACTS_DIR, Study, output_tail

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REQUIRED_CATEGORIES = (
    "Accuracy",
    "Compression cost",
    "Calibration",
    "Label mapping",
    "Claims",
    "Models",
    "Study",
)
DRIVER = Path(__file__).with_name("report_driver.js")
CHECK_ELEMENT = re.compile(r'<pre id="vpbench-browser-check"[^>]*>(.*?)</pre>', re.S)
# Goes first in <head>, so that errors thrown while the report's own scripts load are recorded too.
# The driver names the view it opens in window.__vpbenchView, so that an error says where it happened.
ERROR_CAPTURE = """<script>
window.__vpbenchErrors = [];
window.__vpbenchView = "page load";
function __vpbenchRecord(message) {
  window.__vpbenchErrors.push(window.__vpbenchView + ": " + message);
}
window.addEventListener("error", (event) => __vpbenchRecord(event.message));
window.addEventListener("unhandledrejection", (event) => __vpbenchRecord("rejection: " + event.reason));
</script>"""
WINDOW = (1400, 2000)
CHROMIUM_TIMEOUT_S = 180


@dataclass(frozen=True)
class RenderedReport:
    """What the report declares (its embedded data) and what Chromium rendered of it."""

    categories: dict[str, dict[str, list[str]]]
    results: dict[str, dict]
    check: dict


def embedded_json(report_html: str, name: str) -> dict:
    """The `var <name> = {...};` data in `<script id="<name>">` of Snakemake's report template."""
    pattern = re.compile(rf'<script id="{name}">\s*var {name} = ')
    match = pattern.search(report_html)
    assert match, f"the report embeds no {pattern.pattern!r}: has the Snakemake report template changed?"
    value, _ = json.JSONDecoder().raw_decode(report_html, match.end())
    return value


def with_driver(report_html: str) -> str:
    """The report with the error capture at the top of <head> and the driver at the end of <body>."""
    head = report_html.index("<head>") + len("<head>")
    body = report_html.rindex("</body>")
    driver = f"<script>\n{DRIVER.read_text()}\n</script>\n"
    return report_html[:head] + ERROR_CAPTURE + report_html[head:body] + driver + report_html[body:]


def run_chromium(chromium: str, profile_dir: Path, url: str, *mode: str) -> str:
    """Run headless Chromium on a page until the page's timers have had 60 s of virtual time."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",  # tests run as root in CI
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile_dir}",
        "--virtual-time-budget=60000",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *mode,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S)
    assert done.returncode == 0, (
        f"{' '.join(command)} exited with {done.returncode}\n{output_tail(done.stderr)}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def rendered_report(
    tiny_local_run: Path,
    tiny_study: Study,
    run_snakemake: Callable[..., subprocess.CompletedProcess[str]],
    chromium: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> RenderedReport:
    """`snakemake --report` of the local tiny run, driven through every view in Chromium; a screenshot."""
    report = tiny_local_run / "report.html"
    run_snakemake(tiny_local_run, "--report", str(report), "--configfile", str(tiny_study.path))
    report_html = report.read_text(encoding="utf-8")
    work = tmp_path_factory.mktemp("browser")
    driven = work / "report_driven.html"
    driven.write_text(with_driver(report_html), encoding="utf-8")

    dom = run_chromium(chromium, work / "profile-dom", driven.as_uri(), "--dump-dom")
    records = CHECK_ELEMENT.findall(dom)
    assert records, f"the driver left no record in the DOM; Chromium output:\n{output_tail(dom)}"
    screenshot = work / "report.png"
    run_chromium(
        chromium, work / "profile-shot", f"{driven.as_uri()}#screenshot", f"--screenshot={screenshot}"
    )
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    shutil.copyfile(screenshot, ARTIFACTS_DIR / "report.png")
    return RenderedReport(
        categories=embedded_json(report_html, "categories"),
        results=embedded_json(report_html, "results"),
        check=json.loads(html.unescape(records[-1])),
    )


def test_report_renders_every_view_without_javascript_errors(rendered_report: RenderedReport) -> None:
    assert rendered_report.check["done"], "the driver did not finish within Chromium's virtual-time budget"
    assert rendered_report.check["errors"] == []


def test_report_menu_lists_the_required_categories(rendered_report: RenderedReport) -> None:
    declared = set(rendered_report.categories)
    assert set(REQUIRED_CATEGORIES) <= declared, f"declared categories: {sorted(declared)}"
    menu_lines = rendered_report.check["menu"].splitlines()
    results_heading = [line.lower() for line in menu_lines].index("results")
    assert sorted(menu_lines[results_heading + 1 :]) == sorted(declared)


def first_label(items: list[dict]) -> str:
    """The label Snakemake's results table always shows as its first column (never a toggle).

    Mirrors AbstractResults.getLabels() of the report template: labels ordered by their earliest position.
    """
    first_index: dict[str, int] = {}
    for labels in items:
        for position, key in enumerate(labels):
            first_index.setdefault(key, position)
    return min(first_index, key=first_index.__getitem__)


def table_cells(text: str) -> set[str]:
    """The cell texts of a rendered table, from its innerText (tab-separated cells, one row per line)."""
    return {cell.strip() for line in text.splitlines() for cell in line.split("\t")}


def test_every_subcategory_table_lists_all_its_items(rendered_report: RenderedReport) -> None:
    for category, subcategories in rendered_report.categories.items():
        for subcategory, paths in subcategories.items():
            view = rendered_report.check["views"][f"{category}\u0000{subcategory}"]
            assert view["rows"] >= 1, f"{category} / {subcategory} shows no items"
            items = [rendered_report.results[path]["labels"] for path in paths]
            if all(items):  # labelled: one column per label; else the table lists paths
                key = first_label(items)
                expected = {str(labels[key]) for labels in items if key in labels}
            else:
                expected = set(paths)
            missing = expected - table_cells(view["text"])
            assert not missing, f"{category} / {subcategory} does not list {sorted(missing)}"


def test_every_report_item_renders_with_its_labels_and_figures_decode(
    rendered_report: RenderedReport,
) -> None:
    assert rendered_report.results, "the workflow declares no report() outputs"
    for path, entry in rendered_report.results.items():
        record = rendered_report.check["results"][path]
        shown = [path, *(str(value) for value in (entry.get("labels") or {}).values())]
        for text in shown:
            assert text in record["info"], f"{path}: {text!r} not shown in its result view"
        if entry["mime_type"].startswith("image/"):
            image = record["image"]
            assert image and image["complete"] and image["width"] > 0, f"{path} did not decode: {image}"


def test_screenshot_artifact_shows_a_rendered_page(rendered_report: RenderedReport) -> None:
    pixels = matplotlib.image.imread(ARTIFACTS_DIR / "report.png")
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    spread = float(pixels[..., :3].std())
    assert spread > 0.05, f"the screenshot is (nearly) one colour (pixel std {spread:.3f}): a blank page"
