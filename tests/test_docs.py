"""Every docs/ file the code cites exists, and the package cites no external section numbers.

Facts the code relies on live in docs/ in this repository; a citation that names a missing file, or a
"§n" that points into a document outside the repository, leaves a reader with nothing to check.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A docs path ends with a file extension; trailing sentence punctuation is not part of it.
DOCS_PATH = re.compile(r"docs/(?:[\w.-]+/)*[\w-]+\.[A-Za-z0-9]+")
TEXT_SUFFIXES = {".py", ".smk", ".md", ".yaml", ".yml", ".json", ".txt", ".cfg", ".toml"}


def _generated(path: Path) -> bool:
    return any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts)


def _citing_files() -> list[Path]:
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "rules").glob("*.smk"), ROOT / "README.md"]
    files += [p for p in (ROOT / "workflow").rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES]
    return sorted(p for p in files if p.is_file() and not _generated(p.relative_to(ROOT)))


def cited_docs() -> dict[str, list[str]]:
    """Cited docs path → the files (relative to the repository root) that cite it."""
    citations: dict[str, list[str]] = {}
    for path in _citing_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for cited in sorted(set(DOCS_PATH.findall(text))):
            citations.setdefault(cited, []).append(str(path.relative_to(ROOT)))
    return citations


def test_the_scan_finds_citations():
    # Guards the regex: the package cites docs in many modules, so an empty scan means a broken test.
    citations = cited_docs()
    assert "docs/metrics.md" in citations
    assert "docs/methods/clip.md" in citations  # also cited as "docs/methods/clip.md." (sentence end)
    assert not any(path.endswith(".") for path in citations)


def test_every_cited_docs_file_exists():
    missing = {cited: citers for cited, citers in cited_docs().items() if not (ROOT / cited).is_file()}
    assert not missing, "cited docs files that do not exist:\n" + "\n".join(
        f"  {cited} (cited by {', '.join(citers)})" for cited, citers in sorted(missing.items())
    )


def test_no_section_sign_under_src():
    # "§n" cites a section of a document outside the repository; cite a docs/ file instead.
    # Generated files (bytecode caches, egg-info) are skipped: they follow the sources.
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "src").rglob("*"))
        if path.is_file() and not _generated(path.relative_to(ROOT)) and "§".encode() in path.read_bytes()
    ]
    assert not offenders, f"files under src/ containing '§': {offenders}"
