"""Situation map (一张图): jurisdictions, projects, bases, teams, stockpiles, hazards and shelters."""

from __future__ import annotations

import hashlib
import html

import streamlit as st

from geo.jurisdiction import children, filter_features, headline_counts, near_view, select_area
from layers.labels import DEPARTMENTS_ORDER, label_or, t
from layers.situation import (
    LAYERS,
    OVERVIEW_MAX_ZOOM,
    boundary_layers,
    decimals_for,
    highlight_layer,
    inventory_table,
    legend,
    make_deck,
    metres_per_pixel,
    point_layer,
    provenance_table,
    resource_table,
    view_for_bounds,
    write_boundary_files,
)
from pages import _shared

_shared.ensure_router()
lang = _shared.lang()
store = _shared.store()
jur = _shared.jurisdictions()
features = _shared.layers()
settings = _shared.settings()

st.title(t("app.title", lang))

# ---- filters (sidebar) -------------------------------------------------------------------
ALL = ""
names = dict(zip(jur["code"], jur["name"], strict=True))


def _fmt(code: str) -> str:
    return t("sit.all", lang) if code == ALL else names.get(code, code)


with st.sidebar:
    st.subheader(t("sit.filters", lang))
    province = _shared.selectbox(t("sit.province", lang), [ALL, *children(jur, None, "province")["code"]], format_func=_fmt, key="sit_province")
    city_opts = [ALL, *children(jur, province, "city")["code"]] if province else [ALL]
    city = _shared.selectbox(t("sit.city", lang), city_opts, format_func=_fmt, key="sit_city", disabled=not province)
    county_opts = [ALL, *children(jur, city, "county")["code"]] if city else [ALL]
    county = _shared.selectbox(t("sit.county", lang), county_opts, format_func=_fmt, key="sit_county", disabled=not city)
    departments = _shared.multiselect(
        t("sit.department", lang), DEPARTMENTS_ORDER, format_func=lambda d: label_or("dept", d, lang),
        key="sit_departments", placeholder=t("sit.all_departments", lang)
    )
    st.subheader(t("sit.layers", lang))
    shown_keys = [key for key, spec in LAYERS.items() if st.toggle(t(f"layer.{key}", lang), value=spec.default_on, key=f"sit_layer_{key}")]
    level_choice = _shared.selectbox(
        t("sit.boundary_level", lang), ["auto", "province", "city", "county"], format_func=lambda v: t(f"level.{v}", lang), key="sit_level"
    )

area = select_area(jur, province=province or None, city=city or None, county=county or None, region_name=t("sit.region", lang))
in_view = {key: filter_features(features[key], area, departments) for key in LAYERS}

# ---- headline counts ---------------------------------------------------------------------
counts = headline_counts(in_view["teams"], in_view["stockpiles"], in_view["shelters"])
st.caption(t("sit.counts", lang, area=html.escape(area.name)))
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(t("sit.teams", lang), counts["teams"])
c2.metric(t("sit.members", lang), f"{counts['members']:,}")
if counts["teams_members_unknown"]:
    c2.caption(t("sit.members_unknown", lang, n=counts["teams_members_unknown"]))
c3.metric(t("sit.stockpiles", lang), counts["stockpiles"])
c4.metric(t("sit.shelters", lang), counts["shelters"])
c5.metric(t("sit.shelter_capacity", lang), f"{counts['shelter_capacity']:,}")

# ---- map ---------------------------------------------------------------------------------
@st.cache_resource(max_entries=512, show_spinner=False)
def _near_urls(stamp: str, code: str, bounds: tuple[float, float, float, float], zoom: float, latitude: float, language: str) -> dict[str, str]:
    """URLs of the outlines around an area (level -> static file; 'highlight': the area itself), written once per build, area, zoom and language.

    The outlines are simplified to a pixel at the view's zoom and sent as files: the deck JSON of
    a rerun carries only their URLs, and the browser keeps what it loaded while the URL stays.
    """
    mpp = metres_per_pixel(zoom, latitude)
    outlines = near_view(jur, bounds, simplify_m=mpp)
    digest = hashlib.sha1(repr((stamp, code, bounds, round(zoom, 3))).encode()).hexdigest()[:12]  # noqa: S324 (a file name, not security)
    names = write_boundary_files(outlines, language, directory=_shared.STATIC_DIR, stem=f"near-{digest}", decimals=decimals_for(mpp), highlight=code or None)
    return {key: f"{_shared.STATIC_URL}/{name}" for key, name in names.items()}


view = view_for_bounds(area.bounds)
if view.zoom < OVERVIEW_MAX_ZOOM:
    sources = _shared.boundary_urls()
    deck_layers = boundary_layers(sources, level=level_choice, zoom=view.zoom)
    if area.code:
        outlines = _shared.jurisdictions("overview")
        deck_layers.insert(0, highlight_layer(outlines[outlines["code"] == area.code]))
else:
    sources = _near_urls(_shared.data_key()[0], area.code or "", tuple(float(b) for b in area.bounds), float(view.zoom), float(view.latitude), lang)
    deck_layers = boundary_layers(sources, level=level_choice, zoom=view.zoom)
    if area.code:
        deck_layers.insert(0, highlight_layer(sources["highlight"]))
deck_layers += [point_layer(key, in_view[key], lang) for key in shown_keys]
st.pydeck_chart(make_deck(deck_layers, view, tile_url=settings.tile_url), height=620, key="situation_map")
st.caption(t("sit.basemap_on", lang, name=f"{settings.tile_name} {settings.tile_attribution}".strip()) if settings.tile_url else t("sit.no_basemap", lang))

# ---- legend ------------------------------------------------------------------------------
swatches = " ".join(
    f'<span style="display:inline-block;margin-right:14px"><span style="display:inline-block;width:12px;height:12px;'
    f'border-radius:6px;background:{colour};margin-right:4px;vertical-align:middle"></span>{html.escape(label)}</span>'
    for label, colour in legend(shown_keys, lang)
)
st.markdown(f"**{t('sit.legend', lang)}** {swatches}", unsafe_allow_html=True)
st.info(t("sit.sample_note", lang))

# ---- tables ------------------------------------------------------------------------------
tab_res, tab_inv, tab_src = st.tabs([t("sit.in_view_table", lang), t("sit.inventory", lang), t("sit.sources", lang)])
with tab_res:
    table = resource_table({k: in_view[k] for k in shown_keys}, lang)
    if table.empty:
        st.info(t("sit.nothing", lang))
    else:
        st.dataframe(table, hide_index=True, width="stretch")
with tab_inv:
    st.dataframe(inventory_table(in_view["stockpiles"], _shared.table("inventory"), lang), hide_index=True, width="stretch")
with tab_src:
    st.dataframe(provenance_table(_shared.table("provenance"), lang), hide_index=True, width="stretch")
    st.caption(t("sit.built_at", lang, when=f"{store.built_at():%Y-%m-%d %H:%M}"))
