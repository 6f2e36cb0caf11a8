"""Checkpoint acquisition: verified HTTP(S) downloads with retries, and registry-driven weight staging.

A download streams into a temporary file next to its destination and is renamed into place only after
its size and sha256 check out, so a truncated or wrong file is never left at the destination nor loaded.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import http.cookiejar
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from vpbench.errors import ChecksumError, MissingSourceError
from vpbench.runtime import atomic_io

GDRIVE_URL = "https://drive.google.com/uc?export=download&id={id}"
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK = 1 << 20
_HTML_LIMIT = 2 << 20
_USER_AGENT = "vpbench/0.1 (checkpoint download)"


class _RetryableError(Exception):
    """A transient failure (connection, timeout, 5xx, truncated body): try the same URL again."""


class _PermanentError(Exception):
    """A failure that retrying the same URL will not fix (4xx, HTML instead of a file)."""


def fetch(
    source: RemoteSource | Sequence[str],
    dest: str | Path,
    sha256: str | None,
    *,
    retries: int = 3,
    timeout: float = 60,
    backoff: float = 1.0,
    progress: bool = True,
) -> str:
    """Download ``source`` to ``dest`` and return the file's sha256.

    Each URL (then the Google Drive id, if any) gets ``1 + retries`` attempts with exponential backoff on
    connection errors, timeouts, 5xx and truncated bodies. ``sha256`` (full or >= 8-hex prefix) is checked
    before the rename; ``None`` accepts any content (first-seen policy, pinned by the caller).
    """
    dest = Path(dest)
    candidates = _candidate_urls(source)
    if not candidates:
        raise MissingSourceError(
            f"no URL or Google Drive id to download {dest.name} from; place it at {dest}"
        )
    failures: list[str] = []
    checksum_failures: list[str] = []
    for url, is_gdrive in candidates:
        for attempt in range(retries + 1):
            try:
                return _download_once(url, dest, sha256, timeout=timeout, progress=progress, gdrive=is_gdrive)
            except ChecksumError as exc:
                checksum_failures.append(str(exc))
                break
            except _PermanentError as exc:
                failures.append(f"{url}: {exc}")
                break
            except _RetryableError as exc:
                failures.append(f"{url} (attempt {attempt + 1}/{retries + 1}): {exc}")
                if attempt < retries:
                    time.sleep(backoff * 2**attempt)
    expected = sha256 or "unpublished"
    if checksum_failures:
        raise ChecksumError(
            "; ".join(checksum_failures + failures)
            + f". Nothing was written to {dest} (expected sha256 {expected})."
        )
    raise MissingSourceError(
        f"could not download {dest.name}: " + "; ".join(failures) + f". Download it by hand and place it at "
        f"{dest} (expected sha256 {expected})."
    )


class RemoteSource(Protocol):
    """Where a file can be fetched: URLs and optionally a Google Drive file id."""

    urls: tuple[str, ...]
    gdrive_id: str | None


def _candidate_urls(source: RemoteSource | Sequence[str]) -> list[tuple[str, bool]]:
    """The URLs to try in order, each flagged if it is a Google Drive download (needs confirm handling)."""
    if not isinstance(source, str) and hasattr(source, "urls"):
        urls = [(url, "drive.google.com" in url) for url in source.urls]
        if source.gdrive_id:
            urls.append((GDRIVE_URL.format(id=urllib.parse.quote(source.gdrive_id)), True))
        return urls
    if isinstance(source, str):
        return [(source, "drive.google.com" in source)]
    return [(url, "drive.google.com" in url) for url in source]


def _opener() -> urllib.request.OpenerDirector:
    """An opener that verifies TLS (certifi bundle if installed, else the system store) and keeps cookies."""
    try:
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        context = ssl.create_default_context()
    return urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context),
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
    )


def _open(opener: urllib.request.OpenerDirector, url: str, timeout: float) -> Any:
    """Open ``url``, classifying failures as retryable or permanent."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        return opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in RETRY_STATUS:
            raise _RetryableError(f"HTTP {exc.code} {exc.reason}") from None
        raise _PermanentError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise _PermanentError(f"TLS certificate verification failed ({reason.verify_message})") from None
        raise _RetryableError(f"{type(exc).__name__}: {reason}") from None


def _is_html(response: Any) -> bool:
    return response.headers.get_content_type() == "text/html"


def _download_once(
    url: str, dest: Path, sha256: str | None, *, timeout: float, progress: bool, gdrive: bool
) -> str:
    """One attempt: open (following a Drive confirm page if needed), stream, verify, rename."""
    opener = _opener()
    response = _open(opener, url, timeout)
    if _is_html(response):
        if not gdrive:
            response.close()
            raise _PermanentError("the server sent an HTML page instead of the file")
        confirm_url = _gdrive_confirm_url(response, url, opener)
        response.close()
        response = _open(opener, confirm_url, timeout)
        if _is_html(response):
            response.close()
            raise _PermanentError(
                "Google Drive sent another HTML page after the confirmation (file removed, private, or its "
                "download quota exceeded; try again later or download it in a browser)"
            )
    with response:
        return _stream_verified(response, dest, sha256, progress=progress, label=url)


def _gdrive_confirm_url(response: Any, url: str, opener: urllib.request.OpenerDirector) -> str:
    """The download URL behind Google Drive's "can't scan for viruses" page (form, link or cookie token)."""
    try:
        page = response.read(_HTML_LIMIT).decode("utf-8", errors="replace")
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise _RetryableError(f"reading the Google Drive page failed: {exc}") from None
    form = re.search(r'<form[^>]*id="download-form"[^>]*action="([^"]+)"', page)
    if form:
        inputs = re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)
        query = urllib.parse.urlencode([(name, html.unescape(value)) for name, value in inputs])
        return f"{html.unescape(form.group(1))}?{query}"
    link = re.search(r'href="([^"]*confirm=[^"]+)"', page)
    if link:
        return urllib.parse.urljoin(url, html.unescape(link.group(1)))
    for handler in opener.handlers:
        jar = getattr(handler, "cookiejar", None)
        for cookie in jar or ():
            if cookie.name.startswith("download_warning"):
                return f"{url}&confirm={urllib.parse.quote(cookie.value or '')}"
    raise _PermanentError(
        "Google Drive answered with an HTML page that has no download link (file removed, private, or "
        "quota exceeded)"
    )


def _stream_verified(response: Any, dest: Path, sha256: str | None, *, progress: bool, label: str) -> str:
    """Stream the body to a temp file next to ``dest``; check length and sha256 before the rename."""
    from tqdm import tqdm

    length_header = response.headers.get("Content-Length")
    length = int(length_header) if length_header and length_header.isdigit() else None
    digest = hashlib.sha256()
    received = 0
    with atomic_io.atomic_path(dest) as tmp:
        with (
            open(tmp, "wb") as handle,
            tqdm(
                total=length, unit="B", unit_scale=True, desc=dest.name, disable=not progress, file=sys.stderr
            ) as bar,
        ):
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                    raise _RetryableError(f"transfer interrupted after {received} bytes: {exc!r}") from None
                if not chunk:
                    break
                handle.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if length is not None and received != length:
            raise _RetryableError(f"truncated transfer: received {received} of {length} bytes")
        actual = digest.hexdigest()
        if sha256 is not None and not actual.startswith(sha256.lower()):
            raise ChecksumError(
                f"sha256 mismatch for {dest.name} from {label}: expected {sha256}, got {actual}"
            )
    return actual
