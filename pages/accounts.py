"""Account administration (账户管理): create, disable, enable and reset accounts; the list with last sign-in and lock state; the audit.

Only a signed-in system administrator (``st.session_state["account"]``, a
`data.accounts.Session`) sees anything but a message; `data.accounts.Accounts` checks the
session and the permission table again on every write.
"""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from data.accounts.accounts import IDLE_TIME, LOCK_TIME, MAX_FAILURES, SESSION_TIME, Account, AuthError, Session
from data.accounts.authority import ROLES, decide
from data.schema import now_beijing
from data.storage.workspace import WorkspaceError
from layers.accounts import error_text as layer_error_text
from layers.accounts import place, roles_text, when
from layers.labels import DEPARTMENTS_ORDER, LABELS, label_or, t
from pages import _shared

log = logging.getLogger(__name__)
AUDIT_ROWS = 500

_shared.ensure_router()
lang = _shared.lang()
ss = st.session_state

st.title(t("page.accounts", lang))


jur = _shared.jurisdictions()
names: dict[str, str] = dict(zip(jur["code"], jur["name"], strict=True))
codes = tuple(jur.sort_values("code")["code"])
accounts = _shared.accounts()
if accounts is None:
    st.error(t("acc.ws_unusable", lang))
    st.stop()


def _place(code: str) -> str:
    return place(code, names)


def _roles(roles) -> str:
    return roles_text(roles, lang)


def error_text(exc: AuthError) -> str:
    return layer_error_text(exc, lang, names)


_when = when


# ---- who is signed in -------------------------------------------------------------------------
session = ss.get("account")
if not isinstance(session, Session):
    st.info(t("acc.sign_in_first", lang))
    st.stop()
try:
    session = accounts.check(session, now=now_beijing())
except AuthError as exc:
    if exc.code != "must_change":
        ss.pop("account", None)
    st.warning(error_text(exc))
    st.stop()
ss["account"] = session
me = session.account
if not decide(me.actor, "accounts.manage").allowed:
    st.warning(t("acc.not_admin", lang, user=me.username, roles=_roles(me.roles)))
    st.stop()

st.caption(t("acc.signed_in_as", lang, name=me.display_name, user=me.username, department=label_or("dept", me.department, lang), jurisdiction=_place(me.jurisdiction)))
st.caption(t("acc.rules", lang, failures=MAX_FAILURES, lock=int(LOCK_TIME.total_seconds() // 60), idle=int(IDLE_TIME.total_seconds() // 3600),
             absolute=int(SESSION_TIME.total_seconds() // 3600)))  # fmt: skip


# ---- writes: in callbacks, their outcome in one message slot ---------------------------------------
def _say(kind: str, message: str) -> None:
    ss["acc_msg"] = (kind, message)


def _write(fn, *args, done, **kwargs) -> bool:
    """One write by the signed-in administrator; a refusal becomes the message and nothing is saved."""
    ss.pop("acc_msg", None)
    try:
        result = fn(ss["account"], *args, now=now_beijing(), **kwargs)
    except AuthError as exc:
        _say("error", error_text(exc))
        return False
    except WorkspaceError:
        log.exception("accounts page: the workspace refused a write")
        _say("error", t("acc.save_failed", lang))
        return False
    _say("success", done(result))
    return True


def _create() -> None:
    fields = {
        "username": ss.get("acc_new_username", ""), "display_name": ss.get("acc_new_name", ""), "department": _shared.form_chosen("acc_new_dept"),
        "jurisdiction": _shared.form_chosen("acc_new_jur"), "roles": list(_shared.form_chosen("acc_new_roles") or ()),
    }  # fmt: skip
    if _write(accounts.create, password=ss.get("acc_new_pw", ""), done=lambda a: t("acc.created", lang, user=a.username, name=a.display_name), **fields):
        for key in ("acc_new_username", "acc_new_name"):
            ss[key] = ""
    ss["acc_new_pw"] = ""


def _disable() -> None:
    _write(accounts.disable, ss["acc_pick"], done=lambda a: t("acc.disabled_done", lang, user=a.username))


def _enable() -> None:
    _write(accounts.enable, ss["acc_pick"], done=lambda a: t("acc.enabled_done", lang, user=a.username))


def _link(username: str) -> None:
    subject = ss.get(f"acc_oidc_sub@{username}", "")
    issuer = ss.get(f"acc_oidc_iss@{username}", "")
    _write(accounts.link_oidc, username, subject, issuer=issuer,
           done=lambda a: t("acc.linked_done", lang, user=a.username, subject=a.oidc_subject) if a.oidc_subject else t("acc.unlinked_done", lang, user=a.username))  # fmt: skip


def _reset() -> None:
    _write(accounts.reset_password, ss["acc_pick"], ss.get("acc_reset_pw", ""), done=lambda a: t("acc.reset_done", lang, user=a.username))
    ss["acc_reset_pw"] = ""


kind, message = ss.get("acc_msg") or ("", "")
if message:
    {"success": st.success, "error": st.error}[kind](message)


# ---- the page ----------------------------------------------------------------------------------
def _state(a: Account, now) -> str:
    if a.disabled:
        return t("acc.state.disabled", lang)
    if a.locked(now):
        return t("acc.state.locked", lang, until=_when(a.locked_until))
    if a.must_change_password:
        return t("acc.state.must_change", lang)
    return t("acc.state.active", lang)


def _accounts_table(items: list[Account]) -> pd.DataFrame:
    now = now_beijing()
    c = lambda k: t(f"acc.col.{k}", lang)  # noqa: E731
    return pd.DataFrame({
        c("username"): [a.username for a in items], c("name"): [a.display_name for a in items],
        c("department"): [label_or("dept", a.department, lang) for a in items], c("jurisdiction"): [_place(a.jurisdiction) for a in items],
        c("roles"): [_roles(a.roles) for a in items], c("state"): [_state(a, now) for a in items],
        c("last_sign_in"): [_when(a.last_sign_in) if a.last_sign_in else t("acc.never", lang) for a in items],
        c("failures"): [a.failed_count for a in items], c("created"): [_when(a.created_at) for a in items],
        c("oidc"): [a.oidc_subject or t("acc.not_linked", lang) for a in items],
    })  # fmt: skip


def _event(event: str) -> str:
    return label_or("auth.action", event, lang) if f"auth.action.{event}" in LABELS else label_or("acc.event", event, lang)


def _audit_table(audit: pd.DataFrame) -> pd.DataFrame:
    c = lambda k: t(f"acc.col.{k}", lang)  # noqa: E731
    return pd.DataFrame({
        c("at"): [_when(v) for v in audit["at"]], c("actor"): [v or "—" for v in audit["actor"]], c("subject"): [v or "—" for v in audit["subject"]],
        c("event"): [_event(v) for v in audit["event"]], c("outcome"): [label_or("acc.outcome", v, lang) for v in audit["outcome"]],
        c("code"): [label_or("acc.code", v, lang) if v else "—" for v in audit["code"]],
    })  # fmt: skip


items = accounts.accounts()
tab_list, tab_create, tab_manage, tab_audit = st.tabs([t(f"acc.tab_{k}", lang) for k in ("list", "create", "manage", "audit")])

with tab_list:
    st.dataframe(_accounts_table(items), hide_index=True, width="stretch")

with tab_create, st.form("acc_create_form"):
    st.text_input(t("acc.username", lang), key="acc_new_username", max_chars=32)
    st.text_input(t("acc.display_name", lang), key="acc_new_name", max_chars=100)
    _shared.form_choice(st.selectbox, t("acc.department", lang), DEPARTMENTS_ORDER, key="acc_new_dept", format_func=lambda d: label_or("dept", d, lang))
    _shared.form_choice(st.selectbox, t("acc.jurisdiction", lang), codes, key="acc_new_jur", format_func=_place)
    _shared.form_choice(st.multiselect, t("acc.roles", lang), ROLES, key="acc_new_roles", multi=True, format_func=lambda r: label_or("role", r, lang))
    st.text_input(t("acc.initial_password", lang), key="acc_new_pw", type="password")
    st.form_submit_button(t("acc.create", lang), on_click=_create)

with tab_manage:
    by_name = {a.username: a for a in items}  # never empty: the signed-in administrator is one
    picked = _shared.selectbox(t("acc.pick", lang), list(by_name), key="acc_pick", format_func=lambda u: f"{by_name[u].display_name}（{u}）")
    c1, c2, _ = st.columns([1, 1, 3])
    c1.button(t("acc.disable", lang), key="acc_disable", on_click=_disable, disabled=by_name[picked].disabled)
    c2.button(t("acc.enable", lang), key="acc_enable", on_click=_enable, disabled=not by_name[picked].disabled)
    st.text_input(t("acc.new_password", lang), key="acc_reset_pw", type="password")
    st.button(t("acc.reset", lang), key="acc_reset", on_click=_reset)
    st.subheader(t("acc.oidc_title", lang))
    st.caption(t("acc.oidc_note", lang))
    chosen = by_name[picked]
    with st.form(f"acc_oidc_form@{picked}"):  # per account: the fields show that account's link
        st.text_input(t("acc.oidc_subject", lang), value=chosen.oidc_subject, key=f"acc_oidc_sub@{picked}", max_chars=255)
        st.text_input(t("acc.oidc_issuer", lang), value=chosen.oidc_issuer or _shared.sso_issuer(), key=f"acc_oidc_iss@{picked}")
        st.form_submit_button(t("acc.link_oidc", lang), on_click=_link, args=(picked,))

with tab_audit:
    audit = accounts.audit(limit=AUDIT_ROWS)
    st.caption(t("acc.audit_note", lang, n=len(audit)))
    st.dataframe(_audit_table(audit), hide_index=True, width="stretch")
