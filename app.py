"""Router of the YRD emergency-coordination app: shared sidebar (language) and the pages."""

from __future__ import annotations

import streamlit as st

from layers.labels import LANGUAGES, t

st.set_page_config(page_title="长三角应急协同一张图", page_icon="🗺️", layout="wide")
st.session_state.setdefault("lang", "zh")

with st.sidebar:
    st.radio(t("app.language", st.session_state["lang"]), list(LANGUAGES), format_func=LANGUAGES.get, key="lang", horizontal=True)

lang = st.session_state["lang"]
# Each url_path equals its file's name: on a fresh server, Streamlit may first resolve a
# page URL against the files in pages/ (see pages/_shared.ensure_router).
pages = [
    st.Page("pages/situation.py", title=t("page.situation", lang), icon=":material/map:", default=True, url_path="situation"),
    st.Page("pages/manage.py", title=t("page.data", lang), icon=":material/database:", url_path="manage"),
    st.Page("pages/dispatch.py", title=t("page.dispatch", lang), icon=":material/local_fire_department:", url_path="dispatch"),
    st.Page("pages/consultation.py", title=t("page.consultation", lang), icon=":material/groups:", url_path="consultation"),
    st.Page("pages/zones.py", title=t("page.zones", lang), icon=":material/hexagon:", url_path="zones"),
    st.Page("pages/planning.py", title=t("page.planning", lang), icon=":material/add_location_alt:", url_path="planning"),
]
st.navigation(pages).run()
