"""Situation page: cold start to first map render, warm rerun, peak memory of the server."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.browser import chromium, select, serve, wait_idle

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"first_render_s": 5.0, "warm_rerun_s": 1.0}


def _peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _rendered(page) -> None:
    """Wait for the map canvas and the legend under it, then for two frames (no fixed sleeps)."""
    page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMarkdownContainer]')].some(e => e.innerText.startsWith('图例'))",
        polling="raf", timeout=60_000,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _cold_start(dataset: Path) -> tuple[float, float, float]:
    """One fresh server and browser: (server start, first render, total) in seconds."""
    t0 = time.perf_counter()
    with serve(dataset) as url, chromium() as browser:
        t_server = time.perf_counter() - t0
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        t1 = time.perf_counter()
        page.goto(url)
        _rendered(page)
        return t_server, time.perf_counter() - t1, time.perf_counter() - t0


def run(dataset: Path, *, reruns: int = 10, cold_starts: int = 3) -> dict:
    """Measure with fresh server processes and fresh browsers; return figures in seconds / MiB."""
    out: dict = {"cold": [_cold_start(dataset) for _ in range(cold_starts)]}
    with serve(dataset) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(url)
        _rendered(page)
        wait_idle(page)
        out["warm_rerun_browser_s"] = _toggle_reruns(page, reruns)
        for label, option in (("省（市）", "浙江省"), ("地市", "嘉兴市"), ("区县", "嘉善县")):
            select(page, label, option)
        out["warm_rerun_county_browser_s"] = _toggle_reruns(page, reruns)
        pids = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
        server = [int(p.name) for p in pids if _is_streamlit(p, url)]
        out["server_peak_rss_mib"] = max((_peak_rss_mib(pid) for pid in server), default=float("nan"))
    out["server_start_s"] = statistics.median(c[0] for c in out["cold"])
    out["first_render_s"] = statistics.median(c[1] for c in out["cold"])
    out["cold_total_s"] = statistics.median(c[2] for c in out["cold"])

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    script = []
    for _ in range(reruns * 2):
        t = time.perf_counter()
        at.run()
        script.append(time.perf_counter() - t)
    out["warm_rerun_script_s"] = script
    return out


def _toggle_reruns(page, n: int) -> list[float]:
    """Seconds from a click on the shelters toggle to the frame after the page shows the change."""
    toggle = page.locator('[data-testid="stSidebar"]').get_by_text("避难场所", exact=True)
    times = []
    for i in range(n):
        # The legend lists the shelters layer only while it is shown: wait for the new state,
        # then for two animation frames so deck.gl has drawn the new layers.
        expect_shown = i % 2 == 1
        t = time.perf_counter()
        toggle.click()
        page.wait_for_function(
            "(shown) => { const m = [...document.querySelectorAll('[data-testid=stMarkdownContainer]')]"
            ".find(e => e.innerText.startsWith('图例')); return m && m.innerText.includes('避难场所') === shown; }",
            arg=expect_shown, polling="raf", timeout=30_000,
        )
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        times.append(time.perf_counter() - t)
    wait_idle(page)
    return times


def _is_streamlit(proc_dir: Path, url: str) -> bool:
    try:
        cmd = (proc_dir / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    port = url.rsplit(":", 1)[1].encode()
    line = b" ".join(cmd)
    return (b"streamlit" in line or b"serve.py" in line) and port in cmd


def markdown(r: dict) -> str:
    """The section of BENCHMARKS.md for these figures."""
    med_b = statistics.median(r["warm_rerun_browser_s"])
    med_s = statistics.median(r["warm_rerun_script_s"])
    ok = lambda v, k: "✅" if v <= TARGETS[k] else "❌"  # noqa: E731
    return "\n".join(
        [
            "## Situation page (`benchmarks/situation.py`)",
            "",
            "| measure | value | target |",
            "|---|---|---|",
            f"| server start (process launch → health check ok), median | {r['server_start_s']:.2f} s | |",
            f"| first map render (navigation → map and legend drawn), median of {len(r['cold'])} cold starts | {r['first_render_s']:.2f} s ({', '.join(f'{c[1]:.2f}' for c in r['cold'])}) | ≤ 5 s {ok(r['first_render_s'], 'first_render_s')} |",
            f"| cold total (process launch → first map render), median | {r['cold_total_s']:.2f} s | |",
            f"| warm rerun in the browser (toggle a layer → map redrawn), median of {len(r['warm_rerun_browser_s'])} | {med_b:.2f} s (min {min(r['warm_rerun_browser_s']):.2f}, max {max(r['warm_rerun_browser_s']):.2f}) | ≤ 1 s {ok(med_b, 'warm_rerun_s')} |",
            f"| warm rerun in the browser, county view (嘉善县), median of {len(r['warm_rerun_county_browser_s'])} | {statistics.median(r['warm_rerun_county_browser_s']):.2f} s (min {min(r['warm_rerun_county_browser_s']):.2f}, max {max(r['warm_rerun_county_browser_s']):.2f}) | ≤ 1 s {ok(statistics.median(r['warm_rerun_county_browser_s']), 'warm_rerun_s')} |",
            f"| warm rerun of the page script (AppTest), median of {len(r['warm_rerun_script_s'])} | {med_s * 1000:.0f} ms | |",
            f"| server peak memory (VmHWM) | {r['server_peak_rss_mib']:.0f} MiB | |",
            "",
            "The browser figure runs from the click to the frame after the new legend appears: Streamlit's",
            "websocket round trip, the page script, and deck.gl drawing in software WebGL.",
        ]
    )
