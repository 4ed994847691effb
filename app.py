"""Router of the YRD emergency-coordination app: shared sidebar (language) and the pages."""

from __future__ import annotations

import streamlit as st

from layers.labels import LANGUAGES, t
from layers.streamlit_i18n import deck_warmup_html, translator_html
from pages import _shared

st.set_page_config(page_title="长三角应急协同一张图", page_icon="🗺️", layout="wide")
# A link may carry the language (?lang=en); afterwards the sidebar switch decides.
if "lang" not in st.session_state:
    st.session_state["lang"] = st.query_params.get("lang") if st.query_params.get("lang") in LANGUAGES else "zh"

with st.sidebar:
    # Streamlit's own widget texts ("Select all", "Running... Stop", ...) in the chosen language, drawn
    # hidden and first of all: a new tab shows Streamlit's running indicator until this script is in the page.
    with st.container(key="yrd_i18n"):
        st.html(translator_html(st.session_state["lang"]) + deck_warmup_html(), unsafe_allow_javascript=True)
    st.radio(t("app.language", st.session_state["lang"]), list(LANGUAGES), format_func=LANGUAGES.get, key="lang", horizontal=True)
    _shared.account_panel()  # sign in, sign out, forced password change
st.html("<style>.st-key-yrd_i18n{display:none}</style>")

lang = st.session_state["lang"]
# Each url_path equals its file's name, so every page has its own URL, the situation page's
# included: Streamlit serves the default page at "/" only, so the default is a hidden page that
# forwards to /situation (opening /situation directly used to show "Page not found").
situation = st.Page("pages/situation.py", title=t("page.situation", lang), icon=":material/map:", url_path="situation")
pages = [
    situation,
    st.Page("pages/manage.py", title=t("page.data", lang), icon=":material/database:", url_path="manage"),
    st.Page("pages/dispatch.py", title=t("page.dispatch", lang), icon=":material/local_fire_department:", url_path="dispatch"),
    st.Page("pages/consultation.py", title=t("page.consultation", lang), icon=":material/groups:", url_path="consultation"),
    st.Page("pages/scenarios.py", title=t("page.scenarios", lang), icon=":material/flood:", url_path="scenarios"),
    st.Page("pages/duty.py", title=t("page.duty", lang), icon=":material/assignment_ind:", url_path="duty"),
    st.Page("pages/zones.py", title=t("page.zones", lang), icon=":material/hexagon:", url_path="zones"),
    st.Page("pages/planning.py", title=t("page.planning", lang), icon=":material/add_location_alt:", url_path="planning"),
    st.Page("pages/accounts.py", title=t("page.accounts", lang), icon=":material/manage_accounts:", url_path="accounts"),
]
if _shared.read_only():  # a wall screen: the map and the boards, none of the pages that only write
    pages = [p for p in pages if p.url_path not in ("manage", "accounts")]


def _sign_in_first() -> None:
    st.title(t("app.title", lang))
    st.info(t("acc.sign_in_to_view", lang))


if _shared.sign_in_to_view() and _shared.signed_in() is None:  # the site asks for an account before anything is shown
    st.navigation([st.Page(_sign_in_first, title=t("acc.panel_sign_in", lang), url_path="sign-in", default=True)]).run()
    st.stop()


def _home() -> None:
    st.switch_page(situation, query_params=st.query_params.to_dict())


st.navigation([st.Page(_home, title=t("page.situation", lang), url_path="home", default=True, visibility="hidden"), *pages]).run()
