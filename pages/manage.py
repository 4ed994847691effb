"""Data management (数据管理): upload, preview, map columns, validate, commit; export; the imports and their removal."""

from __future__ import annotations

import logging

import streamlit as st

from data.imports.exporters import DATASET_FORMATS, EXPORT_FORMATS, MEDIA_TYPES, ExportError, file_name, safe_csv, template, template_name
from data.imports.fields import IMPORT_LAYERS, TABLE_LAYERS, fields, suggest_mapping
from data.accounts.accounts import AuthError
from data.imports.importers import MODES, ImportRejected, commit, parse_crs, remove, validate
from data.imports.readers import ENCODINGS, EXTENSIONS, MAX_FILE_BYTES, read_table
from data.storage.workspace import WorkspaceBusy, WorkspaceError
from geo.backbone import is_backbone
from layers.accounts import error_text
from layers.consultation import plain
from layers.dispatch import network_message, network_table
from layers.imports import closure_layer, crs_name, field_label, imports_table, issue_text, layer_label, report_table, township_layer
from layers.labels import label_or, t
from layers.situation import boundary_layers, make_deck, point_layer, view_for_bounds
from pages import _shared

PREVIEW_ROWS = 20
log = logging.getLogger(__name__)
CRS_OPTIONS = ("auto", "wgs84", "gcj02", "bd09", "epsg")

_shared.ensure_router()
lang = _shared.lang()
_shared.store()
workspace = _shared.workspace()
settings = _shared.settings()
st.session_state.setdefault("data_upload_n", 0)

st.title(t("page.data", lang))


@st.cache_data(max_entries=4, show_spinner=False)
def _read(data: bytes, name: str, encoding: str, sheet: str | None, layer: str):
    return read_table(data, name, encoding=encoding, source=sheet, prefer=layer)


@st.cache_data(max_entries=4, show_spinner=False)
def _validate(data: bytes, name: str, encoding: str, sheet: str | None, layer: str, mapping: tuple, crs: str, key: tuple):
    # `key` (dataset stamp, workspace, version) makes a new import re-check ids against the store.
    return validate(_read(data, name, encoding, sheet, layer), layer, dict(mapping), _shared.import_context(), crs=crs)


def _workspace_message(exc: WorkspaceError) -> str:
    """A workspace failure in the user's language; the technical cause goes to the log."""
    log.warning("data page: workspace write failed: %s", exc)
    return t("imp.write_failed", lang, reason=t("imp.ws_busy" if isinstance(exc, WorkspaceBusy) else "imp.ws_error", lang))


def _names() -> dict[str, str]:
    """Jurisdiction code -> name, for refusals."""
    jur = _shared.jurisdictions()
    return dict(zip(jur["code"], jur["name"], strict=True))


def _signed_in():
    """The signed-in session, or None with the hint to sign in (the buttons are disabled then)."""
    session = _shared.signed_in()
    if session is None:
        st.info(t("imp.sign_in_first", lang))
    return session


def _import_tab() -> None:
    layer = _shared.selectbox(t("imp.layer", lang), IMPORT_LAYERS, format_func=lambda k: layer_label(k, lang), key="data_layer")
    c1, c2, _ = st.columns([1, 1, 3])
    c1.download_button(
        t("imp.template_xlsx", lang), template(layer, "xlsx", lang=lang), template_name(layer, "xlsx", lang=lang), MEDIA_TYPES["xlsx"], key="data_tpl_xlsx"
    )
    c2.download_button(
        t("imp.template_csv", lang), template(layer, "csv", lang=lang), template_name(layer, "csv", lang=lang), MEDIA_TYPES["csv"], key="data_tpl_csv"
    )
    done = st.session_state.pop("data_done", None)
    if done:
        st.success(t("imp.done", lang, n=done["n"], layer=layer_label(done["layer"], lang), id=done["id"]))
        st.page_link("pages/situation.py", label=t("imp.see_map", lang), icon="🗺️")
    uploaded = st.file_uploader(
        t("imp.file", lang, mb=MAX_FILE_BYTES // 2**20), type=list(EXTENSIONS), key=f"data_file_{st.session_state['data_upload_n']}"
    )
    if uploaded is None:
        st.info(t("imp.upload_hint", lang))
        return
    data, name = uploaded.getvalue(), uploaded.name
    fid = f"{st.session_state['data_upload_n']}_{uploaded.file_id}"

    c1, c2, c3 = st.columns(3)
    with c1:
        encoding = _shared.selectbox(
            t("imp.encoding", lang), ENCODINGS, format_func=lambda e: t("imp.enc.auto", lang) if e == "auto" else e.upper(), key=f"data_enc_{fid}"
        )
    with c2:
        crs_choice = _shared.selectbox(t("imp.crs", lang), CRS_OPTIONS, format_func=lambda c: t(f"imp.crs.{c}", lang), key=f"data_crs_{fid}")
    crs = crs_choice
    if crs_choice == "epsg":
        code = c3.text_input(t("imp.epsg", lang), value="4549", key=f"data_epsg_{fid}")
        try:
            crs = parse_crs(f"EPSG:{code.strip()}")
        except ValueError:
            st.error(t("imp.bad_crs", lang, code=code.strip()))
            return
    sheet = st.session_state.get(f"data_sheet_{fid}")
    try:
        raw = _read(data, name, encoding, sheet, layer)
    except ImportRejected as exc:
        st.error(t("imp.refused", lang, reason=issue_text(exc.issue, lang)))
        return
    if len(raw.sources) > 1:
        with c3:
            _shared.selectbox(t("imp.sheet", lang), raw.sources, default=raw.source, key=f"data_sheet_{fid}")
    st.caption(t("imp.read_as", lang, format=raw.format.upper(), encoding=raw.encoding or "—", rows=len(raw.frame), crs=crs_name(raw.crs) if raw.crs else t("imp.none", lang)))
    st.subheader(t("imp.preview", lang, n=PREVIEW_ROWS))
    preview = raw.frame.head(PREVIEW_ROWS).set_axis(raw.rows[:PREVIEW_ROWS])
    st.dataframe(preview, width="stretch")

    st.subheader(t("imp.mapping", lang))
    st.caption(t("imp.mapping_help", lang))
    suggested = suggest_mapping(raw.columns, layer, has_geometry=raw.has_geometry)
    options = ["", *raw.columns]
    mapping = {}
    cols = st.columns(3)
    for i, f in enumerate(fields(layer)):
        with cols[i % 3]:
            choice = _shared.selectbox(
                field_label(f.name, f.required, lang), options, default=suggested[f.name] or "",
                format_func=lambda c: c or t("imp.unmapped", lang), key=f"data_map_{fid}_{layer}_{f.name}",
            )
        mapping[f.name] = choice or None

    try:
        report = _validate(data, name, encoding, raw.source, layer, tuple(mapping.items()), crs, _shared.data_key())
    except ImportRejected as exc:
        st.error(t("imp.refused", lang, reason=issue_text(exc.issue, lang)))
        return
    _report_section(report, layer)
    _commit_section(report, layer)


def _report_section(report, layer: str) -> None:
    st.subheader(t("imp.report", lang))
    for warning in report.warnings:
        st.warning(issue_text(warning, lang))
    m1, m2, m3 = st.columns(3)
    m1.metric(t("imp.total", lang), f"{report.total:,}")
    m2.metric(t("imp.accepted", lang), f"{report.n_accepted:,}")
    m3.metric(t("imp.rejected", lang), f"{report.n_rejected:,}")
    only = st.toggle(t("imp.rejected_only", lang), value=report.n_rejected > 0, key="data_rejected_only")
    st.dataframe(report_table(report, lang, rejected_only=only), hide_index=True, width="stretch")
    d1, d2, _ = st.columns([1, 1, 3])
    stem = report.file_name.rsplit(".", 1)[0]
    d1.download_button(t("imp.download_csv", lang), safe_csv(report_table(report, lang)), f"{stem}-report.csv", MEDIA_TYPES["csv"], key="data_report_csv")
    d2.download_button(t("imp.download_json", lang), report.to_json(), f"{stem}-report.json", MEDIA_TYPES["json"], key="data_report_json")
    if layer not in TABLE_LAYERS and report.n_accepted:
        accepted = report.accepted_frame()
        st.subheader(t("imp.preview_map", lang, n=f"{report.n_accepted:,}"))
        view = view_for_bounds(tuple(accepted.total_bounds))
        deck_layers = boundary_layers(_shared.boundary_urls(), zoom=view.zoom)
        builder = {"closures": closure_layer, "townships": township_layer}.get(layer)
        deck_layers.append(builder(accepted, lang) if builder else point_layer(layer, accepted, lang))
        st.pydeck_chart(make_deck(deck_layers, view, tile_url=settings.tile_url), height=620, key="data_preview_map")


def _commit_section(report, layer: str) -> None:
    mode = _shared.radio(t("imp.mode", lang), MODES, format_func=lambda m: t(f"imp.mode.{m}", lang), key="data_mode")
    c1, c2 = st.columns(2)
    source = c1.text_input(t("imp.source", lang), key="data_source")
    licence = c2.text_input(t("imp.licence", lang), key="data_licence")
    real = st.checkbox(t("imp.real", lang), value=True, key="data_real")
    session = _signed_in()
    if session is not None:
        me = session.account
        st.caption(t("imp.signed_as", lang, name=me.display_name, user=me.username, jurisdiction=_names().get(me.jurisdiction, me.jurisdiction)))
    if not st.button(t("imp.commit", lang), type="primary", disabled=workspace is None or session is None, key="data_commit"):
        return
    try:
        import_id = commit(report, workspace, by=session, accounts=_shared.accounts(), mode=mode, source=source, licence=licence, real=real)
    except ImportRejected as exc:
        st.error(t("imp.refused", lang, reason=issue_text(exc.issue, lang)))
        return
    except AuthError as exc:  # the session ended, or the permission table refused (audited); nothing was written
        st.error(t("imp.not_allowed", lang, reason=error_text(exc, lang, _names())))
        return
    except WorkspaceError as exc:
        st.error(_workspace_message(exc))
        return
    st.session_state["data_done"] = {"n": report.n_imported, "layer": layer, "id": import_id}
    st.session_state["data_upload_n"] += 1  # a fresh upload field: the committed file is not offered again
    st.rerun()


def _export_tab() -> None:
    st.caption(t("exp.note", lang))
    c1, c2 = st.columns(2)
    with c1:
        layer = _shared.selectbox(
            t("exp.layer", lang), ("all", *IMPORT_LAYERS), format_func=lambda k: t("exp.all", lang) if k == "all" else layer_label(k, lang), key="exp_layer"
        )
    formats = DATASET_FORMATS if layer == "all" else EXPORT_FORMATS
    with c2:
        fmt = _shared.selectbox(t("exp.format", lang), formats, format_func=str.upper, key=f"exp_format_{layer}")
    name = file_name(layer, fmt)
    if st.button(t("exp.prepare", lang), key="exp_prepare"):
        try:
            st.session_state["exp_ready"] = (layer, fmt, _shared.export(layer, fmt))
        except ExportError as exc:
            st.error(t(f"exp.failed_{exc.code}", lang, **exc.params))
    ready = st.session_state.get("exp_ready")
    if ready and ready[:2] == (layer, fmt):
        st.download_button(t("exp.download", lang, name=name), ready[2], name, MEDIA_TYPES[fmt], key="exp_download", type="primary")


def _imports_tab() -> None:
    removed = st.session_state.pop("data_removed", None)
    if removed:
        st.success(t("imp.removed", lang, **removed))
    imports = _shared.imports()
    if imports.empty:
        st.info(t("imp.list_empty", lang))
        return
    st.dataframe(imports_table(imports, lang), hide_index=True, width="stretch")
    # Import ids read the same in both languages: a plain selectbox keeps its choice across a switch.
    pick = st.selectbox(
        t("imp.remove_pick", lang), list(imports["import_id"]), index=None, placeholder=t("imp.remove_placeholder", lang), key="data_remove_pick"
    )
    session = _signed_in()
    if st.button(t("imp.remove", lang), disabled=pick is None or workspace is None or session is None, key="data_remove") and pick:
        try:
            n = remove(workspace, pick, by=session, accounts=_shared.accounts(), context=_shared.import_context())
        except ImportRejected as exc:
            st.error(t("imp.not_removed", lang, reason=issue_text(exc.issue, lang)))
            return
        except AuthError as exc:
            st.error(t("imp.not_removed", lang, reason=error_text(exc, lang, _names())))
            return
        except WorkspaceError as exc:
            st.error(_workspace_message(exc))
            return
        except ValueError:  # removed meanwhile from another session
            st.error(t("imp.remove_gone", lang, id=pick))
            return
        st.session_state["data_removed"] = {"id": pick, "n": n}
        st.rerun()


def _audit_table(audit, lang: str):
    """The backbone's connectivity audit (`geo.backbone.audit`) with localized headers and values."""
    import pandas as pd

    return pd.DataFrame(
        {
            t("bb.col.kind", lang): [t(f"bb.kind.{k}", lang) for k in audit["kind"]],
            t("bb.col.component", lang): [f"#{c}" if c > 0 else "—" for c in audit["component"]],
            t("bb.col.nodes", lang): audit["n_nodes"].astype(int).tolist(),
            t("bb.col.places", lang): audit["n_places"].astype(int).tolist(),
            t("bb.col.counties", lang): [n if n else t("bb.outside", lang) for n in audit["county_names"]],
            t("bb.col.where", lang): [f"{x:.3f}, {y:.3f}" for x, y in zip(audit["lon"], audit["lat"], strict=True)],
            t("bb.col.action", lang): [t(f"bb.action.{a}", lang) for a in audit["action"]],
        }
    )


def _backbone_audit(meta: dict) -> None:
    """What the road backbone is, and its connectivity audit: where "no route" is a known data gap."""
    st.caption(t("bb.meaning", lang, speed=meta["speed_kph"], circuity=meta["access_circuity"], access_speed=meta["access_speed_kph"], snap_km=meta["snap_limit_m"] / 1000))
    audit = _shared.table("network_audit")
    counts = audit["kind"].value_counts()
    if audit.empty:
        st.caption(t("bb.audit_none", lang))
        return
    st.caption(t("bb.audit_caption", lang, no_node=int(counts.get("no_node", 0)), cut_off=int(counts.get("county_cut_off", 0)),
                 places_far=int(counts.get("places_far", 0)), snap_km=meta["snap_limit_m"] / 1000, components=int(counts.get("component", 0))))
    st.dataframe(_audit_table(audit, lang), hide_index=True, width="stretch")


def _networks_tab() -> None:
    """Road networks: the list, and a new one built from an uploaded OSM file."""
    import tempfile
    from pathlib import Path

    from data.dataset.store import dataset_path
    from geo.network import NetworkError, build_osm, networks_dir
    from geo.stitch import rebuild

    if "net_built" in st.session_state:
        st.success(st.session_state.pop("net_built"))
    if "net_stitch" in st.session_state:  # what became of "backbone + local networks" after the build
        kind, text = st.session_state.pop("net_stitch")
        {"success": st.success, "warning": st.warning}.get(kind, st.info)(text)
    metas = _shared.networks()
    st.dataframe(network_table(metas, lang), hide_index=True, width="stretch")
    st.caption(t("net.howto", lang))
    for meta in metas:
        if is_backbone(meta):
            _backbone_audit(meta)
    session = _signed_in()  # a new network changes every dispatch answer: a data administrator's work
    with st.form("net_form", clear_on_submit=False):
        upload = st.file_uploader(t("net.file", lang), type=["osm", "bz2", "pbf"], key="net_file")
        name = st.text_input(t("net.name", lang), key="net_name", placeholder="qingpu")
        factor = st.number_input(t("net.factor", lang), min_value=0.5, max_value=2.0, value=1.0, step=0.1, key="net_factor")
        go = st.form_submit_button(t("net.build", lang), disabled=session is None)
    if not go or session is None:
        return
    if upload is None or not name:
        st.error(t("net.missing", lang))
        return
    try:  # checked as the button is pressed: the session may have ended, the role may be missing (audited)
        accounts = _shared.accounts()
        accounts.require(accounts.check(session).actor, "network.build")
    except AuthError as exc:
        st.error(t("net.not_allowed", lang, reason=error_text(exc, lang, _names())))
        return
    with st.status(t("net.building", lang, name=name), expanded=False) as status, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / upload.name
        path.write_bytes(upload.getvalue())
        bar = st.progress(0.0, text=t("net.phase.read", lang))

        def progress(phase: str, fraction: float) -> None:  # phases of geo.network.build_osm
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=f"{label_or('net.phase', phase, lang)} {fraction:.0%}")

        try:
            net = build_osm(path, name=name, folder=networks_dir(dataset_path()), source=upload.name, emergency_factor=float(factor), progress=progress)
        except NetworkError as exc:
            status.update(label=t("net.failed", lang), state="error")
            st.error(plain(network_message(exc, lang)))
            return
        status.update(label=t("net.stitching", lang), state="running")
        folder = networks_dir(dataset_path())
        try:
            stitched = rebuild(folder)
        except NetworkError as exc:  # e.g. the new area overlaps another local network's
            st.session_state["net_stitch"] = ("warning", t("net.stitch_failed", lang) + plain(network_message(exc, lang)))
        else:
            if stitched is None:
                st.session_state["net_stitch"] = ("info", t("net.stitch_none", lang))
            else:
                m = stitched.meta
                st.session_state["net_stitch"] = ("success", t("net.stitched", lang, name=stitched.name, nodes=stitched.n_nodes, crossings=m["crossings"],
                                                               joins=m["joins"], join_m=m["join_m"], unjoined=m["crossings_unjoined"]))  # fmt: skip
        status.update(label=t("net.built", lang, name=net.name, nodes=net.n_nodes, edges=net.n_edges), state="complete")
    st.session_state["net_built"] = t("net.built", lang, name=net.name, nodes=net.n_nodes, edges=net.n_edges)
    st.rerun()  # list the new network


tab_imp, tab_exp, tab_list, tab_net = st.tabs([t("imp.tab_import", lang), t("imp.tab_export", lang), t("imp.tab_imports", lang), t("net.tab", lang)])
with tab_imp:
    _import_tab()
with tab_exp:
    _export_tab()
with tab_list:
    _imports_tab()
with tab_net:
    _networks_tab()
