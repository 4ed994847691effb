"""Accounts and the permission table in the user's language: refusals and sign-in errors (no Streamlit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from layers.labels import DEPARTMENTS_ORDER, label_or, t

if TYPE_CHECKING:
    from data.accounts.accounts import AuthError
    from data.accounts.authority import Decision


def when(value) -> str:
    """A time to the minute, "—" when missing."""
    return "—" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d %H:%M}"


def place(code: str, names: dict[str, str]) -> str:
    """A jurisdiction as 名称（代码）."""
    return f"{names[code]}（{code}）" if code in names else str(code)


def roles_text(roles, lang: str) -> str:
    """Roles as 值班员、联络员 …, "—" when none."""
    return "、".join(label_or("role", r, lang) for r in roles) or "—"


def decision_text(decision: Decision, lang: str, names: dict[str, str]) -> str:
    """A refusal of the permission table (`data.authority.decide`) in `lang`."""
    p = dict(decision.params)
    out = {"action": label_or("auth.action", p.pop("action", ""), lang)}
    for k, v in p.items():
        if k == "roles":
            out[k] = roles_text(v, lang)
        elif k in ("lead", "own", "target") and decision.code != "other_department":
            out[k] = place(v, names) if v else "—"
        elif k == "jurisdictions":
            out[k] = "、".join(place(c, names) for c in v) or "—"
        elif k in ("department", "own"):
            out[k] = label_or("dept", v, lang)
        else:
            out[k] = v
    return t(f"auth.deny.{decision.code}", lang, **out)


def error_text(exc: AuthError, lang: str, names: dict[str, str]) -> str:
    """A `data.accounts.AuthError` (or `Refused`) in `lang`."""
    from data.accounts.accounts import Refused
    from data.accounts.authority import ROLES

    if isinstance(exc, Refused):
        return decision_text(exc.decision, lang, names)
    p = dict(exc.params)
    if "until" in p:
        p["until"] = when(p["until"])
    if "field" in p:
        p["field"] = label_or("acc.field", p["field"], lang)
    if exc.code == "bad_department":
        p["allowed"] = "、".join(label_or("dept", d, lang) for d in DEPARTMENTS_ORDER)
    if exc.code == "bad_roles":
        p["allowed"] = roles_text(ROLES, lang)
    return t(f"acc.err.{exc.code}", lang, **p)
