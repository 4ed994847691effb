"""Several app servers on one PostgreSQL: signed-in sessions writing log entries and 叫应 answers, one server killed midway.

Everything runs on this machine (loopback, a throwaway PostgreSQL cluster) and stops by itself.
The sessions are websocket clients speaking Streamlit's own protocol (`streamlit.proto`
BackMsg/ForwardMsg), as the browser does: they sign in through the sidebar form, draw the
consultation page, rerun the board's fragment when the server asks them to (`auto_rerun`),
and submit the page's forms. A write "appears" on a board when a board refresh that a
session of another server receives carries the write's token (the entry text).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import inspect
import json
import logging
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger(__name__)

SERVERS = 3
SESSIONS = 60
DURATION_S = 120.0
KILL_AT_S = 60.0
THINK_S = (2.0, 4.0)  # pause between a session's writes (uniform)
COUNTIES = {"330421": "嘉善县", "310118": "青浦区", "320509": "吴江区"}
LEAD = "330421"
DEPARTMENTS = ("emergency", "fire", "police", "transport", "water", "weather")
WARNINGS = 60  # issued at setup, each calling every unit of COUNTIES × DEPARTMENTS
PASSWORD = "Bench-cluster-2026!"
TOKEN = re.compile(rb"bx(\d{7})z")  # a write's token in its text: bx0001234z


# ---- the data API, looked up when needed (the modules' paths may move) --------------------------
def _api(name: str, *modules: str):
    """`name` from the first of `modules` that has it."""
    for module in modules:
        with contextlib.suppress(ImportError):
            found = getattr(importlib.import_module(module), name, None)
            if found is not None:
                return found
    msg = f"`{name}` was not found in any of {modules}."
    raise ImportError(msg)


def _workspace(url: str):
    return _api("Workspace", "data.storage.workspace", "data.storage", "data.workspace")(url=url)


def _log(ws):
    return _api("IncidentLog", "data.incidents.log", "data.incidents")(ws)


def _accounts(ws):
    return _api("Accounts", "data.accounts.accounts", "data.accounts")(ws)


def _signed(fn, session, who: str, department: str, **kwargs):
    """Call a log write signed by `session` (`by=`) when the log takes it, else by the typed `who`/`department`."""
    params = inspect.signature(fn).parameters
    if "by" in params:
        return fn(by=session, **kwargs)
    return fn(who=who, department=department, **kwargs)


@dataclasses.dataclass(frozen=True)
class Person:
    username: str
    display_name: str
    department: str
    jurisdiction: str
    roles: tuple[str, ...]
    answers: str | None  # the contact id whose 叫应 this person answers, or None: writes entries


def people(contacts, n: int = SESSIONS) -> list[Person]:
    """`n` accounts: for each unit (department × county, 18) one liaison answering its 叫应; the others
    liaisons (and 嘉善县's emergency duty officers) writing position-log entries for their own department.
    Interleaved (answering, writing, answering, ...) so that every server gets both kinds."""
    answering: list[Person] = []
    for code, county in COUNTIES.items():
        for dept in DEPARTMENTS:
            contact = contacts[(contacts["jurisdiction_code"] == code) & (contacts["department"] == dept)]
            k = len(answering) + 1
            answering.append(Person(f"ack{k:02d}", f"{county}{dept}联络员{k}", dept, code, ("liaison",), str(contact["id"].iloc[0])))
    writing: list[Person] = []
    for k in range(1, n + 1):
        code = list(COUNTIES)[k % len(COUNTIES)]
        dept = DEPARTMENTS[(k // len(COUNTIES)) % len(DEPARTMENTS)]
        role = ("duty_officer",) if code == LEAD and dept == "emergency" else ("liaison",)
        writing.append(Person(f"log{k:02d}", f"{COUNTIES[code]}{dept}值班{k}", dept, code, role, None))
    out: list[Person] = []
    while len(out) < n:
        if answering and (len(out) % 3 == 0 or not writing):
            out.append(answering.pop(0))
        else:
            out.append(writing.pop(0))
    return out


def setup(url: str, dataset: Path, *, sessions: int = SESSIONS) -> dict:
    """Accounts, one incident in 嘉善县 with WARNINGS warnings calling the 18 units (setup, not measured)."""
    from geo.warning import buffer_area, call_list

    store = _api("Store", "data.dataset.store", "data.dataset", "data.store")(dataset)
    try:
        contacts = store.table("contacts")
    finally:
        store.close()
    crowd = people(contacts, sessions)
    with _workspace(url) as ws:
        acc = _accounts(ws)
        acc.bootstrap(username="benchadmin", display_name="压测管理员", department="emergency", jurisdiction=LEAD, roles=["sysadmin"],
                      password=PASSWORD, by="bench", must_change=False)  # fmt: skip
        admin = acc.authenticate("benchadmin", PASSWORD)
        first = PASSWORD + "0"
        lead = Person("benchcmd", "嘉善县指挥长", "emergency", LEAD, ("commander", "duty_officer"), None)

        def make(p: Person) -> None:  # Argon2 releases the GIL: a few at once
            acc.create(admin, username=p.username, display_name=p.display_name, department=p.department, jurisdiction=p.jurisdiction,
                       roles=list(p.roles), password=first)  # fmt: skip
            acc.change_password(acc.authenticate(p.username, first), first, PASSWORD)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(make, [lead, *crowd]))
        boss = acc.authenticate(lead.username, PASSWORD)
        log = _log(ws)
        inc = _signed(log.open_incident, boss, lead.display_name, lead.department, title="压测：嘉善县西塘镇危化品泄漏", kind="hazchem", level="II",
                      lon=120.888, lat=30.943, lead_code=LEAD, lead_name=COUNTIES[LEAD], jurisdictions=[c for c in COUNTIES if c != LEAD],
                      departments=list(DEPARTMENTS))  # fmt: skip
        calls = call_list(list(COUNTIES), list(DEPARTMENTS), contacts).to_dict("records")
        area = buffer_area(120.888, 30.943, 20_000).__geo_interface__
        warnings = [
            _signed(log.issue_warning, boss, lead.display_name, lead.department, incident_id=inc, colour="orange", text=f"压测预警第{i + 1}次",
                    area_kind="buffer", area=area, counties=list(COUNTIES), departments=list(DEPARTMENTS), calls=calls, radius_m=20_000)  # fmt: skip
            for i in range(WARNINGS)
        ]
        units = {c["contact_id"]: c["unit"] for c in calls}
        return {"incident": inc, "warnings": warnings, "people": crowd, "units": units, "rows_before": log.size()}


# ---- a browser session, speaking Streamlit's protocol over the websocket ----------------------------
class Client:
    """One Streamlit session over a websocket: draws a page, keeps the widgets it was sent, answers
    the server's `auto_rerun` timers (as the browser does: not while a run of this session is going on),
    submits forms, and reports every token it receives to `seen(token, client, t_s)`."""

    def __init__(self, url: str, *, page: str, seen=None, name: str = ""):
        self.url, self.page, self.name = url, page, name
        self.seen = seen or (lambda token, client, t_s: None)
        self.widgets: dict[str, object] = {}  # widget id -> its element proto (e.g. Button, TextArea)
        self.fragment_of: dict[str, str] = {}  # widget id -> the fragment that drew it ("" outside)
        self.alerts: list[tuple[str, str]] = []  # (kind, text) of the current run
        self.said: list[tuple[float, str, int]] = []  # (epoch s, text, run) of every message shown, in order
        self.page_hash = ""
        self.running = False
        self.busy_until = 0.0
        self.server = -1  # index of the server, for the caller
        self.finished = asyncio.Event()
        self.closed = asyncio.Event()
        self.timers: dict[str, asyncio.Task] = {}
        self.ws = None
        self.reruns = 0
        self.run_no = 0  # script runs this session has started
        self.drawn_in: dict[str, int] = {}  # widget id -> the run that last drew it

    async def connect(self) -> None:
        import websockets

        ws_url = self.url.replace("http://", "ws://") + "/_stcore/stream"
        self.ws = await websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=30, ping_interval=None)
        self.closed.clear()
        self._reader = asyncio.ensure_future(self._read())

    async def close(self) -> None:
        for task in self.timers.values():
            task.cancel()
        self.timers.clear()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for raw in self.ws:
                now = time.time()
                for m in TOKEN.finditer(raw):
                    self.seen(int(m.group(1)), self, now)
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                kind = msg.WhichOneof("type")
                if kind == "new_session":
                    self.run_no += 1
                    self.running = True
                    self.finished.clear()
                    self.alerts = []
                elif kind == "navigation":  # the page this session is on (st.navigation)
                    self.page_hash = msg.navigation.page_script_hash or self.page_hash
                elif kind == "delta":
                    self._delta(msg.delta)
                elif kind == "auto_rerun":
                    fid, every = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
                    if fid not in self.timers:
                        self.timers[fid] = asyncio.ensure_future(self._tick(fid, every))
                elif kind == "stop_auto_rerun":
                    for fid in msg.stop_auto_rerun.fragment_ids:
                        if fid in self.timers:
                            self.timers.pop(fid).cancel()
                elif kind == "script_finished":
                    self.running = False
                    self.finished.set()
        except Exception as exc:  # the server went away (killed): the session notices, as a browser does
            logger.debug("%s: connection ended (%s)", self.name, exc)
        finally:
            self.running = False
            self.finished.set()
            self.closed.set()
            for task in self.timers.values():
                task.cancel()
            self.timers.clear()

    def _delta(self, delta) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        el = delta.new_element
        kind = el.WhichOneof("type")
        if kind == "exception":
            self.alerts.append(("exception", el.exception.message))
        if kind == "alert":
            self.alerts.append((str(el.alert.format), el.alert.body))
            self.said.append((time.time(), el.alert.body, self.run_no))
            return
        proto = getattr(el, kind, None) if kind else None
        wid = getattr(proto, "id", "") if proto is not None else ""
        if wid and wid.startswith("$$ID"):
            self.widgets[wid] = proto
            self.fragment_of[wid] = delta.fragment_id
            self.drawn_in[wid] = self.run_no

    async def _tick(self, fragment_id: str, every_s: float) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(every_s)
            if not self.running or time.monotonic() > self.busy_until:  # an unanswered request does not stop the clock for ever
                await self.rerun(fragment_id=fragment_id, auto=True)

    def widget(self, key: str, *, form: str | None = None, label: str | None = None):
        """The id of the widget whose key is `key` (or: the submit button of `form`, or the button labelled `label`), last drawn first."""
        for wid in sorted(self.widgets, key=self.drawn_in.get, reverse=True):
            proto = self.widgets[wid]
            if form is not None:
                if getattr(proto, "is_form_submitter", False) and proto.form_id == form:
                    return wid
            elif label is not None:
                if getattr(proto, "label", None) == label:
                    return wid
            elif wid.endswith("-" + key):
                return wid
        return None

    async def rerun(self, states: list | None = None, *, fragment_id: str = "", auto: bool = False) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = ""
        cs.page_script_hash = self.page_hash
        cs.page_name = "" if self.page_hash else self.page
        cs.fragment_id = fragment_id
        cs.is_auto_rerun = auto
        cs.context_info.timezone = "Asia/Shanghai"
        cs.context_info.locale = "zh-CN"
        for wid, field, value in states or []:
            w = cs.widget_states.widgets.add()
            w.id = wid
            setattr(w, field, value)
        if not fragment_id:  # a full run: the browser drops the timers, the run sets them again
            for task in self.timers.values():
                task.cancel()
            self.timers.clear()
        self.running = True
        self.busy_until = time.monotonic() + 10.0
        self.finished.clear()
        self.reruns += 1
        try:
            await self.ws.send(msg.SerializeToString())
        except Exception:
            self.running = False
            self.finished.set()
            raise

    async def run(self, states: list | None = None, *, fragment_id: str = "", timeout_s: float = 60) -> None:
        """Rerun and wait until that run (and any it caused) has finished."""
        await self.rerun(states, fragment_id=fragment_id)
        await self.settle(timeout_s)

    async def settle(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            await asyncio.wait_for(self.finished.wait(), max(0.01, deadline - time.monotonic()))
            if self.closed.is_set():
                raise ConnectionError(f"{self.name}: the server closed the connection")
            await asyncio.sleep(0.05)  # a callback's rerun starts right after the run it ended
            if self.finished.is_set() and not self.running:
                return


# ---- the load: sessions that sign in, write, and move when their server dies -----------------------
SAVED = re.compile(r"已保存记录 #(\d+)")
ACKED = re.compile(r"已记录 (.+) 的应答")


@dataclasses.dataclass
class Server:
    url: str
    pid: int
    alive: bool = True
    cpu0_s: float = 0.0


@dataclasses.dataclass
class Load:
    """What the driver saw: confirmed writes, their appearance on the other servers' boards, refusals, moves."""

    servers: list[Server]
    t_start: float = 0.0
    t_end: float = 0.0
    t_kill: float | None = None
    next_token: int = 0
    entries: dict[int, dict] = dataclasses.field(default_factory=dict)  # token -> {id, server, t_click, t_confirm}
    acks: list[dict] = dataclasses.field(default_factory=list)  # {warning, unit, server, t_click, t_confirm}
    first_seen: dict[tuple[int, int], float] = dataclasses.field(default_factory=dict)  # (token, server) -> epoch s
    unconfirmed: list[dict] = dataclasses.field(default_factory=list)  # writes sent without an answer (e.g. at the kill)
    refused: Counter = dataclasses.field(default_factory=Counter)
    moves: list[dict] = dataclasses.field(default_factory=list)  # sessions of the killed server
    signed_in: int = 0

    def seen(self, token: int, client: Client, t_s: float) -> None:
        key = (token, client.server)
        if key not in self.first_seen:
            self.first_seen[key] = t_s


async def _sign_in(client: Client, person: Person) -> None:
    await client.connect()
    await client.run(timeout_s=120)
    user, pw, go = client.widget("acc_user"), client.widget("acc_pw"), client.widget("", form="acc_sign_in")
    if not (user and pw and go):
        raise RuntimeError(f"{person.username}: no sign-in form on {client.url}")
    await client.run([(user, "string_value", person.username), (pw, "string_value", PASSWORD), (go, "trigger_value", True)], timeout_s=120)
    if not client.widget("acc_sign_out"):
        raise RuntimeError(f"{person.username}: not signed in on {client.url}: {client.alerts}")
    name = client.widget("inc_me_name")  # the typed identity of the page before sign-in signed the log
    if name and client.drawn_in[name] == client.run_no:
        await client.run([(name, "string_value", person.display_name)], fragment_id=client.fragment_of[name])
        dept = client.widget("inc_me_dept@zh")
        from layers.labels import label_or

        if dept:
            await client.run([(dept, "string_value", label_or("dept", person.department, "zh"))], fragment_id=client.fragment_of[dept])


def _answer(client: Client, after_run: int, pattern: re.Pattern, *, key=lambda m: 0) -> tuple[float, re.Match] | tuple[None, str]:
    """The message matching `pattern` shown by a run after run `after_run` (the one with the largest
    `key`, then the first), as (time it arrived, match); or (None, the messages those runs showed)."""
    found = [(key(m), -i, t_s, m) for i, (t_s, text, run) in enumerate(client.said) if run > after_run and (m := pattern.search(text))]
    if found:
        _, _, t_s, m = max(found, key=lambda f: (f[0], f[1]))
        return t_s, m
    return None, "; ".join(text for t_s, text, run in client.said if run > after_run)


async def _write_entry(client: Client, person: Person, load: Load) -> float | None:
    """Write one position-log entry with a fresh token; the time its confirmation arrived, or None."""
    box, go = client.widget("inc_entry_text"), client.widget("", form="inc_entry_form")
    if not (box and go):
        raise RuntimeError(f"{person.username}: no entry form")
    load.next_token += 1
    token = load.next_token
    text = f"{person.display_name}：现场处置进展 bx{token:07d}z"
    await client.settle()  # no refresh in flight: what the next runs show answers this submit
    box, go = client.widget("inc_entry_text"), client.widget("", form="inc_entry_form")
    t_click, after = time.time(), client.run_no
    pending = {"token": token, "server": client.server, "t_click": t_click}
    load.unconfirmed.append(pending)
    await client.run([(box, "string_value", text), (go, "trigger_value", True)], fragment_id=client.fragment_of[go])
    t_ok, m = _answer(client, after, SAVED, key=lambda m: int(m.group(1)))
    if t_ok is None:
        load.refused[m[:80] or "no answer"] += 1
        return None
    load.unconfirmed.remove(pending)
    load.entries[token] = {"id": int(m.group(1)), "server": client.server, "t_click": t_click, "t_confirm": t_ok}
    return t_ok


async def _answer_call(client: Client, person: Person, load: Load, warnings: list[int], done: set[int], unit: str) -> float | None | bool:
    """Answer this unit's call of the first warning it has not answered: the confirmation's time, None when
    not confirmed, False when no call is left."""
    section = client.widget("inc_section@zh")
    if section and client.widgets[section].options and client.widgets[section].options[1] and not client.widget("inc_warn_pick@zh"):
        await client.run([(section, "string_value", client.widgets[section].options[1])], fragment_id=client.fragment_of[section])
    for warning in warnings:
        if warning in done:
            continue
        pick = client.widget("inc_warn_pick@zh")
        option = next((o for o in client.widgets[pick].options if o.startswith(f"#{warning} ")), None) if pick else None
        if option is None:
            done.add(warning)
            continue
        if client.widgets[pick].raw_value != option:
            await client.run([(pick, "string_value", option)], fragment_id=client.fragment_of[pick])
        await client.settle()  # no refresh in flight: the list drawn last is the one the server holds
        contact, go = client.widget("inc_ack_contact@zh"), client.widget("", form="inc_ack_form")
        mine = next((o for o in client.widgets[contact].options if o.startswith(unit + " · ")), None) if contact and go else None
        if mine is None:  # answered already (or the list is not drawn): the next warning
            done.add(warning)
            continue
        t_click, after = time.time(), client.run_no
        pending = {"warning": warning, "unit": unit, "server": client.server, "t_click": t_click}
        load.unconfirmed.append(pending)
        await client.run([(contact, "string_value", mine), (go, "trigger_value", True)], fragment_id=client.fragment_of[go])
        done.add(warning)
        t_ok, m = _answer(client, after, ACKED)
        if t_ok is None:
            load.refused[m[:80] or "no answer"] += 1
            return None
        load.unconfirmed.remove(pending)
        load.acks.append({"warning": warning, "unit": m.group(1).split(" · ")[0], "server": client.server, "t_click": t_click, "t_confirm": t_ok})
        return t_ok
    return False


async def _session(person: Person, home: int, load: Load, plan: dict, *, start_delay_s: float, rng: random.Random) -> None:
    """One person for the whole run: sign in on server `home`, write until the end; when the server
    goes away, sign in again on the next live one (as a proxy without that server would send them)."""
    import websockets

    await asyncio.sleep(start_delay_s)
    server, moved = home, None
    unit = plan["units"].get(person.answers or "", "")
    done: set[int] = set()
    while time.time() < load.t_end:
        client = Client(load.servers[server].url, page="consultation", seen=load.seen, name=person.username)
        client.server = server
        try:
            await _sign_in(client, person)
            load.signed_in += 1
            while time.time() < load.t_end:
                if person.answers:
                    t_ok = await _answer_call(client, person, load, plan["warnings"], done, unit)
                    if t_ok is False:
                        await asyncio.sleep(1.0)
                else:
                    t_ok = await _write_entry(client, person, load)
                if moved is not None and t_ok and "wrote_again_s" not in moved:
                    moved["wrote_again_s"] = t_ok - load.t_kill
                await asyncio.sleep(rng.uniform(*THINK_S))
        except (ConnectionError, OSError, asyncio.TimeoutError, RuntimeError, websockets.exceptions.WebSocketException) as exc:
            if load.servers[server].alive:
                logger.warning("%s on server %d: %s", person.username, server, exc)
                await asyncio.sleep(1.0)
                continue
            alive = [i for i, s in enumerate(load.servers) if s.alive]
            server = alive[rng.randrange(len(alive))]
            moved = {"user": person.username, "from": home, "to": server, "noticed_s": time.time() - (load.t_kill or time.time()), "kind": "ack" if person.answers else "entry"}
            load.moves.append(moved)
        finally:
            await client.close()


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pid_on(port: int) -> int:
    """The process listening on loopback `port` (the app server `tests.browser.serve` started)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"pid=(\d+)", out)
    if not found:
        msg = f"`port` {port}: no listening process found"
        raise RuntimeError(msg)
    return int(found.group(1))


def _rows(url: str, incident_id: str) -> list[tuple]:
    """(id, kind, text, ref, data) of every row of the incident, read straight from PostgreSQL."""
    import psycopg

    with psycopg.connect(url) as con:
        return con.execute("SELECT id, kind, text, ref, data FROM incident_log WHERE incident_id = %s ORDER BY id", [incident_id]).fetchall()


async def _drive(servers: list[Server], plan: dict, *, sessions: int, duration_s: float, kill_at_s: float | None, seed: int) -> Load:
    load = Load(servers=servers)
    crowd = plan["people"][:sessions]
    rng = random.Random(seed)
    ramp_s = min(20.0, 0.4 * len(crowd))  # sign-ins spread out (Argon2 on the servers)
    load.t_start = time.time() + ramp_s + 5.0  # measured from here, once everybody is in
    load.t_end = load.t_start + duration_s
    tasks = [asyncio.ensure_future(_session(p, i % len(servers), load, plan, start_delay_s=ramp_s * i / len(crowd), rng=random.Random(rng.random())))
             for i, p in enumerate(crowd)]  # fmt: skip
    await asyncio.sleep(max(0.0, load.t_start - time.time()))
    for s in servers:
        s.cpu0_s = _cpu_s(s.pid)
    if kill_at_s is not None and len(servers) > 1:
        await asyncio.sleep(kill_at_s)
        victim = servers[-1]
        load.t_kill = time.time()
        os.kill(victim.pid, signal.SIGKILL)
        victim.alive = False
        logger.warning("killed server %d (pid %d) at %.1f s", len(servers) - 1, victim.pid, load.t_kill - load.t_start)
    await asyncio.sleep(max(0.0, load.t_end - time.time()))
    for s in servers:
        s.cpu_s = _cpu_s(s.pid) - s.cpu0_s if s.alive else None
    await asyncio.wait(tasks, timeout=60)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            logger.error("a session failed: %r", task.exception())
            load.refused[f"session failed: {task.exception()!r}"[:80]] += 1
        task.cancel()
    return load


def _quantiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    v = sorted(values)
    pick = lambda q: v[min(len(v) - 1, int(round(q * (len(v) - 1))))]  # noqa: E731
    return {"n": len(v), "p50": pick(0.5), "p95": pick(0.95), "max": v[-1]}


def check(load: Load, rows: list[tuple], plan: dict) -> dict:
    """Every write the driver saw confirmed against the rows in PostgreSQL: lost, duplicated, misplaced."""
    by_token: dict[int, list[int]] = defaultdict(list)
    for rid, kind, text, _ref, _data in rows:
        for m in TOKEN.finditer(text.encode()):
            by_token[int(m.group(1))].append(rid)
    lost = [t for t in load.entries if t not in by_token]
    duplicated = [t for t, ids in by_token.items() if len(ids) > 1]
    wrong_id = [t for t, e in load.entries.items() if t in by_token and e["id"] not in by_token[t]]
    unit_of = plan["units"]
    acks: Counter = Counter()
    for _rid, kind, _text, ref, data in rows:
        if kind == "ack":
            acks[(int(ref), unit_of.get((json.loads(data) if isinstance(data, str) else data)["contact_id"]))] += 1
    acks_lost = [a for a in load.acks if acks[(a["warning"], a["unit"])] == 0]
    acks_dup = [k for k, n in acks.items() if n > 1]
    before_kill = [t for t, e in load.entries.items() if load.t_kill and e["t_confirm"] < load.t_kill]
    in_flight = [u for u in load.unconfirmed if load.t_kill and u["server"] == len(load.servers) - 1]
    return {
        "entries_confirmed": len(load.entries), "entries_lost": len(lost), "entries_duplicated": len(duplicated), "entries_wrong_id": len(wrong_id),
        "acks_confirmed": len(load.acks), "acks_lost": len(acks_lost), "acks_duplicated": len(acks_dup),
        "confirmed_before_kill": len(before_kill), "lost_before_kill": len([t for t in before_kill if t not in by_token]),
        "in_flight_at_kill": len(in_flight), "in_flight_committed": len([u for u in in_flight if u.get("token") in by_token]),
        "unconfirmed_in_db": len([u for u in load.unconfirmed if u.get("token") in by_token]),
    }  # fmt: skip


def delays(load: Load) -> dict:
    """From a write's confirmation (and from its click) to its first arrival at a session of each other live server."""
    from_confirm, from_click, never = [], [], 0
    for token, e in load.entries.items():
        for i, s in enumerate(load.servers):
            if i == e["server"] or (not s.alive and (load.t_kill or 0) <= e["t_confirm"] + 5):
                continue
            seen = load.first_seen.get((token, i))
            if seen is None:
                never += 1 if e["t_confirm"] < load.t_end - 5 else 0
                continue
            from_confirm.append(max(0.0, seen - e["t_confirm"]))
            from_click.append(seen - e["t_click"])
    return {"from_confirm": _quantiles(from_confirm), "from_click": _quantiles(from_click), "never_seen": never}


def run(dataset: Path | None = None, *, servers: int = SERVERS, sessions: int = SESSIONS, duration_s: float = DURATION_S,
        kill_at_s: float | None = KILL_AT_S, seed: int = 12, database_url: str | None = None) -> dict:  # fmt: skip
    """The whole benchmark: a throwaway PostgreSQL (or the empty database `database_url`), setup, `servers`
    app servers, `sessions` sessions for `duration_s` seconds (the last server killed with SIGKILL at
    `kill_at_s`; None: no kill), then the check of every confirmed write against the database."""
    from tests.browser import serve
    from tests.pgcluster import postgres_cluster

    dataset = dataset or ROOT / "data" / "build" / "yrd.duckdb"
    if not dataset.exists():
        msg = f"`dataset` {dataset} does not exist; build it with `make data`."
        raise FileNotFoundError(msg)
    out: dict = {"servers": servers, "sessions": sessions, "duration_s": duration_s, "kill_at_s": kill_at_s,
                 "post_script_gc": os.environ.get("STREAMLIT_RUNNER_POST_SCRIPT_GC", "true")}  # the servers' Streamlit setting, from the environment
    with contextlib.nullcontext() if database_url else postgres_cluster() as pg, contextlib.ExitStack() as stack:
        url = database_url or pg.create_database()
        old = os.environ.get("YRD_DATABASE_URL")
        os.environ["YRD_DATABASE_URL"] = url  # serve() hands the environment to the servers
        stack.callback(lambda: os.environ.__setitem__("YRD_DATABASE_URL", old) if old is not None else os.environ.pop("YRD_DATABASE_URL", None))
        t0 = time.perf_counter()
        plan = setup(url, dataset, sessions=sessions)
        out["setup_s"] = time.perf_counter() - t0
        urls = [stack.enter_context(serve(dataset)) for _ in range(servers)]
        fleet = [Server(u, _pid_on(int(u.rsplit(":", 1)[1]))) for u in urls]
        load = asyncio.run(_drive(fleet, plan, sessions=sessions, duration_s=duration_s, kill_at_s=kill_at_s, seed=seed))
        rows = _rows(url, plan["incident"])
        out |= check(load, rows, plan) | {"delays": delays(load), "rows_before": plan["rows_before"], "rows_after": len(rows)}
        span_s = load.t_end - load.t_start
        committed = [e for e in load.entries.values() if load.t_start <= e["t_confirm"] <= load.t_end]
        acked = [a for a in load.acks if load.t_start <= a["t_confirm"] <= load.t_end]
        out["writes_per_s"] = (len(committed) + len(acked)) / span_s
        out["entries_per_s"], out["acks_per_s"] = len(committed) / span_s, len(acked) / span_s
        out["refused"] = dict(load.refused.most_common(5))
        out["signed_in"] = load.signed_in
        out["moves"] = load.moves
        out["cpu_cores"] = [None if s.cpu_s is None else s.cpu_s / span_s for s in fleet]
        out["load_average_1min"] = os.getloadavg()[0]  # the whole machine's, other work included
        if load.t_kill:
            after = [e for e in load.entries.values() if e["t_confirm"] > load.t_kill] + [a for a in load.acks if a["t_confirm"] > load.t_kill]
            out["writes_per_s_after_kill"] = len(after) / max(1e-9, load.t_end - load.t_kill)
            out["kill_at_measured_s"] = load.t_kill - load.t_start
    return out


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def markdown(r: dict) -> str:
    """The BENCHMARKS.md section of one run."""
    d = r["delays"]
    fc, fk = d["from_confirm"], d["from_click"]
    moves = r.get("moves") or []
    again = [m["wrote_again_s"] for m in moves if m.get("wrote_again_s") is not None]
    cpu = ", ".join("killed" if c is None else f"{c:.2f}" for c in r["cpu_cores"])
    lines = [
        "## Several app servers on one PostgreSQL (`benchmarks/cluster.py`)",
        "",
        f"{r['servers']} app servers (`serve.py`, `YRD_DATABASE_URL` on a throwaway PostgreSQL 15 cluster, loopback), {r['sessions']} signed-in sessions "
        f"for {r['duration_s']:.0f} s: {sum(1 for p in range(r['sessions']) if p % 3 == 0 and p // 3 < 18)} liaisons answering their own unit's 叫应, the others writing "
        f"position-log entries, each waiting {THINK_S[0]:.0f}–{THINK_S[1]:.0f} s between writes; the last server killed with SIGKILL "
        f"{r.get('kill_at_measured_s', 0):.0f} s in. Setup (accounts, incident, {WARNINGS} warnings × 18 calls) {r['setup_s']:.0f} s, not measured.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| committed writes per second (entries + 叫应 answers confirmed on the page) | {r['writes_per_s']:.1f} ({r['entries_per_s']:.1f} + {r['acks_per_s']:.1f}) | |",
        f"| write confirmed → shown on a session of another server, p50 / p95 / max (n) | {_s(fc.get('p50'))} / {_s(fc.get('p95'))} / {_s(fc.get('max'))} ({fc['n']}) | p50 ≤ 1 s {'✅' if fc.get('p50', 9) <= 1 else '❌'} |",
        f"| click → shown on a session of another server, p50 / p95 / max | {_s(fk.get('p50'))} / {_s(fk.get('p95'))} / {_s(fk.get('max'))} | |",
        f"| confirmed writes never seen on a live other server | {d['never_seen']} | |",
        f"| entries confirmed / lost / duplicated | {r['entries_confirmed']} / {r['entries_lost']} / {r['entries_duplicated']} | 0 lost, 0 duplicated {'✅' if r['entries_lost'] == r['entries_duplicated'] == 0 else '❌'} |",
        f"| 叫应 answers confirmed / lost / duplicated | {r['acks_confirmed']} / {r['acks_lost']} / {r['acks_duplicated']} | 0 lost, 0 duplicated {'✅' if r['acks_lost'] == r['acks_duplicated'] == 0 else '❌'} |",
        f"| kill -9: writes confirmed before it / lost | {r['confirmed_before_kill']} / {r['lost_before_kill']} | 0 lost {'✅' if r['lost_before_kill'] == 0 else '❌'} |",
        f"| kill -9: sessions moved to another server and signed in again | {len(moves)} (writing again after median {_s(statistics.median(again) if again else None)}, max {_s(max(again) if again else None)}; {len(again)} wrote again) | |",
        f"| kill -9: writes sent to the killed server, no answer (committed anyway) | {r['in_flight_at_kill']} ({r['in_flight_committed']}) | |",
        f"| committed writes per second after the kill (2 servers) | {r.get('writes_per_s_after_kill', 0):.1f} | |",
        f"| refusals / failures shown | {sum(r['refused'].values())} {json.dumps(r['refused'], ensure_ascii=False) if r['refused'] else ''} | |",
        f"| CPU of each server over the run (cores) | {cpu} | |",
        "",
    ]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.cluster [--servers N] [--sessions N] [--seconds S] [--kill-at S|none]``: run and print the section."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=SERVERS)
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--seconds", type=float, default=DURATION_S)
    parser.add_argument("--kill-at", default=str(KILL_AT_S), help="seconds into the run, or 'none'")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run(servers=args.servers, sessions=args.sessions, duration_s=args.seconds, kill_at_s=None if args.kill_at == "none" else float(args.kill_at))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
