"""Single sign-on through an OpenID Connect provider: which ``[auth]`` settings turn it on, and the identity an ID token names.

Streamlit does the protocol (``st.login``/``st.user``, Authlib: authorization-code flow, state,
nonce, the ID token's signature, issuer and audience); this module only reads its results, so
it runs without Streamlit.  The site configures Streamlit's ``[auth]`` section in
``.streamlit/secrets.toml`` with the keys of `AUTH_KEYS` for its one provider (Streamlit's
"default" provider; named providers ``[auth.<name>]`` are not used here).

An account is matched by the pair (``iss``, ``sub``) of the ID token, never by e-mail or name:
``sub`` is unique and never reassigned within one issuer (OpenID Connect Core 1.0, 2), whereas
an address can change hands.  The issuer of a provider is its discovery URL without
``/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0, 4: the ``issuer`` of the
metadata must be identical to the URL discovery started from), see `issuer_of`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from data.accounts.accounts import AuthError
from data.schema import BEIJING

#: The keys of Streamlit's ``[auth]`` section that single sign-on needs (Streamlit 1.67's `validate_auth_credentials`).
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"


def configured(auth: Mapping | None) -> bool:
    """True when the ``[auth]`` mapping `auth` has every key of `AUTH_KEYS`, each non-empty (single sign-on is offered)."""
    if not isinstance(auth, Mapping):
        return False
    return all(isinstance(auth.get(k), str) and auth.get(k).strip() for k in AUTH_KEYS)


def issuer_of(server_metadata_url: str) -> str:
    """The issuer URL of the provider whose discovery document is at `server_metadata_url`.

    ``https://idp.example.gov.cn/realms/yrd/.well-known/openid-configuration`` has the issuer
    ``https://idp.example.gov.cn/realms/yrd``.
    """
    url = (server_metadata_url or "").strip()
    if not url.startswith(("http://", "https://")) or not url.endswith(DISCOVERY_SUFFIX) or len(url) == len(DISCOVERY_SUFFIX):
        msg = f"`server_metadata_url` was {server_metadata_url!r} but is expected to be an http(s) URL ending in {DISCOVERY_SUFFIX!r}."
        raise ValueError(msg)
    return url[: -len(DISCOVERY_SUFFIX)]


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in: `issuer` (``iss``), `subject` (``sub``), `issued_at` (``iat``, Beijing time, naive; None when absent)."""

    issuer: str
    subject: str
    issued_at: datetime | None = None
    name: str = ""


def identity(claims: Mapping) -> Identity:
    """The identity in `claims`, the ID token's claims as ``st.user`` holds them after ``st.login``.

    Raises `data.accounts.AuthError` 'oidc_claims' (naming the claim) when ``iss`` or ``sub`` is missing.
    """
    for claim in ("iss", "sub"):
        value = claims.get(claim)
        if not isinstance(value, str) or not value.strip():
            raise AuthError("oidc_claims", field=claim)
    iat = claims.get("iat")
    issued = None
    if isinstance(iat, int | float) and not isinstance(iat, bool):
        issued = datetime.fromtimestamp(int(iat), BEIJING).replace(tzinfo=None)
    name = claims.get("name")
    return Identity(claims["iss"].strip(), claims["sub"].strip(), issued, name if isinstance(name, str) else "")
