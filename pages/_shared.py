"""Cached access to the dataset and the user-data workspace for every page, and the one place that turns their errors into messages.

Cached data is keyed by the dataset file's stamp and by the workspace's version, which every
committed import or removal bumps, so new imports show on every page right after commit.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from pathlib import Path

from typing import TYPE_CHECKING

import streamlit as st

from data.settings import Settings, SettingsError, load_settings
from data.dataset.store import DatasetError, Store, dataset_path
from data.schema import POINT_LAYERS
from data.storage.workspace import Workspace, WorkspaceError, workspace_path
from layers.labels import label_or, t
from layers.situation import boundary_features

if TYPE_CHECKING:  # imported where used: the situation page, first in line, needs none of them
    from datetime import datetime

    import pandas as pd

    from data.dataset.build import CountyLocator
    from data.incidents.log import IncidentLog
    from data.imports.importers import ImportContext


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


def _problem(show, message: str, detail: str) -> None:
    """`message` (in the user's language) shown by `show` (st.error, st.warning), with the technical
    `detail` (the library's English text, for whoever keeps the server) folded away beneath it."""
    show(message)
    with st.expander(t("err.details", lang())):
        st.code(detail, language=None)


def lang() -> str:
    """The session's language ('zh' default)."""
    return st.session_state.get("lang", "zh")


# ---- selections that survive a language switch ---------------------------------------------
# Streamlit keeps a selectbox's, multiselect's or radio's choice as the *label* shown, so after the
# labels change language a keyed widget holds a label of the other language (or raises).  These
# wrappers keep the chosen option itself under `key` (a plain session-state entry) and draw the
# widget under `widget_key(key)`, one per language, seeded from `key` whenever the two differ:
# a choice made in Chinese is still chosen in English and back, and code may set
# ``st.session_state[key]`` before the widget is drawn to move the choice.


def widget_key(key: str, language: str | None = None) -> str:
    """The Streamlit key of the widget behind the selection `key` in `language` (default: the session's)."""
    return f"{key}@{language or lang()}"


def _sync(key: str, wkey: str, then, args, kwargs) -> None:
    st.session_state[key] = st.session_state[wkey]
    if then is not None:
        then(*(args or ()), **(kwargs or {}))


def _seed(options: list, *, key: str, default, multi: bool) -> str:
    """Keep ``st.session_state[key]`` a valid choice of `options` and seed this language's widget
    from it; return the widget's key."""
    ss = st.session_state
    wkey = widget_key(key)
    value = ss.get(key, default)
    if multi:
        value = [v for v in (value or []) if v in options]
    elif value not in options:
        value = default if default in options else (options[0] if options else None)
    ss[key] = value
    if wkey not in ss or ss[wkey] != value:
        ss[wkey] = value
    return wkey


def _selection(widget, label: str, options, *, key: str, default, multi: bool, on_change=None, args=None, kwargs=None, **kw):
    options = list(options)
    wkey = _seed(options, key=key, default=default, multi=multi)
    return widget(label, options, key=wkey, on_change=_sync, args=(key, wkey, on_change, args, kwargs), **kw)


def form_choice(widget, label: str, options, *, key: str, default=None, multi: bool = False, **kw):
    """`widget` (st.selectbox, st.multiselect, st.radio) inside a form, its choice kept like `selectbox`'s.

    Streamlit refuses an on_change callback inside a form, so the form's submit callback reads
    the choice with `form_chosen`, which stores it back under `key`.
    """
    options = list(options)
    wkey = _seed(options, key=key, default=list(default or ()) if multi else default, multi=multi)
    return widget(label, options, key=wkey, **kw)


def form_chosen(key: str):
    """The choice submitted in a `form_choice` widget (call it in the form's submit callback), now kept under `key`."""
    ss = st.session_state
    wkey = widget_key(key)
    if wkey in ss:
        ss[key] = ss[wkey]
    return ss.get(key)


def selectbox(label: str, options, *, key: str, default=None, **kw):
    """`st.selectbox` whose choice (an option, not its label) lives in ``st.session_state[key]``.

    `default` is chosen until the user chooses (the first option when it is None or not an option).
    """
    return _selection(st.selectbox, label, options, key=key, default=default, multi=False, **kw)


def radio(label: str, options, *, key: str, default=None, **kw):
    """`st.radio` whose choice lives in ``st.session_state[key]`` (see `selectbox`)."""
    return _selection(st.radio, label, options, key=key, default=default, multi=False, **kw)


def multiselect(label: str, options, *, key: str, default=(), **kw):
    """`st.multiselect` whose choices (a list of options) live in ``st.session_state[key]``."""
    return _selection(st.multiselect, label, options, key=key, default=list(default), multi=True, **kw)


def _stamp() -> str:
    """Cache key part that changes when the dataset file is rebuilt."""
    path = dataset_path()
    return f"{path}:{path.stat().st_mtime_ns}" if path.exists() else f"{path}:missing"


@st.cache_resource(max_entries=4, on_release=lambda ws: ws.close())  # a released workspace frees its file lock or connection pool
def _workspace(path: str) -> Workspace:
    # One read-write connection per process (DuckDB allows one writing process); a cursor per query.
    return Workspace(path)


def _ws() -> tuple[str, str | None]:
    """(path of the usable workspace or '', why it is unusable)."""
    path = str(workspace_path())
    try:
        _workspace(path)
    except WorkspaceError as exc:
        return "", str(exc)
    return path, None


@st.cache_resource(max_entries=4)
def _store(stamp: str, ws: str = "") -> Store:
    return Store(dataset_path(), workspace=_workspace(ws) if ws else None)


def _checked_store(ws: str = "") -> Store:
    try:
        return _store(_stamp(), ws)
    except DatasetError as exc:
        _problem(st.error, t("err.dataset", lang()), str(exc))
        st.info(t("err.rebuild", lang()))
        st.stop()


def store() -> Store:
    """The shared store (dataset plus users' imports), or an error message and a stopped page when
    the dataset is unusable; a warning when the workspace is (base data only then)."""
    ws, problem = _ws()
    if problem:
        _problem(st.warning, t("imp.ws_unavailable", lang()), problem)
    return _checked_store(ws)


def workspace() -> Workspace | None:
    """The shared workspace for imports, or None when another process holds it or it is unusable."""
    ws, _ = _ws()
    return _workspace(ws) if ws else None


@st.cache_resource(max_entries=4)
def _accounts(path: str, codes: tuple[str, ...]):
    from data.accounts.accounts import Accounts

    return Accounts(_workspace(path), jurisdictions=codes)  # one per process: its lock serialises the sessions' writes


def accounts():
    """The accounts of the workspace (`data.accounts.Accounts`), or None when the workspace is unusable."""
    ws, _ = _ws()
    if not ws:
        return None
    return _accounts(ws, tuple(sorted(jurisdictions()["code"])))


def sso_enabled() -> bool:
    """True when Streamlit's ``[auth]`` section (.streamlit/secrets.toml) configures single sign-on (`data.sso.configured`).

    Without it nothing of single sign-on is shown or called.
    """
    from data.accounts.sso import configured

    if not st.secrets.load_if_toml_exists():
        return False
    auth = st.secrets.get("auth")
    return configured(auth.to_dict() if hasattr(auth, "to_dict") else auth)


def sso_issuer() -> str:
    """The configured provider's issuer URL (`data.sso.issuer_of` of ``[auth] server_metadata_url``), '' when
    single sign-on is not configured or the URL is not a discovery URL."""
    from data.accounts.sso import issuer_of

    if not sso_enabled():
        return ""
    try:
        return issuer_of(st.secrets["auth"]["server_metadata_url"])
    except ValueError:
        return ""


def _sso_user() -> bool:
    """True when ``st.user`` holds an identity from the provider (after ``st.login``)."""
    return sso_enabled() and st.user.get("is_logged_in") is True


def _sign_on(acc):
    """Map the provider's identity in ``st.user`` to its account (`Accounts.authenticate_oidc`), once per
    identity and browser session; the new `Session`, or None with the reason in the panel."""
    from data.accounts.accounts import AuthError
    from data.schema import now_beijing
    from data.accounts.sso import identity

    ss = st.session_state
    try:
        who = identity(st.user.to_dict())
    except AuthError as exc:
        ss["acc_panel_msg"] = exc
        return None
    tried = (who.issuer, who.subject, who.issued_at)
    if ss.get("acc_sso_tried") == tried:  # refused or ended already in this browser session: sign in again to retry
        return None
    ss["acc_sso_tried"] = tried
    try:
        session = acc.authenticate_oidc(who.issuer, who.subject, now=now_beijing(), issued_at=who.issued_at)
    except AuthError as exc:
        ss["acc_panel_msg"] = exc
        return None
    ss.pop("acc_panel_msg", None)
    ss["account"] = session
    return session


def signed_in():
    """The signed-in `data.accounts.Session`, renewed and checked on every run (expiry, disabled,
    reset); None when nobody is signed in or the session has just ended (the panel says why).

    With single sign-on configured, an identity the provider has just signed in (``st.user``)
    becomes the session of the account linked to it (`_sign_on`).
    """
    from data.accounts.accounts import AuthError, Session
    from data.schema import now_beijing

    if read_only():  # a wall screen: nobody is signed in here, whatever the browser session holds
        st.session_state.pop("account", None)
        return None
    session = st.session_state.get("account")
    acc = accounts()
    if acc is None:
        return None
    if not isinstance(session, Session):
        return _sign_on(acc) if _sso_user() else None
    try:
        session = acc.check(session, now=now_beijing(), allow_must_change=True)
    except AuthError as exc:
        st.session_state.pop("account", None)
        st.session_state["acc_panel_msg"] = exc
        return None
    st.session_state["account"] = session
    return session


def _sign_in() -> None:
    from data.accounts.accounts import AuthError
    from data.schema import now_beijing

    ss = st.session_state
    try:
        ss["account"] = accounts().authenticate(ss.get("acc_user", ""), ss.get("acc_pw", ""), now=now_beijing())
        ss.pop("acc_panel_msg", None)
    except AuthError as exc:
        ss["acc_panel_msg"] = exc
    ss["acc_pw"] = ""


def _sign_out() -> None:
    from data.schema import now_beijing

    session = st.session_state.pop("account", None)
    if session is not None and accounts() is not None:
        accounts().sign_out(session, now=now_beijing())
    if _sso_user():  # also end the provider's identity here (Streamlit's cookie, then the provider's end-session page)
        st.logout()


def _change_password() -> None:
    from data.accounts.accounts import AuthError
    from data.schema import now_beijing

    ss = st.session_state
    try:
        ss["account"] = accounts().change_password(ss["account"], ss.get("acc_cur_pw", ""), ss.get("acc_new_pw1", ""), now=now_beijing())
        ss.pop("acc_panel_msg", None)
    except AuthError as exc:
        ss["acc_panel_msg"] = exc
    ss["acc_cur_pw"] = ss["acc_new_pw1"] = ""


def account_panel() -> None:
    """The sidebar's sign-in, sign-out and forced password change (every page)."""
    from layers.accounts import error_text

    language = lang()
    if read_only():
        st.session_state.pop("account", None)  # a session brought from a writing server counts for nothing here
        st.caption(t("acc.read_only_panel", language))
        return
    try:
        _store(_stamp(), "")
    except DatasetError:
        return  # the page itself says what is wrong with the dataset
    if accounts() is None:
        return
    session = signed_in()
    problem = st.session_state.get("acc_panel_msg")
    names = dict(zip(jurisdictions()["code"], jurisdictions()["name"], strict=True))
    if problem is not None:
        st.warning(error_text(problem, language, names))
    if session is None:
        if sso_enabled():
            st.button(t("acc.sso_sign_in", language), key="acc_sso", on_click=st.login, type="primary", width="stretch")
            if _sso_user():  # signed in at the provider, but not here: let another person use this browser
                st.button(t("acc.sso_sign_out", language), key="acc_sso_out", on_click=st.logout)
        with st.expander(t("acc.panel_sign_in", language)), st.form("acc_sign_in"):
            st.text_input(t("acc.col.username", language), key="acc_user", max_chars=32)
            st.text_input(t("acc.password", language), key="acc_pw", type="password")
            st.form_submit_button(t("acc.panel_sign_in", language), on_click=_sign_in)
        return
    me = session.account
    st.caption(t("acc.panel_signed_in", language, name=me.display_name, user=me.username, department=label_or("dept", me.department, language),
                 jurisdiction=names.get(me.jurisdiction, me.jurisdiction)))  # fmt: skip
    if session.method == "oidc":
        st.caption(t("acc.panel_via_sso", language))
    if session.must_change:
        with st.form("acc_change"):
            st.info(t("acc.err.must_change", language))
            st.text_input(t("acc.current_password", language), key="acc_cur_pw", type="password")
            st.text_input(t("acc.new_password_own", language), key="acc_new_pw1", type="password")
            st.form_submit_button(t("acc.change_password", language), on_click=_change_password)
    st.button(t("acc.sign_out", language), key="acc_sign_out", on_click=_sign_out)


def data_key() -> tuple[str, str, int]:
    """(dataset stamp, workspace path, workspace version): the cache key of data that includes imports."""
    ws, _ = _ws()
    _checked_store(ws)
    return _stamp(), ws, _workspace(ws).version() if ws else 0


# A resource, not data: read-only and shared; st.cache_data unpickled the outlines on each of the
# 4-8 calls of every rerun of every page (60-90 ms a rerun, profiled; issue 13).
@st.cache_resource(max_entries=8, show_spinner=False)
def _jurisdictions(stamp: str, detail: str = "display"):
    return _store(stamp).jurisdictions(detail=detail)


@st.cache_data(max_entries=4, show_spinner=False)
def _layers(stamp: str, ws: str, version: int) -> dict:
    s = _store(stamp, ws)
    return {name: s.layer(name) for name in ("places", *POINT_LAYERS)}


@st.cache_data(max_entries=4, show_spinner=False)
def _table(stamp: str, ws: str, version: int, name: str):
    return _store(stamp, ws).table(name)


def jurisdictions(detail: str = "display"):
    """All jurisdictions with `detail` outlines (cached per dataset build, one frame shared by every session); do not mutate."""
    _checked_store()
    return _jurisdictions(_stamp(), detail)


def layers() -> dict:
    """Point layers by name, imports included (cached per dataset build and workspace version); do not mutate."""
    return _layers(*data_key())


def table(name: str):
    """A non-spatial table ('inventory', 'contacts', 'provenance'), imports included, cached; do not mutate."""
    return _table(*data_key(), name)


def imports():
    """The workspace's imports (who, when, file, CRS, counts), cached; do not mutate."""
    return _imports(*data_key())


@st.cache_data(max_entries=4, show_spinner=False)
def _imports(stamp: str, ws: str, version: int):
    return _store(stamp, ws).imports()


@st.cache_resource(max_entries=2)
def _locator(stamp: str) -> CountyLocator:
    from data.dataset.build import CountyLocator

    return CountyLocator(_store(stamp).jurisdictions(detail="full"))


@st.cache_resource(max_entries=2)
def _import_context(stamp: str, ws: str, version: int) -> ImportContext:
    from data.imports.importers import ImportContext

    return ImportContext.from_store(_store(stamp, ws), locator=_locator(stamp))


def import_context() -> ImportContext:
    """What imported rows are checked against (county outlines, codes, ids in the store), cached; read-only."""
    return _import_context(*data_key())


@st.cache_data(max_entries=6, show_spinner=False)
def _export(stamp: str, ws: str, version: int, layer: str, fmt: str) -> bytes:
    s = _store(stamp, ws)
    from data.imports.exporters import export_dataset, export_layer

    return export_dataset(s, fmt) if layer == "all" else export_layer(s, layer, fmt)


def export(layer: str, fmt: str) -> bytes:
    """The bytes of an export of `layer` (or 'all': the whole dataset) in `fmt`, cached per workspace version."""
    return _export(*data_key(), layer, fmt)


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
    _checked_store()
    return _boundary_urls(_stamp(), lang())


#: Outlines near a view are cut to this grid (degrees) and simplified for zoom steps of this size,
#: so that nearby views share one set of files (finer outlines, never coarser).
_OUTLINE_GRID_DEG = 0.1
_OUTLINE_ZOOM_STEP = 0.5


def _outline_box(bounds: tuple[float, float, float, float], zoom: float) -> tuple[tuple[float, float, float, float], float]:
    """`bounds` snapped out to the grid and `zoom` up to its step."""
    g = _OUTLINE_GRID_DEG
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    snapped = (math.floor(minx / g) * g, math.floor(miny / g) * g, math.ceil(maxx / g) * g, math.ceil(maxy / g) * g)
    return tuple(round(c, 6) for c in snapped), math.ceil(float(zoom) / _OUTLINE_ZOOM_STEP) * _OUTLINE_ZOOM_STEP


@st.cache_resource(max_entries=256, show_spinner=False)
def _near_boundaries(stamp: str, bounds: tuple[float, float, float, float], zoom: float, language: str, inline: bool) -> dict[str, str | dict]:
    from geo.jurisdiction import near_view
    from layers.situation import decimals_for, metres_per_pixel, write_boundary_files

    mpp = metres_per_pixel(zoom, (bounds[1] + bounds[3]) / 2)
    outlines = near_view(_jurisdictions(stamp, "display"), bounds, simplify_m=mpp)
    if inline:
        return {lvl: boundary_features(lvl, outlines[outlines["level"] == lvl], language, decimals=decimals_for(mpp)) for lvl in ("province", "city", "county")}
    digest = hashlib.sha1(repr((stamp, bounds, zoom)).encode()).hexdigest()[:12]  # noqa: S324 (a file name, not security)
    names = write_boundary_files(outlines, language, directory=STATIC_DIR, stem=f"near-{digest}", decimals=decimals_for(mpp))
    return {level: f"{STATIC_URL}/{name}" for level, name in names.items()}


def near_outlines(bounds: tuple[float, float, float, float], *, zoom: float, takes_clicks: bool = False) -> list:
    """Outline layers (county level) around `bounds` (lon/lat), simplified to a pixel at `zoom`.

    Written as static files once per dataset build, area and language: a rerun's map sends
    only their URLs and the browser keeps what it loaded.  A map that `takes_clicks`
    (``on_select``) gets them inline and not pickable: from files they arrive after the map is
    drawn, and under load the first click on it was lost (tests/test_browser_dispatch.py); and
    Streamlit's click selection is lost on a pickable layer whose data is a URL (`boundary_layer`)."""
    from layers.situation import boundary_layers

    _checked_store()
    box, step = _outline_box(bounds, zoom)
    sources = _near_boundaries(_stamp(), box, step, lang(), takes_clicks)
    return boundary_layers(sources, level="county", pickable=not takes_clicks)


def networks() -> list[dict]:
    """Saved road networks beside the dataset, the default first (`geo.network.NETWORK_ORDER`)."""
    from geo.network import list_networks, networks_dir

    return list_networks(networks_dir(dataset_path()))


def networks_or_stop() -> list[dict]:
    """The saved networks; without any, the page says how to make one and stops."""
    metas = networks()
    if not metas:
        st.error(t("dis.no_network", lang()))
        st.stop()
    return metas


def pick_network(metas: list[dict], key: str) -> dict:
    """The road-network selectbox shared by the analysis pages (the choice, a network's name, is kept in `key`).

    The first network (the default of `geo.network.NETWORK_ORDER`) is chosen until the user picks
    another.  The stitched network and the backbone (meta ``kind``) are labelled as such, other
    estimates as the approximate network.
    """

    def _network_label_key(meta: dict) -> str:
        if meta.get("kind") == "backbone":  # geo.backbone.KIND
            return "dis.network_backbone"
        if meta.get("kind") == "stitched":  # geo.stitch.KIND
            return "dis.network_stitched"
        return "dis.network_estimate" if meta.get("estimate") else "dis.network_real"

    by_name = {m["name"]: m for m in metas}
    language = lang()  # read once: Streamlit may format the labels outside this run
    name = selectbox(
        t("dis.network", language), list(by_name), key=key,
        format_func=lambda n: t(_network_label_key(by_name[n]), language, name=n, nodes=by_name[n]["n_nodes"], edges=by_name[n]["n_edges"]),
    )  # fmt: skip
    return by_name[name]


def network_note(net) -> None:
    """Say, above a page's answers, what they rest on: the backbone or the stitched network
    (main roads, one estimated speed, an access leg), or the approximation; nothing for real roads."""
    from layers.dispatch import network_meaning

    text = network_meaning(net.meta, lang())
    if text:
        st.warning(text)


@st.cache_resource(max_entries=8)
def _network(path: str, created: str):
    from geo.network import load

    return load(path)


def network(meta: dict):
    """A saved network, loaded once (memory-mapped, read-only) and shared by every session."""
    from geo.network import NetworkError
    from layers.consultation import plain
    from layers.dispatch import network_message

    try:
        return _network(meta["path"], meta["created"])
    except NetworkError as exc:
        st.error(plain(network_message(exc, lang())))
        st.stop()


def settings() -> Settings:
    """Site settings; a bad config.toml is reported and the defaults are used."""
    try:
        return load_settings()
    except SettingsError as exc:
        _problem(st.warning, t("err.config", lang()), str(exc))
        return Settings()


def read_only() -> bool:
    """True on a read-only wall-screen server (``[access] read_only`` or ``$YRD_READ_ONLY=1``): no sign-in, no writes, map and boards only."""
    return settings().read_only


def sign_in_to_view() -> bool:
    """True when the site shows nothing before sign-in (``[access] sign_in_to_view``); never on a wall screen."""
    return settings().sign_in_to_view and not read_only()


def sign_in_hint() -> None:
    """Where a write form would be for a signed-in account: say how to get one (or that this server is a wall screen)."""
    st.info(t("acc.read_only_hint" if read_only() else "acc.sign_in_to_write", lang()))


@st.cache_resource(max_entries=4)
def _incident_log(path: str) -> IncidentLog:
    from data.incidents.log import IncidentLog

    # one per process: its lock serialises the sessions' writes; signed and authorised by the process's one
    # `Accounts` of the same workspace (the sidebar's), so sign-in, checks and refusals share its lock and audit
    return IncidentLog(_workspace(path), accounts=_accounts(path, tuple(sorted(jurisdictions()["code"]))))


def incident_log() -> IncidentLog | None:
    """The shared incident log of the workspace, or None after showing why the workspace is unusable."""
    path, why = _ws()
    if why:
        _problem(st.error, t("inc.ws_unusable", lang()), why)
        return None
    return _incident_log(path)


# ---- how a board learns of new rows ----------------------------------------------------------
# The rule: on PostgreSQL each app process listens once (`IncidentFeed`, one `IncidentLog.watch`
# per process) and keeps the newest id it has heard of per incident, from the NOTIFY of any
# server; a board reruns every `PUSH_CHECK_S` seconds, looks at that number (`incident_stamp`:
# a dictionary read, no query) and re-reads its rows only when it moved.  A NOTIFY missed while
# the listening connection reconnects is caught by a `last_id` query at most once per fallback
# interval per incident and process.  On DuckDB (one process, no notifications) every board
# refresh asks `last_id`, as before.

#: How often a pushed board (PostgreSQL) looks at the process's newest heard id, in seconds.
PUSH_CHECK_S = 0.5


class IncidentFeed:
    """What one app process has heard of the incident log: a change counter and the newest id per incident.

    Parameters
    ----------
    log : IncidentLog
        The process's log on a shared (PostgreSQL) workspace; `IncidentLog.watch` is called once
        and its callback (on the listening thread) only updates two numbers under a lock.
    """

    def __init__(self, log: IncidentLog):
        self._log = log
        self._lock = threading.Lock()
        self._changes = 0
        self._newest: dict[str, int] = {}
        self._checked_s: dict[str, float] = {}  # monotonic time of the last `last_id` query, by incident
        self.stop = log.watch(self._heard)

    def _heard(self, change) -> None:
        with self._lock:
            self._changes += 1
            self._newest[change.incident_id] = max(self._newest.get(change.incident_id, 0), change.entry_id)

    @property
    def changes(self) -> int:
        """Rows heard of since the process started listening (all incidents)."""
        with self._lock:
            return self._changes

    def heard(self, incident_id: str) -> int:
        """The newest id of `incident_id` this process knows of (0 when none), without asking the database."""
        with self._lock:
            return self._newest.get(incident_id, 0)

    def stamp(self, incident_id: str, *, fallback_s: float) -> int:
        """The newest id of `incident_id` known to this process; asks the database (`last_id`) first
        for an incident not yet asked about, then at most every `fallback_s` seconds."""
        now_s = time.monotonic()
        with self._lock:
            due = now_s - self._checked_s.get(incident_id, -float("inf")) >= fallback_s
            if due:
                self._checked_s[incident_id] = now_s  # one query per interval, however many sessions look
        if due:
            try:
                last = self._log.last_id(incident_id)
            except BaseException:
                with self._lock:
                    self._checked_s.pop(incident_id, None)
                raise
            with self._lock:
                self._newest[incident_id] = max(self._newest.get(incident_id, 0), last)
        with self._lock:
            return self._newest.get(incident_id, 0)


@st.cache_resource(max_entries=4, on_release=lambda feed: feed is not None and feed.stop())  # a released feed stops listening
def _incident_feed(path: str) -> IncidentFeed | None:
    log = _incident_log(path)
    return IncidentFeed(log) if log.workspace.shared else None  # DuckDB: the boards poll `last_id` instead


def incident_pushed() -> bool:
    """Whether boards hear of new rows by notification (PostgreSQL) rather than by polling (DuckDB)."""
    path, why = _ws()
    return not why and _incident_feed(path) is not None


def incident_stamp(incident_id: str, *, fallback_s: float) -> int:
    """The change stamp of one incident's board: the newest row id known (see the rule above).

    Parameters
    ----------
    incident_id : str
        The incident shown.
    fallback_s : float
        PostgreSQL: the database is asked at most this often (seconds) per incident and
        process, for notifications missed; DuckDB: ignored, the database is asked every time.
    """
    path, _ = _ws()
    feed = _incident_feed(path)
    return _incident_log(path).last_id(incident_id) if feed is None else feed.stamp(incident_id, fallback_s=fallback_s)


@st.cache_data(max_entries=8, show_spinner=False)
def _incident_rows(path: str, incident_id: str, last_id: int) -> pd.DataFrame:
    return _incident_log(path).rows(incident_id)


def incident_rows(incident_id: str, last_id: int) -> pd.DataFrame:
    """The rows of one incident up to `last_id` (the change stamp, `incident_stamp`), cached per stamp; do not mutate."""
    return _incident_rows(str(workspace_path()), incident_id, last_id)


# One board per process, not per session: every open board refreshes twice a second, and
# copying the rows out of `st.cache_data` and folding them was each session's work on every
# refresh (about a fifth of a refresh's CPU, profiled: BENCHMARKS.md, issue 12's section).
@st.cache_resource(max_entries=16, show_spinner=False)
def _incident_board(path: str, incident_id: str, last_id: int, now: datetime, overdue_after_s: float):
    from data.incidents import board as boards

    return boards.build(_incident_rows(path, incident_id, last_id), now=now, overdue_after_s=overdue_after_s)


def incident_board(incident_id: str, last_id: int, *, now: datetime, overdue_after_s: float):
    """The `Board` of one incident at the change stamp `last_id` (`incident_stamp`) and time `now`
    (Beijing time, to the second, as `now_beijing` gives it), built once per app process for all
    its sessions; shared, so do not mutate it."""
    return _incident_board(str(workspace_path()), incident_id, last_id, now, float(overdue_after_s))


def signed_write(fn, *args, say, refusal, names: dict[str, str], done=None, **kwargs):
    """One write signed by the signed-in account (in a button's callback); a refusal becomes a message and nothing is saved.

    `say(kind, message)` keeps the page's message; `refusal(exc)` words the page's own refusals
    (`IncidentError` and its kinds) in the user's language; the session's and the permission
    table's (`AuthError`, `Refused`) are worded here, with `names` for jurisdictions.  `done`
    turns the result into the confirmation.  Returns the result, or None when refused.
    """
    import logging

    from data.accounts.accounts import AuthError
    from data.incidents.log import IncidentError
    from layers.accounts import error_text as auth_error_text

    by = signed_in()  # checked now, not as the page was drawn: it may have ended since
    if by is None:
        say("warning", t("acc.sign_in_to_write", lang()))
        return None
    try:
        result = fn(*args, by=by, **kwargs)
    except IncidentError as exc:
        say("error", refusal(exc))
        return None
    except AuthError as exc:  # Refused included: audited, nothing written
        say("error", auth_error_text(exc, lang(), names))
        return None
    except WorkspaceError:
        logging.getLogger(__name__).exception("write refused by the workspace")
        say("error", t("inc.saved_fail", lang()))
        return None
    if done is not None:
        say("success", done(result))
    return result

