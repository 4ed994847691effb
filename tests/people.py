"""Signed-in people for tests: real accounts (cheap Argon2 parameters) created by a system administrator and signed in.

``People(accounts, now=...)`` makes the accounts the way a site does (`Accounts.bootstrap`
for the first system administrator, then `Accounts.create` by that administrator, then the
holder's first sign-in and forced password change) and returns each holder's `Session`;
nothing is faked, so the permission table and the session checks run as in the app.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from argon2 import PasswordHasher

from data.accounts.accounts import Accounts, Session
from data.schema import now_beijing

#: Argon2id with the smallest parameters: the same code path, a millisecond per hash.
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "test-password-1"
ADMIN = "admin"

#: A cast for the incidents of the tests (嘉善县 leads; 青浦区 and 吴江区 are neighbours; 嘉兴市 is the city above).
CAST: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "commander": ("emergency", "330421", ("commander",)),  # 嘉善县应急管理局, the lead's 指挥长
    "duty": ("emergency", "330421", ("duty_officer",)),  # 嘉善县 duty officer (值班员)
    "fire": ("fire", "330421", ("liaison",)),  # 嘉善县消防救援大队 liaison
    "police": ("police", "330421", ("liaison",)),
    "transport": ("transport", "330421", ("liaison",)),
    "qingpu": ("emergency", "310118", ("duty_officer", "liaison")),  # 青浦区应急管理局
    "qingpu_commander": ("emergency", "310118", ("commander",)),
    "qingpu_fire": ("fire", "310118", ("duty_officer", "liaison")),
    "wujiang": ("emergency", "320509", ("duty_officer",)),  # 吴江区, not party unless invited
    "jiaxing": ("emergency", "330400", ("commander",)),  # 嘉兴市, the level above
    "viewer": ("emergency", "330421", ("viewer",)),
    "data_admin": ("natural_resources", "330421", ("data_admin",)),
    "city_data_admin": ("natural_resources", "330400", ("data_admin",)),
}


class People:
    """Accounts of one workspace, signed in on demand: ``people["fire"]`` is the `Session` of the cast's 嘉善县 fire liaison.

    Parameters
    ----------
    accounts : Accounts
        The accounts of the workspace under test (the same one the log or import uses).
    now : callable
        The clock (Beijing time, naive) at which accounts are made and signed in; sessions
        last 8 h idle, so a test clock should stay within that of the sign-in.
    """

    def __init__(self, accounts: Accounts, *, now: Callable[[], datetime] = now_beijing):
        self.accounts = accounts
        self.now = now
        self._sessions: dict[str, Session] = {}
        if accounts.get(ADMIN) is None:
            accounts.bootstrap(username=ADMIN, display_name="系统管理员", department="emergency", jurisdiction="330421", roles=["sysadmin"],
                               password=PASSWORD, by="tests", now=now())  # fmt: skip
        self.admin = accounts.authenticate(ADMIN, PASSWORD, now=now())

    def sign_in(self, username: str, department: str, jurisdiction: str, *roles: str, display_name: str | None = None) -> Session:
        """Create `username` (once) with these department, jurisdiction and roles, and return a fresh session of it."""
        now = self.now()
        if self.accounts.get(username) is None:
            self.accounts.create(self.admin, username=username, display_name=display_name or username, department=department,
                                 jurisdiction=jurisdiction, roles=list(roles), password=PASSWORD, now=now)  # fmt: skip
            first = self.accounts.authenticate(username, PASSWORD, now=now)
            self._sessions[username] = self.accounts.change_password(first, PASSWORD, PASSWORD + "x", now=now)
        else:
            self._sessions[username] = self.accounts.authenticate(username, PASSWORD + "x", now=now)
        return self._sessions[username]

    def __getitem__(self, name: str) -> Session:
        """The session of cast member `name` (see `CAST`), signed in at first use."""
        if name not in self._sessions:
            department, jurisdiction, roles = CAST[name]
            self.sign_in(name, department, jurisdiction, *roles)
        return self._sessions[name]


def cheap_accounts(workspace) -> Accounts:
    """`Accounts` of `workspace` with the cheap hasher."""
    return Accounts(workspace, hasher=CHEAP)


def signed_in_cast(workspace_path, shown: dict[str, str]) -> dict[str, Session]:
    """Sessions of the `CAST` members named in `shown` (name -> display name), made in the workspace at `workspace_path`
    before an app opens it (the AppTests sign in with them through ``session_state["account"]``)."""
    from data.storage.workspace import Workspace

    with Workspace(workspace_path) as ws:
        people = People(cheap_accounts(ws))
        for name, display in shown.items():
            department, jurisdiction, roles = CAST[name]
            people.sign_in(name, department, jurisdiction, *roles, display_name=display)
        return {name: people[name] for name in shown}

