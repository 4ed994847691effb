"""Cached access to the dataset for every page, and the one place that turns dataset errors into messages."""

from __future__ import annotations

import streamlit as st

from data.settings import Settings, SettingsError, load_settings
from data.store import POINT_LAYERS, DatasetError, Store, dataset_path
from layers.labels import t


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


@st.cache_data(max_entries=4, show_spinner=False)
def _jurisdictions(stamp: str):
    return _store(stamp).jurisdictions(display=True)


@st.cache_data(max_entries=4, show_spinner=False)
def _layers(stamp: str) -> dict:
    s = _store(stamp)
    return {name: s.layer(name) for name in ("places", *POINT_LAYERS)}


@st.cache_data(max_entries=4, show_spinner=False)
def _table(stamp: str, name: str):
    return _store(stamp).table(name)


def jurisdictions():
    """All jurisdictions with display outlines (cached per dataset build); do not mutate."""
    store()
    return _jurisdictions(_stamp())


def layers() -> dict:
    """Point layers by name (cached per dataset build); do not mutate."""
    store()
    return _layers(_stamp())


def table(name: str):
    """A non-spatial table ('inventory', 'contacts', 'provenance'), cached; do not mutate."""
    store()
    return _table(_stamp(), name)


def settings() -> Settings:
    """Site settings; a bad config.toml is reported and the defaults are used."""
    try:
        return load_settings()
    except SettingsError as exc:
        st.warning(t("err.config", lang(), reason=str(exc)))
        return Settings()
