"""Serve the app on a free port and drive it with headless Debian Chromium (Playwright)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(argv: list[str], *, ready_url: str, ready: Callable[[bytes], bool], what: str, timeout_s: float = 60, poll_s: float = 0.3, **popen) -> Iterator[None]:
    """Run `argv` (output kept for the error message), wait until `ready_url` answers with a body
    `ready` accepts, yield; stop the process afterwards (terminate, then kill)."""
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **popen)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as r:
                    if ready(r.read()):
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    out = log.read().decode(errors="replace")
                    raise RuntimeError(f"{what} did not start:\n{out}") from None
                time.sleep(poll_s)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def serve(dataset: Path, *, config: Path | None = None, root: Path = ROOT, timeout_s: float = 60) -> Iterator[str]:
    """Run the app of `root` (this checkout by default) with serve.py against `dataset`, from `root`
    as a server is run (Streamlit reads `root`/.streamlit/config.toml); yield its URL; stop it afterwards."""
    port = free_port()
    env = {**os.environ, "YRD_DATASET": str(dataset), "YRD_CONFIG": str(config or ROOT / "tests" / "no-config.toml")}
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, str(root / "serve.py"), "--server.port", str(port), "--server.headless", "true"]
    with running(argv, ready_url=url + "/_stcore/health", ready=lambda body: body == b"ok", what="streamlit", timeout_s=timeout_s, cwd=root, env=env):
        yield url


@contextlib.contextmanager
def chromium(viewport=(1500, 1100)):
    """A headless Chromium browser (Debian's binary, no download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_idle(page, timeout_ms: int = 30_000) -> None:
    """Wait until Streamlit has finished the current rerun."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms
    )
    page.wait_for_timeout(300)


def select(page, label: str, option: str) -> None:
    """Choose `option` in the Streamlit selectbox labelled `label`."""
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    box.press_sequentially(option[:3])  # long lists render lazily: filter first
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def metric(page, label: str) -> str:
    """The value shown by the st.metric labelled `label`."""
    m = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True))
    return m.locator('[data-testid="stMetricValue"]').inner_text().strip()
