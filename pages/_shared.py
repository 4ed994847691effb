"""Cached access to the dataset for every page, and the one place that turns dataset errors into messages."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import streamlit as st

from data.settings import Settings, SettingsError, load_settings
from data.store import POINT_LAYERS, DatasetError, Store, dataset_path
from layers.labels import t
from layers.situation import boundary_features


def ensure_router() -> None:
    """Hand a page to app.py's router when Streamlit ran it on its own.

    On a fresh server, a first request for a page URL (e.g. /dispatch) makes Streamlit run
    the file in pages/ directly (its older multipage mode, chosen because pages/ exists),
    skipping app.py: no language switch, no page titles.  Switching that mode off and
    rerunning sends the request through app.py's ``st.navigation`` instead.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def lang() -> str:
    """The session's language ('zh' default)."""
    return st.session_state.get("lang", "zh")


def _stamp() -> str:
    """Cache key part that changes when the dataset file is rebuilt."""
    path = dataset_path()
    return f"{path}:{path.stat().st_mtime_ns}" if path.exists() else f"{path}:missing"


@st.cache_resource(max_entries=4)
def _store(stamp: str) -> Store:
    return Store(dataset_path())


def store() -> Store:
    """The shared read-only store, or an error message and a stopped page when the dataset is unusable."""
    try:
        return _store(_stamp())
    except DatasetError as exc:
        st.error(t("err.dataset", lang(), reason=str(exc)))
        st.info(t("err.rebuild", lang()))
        st.stop()


@st.cache_data(max_entries=8, show_spinner=False)
def _jurisdictions(stamp: str, detail: str = "display"):
    return _store(stamp).jurisdictions(detail=detail)


@st.cache_data(max_entries=4, show_spinner=False)
def _layers(stamp: str) -> dict:
    s = _store(stamp)
    return {name: s.layer(name) for name in ("places", *POINT_LAYERS)}


@st.cache_data(max_entries=4, show_spinner=False)
def _table(stamp: str, name: str):
    return _store(stamp).table(name)


def jurisdictions(detail: str = "display"):
    """All jurisdictions with `detail` outlines (cached per dataset build); do not mutate."""
    store()
    return _jurisdictions(_stamp(), detail)


def layers() -> dict:
    """Point layers by name (cached per dataset build); do not mutate."""
    store()
    return _layers(_stamp())


def table(name: str):
    """A non-spatial table ('inventory', 'contacts', 'provenance'), cached; do not mutate."""
    store()
    return _table(_stamp(), name)


#: Streamlit serves ROOT/static at /app/static (server.enableStaticServing in .streamlit/config.toml).
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "gen"
STATIC_URL = "app/static/gen"


@st.cache_resource(max_entries=8)
def _boundary_urls(stamp: str, lang: str) -> dict[str, str]:
    digest = hashlib.sha1(stamp.encode()).hexdigest()[:12]  # noqa: S324 (a file name, not security)
    STATIC_DIR.mkdir(parents=True, exist_ok=True)
    jur = _jurisdictions(stamp, "overview")
    urls = {}
    for level in ("province", "city", "county"):
        name = f"boundaries-{digest}-{level}-{lang}.json"
        path = STATIC_DIR / name
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(boundary_features(level, jur[jur["level"] == level], lang), separators=(",", ":"), ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
        urls[level] = f"{STATIC_URL}/{name}"
    return urls


def boundary_urls() -> dict[str, str]:
    """URLs of the overview boundary GeoJSON per level for this dataset build and language.

    The files are written once per build and served statically, so the browser fetches
    them once and a rerun sends only the URL (Streamlit parses map JSON slowly).
    """
    store()
    return _boundary_urls(_stamp(), lang())


def networks() -> list[dict]:
    """Saved road networks beside the dataset, the approximate one first."""
    from geo.network import list_networks, networks_dir

    return list_networks(networks_dir(dataset_path()))


@st.cache_resource(max_entries=8)
def _network(path: str, created: str):
    from geo.network import load

    return load(path)


def network(meta: dict):
    """A saved network, loaded once (memory-mapped, read-only) and shared by every session."""
    from geo.network import NetworkError

    try:
        return _network(meta["path"], meta["created"])
    except NetworkError as exc:
        st.error(str(exc))
        st.stop()


def settings() -> Settings:
    """Site settings; a bad config.toml is reported and the defaults are used."""
    try:
        return load_settings()
    except SettingsError as exc:
        st.warning(t("err.config", lang(), reason=str(exc)))
        return Settings()
