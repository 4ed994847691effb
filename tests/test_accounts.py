"""Accounts on a real workspace file with real Argon2: bootstrap, creation by a system administrator, sign-in, lockout, expiry, forced change, disable, reset, audit."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher

from data.accounts.accounts import IDLE_TIME, LOCK_TIME, MAX_FAILURES, MIN_PASSWORD, SESSION_TIME, Accounts, AuthError, Refused, Session
from data.accounts.authority import Actor
from data.storage.workspace import Workspace, WorkspaceError

T0 = datetime(2025, 7, 1, 8, 0)
KNOWN = {"310000", "310118", "330000", "330400", "330421", "320509"}
ADMIN_PW = "管理员-初始口令-2025"
PW = "值班口令0701-jiashan"


@pytest.fixture
def ws(tmp_path):
    with Workspace(tmp_path / "ws.duckdb") as w:
        yield w


@pytest.fixture
def cheap() -> PasswordHasher:
    """Real Argon2id with low cost, for speed (production uses the library's defaults)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def acc(ws, cheap) -> Accounts:
    return Accounts(ws, hasher=cheap, jurisdictions=KNOWN)


@pytest.fixture
def admin(acc) -> Session:
    acc.bootstrap(username="admin", display_name="系统管理员", department="emergency", jurisdiction="310000", roles=["sysadmin"], password=ADMIN_PW, by="root", now=T0)
    return acc.authenticate("admin", ADMIN_PW, now=T0)


def _duty(acc, admin, *, username="jsduty", roles=("duty_officer",), now=T0):
    return acc.create(admin, username=username, display_name="嘉善值班员", department="emergency", jurisdiction="330421", roles=list(roles), password=PW, now=now)


def _events(acc) -> list[tuple]:
    a = acc.audit()
    return list(zip(a["event"], a["outcome"], a["code"], a["subject"], strict=True))[::-1]


def _ready(acc, admin, username="jsduty") -> Session:
    """An account past its forced password change, signed in at T0."""
    _duty(acc, admin, username=username)
    s = acc.authenticate(username, PW, now=T0)
    return acc.change_password(s, PW, PW + "!new", now=T0)


# ---- bootstrap and creation ----------------------------------------------------------------------------
def test_bootstrap_once_then_only_a_sysadmin_creates(acc, admin, ws):
    assert admin.account.roles == ("sysadmin",) and not admin.must_change
    with pytest.raises(AuthError) as e:
        acc.bootstrap(username="admin2", display_name="第二", department="emergency", jurisdiction="310000", roles=["sysadmin"], password=ADMIN_PW, by="root", now=T0)
    assert e.value.code == "bootstrap_done"
    account = _duty(acc, admin)
    assert (account.username, account.department, account.jurisdiction, account.roles) == ("jsduty", "emergency", "330421", ("duty_officer",))
    assert account.must_change_password and account.created_by == "admin" and account.created_at == T0
    stored = ws.query("SELECT password_hash FROM accounts WHERE username = 'jsduty'")["password_hash"].iloc[0]
    assert stored.startswith("$argon2id$") and PW not in stored
    assert [e[:2] for e in _events(acc)] == [("bootstrap", "ok"), ("sign_in", "ok"), ("create", "ok")]


def test_bootstrap_needs_the_sysadmin_role(acc):
    with pytest.raises(AuthError) as e:
        acc.bootstrap(username="admin", display_name="x", department="emergency", jurisdiction="310000", roles=["commander"], password=ADMIN_PW, by="root")
    assert e.value.code == "bootstrap_role"
    assert acc.accounts() == []


def test_no_one_but_a_sysadmin_creates_disables_or_resets(acc, admin):
    duty = _ready(acc, admin)
    for attempt in (
        lambda: acc.create(duty, username="x1", display_name="x", department="fire", jurisdiction="330421", roles=["liaison"], password=PW, now=T0),
        lambda: acc.disable(duty, "admin", now=T0),
        lambda: acc.reset_password(duty, "admin", PW, now=T0),
    ):
        with pytest.raises(Refused) as e:
            attempt()
        assert e.value.code == "missing_role" and e.value.params["roles"] == ("sysadmin",)
    assert [a.username for a in acc.accounts()] == ["admin", "jsduty"]
    refusals = [e for e in _events(acc) if e[1] == "refused"]
    assert refusals == [("accounts.manage", "refused", "missing_role", "")] * 3
    assert set(acc.audit().query("outcome == 'refused'")["actor"]) == {"jsduty"}


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"username": "张三"}, "bad_username"),
        ({"username": "a"}, "bad_username"),
        ({"display_name": "  "}, "required"),
        ({"department": "army"}, "bad_department"),
        ({"jurisdiction": "330424"}, "bad_jurisdiction"),  # a real code, but not of this site's list
        ({"jurisdiction": "嘉善县"}, "bad_jurisdiction"),
        ({"roles": []}, "bad_roles"),
        ({"roles": ["root"]}, "bad_roles"),
        ({"password": "short-pw1"}, "password_short"),
        ({"password": "JSDuty0701", "username": "jsduty0701"}, "password_is_username"),
        ({"password": "x" * 257}, "password_long"),
    ],
)
def test_create_refuses_bad_input_and_saves_nothing(acc, admin, fields, code):
    before = len(acc.audit())
    kw = {"username": "jsduty", "display_name": "嘉善值班员", "department": "emergency", "jurisdiction": "330421", "roles": ["duty_officer"], "password": PW}
    with pytest.raises(AuthError) as e:
        acc.create(admin, **(kw | fields), now=T0)
    assert e.value.code == code
    assert [a.username for a in acc.accounts()] == ["admin"] and len(acc.audit()) == before


def test_password_policy_messages_carry_their_numbers(acc, admin):
    with pytest.raises(AuthError) as e:
        acc.create(admin, username="jsduty", display_name="x", department="emergency", jurisdiction="330421", roles=["liaison"], password="123456789", now=T0)
    assert e.value.params == {"length": 9, "minimum": MIN_PASSWORD} and "at least 10" in str(e.value)
    _duty(acc, admin)
    with pytest.raises(AuthError) as e:
        _duty(acc, admin)
    assert e.value.code == "exists" and e.value.params == {"value": "jsduty"}


def test_usernames_are_case_insensitive(acc, admin):
    _duty(acc, admin, username="JSDuty")
    assert acc.get("jsduty") is not None
    assert acc.authenticate(" JSDUTY ", PW, now=T0).account.username == "jsduty"


# ---- signing in --------------------------------------------------------------------------------------------
def test_unknown_user_and_wrong_password_get_the_same_refusal(acc, admin):
    _duty(acc, admin)
    with pytest.raises(AuthError) as unknown:
        acc.authenticate("nobody", PW, now=T0)
    with pytest.raises(AuthError) as wrong:
        acc.authenticate("jsduty", PW + "x", now=T0)
    assert unknown.value.code == wrong.value.code == "unknown_or_wrong"
    assert str(unknown.value) == str(wrong.value) and unknown.value.params == wrong.value.params == {}
    assert _events(acc)[-2:] == [("sign_in", "failed", "unknown_or_wrong", "nobody"), ("sign_in", "failed", "unknown_or_wrong", "jsduty")]


def test_five_failures_lock_for_fifteen_minutes_then_the_count_starts_again(acc, admin):
    _ready(acc, admin)
    good = PW + "!new"
    for i in range(MAX_FAILURES - 1):
        with pytest.raises(AuthError, match="unknown username"):
            acc.authenticate("jsduty", "wrong-password", now=T0 + timedelta(minutes=i))
    assert acc.get("jsduty").failed_count == MAX_FAILURES - 1
    acc.authenticate("jsduty", good, now=T0 + timedelta(minutes=5))  # a success clears the count
    assert acc.get("jsduty").failed_count == 0
    t = T0 + timedelta(minutes=10)
    for _ in range(MAX_FAILURES):
        with pytest.raises(AuthError) as e:
            acc.authenticate("jsduty", "wrong-password", now=t)
        assert e.value.code == "unknown_or_wrong"
    assert acc.get("jsduty").locked_until == t + LOCK_TIME
    with pytest.raises(AuthError) as e:  # locked: even the right password is refused, and not counted
        acc.authenticate("jsduty", good, now=t + LOCK_TIME - timedelta(seconds=1))
    assert e.value.code == "locked" and e.value.params == {"until": t + LOCK_TIME}
    assert acc.get("jsduty").failed_count == MAX_FAILURES
    acc.authenticate("jsduty", good, now=t + LOCK_TIME)
    assert acc.get("jsduty").locked_until is None
    # after a lock that ran out without a sign-in, the next failures count from zero
    t2 = t + LOCK_TIME + timedelta(minutes=1)
    for _ in range(MAX_FAILURES):
        with pytest.raises(AuthError):
            acc.authenticate("jsduty", "wrong-password", now=t2)
    t3 = t2 + LOCK_TIME
    with pytest.raises(AuthError) as e:
        acc.authenticate("jsduty", "wrong-password", now=t3)
    assert e.value.code == "unknown_or_wrong" and acc.get("jsduty").failed_count == 1 and acc.get("jsduty").locked_until is None
    events = _events(acc)
    assert events.count(("lock", "ok", "locked", "jsduty")) == 2
    assert ("sign_in", "refused", "locked", "jsduty") in events


def test_a_disabled_account_is_refused_after_the_right_password_only(acc, admin):
    duty = _ready(acc, admin)
    acc.disable(admin, "jsduty", now=T0)
    with pytest.raises(AuthError) as e:
        acc.authenticate("jsduty", PW + "!new", now=T0)
    assert e.value.code == "disabled"
    with pytest.raises(AuthError) as e:
        acc.authenticate("jsduty", "wrong-password", now=T0)
    assert e.value.code == "unknown_or_wrong"
    with pytest.raises(AuthError) as e:  # its open session ends too
        acc.check(duty, now=T0 + timedelta(minutes=1))
    assert e.value.code == "disabled"
    acc.enable(admin, "jsduty", now=T0)
    assert acc.authenticate("jsduty", PW + "!new", now=T0).account.username == "jsduty"
    assert [e[:2] for e in _events(acc) if e[0] in ("disable", "enable")] == [("disable", "ok"), ("enable", "ok")]


def test_the_last_enabled_sysadmin_cannot_be_disabled(acc, admin):
    with pytest.raises(AuthError) as e:
        acc.disable(admin, "admin", now=T0)
    assert e.value.code == "last_sysadmin"
    assert not acc.get("admin").disabled
    acc.create(admin, username="admin2", display_name="备份管理员", department="emergency", jurisdiction="310000", roles=["sysadmin"], password=PW, now=T0)
    acc.disable(admin, "admin2", now=T0)  # admin2 has not even signed in: still the other one
    with pytest.raises(AuthError):
        acc.disable(admin, "admin", now=T0)


# ---- forced change and the password -----------------------------------------------------------------------
def test_an_initial_password_allows_only_changing_it(acc, admin):
    _duty(acc, admin)
    s = acc.authenticate("jsduty", PW, now=T0)
    assert s.must_change
    with pytest.raises(AuthError) as e:
        acc.check(s, now=T0)
    assert e.value.code == "must_change"
    assert acc.check(s, now=T0, allow_must_change=True).must_change
    with pytest.raises(AuthError) as e:
        acc.change_password(s, PW, PW, now=T0)
    assert e.value.code == "password_same"
    with pytest.raises(AuthError) as e:
        acc.change_password(s, PW, "jsduty", now=T0)
    assert e.value.code == "password_short"
    new = acc.change_password(s, PW, "换班口令-0702-night", now=T0 + timedelta(minutes=1))
    assert not new.must_change and acc.check(new, now=T0 + timedelta(minutes=2)).actor == Actor("jsduty", "emergency", "330421", frozenset({"duty_officer"}))
    with pytest.raises(AuthError):
        acc.authenticate("jsduty", PW, now=T0 + timedelta(minutes=3))
    assert acc.authenticate("jsduty", "换班口令-0702-night", now=T0 + timedelta(minutes=3))
    assert ("sign_in", "ok", "must_change", "jsduty") in _events(acc) and ("change_password", "ok", "", "jsduty") in _events(acc)


def test_a_wrong_current_password_counts_towards_the_lockout(acc, admin):
    s = _ready(acc, admin)
    for _ in range(MAX_FAILURES):
        with pytest.raises(AuthError) as e:
            acc.change_password(s, "not-the-password", "另一个口令-123456", now=T0)
        assert e.value.code == "wrong_password"
    with pytest.raises(AuthError) as e:
        acc.check(s, now=T0)
    assert e.value.code == "locked"


def test_reset_sets_must_change_clears_a_lock_and_ends_sessions(acc, admin):
    s = _ready(acc, admin)
    for _ in range(MAX_FAILURES):
        with pytest.raises(AuthError):
            acc.authenticate("jsduty", "wrong-password", now=T0)
    later = T0 + timedelta(minutes=1)
    reset = acc.reset_password(admin, "jsduty", "临时口令-reset-01", now=later)
    assert reset.must_change_password and reset.failed_count == 0 and reset.locked_until is None
    with pytest.raises(AuthError) as e:
        acc.check(s, now=later)
    assert e.value.code == "expired"
    assert acc.authenticate("jsduty", "临时口令-reset-01", now=later).must_change
    with pytest.raises(AuthError):
        acc.reset_password(admin, "nobody", "临时口令-reset-01", now=later)


# ---- sessions ------------------------------------------------------------------------------------------
def test_a_session_ends_after_eight_idle_hours(acc, admin):
    s = _ready(acc, admin)
    assert s.expires_at == T0 + IDLE_TIME
    renewed = acc.check(s, now=T0 + IDLE_TIME - timedelta(seconds=1))
    assert renewed.last_seen == T0 + IDLE_TIME - timedelta(seconds=1)
    with pytest.raises(AuthError) as e:
        acc.check(s, now=T0 + IDLE_TIME)
    assert e.value.code == "expired"
    assert _events(acc)[-1] == ("session_end", "ok", "expired", "jsduty")


def test_a_session_ends_twelve_hours_after_sign_in_however_active(acc, admin):
    s = _ready(acc, admin)
    for hours in range(1, 12):
        s = acc.check(s, now=T0 + timedelta(hours=hours))
    assert s.expires_at == T0 + SESSION_TIME
    with pytest.raises(AuthError) as e:
        acc.check(s, now=T0 + SESSION_TIME)
    assert e.value.code == "expired"


def test_sign_out_is_audited(acc, admin):
    s = _ready(acc, admin)
    acc.sign_out(s, now=T0 + timedelta(hours=1))
    a = acc.audit()
    assert (a["event"].iloc[0], a["actor"].iloc[0], a["at"].iloc[0]) == ("sign_out", "jsduty", T0 + timedelta(hours=1))


def test_check_sees_role_changes_of_the_stored_account(acc, admin, ws):
    s = _ready(acc, admin)
    with ws.transaction("test: {exc}") as cur:
        cur.execute("UPDATE accounts SET roles = 'viewer' WHERE username = 'jsduty'")
    assert acc.check(s, now=T0).account.roles == ("viewer",)


# ---- authority through the accounts -----------------------------------------------------------------------
def test_require_audits_a_refusal_and_returns_an_on_behalf_decision(acc, admin):
    s = _ready(acc, admin)
    actor = acc.check(s, now=T0).actor
    with pytest.raises(Refused) as e:
        acc.require(actor, "incident.phase", now=T0, lead_code="330421")
    assert e.value.code == "missing_role" and e.value.decision.params["roles"] == ("commander",)
    row = acc.audit().iloc[0]
    assert (row["event"], row["outcome"], row["code"], row["actor"]) == ("incident.phase", "refused", "missing_role", "jsduty")
    assert '"lead_code": "330421"' in row["detail"]
    d = acc.require(actor, "ack.answer", now=T0, unit_department="fire", unit_jurisdiction="330421", jurisdictions=["330421"], reason="电话应答，代录")
    assert d.on_behalf
    assert len(acc.audit()) == len(_events(acc))  # an allowed action adds no audit row
    assert acc.audit().iloc[0]["event"] == "incident.phase"


# ---- storage and hashing -----------------------------------------------------------------------------
def test_accounts_and_audit_survive_reopening_the_workspace(tmp_path, cheap):
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as w:
        a = Accounts(w, hasher=cheap)
        a.bootstrap(username="admin", display_name="管理员", department="emergency", jurisdiction="310000", roles=["sysadmin"], password=ADMIN_PW, by="root", now=T0)
    with Workspace(path) as w:
        a = Accounts(w, hasher=cheap)
        assert a.authenticate("admin", ADMIN_PW, now=T0).account.display_name == "管理员"
        assert list(a.audit()["event"]) == ["sign_in", "bootstrap"]


def test_default_parameters_in_production_and_rehash_at_sign_in(ws, acc, admin):
    default = PasswordHasher()
    production = Accounts(ws)
    assert (production.hasher.time_cost, production.hasher.memory_cost, production.hasher.parallelism) == (default.time_cost, default.memory_cost, default.parallelism)
    old = ws.query("SELECT password_hash FROM accounts WHERE username = 'admin'")["password_hash"].iloc[0]
    assert "m=1024,t=1,p=1" in old
    production.authenticate("admin", ADMIN_PW, now=T0)  # a hash of other parameters is re-hashed
    new = ws.query("SELECT password_hash FROM accounts WHERE username = 'admin'")["password_hash"].iloc[0]
    assert new != old and f"m={default.memory_cost},t={default.time_cost},p={default.parallelism}" in new
    assert '"rehashed": true' in production.audit()["detail"].iloc[0]
    production.authenticate("admin", ADMIN_PW, now=T0)
    assert ws.query("SELECT password_hash FROM accounts WHERE username = 'admin'")["password_hash"].iloc[0] == new


# ---- the command line ---------------------------------------------------------------------------------
def test_cli_bootstraps_the_first_sysadmin_once(dataset, tmp_path, capsys):
    from data.__main__ import main

    path = tmp_path / "cli.duckdb"
    secret = tmp_path / "pw.txt"
    secret.write_text("short\n", encoding="utf-8")
    base = ["accounts", "create", "--username", "admin", "--department", "emergency", "--jurisdiction", "310000", "--role", "sysadmin",
            "--password-file", str(secret), "--dataset", str(dataset), "--workspace", str(path)]  # fmt: skip
    assert main(base) == 2
    assert "at least 10" in capsys.readouterr().err
    secret.write_text(ADMIN_PW + "\nignored second line\n", encoding="utf-8")
    assert main([*base[:7], "999999", *base[8:]]) == 2  # not a code of the dataset
    assert "not a jurisdiction code" in capsys.readouterr().err
    assert main(base) == 0
    assert "account admin created (sysadmin, emergency, 310000)" in capsys.readouterr().out
    assert main([*base[:2], "--username", "admin2", *base[4:]]) == 2
    assert "enabled system administrator exists already" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # no password on the command line
        main([*base, "--password", ADMIN_PW])
    capsys.readouterr()
    assert main(["accounts", "list", "--dataset", str(dataset), "--workspace", str(path)]) == 0
    assert capsys.readouterr().out.startswith("admin  admin  emergency  310000  sysadmin  active")
    with Workspace(path) as w:
        a = Accounts(w)
        assert a.authenticate("admin", ADMIN_PW, now=T0).account.created_by.startswith("cli:")
        assert list(a.audit()["event"]) == ["sign_in", "bootstrap"]


def test_two_servers_write_the_audit_at_once_on_postgresql(postgres_database, cheap):
    """Audit ids are the next number: without the table lock, two servers' sign-ins collided on the key."""
    import threading

    first, second = Workspace(postgres_database), Workspace(postgres_database)
    try:
        a, b = Accounts(first, hasher=cheap, jurisdictions=KNOWN), Accounts(second, hasher=cheap, jurisdictions=KNOWN)
        a.bootstrap(username="admin", display_name="系统管理员", department="emergency", jurisdiction="310000", roles=["sysadmin"], password=ADMIN_PW, by="root", now=T0)
        errors: list[BaseException] = []

        def sign_ins(acc: Accounts) -> None:
            for _ in range(15):
                try:
                    acc.authenticate("nobody", "wrong-password-123", now=T0)
                except AuthError:
                    pass
                except BaseException as exc:  # a key collision surfaces as WorkspaceError
                    errors.append(exc)

        threads = [threading.Thread(target=sign_ins, args=(x,)) for x in (a, b)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        audit = a.audit(limit=1000)
        assert (audit["event"] == "sign_in").sum() == 30 and audit["id"].is_unique
        with pytest.raises(WorkspaceError, match="append-only"):  # the database itself refuses changes to the audit
            with first.transaction("{exc}") as cur:
                cur.execute("DELETE FROM auth_audit")
    finally:
        first.close()
        second.close()
