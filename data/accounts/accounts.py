"""Built-in accounts for intranets without an identity provider: Argon2id password hashes, lockout, session expiry, forced password change, and the sign-in audit.

Two workspace tables, created on first use: ``accounts`` (one row per account) and
``auth_audit`` (append-only: every sign-in, failed sign-in, lockout, sign-out, expiry,
account change and refused action, with who, what, when, the outcome and a reason code).
There is no self-registration: accounts are created, disabled, enabled and reset by a system
administrator (`data.accounts.authority`'s ``accounts.manage``), the first one from the command line
(`Accounts.bootstrap`, only while no enabled system administrator exists).

Rules
-----
- Passwords: at least `MIN_PASSWORD` (10) characters, at most `MAX_PASSWORD`, not the
  username.  Stored as Argon2id hashes (argon2-cffi's `PasswordHasher`, its default
  parameters unless another hasher is given); a hash made with other parameters is
  re-hashed at the next successful sign-in.
- Lockout: after `MAX_FAILURES` (5) consecutive failed sign-ins (wrong password, or a wrong
  current password when changing it) the account is locked for `LOCK_TIME` (15 minutes).
  While locked every sign-in is refused ('locked'), even with the right password, and not
  counted; when the lock ends the count starts again at zero.  A successful sign-in or a
  reset by an administrator clears the count and the lock.
- Unknown username and wrong password get the same refusal ('unknown_or_wrong'), after the
  same Argon2 work.  A disabled account is refused ('disabled') only after the right password.
- Sessions: a session ends after `IDLE_TIME` (8 h) without activity (`Accounts.check`) or
  `SESSION_TIME` (12 h, a shift) after sign-in, whichever comes first; also when the account
  is disabled or its password is reset by an administrator after the sign-in.
- An initial or reset password must be changed: its session ('must_change') allows
  `Accounts.change_password` and nothing else.
- Single sign-on (`Accounts.authenticate_oidc`, see `data.accounts.sso`): an account may be linked by a
  system administrator (`Accounts.link_oidc`) to one identity of an OpenID Connect provider,
  the pair (issuer ``iss``, subject ``sub``) of its ID token; the provider vouches for the
  person, so such a session needs no password change, and the lockout (which guards the
  password) neither refuses nor ends it.  It starts when the provider signed the person in
  (the token's ``iat``), so the 12 h limit holds however often the page is reloaded; it ends
  when the account is disabled or linked to another identity.

Times are Beijing time as naive datetimes (as in `data.incidents.log`); every method takes
``now`` so tests and replays can set the clock.  The SQL is plain (VARCHAR, BIGINT, BOOLEAN,
TIMESTAMP, ``?`` parameters) and goes through `Workspace.transaction` only.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from data.accounts.authority import ROLES, Actor, Decision, decide, level
from data.schema import DEPARTMENTS
from data.schema import now_beijing
from data.storage.workspace import Workspace

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCK_TIME = timedelta(minutes=15)
IDLE_TIME = timedelta(hours=8)
SESSION_TIME = timedelta(hours=12)
MIN_PASSWORD = 10
MAX_PASSWORD = 256
MAX_NAME = 100
#: An OIDC subject (``sub``) has at most 255 ASCII characters (OpenID Connect Core 1.0, 2).
MAX_SUBJECT = 255
#: Usernames: 2–32 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")

#: code -> English message (a page shows the label ``acc.err.<code>`` with the same parameters).
MESSAGES: dict[str, str] = {
    "unknown_or_wrong": "unknown username or wrong password.",
    "locked": f"the account is locked after {MAX_FAILURES} failed sign-ins, until {{until:%Y-%m-%d %H:%M}}.",
    "disabled": "the account is disabled; ask a system administrator.",
    "must_change": "the password is an initial or reset one: change it first.",
    "expired": "the session has ended (8 h without activity, 12 h after sign-in, or the password was reset); sign in again.",
    "wrong_password": "the current password is wrong.",
    "password_short": "the password has {length} characters; at least {minimum} are needed.",
    "password_long": "the password has {length} characters; at most {maximum} are allowed.",
    "password_is_username": "the password must not be the username.",
    "password_same": "the new password must differ from the current one.",
    "bad_username": "username {value!r} is not allowed: 2–32 lower-case letters, digits, '.', '_' or '-'.",
    "exists": "account {value!r} exists already.",
    "unknown_account": "there is no account {value!r}.",
    "required": "`{field}` is empty; fill it in.",
    "too_long": "`{field}` has {length} characters; the limit is {limit}.",
    "bad_department": "department {value!r} is not one of {allowed}.",
    "bad_jurisdiction": "jurisdiction {value!r} is not a jurisdiction code of the dataset.",
    "bad_roles": "roles {value!r}: choose one or more of {allowed}.",
    "bootstrap_done": "an enabled system administrator exists already; create accounts on the accounts page.",
    "bootstrap_role": "the first account must hold the sysadmin role.",
    "last_sysadmin": "{value!r} is the last enabled system administrator and cannot be disabled.",
    "oidc_unknown": "this single-sign-on identity has no account here; ask a system administrator.",
    "oidc_taken": "this single-sign-on identity is linked to account {value!r} already.",
    "oidc_claims": "the identity provider's answer lacks the claim `{field}`.",
    "bad_issuer": "issuer {value!r} is not an absolute http(s) URL.",
}

_ACCOUNT_COLUMNS: dict[str, str] = {
    "username": "VARCHAR PRIMARY KEY", "display_name": "VARCHAR", "department": "VARCHAR", "jurisdiction": "VARCHAR",
    "roles": "VARCHAR", "password_hash": "VARCHAR", "disabled": "BOOLEAN", "must_change_password": "BOOLEAN",
    "failed_count": "BIGINT", "locked_until": "TIMESTAMP", "last_sign_in": "TIMESTAMP", "password_changed_at": "TIMESTAMP",
    "created_at": "TIMESTAMP", "created_by": "VARCHAR", "changed_at": "TIMESTAMP", "changed_by": "VARCHAR",
    "oidc_issuer": "VARCHAR", "oidc_subject": "VARCHAR",
}  # fmt: skip
#: Columns added after the first release, by ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS`` (DuckDB and PostgreSQL).
_ADDED_COLUMNS = ("oidc_issuer", "oidc_subject")
_AUDIT_COLUMNS: dict[str, str] = {
    "id": "BIGINT PRIMARY KEY", "at": "TIMESTAMP", "actor": "VARCHAR", "subject": "VARCHAR", "event": "VARCHAR",
    "outcome": "VARCHAR", "code": "VARCHAR", "detail": "VARCHAR",
}  # fmt: skip
#: The audit's outcomes: done; a failed sign-in or password check; refused by a rule.
OUTCOMES = ("ok", "failed", "refused")


def _fetch(cur, how: str, sql: str, params: list | None = None):
    """Run `sql` on `cur` and return ``cur.fetchone()`` or ``cur.fetchall()`` (`how`), as the storage API offers them."""
    cur.execute(sql, params or [])
    return cur.fetchone() if how == "fetchone" else cur.fetchall()


def _names(columns: Iterable[str]) -> str:
    """Quoted column names, comma-separated."""
    return ", ".join(f'"{c}"' for c in columns)


def _assign(columns: Iterable[str]) -> str:
    """``"c" = ?`` for each column, comma-separated."""
    return ", ".join(f'"{c}" = ?' for c in columns)


_SELECT = _names(c for c in _ACCOUNT_COLUMNS if c != "password_hash")


#: Every write takes this table lock: audit ids are the next number, so writers of several
#: servers on one PostgreSQL database take them one at a time (a no-op on DuckDB's one process).
AUDIT_LOCK = "auth_audit"


class AuthError(ValueError):
    """A refused sign-in or account change; ``code`` and ``params`` give the message in any language, nothing was changed
    (but the audit row and a failed sign-in's count)."""

    def __init__(self, code: str, **params: object):
        self.code, self.params = code, params
        super().__init__(MESSAGES[code].format(**params))


class Refused(AuthError):
    """An action refused by the permission table (`data.authority.decide`); ``decision`` says why."""

    def __init__(self, decision: Decision):
        self.decision = decision
        ValueError.__init__(self, f"{decision.params.get('action')} refused: {decision.code} {decision.params}")
        self.code, self.params = decision.code, decision.params


@dataclass(frozen=True)
class Account:
    """One account as stored (without its hash)."""

    username: str
    display_name: str
    department: str
    jurisdiction: str
    roles: tuple[str, ...]
    disabled: bool = False
    must_change_password: bool = True
    failed_count: int = 0
    locked_until: datetime | None = None
    last_sign_in: datetime | None = None
    password_changed_at: datetime | None = None
    created_at: datetime | None = None
    created_by: str = ""
    changed_at: datetime | None = None
    changed_by: str = ""
    oidc_issuer: str = ""
    oidc_subject: str = ""

    @property
    def actor(self) -> Actor:
        """The account as an actor of the permission table."""
        return Actor(self.username, self.department, self.jurisdiction, frozenset(self.roles))

    def locked(self, now: datetime) -> bool:
        """True while a lockout lasts at `now`."""
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True)
class Session:
    """A signed-in account: `issued_at` (sign-in), `last_seen` (last checked activity); see `expires_at`.

    `oidc_issuer` and `oidc_subject` are set when the session came from single sign-on
    (`Accounts.authenticate_oidc`), empty after a password sign-in.
    """

    account: Account
    issued_at: datetime
    last_seen: datetime
    oidc_issuer: str = ""
    oidc_subject: str = ""

    @property
    def method(self) -> str:
        """How the session began: 'oidc' (single sign-on) or 'password'."""
        return "oidc" if self.oidc_subject else "password"

    @property
    def expires_at(self) -> datetime:
        """When the session ends unless used before: `IDLE_TIME` after `last_seen`, at most `SESSION_TIME` after sign-in."""
        return min(self.issued_at + SESSION_TIME, self.last_seen + IDLE_TIME)

    @property
    def must_change(self) -> bool:
        """True when the session allows only `Accounts.change_password` (never after single sign-on)."""
        return self.account.must_change_password and self.method == "password"

    @property
    def actor(self) -> Actor:
        return self.account.actor


def session_of(by: object) -> Session:
    """`by` itself when it is the `Session` of a signed-in account; a `TypeError` naming what was passed otherwise (a typed name is not a signature)."""
    if not isinstance(by, Session):
        msg = f"`by` was {type(by).__name__} but is expected to be the Session of a signed-in account (Accounts.authenticate)."
        raise TypeError(msg)
    return by


def check_password(password: str, *, username: str) -> None:
    """Raise `AuthError` ('password_short', 'password_long', 'password_is_username') unless `password` meets the policy."""
    if not isinstance(password, str):
        msg = f"`password` must be a str, not {type(password).__name__}."
        raise TypeError(msg)
    if len(password) < MIN_PASSWORD:
        raise AuthError("password_short", length=len(password), minimum=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        raise AuthError("password_long", length=len(password), maximum=MAX_PASSWORD)
    if password.strip().lower() == username.strip().lower():
        raise AuthError("password_is_username")


def _opt(value: object) -> datetime | None:
    if value is None or (not isinstance(value, str | bool) and pd.isna(value)):
        return None
    return pd.Timestamp(value).to_pydatetime()


def _account(row: tuple) -> Account:
    rec = dict(zip([c for c in _ACCOUNT_COLUMNS if c != "password_hash"], row, strict=True))
    return Account(
        username=rec["username"], display_name=rec["display_name"], department=rec["department"], jurisdiction=rec["jurisdiction"],
        roles=tuple(r for r in ROLES if r in (rec["roles"] or "").split(",")), disabled=bool(rec["disabled"]),
        must_change_password=bool(rec["must_change_password"]), failed_count=int(rec["failed_count"] or 0),
        locked_until=_opt(rec["locked_until"]), last_sign_in=_opt(rec["last_sign_in"]), password_changed_at=_opt(rec["password_changed_at"]),
        created_at=_opt(rec["created_at"]), created_by=rec["created_by"] or "", changed_at=_opt(rec["changed_at"]), changed_by=rec["changed_by"] or "",
        oidc_issuer=rec["oidc_issuer"] or "", oidc_subject=rec["oidc_subject"] or "",
    )  # fmt: skip


class Accounts:
    """The accounts and the audit of one workspace (tables created on first use).

    Parameters
    ----------
    workspace
        Where the tables live.
    hasher
        Argon2 hasher; default argon2-cffi's `PasswordHasher()` (RFC 9106 low-memory profile).
        Tests may pass a cheaper one; hashes of other parameters are re-hashed at sign-in.
    jurisdictions
        Jurisdiction codes accounts may belong to (the dataset's); None: any 6-digit code.

    Use one instance per process: its lock serialises the writes of the process's sessions.
    """

    def __init__(self, workspace: Workspace, *, hasher: PasswordHasher | None = None, jurisdictions: Collection[str] | None = None):
        self.workspace = workspace
        self.hasher = hasher or PasswordHasher()
        self.jurisdictions = None if jurisdictions is None else frozenset(str(c) for c in jurisdictions)
        self._lock = threading.Lock()
        self._dummy: str | None = None
        ddl = [f"CREATE TABLE IF NOT EXISTS {name} (" + ", ".join(f'"{c}" {t}' for c, t in cols.items()) + ")"
               for name, cols in (("accounts", _ACCOUNT_COLUMNS), ("auth_audit", _AUDIT_COLUMNS))]  # fmt: skip
        ddl += [f'ALTER TABLE accounts ADD COLUMN IF NOT EXISTS "{c}" {_ACCOUNT_COLUMNS[c]}' for c in _ADDED_COLUMNS]  # tables made before single sign-on
        with self.workspace.transaction("the accounts tables cannot be created ({exc}).") as cur:
            for sql in ddl:
                cur.execute(sql)
        self.workspace.append_only("auth_audit")  # PostgreSQL refuses UPDATE/DELETE on the audit (DuckDB: no triggers)

    # ---- reading ---------------------------------------------------------------------------
    def get(self, username: str) -> Account | None:
        """The account `username`, or None."""
        with self.workspace.transaction("reading account failed ({exc}).") as cur:
            row = _fetch(cur, "fetchone", f"SELECT {_SELECT} FROM accounts WHERE username = ?", [username])
        return None if row is None else _account(row)

    def accounts(self) -> list[Account]:
        """All accounts, by username."""
        with self.workspace.transaction("reading accounts failed ({exc}).") as cur:
            rows = _fetch(cur, "fetchall", f"SELECT {_SELECT} FROM accounts ORDER BY username")
        return [_account(r) for r in rows]

    def audit(self, *, limit: int = 500) -> pd.DataFrame:
        """The newest `limit` audit rows, newest first: id, at, actor, subject, event, outcome, code, detail."""
        with self.workspace.transaction("reading the audit failed ({exc}).") as cur:
            rows = _fetch(cur, "fetchall", f"SELECT {_names(_AUDIT_COLUMNS)} FROM auth_audit ORDER BY id DESC LIMIT ?", [int(limit)])
        frame = pd.DataFrame(rows, columns=list(_AUDIT_COLUMNS))
        frame["at"] = pd.to_datetime(frame["at"])
        return frame

    def _enabled_sysadmins(self, cur) -> list[str]:
        rows = _fetch(cur, "fetchall", "SELECT username, roles FROM accounts WHERE disabled = ?", [False])
        return [u for u, roles in rows if "sysadmin" in (roles or "").split(",")]

    # ---- audit -------------------------------------------------------------------------------
    def _audit(self, cur, *, at: datetime, actor: str, subject: str, event: str, outcome: str, code: str = "", detail: dict | None = None) -> None:
        n = _fetch(cur, "fetchone", "SELECT coalesce(max(id), 0) FROM auth_audit")[0]
        text = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)[:1000] if detail else ""
        cur.execute("INSERT INTO auth_audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [int(n) + 1, at, actor[:MAX_NAME], subject[:MAX_NAME], event, outcome, code, text])

    def _record(self, **row) -> None:
        with self._lock, self.workspace.transaction("writing the audit failed ({exc}).", lock=AUDIT_LOCK) as cur:
            self._audit(cur, **row)

    def require(self, actor: Actor, action: str, *, now: datetime | None = None, **context: object) -> Decision:
        """`decide` and, when refused, append the refusal to the audit and raise `Refused`.

        Returns the decision when allowed ('allowed', or 'on_behalf', which the caller records).
        """
        decision = decide(actor, action, **context)
        if not decision.allowed:
            self._record(at=now or now_beijing(), actor=actor.username, subject="", event=action, outcome="refused", code=decision.code,
                         detail={k: v for k, v in context.items() if k != "reason"})  # fmt: skip
            log.info("authority: %s refused %s (%s)", actor.username, action, decision.code)
            raise Refused(decision)
        return decision

    # ---- input checks ----------------------------------------------------------------------------
    def _new_fields(self, username: str, display_name: str, department: str, jurisdiction: str, roles: Iterable[str]) -> dict:
        username = (username or "").strip().lower()
        if not USERNAME.match(username):
            raise AuthError("bad_username", value=username)
        display_name = (display_name or "").strip()
        if not display_name:
            raise AuthError("required", field="display_name")
        if len(display_name) > MAX_NAME:
            raise AuthError("too_long", field="display_name", length=len(display_name), limit=MAX_NAME)
        if department not in DEPARTMENTS:
            raise AuthError("bad_department", value=department, allowed=", ".join(DEPARTMENTS))
        try:
            level(jurisdiction)
        except ValueError:
            raise AuthError("bad_jurisdiction", value=jurisdiction) from None
        if self.jurisdictions is not None and jurisdiction not in self.jurisdictions:
            raise AuthError("bad_jurisdiction", value=jurisdiction)
        roles = list(roles)
        if not roles or set(roles) - set(ROLES):
            raise AuthError("bad_roles", value=",".join(map(str, roles)), allowed=", ".join(ROLES))
        return {"username": username, "display_name": display_name, "department": department, "jurisdiction": jurisdiction,
                "roles": ",".join(r for r in ROLES if r in roles)}  # fmt: skip

    def _insert(self, fields: dict, password: str, *, by: str, now: datetime, must_change: bool, event: str, first: bool = False) -> Account:
        check_password(password, username=fields["username"])
        digest = self.hasher.hash(password)
        row = {**fields, "password_hash": digest, "disabled": False, "must_change_password": must_change, "failed_count": 0, "locked_until": None,
               "last_sign_in": None, "password_changed_at": now, "created_at": now, "created_by": by, "changed_at": now, "changed_by": by,
               "oidc_issuer": None, "oidc_subject": None}  # fmt: skip
        with self._lock, self.workspace.transaction("creating the account failed ({exc}); nothing was saved.", lock=AUDIT_LOCK) as cur:
            if first and self._enabled_sysadmins(cur):
                raise AuthError("bootstrap_done")
            if _fetch(cur, "fetchone", "SELECT count(*) FROM accounts WHERE username = ?", [fields["username"]])[0]:
                raise AuthError("exists", value=fields["username"])
            cur.execute(f"INSERT INTO accounts ({_names(_ACCOUNT_COLUMNS)}) VALUES ({', '.join('?' * len(_ACCOUNT_COLUMNS))})",
                        [row[c] for c in _ACCOUNT_COLUMNS])  # fmt: skip
            self._audit(cur, at=now, actor=by, subject=fields["username"], event=event, outcome="ok", detail={"roles": fields["roles"]})
        log.info("accounts: %s created %s (%s)", by, fields["username"], fields["roles"])
        return self.get(fields["username"])

    # ---- administration ----------------------------------------------------------------------
    def bootstrap(self, *, username: str, display_name: str, department: str, jurisdiction: str, roles: Iterable[str], password: str,
                  by: str, now: datetime | None = None, must_change: bool = False) -> Account:  # fmt: skip
        """Create the first system administrator (from the command line, by the operator `by`).

        Refused ('bootstrap_done') once an enabled account holds the sysadmin role, and
        ('bootstrap_role') when `roles` lacks it.
        """
        roles = list(roles)
        if "sysadmin" not in roles:
            raise AuthError("bootstrap_role")
        fields = self._new_fields(username, display_name, department, jurisdiction, roles)
        return self._insert(fields, password, by=by, now=now or now_beijing(), must_change=must_change, event="bootstrap", first=True)

    def create(self, by: Session, *, username: str, display_name: str, department: str, jurisdiction: str, roles: Iterable[str],
               password: str, now: datetime | None = None) -> Account:  # fmt: skip
        """Create an account with an initial `password`, which its holder must change at first sign-in.

        `by` is the signed-in session of a system administrator (checked, and refused otherwise).
        """
        now = now or now_beijing()
        actor = self._admin(by, now)
        fields = self._new_fields(username, display_name, department, jurisdiction, roles)
        return self._insert(fields, password, by=actor.username, now=now, must_change=True, event="create")

    def _admin(self, by: Session, now: datetime) -> Actor:
        actor = self.check(by, now=now).actor
        self.require(actor, "accounts.manage", now=now)
        return actor

    def _change(self, by: Session, username: str, event: str, sets: dict, *, now: datetime | None, guard=None, detail: dict | None = None) -> Account:
        now = now or now_beijing()
        actor = self._admin(by, now)
        with self._lock, self.workspace.transaction(f"{event} failed ({{exc}}); nothing was changed.", lock=AUDIT_LOCK) as cur:
            if not _fetch(cur, "fetchone", "SELECT count(*) FROM accounts WHERE username = ?", [username])[0]:
                raise AuthError("unknown_account", value=username)
            if guard is not None:
                guard(cur)
            values = {**sets, "changed_at": now, "changed_by": actor.username}
            cur.execute(f"UPDATE accounts SET {_assign(values)} WHERE username = ?", [*values.values(), username])
            self._audit(cur, at=now, actor=actor.username, subject=username, event=event, outcome="ok", detail=detail)
        log.info("accounts: %s %s %s", actor.username, event, username)
        return self.get(username)

    def disable(self, by: Session, username: str, *, now: datetime | None = None) -> Account:
        """Disable `username` (its sessions end at their next check); not the last enabled system administrator."""

        def guard(cur) -> None:
            if self._enabled_sysadmins(cur) == [username]:
                raise AuthError("last_sysadmin", value=username)

        return self._change(by, username, "disable", {"disabled": True}, now=now, guard=guard)

    def enable(self, by: Session, username: str, *, now: datetime | None = None) -> Account:
        """Enable a disabled account again."""
        return self._change(by, username, "enable", {"disabled": False}, now=now)

    def reset_password(self, by: Session, username: str, password: str, *, now: datetime | None = None) -> Account:
        """Set a new initial `password` for `username` (to be changed at its next sign-in); clears a lockout and ends its sessions."""
        now = now or now_beijing()
        check_password(password, username=username)
        digest = self.hasher.hash(password)
        sets = {"password_hash": digest, "must_change_password": True, "failed_count": 0, "locked_until": None, "password_changed_at": now}
        return self._change(by, username, "reset_password", sets, now=now)

    def link_oidc(self, by: Session, username: str, subject: str, *, issuer: str, now: datetime | None = None) -> Account:
        """Link `username` to the single-sign-on identity (`issuer`, `subject`): the ``iss`` and ``sub``
        claims of the provider's ID token.  An empty `subject` removes the link.

        `issuer` is the provider's issuer URL exactly as its ID tokens carry it (`data.sso.issuer_of`
        derives it from ``server_metadata_url``).  Refused: 'oidc_taken' when another account holds
        the identity, 'bad_issuer', 'too_long' (a ``sub`` has at most 255 characters).  Sessions
        signed on with the previous identity end at their next check.
        """
        subject, issuer = (subject or "").strip(), (issuer or "").strip()
        if subject:
            if not re.match(r"^https?://[^\s/?#]+[^\s]*$", issuer):
                raise AuthError("bad_issuer", value=issuer)
            if len(subject) > MAX_SUBJECT:
                raise AuthError("too_long", field="oidc_subject", length=len(subject), limit=MAX_SUBJECT)
        else:
            issuer = ""

        def guard(cur) -> None:
            if not subject:
                return
            row = _fetch(cur, "fetchone", "SELECT username FROM accounts WHERE oidc_issuer = ? AND oidc_subject = ? AND username <> ?", [issuer, subject, username])
            if row is not None:
                raise AuthError("oidc_taken", value=row[0])

        sets = {"oidc_issuer": issuer or None, "oidc_subject": subject or None}
        event = "link_oidc" if subject else "unlink_oidc"
        return self._change(by, username, event, sets, now=now, guard=guard, detail={"issuer": issuer, "subject": subject} if subject else None)

    # ---- signing in ---------------------------------------------------------------------------------
    def _hash_of(self, username: str) -> tuple[Account, str] | None:
        with self.workspace.transaction("reading account failed ({exc}).") as cur:
            row = _fetch(cur, "fetchone", f"SELECT {_SELECT}, password_hash FROM accounts WHERE username = ?", [username])
        return None if row is None else (_account(row[:-1]), row[-1])

    def _verify(self, digest: str | None, password: str) -> bool:
        if digest is None:  # unknown user: the same Argon2 work as for a known one
            self._dummy = self._dummy or self.hasher.hash(secrets.token_urlsafe(16))
            digest = self._dummy
        try:
            return self.hasher.verify(digest, password)
        except (VerificationError, InvalidHashError):
            return False

    def _failed(self, account: Account, *, now: datetime, event: str) -> AuthError:
        """Count a failed password of `account` (locking it at `MAX_FAILURES`), audit it, and return the refusal to raise."""
        with self._lock, self.workspace.transaction("recording a failed sign-in failed ({exc}).", lock=AUDIT_LOCK) as cur:
            if account.locked_until is not None and now >= account.locked_until:  # the lock is over: count afresh
                cur.execute("UPDATE accounts SET failed_count = 0, locked_until = NULL WHERE username = ?", [account.username])
            cur.execute("UPDATE accounts SET failed_count = failed_count + 1 WHERE username = ?", [account.username])
            count = int(_fetch(cur, "fetchone", "SELECT failed_count FROM accounts WHERE username = ?", [account.username])[0])
            code = "unknown_or_wrong" if event == "sign_in" else "wrong_password"
            self._audit(cur, at=now, actor=account.username, subject=account.username, event=event, outcome="failed", code=code, detail={"count": count})
            if count >= MAX_FAILURES:
                until = now + LOCK_TIME
                cur.execute("UPDATE accounts SET locked_until = ? WHERE username = ?", [until, account.username])
                self._audit(cur, at=now, actor=account.username, subject=account.username, event="lock", outcome="ok", code="locked",
                            detail={"count": count, "until": until})  # fmt: skip
                log.warning("accounts: %s locked until %s after %d failed sign-ins", account.username, until, count)
        return AuthError(code)

    def authenticate(self, username: str, password: str, *, now: datetime | None = None) -> Session:
        """Sign in: a `Session`, or `AuthError` 'unknown_or_wrong', 'locked' or 'disabled'.

        A session of an initial or reset password has ``must_change`` (it allows only
        `change_password`).  Every attempt is audited.
        """
        now = now or now_beijing()
        name = (username or "").strip().lower()
        found = self._hash_of(name)
        if found is None:
            self._verify(None, password)
            self._record(at=now, actor=name, subject=name, event="sign_in", outcome="failed", code="unknown_or_wrong")
            raise AuthError("unknown_or_wrong")
        account, digest = found
        if account.locked(now):
            self._record(at=now, actor=name, subject=name, event="sign_in", outcome="refused", code="locked", detail={"until": account.locked_until})
            raise AuthError("locked", until=account.locked_until)
        if not self._verify(digest, password):
            raise self._failed(account, now=now, event="sign_in")
        if account.disabled:
            self._record(at=now, actor=name, subject=name, event="sign_in", outcome="refused", code="disabled")
            raise AuthError("disabled")
        sets: dict = {"failed_count": 0, "locked_until": None, "last_sign_in": now}
        if self.hasher.check_needs_rehash(digest):
            sets["password_hash"] = self.hasher.hash(password)
        with self._lock, self.workspace.transaction("recording the sign-in failed ({exc}).", lock=AUDIT_LOCK) as cur:
            cur.execute(f"UPDATE accounts SET {_assign(sets)} WHERE username = ?", [*sets.values(), name])
            self._audit(cur, at=now, actor=name, subject=name, event="sign_in", outcome="ok", code="must_change" if account.must_change_password else "",
                        detail={"rehashed": True} if "password_hash" in sets else None)  # fmt: skip
        return Session(self.get(name), issued_at=now, last_seen=now)

    def authenticate_oidc(self, issuer: str, subject: str, *, now: datetime | None = None, issued_at: datetime | None = None) -> Session:
        """Sign in the account linked to the single-sign-on identity (`issuer`, `subject`), which the
        identity provider has vouched for (Streamlit's ``st.login`` checked its signed ID token).

        `issued_at` is when the provider signed the person in (the token's ``iat``, Beijing time;
        default `now`, and never later than `now`): the session's 12 h limit counts from there.
        Refusals: 'oidc_unknown' (no account holds the identity), 'disabled', 'expired' (the
        provider's sign-in is `SESSION_TIME` old: sign in there again).  No password change is
        asked for, and a password lockout does not refuse it.  Audited as 'sign_in' with detail
        ``method: oidc``.
        """
        now = now or now_beijing()
        issued = min(issued_at or now, now)
        issuer, subject = (issuer or "").strip(), (subject or "").strip()
        detail = {"method": "oidc", "issuer": issuer}
        with self.workspace.transaction("reading account failed ({exc}).") as cur:
            row = _fetch(cur, "fetchone", f"SELECT {_SELECT} FROM accounts WHERE oidc_issuer = ? AND oidc_subject = ?", [issuer, subject]) if subject else None
        if row is None:
            self._record(at=now, actor=subject, subject="", event="sign_in", outcome="refused", code="oidc_unknown", detail={**detail, "subject": subject})
            raise AuthError("oidc_unknown")
        account = _account(row)
        name = account.username
        code = "disabled" if account.disabled else "expired" if now >= issued + SESSION_TIME else ""
        if code:
            self._record(at=now, actor=name, subject=name, event="sign_in", outcome="refused", code=code, detail=detail)
            raise AuthError(code)
        with self._lock, self.workspace.transaction("recording the sign-in failed ({exc}).", lock=AUDIT_LOCK) as cur:
            cur.execute("UPDATE accounts SET last_sign_in = ? WHERE username = ?", [now, name])
            self._audit(cur, at=now, actor=name, subject=name, event="sign_in", outcome="ok", detail=detail)
        log.info("accounts: %s signed in by single sign-on", name)
        return Session(self.get(name), issued_at=issued, last_seen=now, oidc_issuer=issuer, oidc_subject=subject)

    def check(self, session: Session, *, now: datetime | None = None, allow_must_change: bool = False) -> Session:
        """The session renewed at `now` (its account as stored now), or `AuthError`.

        Refusals: 'expired' (idle or absolute limit, or the password was reset after the
        sign-in, or a single-sign-on session's account is now linked to another identity),
        'disabled', 'locked' (password sessions), 'must_change' (unless `allow_must_change`).
        The end of a session is audited.
        """
        now = now or now_beijing()
        name = session.account.username
        account = self.get(name)
        sso = session.method == "oidc"
        code = ""
        if now >= session.expires_at:
            code = "expired"
        elif account is None or account.disabled:
            code = "disabled"
        elif sso and (account.oidc_issuer, account.oidc_subject) != (session.oidc_issuer, session.oidc_subject):
            code = "expired"
        elif not sso and account.password_changed_at is not None and account.password_changed_at > session.issued_at:
            code = "expired"
        elif not sso and account.locked(now):
            code = "locked"
        if code:
            self._record(at=now, actor=name, subject=name, event="session_end", outcome="ok", code=code)
            raise AuthError(code, until=account.locked_until) if code == "locked" else AuthError(code)
        session = replace(session, account=account, last_seen=now)
        if session.must_change and not allow_must_change:
            raise AuthError("must_change")
        return session

    def sign_out(self, session: Session, *, now: datetime | None = None) -> None:
        """End `session` (audited); the caller forgets it."""
        name = session.account.username
        self._record(at=now or now_beijing(), actor=name, subject=name, event="sign_out", outcome="ok", detail={"method": "oidc"} if session.method == "oidc" else None)

    def change_password(self, session: Session, current: str, new: str, *, now: datetime | None = None) -> Session:
        """Change the session's own password (`current` checked, `new` meeting the policy); a new session.

        A wrong `current` counts as a failed sign-in ('wrong_password', towards the lockout).
        """
        now = now or now_beijing()
        session = self.check(session, now=now, allow_must_change=True)
        name = session.account.username
        found = self._hash_of(name)
        if found is None:
            raise AuthError("disabled")
        account, digest = found
        if not self._verify(digest, current):
            raise self._failed(account, now=now, event="change_password")
        check_password(new, username=name)
        if new == current:
            raise AuthError("password_same")
        sets = {"password_hash": self.hasher.hash(new), "must_change_password": False, "password_changed_at": now, "changed_at": now, "changed_by": name}
        with self._lock, self.workspace.transaction("changing the password failed ({exc}); it was not changed.") as cur:
            cur.execute(f"UPDATE accounts SET {_assign(sets)} WHERE username = ?", [*sets.values(), name])
            self._audit(cur, at=now, actor=name, subject=name, event="change_password", outcome="ok")
        return Session(self.get(name), issued_at=now, last_seen=now)
