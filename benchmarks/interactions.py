"""Every page's main interactions in headless Chromium on one warm server: p50/p95 to the visible result.

Each interaction is repeated (alternating between two states, so each repetition changes
something) and timed from the action (click, option chosen, Enter pressed) until Streamlit has
finished the rerun (a ``script_finished`` message on the websocket and no running indicator) and
the thing the user waits for is on screen (a map canvas, a table, a message), plus two animation
frames for deck.gl to draw.  Waits poll on animation frames; nothing is a fixed sleep.

Where the time goes, per interaction: the bytes the browser received over the websocket during
it (decompressed payload), the time until the last websocket frame arrived (the server's share:
script and transfer) against the time until drawn (the rest is the browser's), and for the
situation filters the page script's own time in AppTest.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.browser import chromium, free_port, running, serve, wait_idle
from tests.people import PASSWORD as FIRST_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
#: Seconds: a warm interaction (p95), a page opened from the menu (p95), the situation page after an import (p95); a ratio for the first map in a new tab (p50 of the app / p50 of a bare pydeck page).
TARGETS = {"warm_s": 1.0, "menu_s": 1.5, "new_tab_ratio": 1.25, "after_import_s": 2.0}
STEP_TIMEOUT_S = 60.0
PASSWORD = FIRST_PASSWORD + "x"  # the accounts' password after the forced first change (tests/people.py)

_RAF2 = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
_IDLE = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
_CANVAS = "[...document.querySelectorAll('[data-testid=stMain] [data-testid=stDeckGlJsonChart] canvas')].some(c => c.offsetWidth > 0)"
_LEGEND = "[...document.querySelectorAll('[data-testid=stMarkdownContainer]')].some(e => e.innerText.startsWith('图例'))"

#: The bare page the first app map in a new tab is compared with: one pydeck map, the same offline background, nothing else.
BARE_PAGE = '''
import pydeck as pdk
import streamlit as st

STYLE = {style!r}
layer = pdk.Layer("ScatterplotLayer", data=[{{"lon": 120.907, "lat": 30.841}}], get_position="[lon, lat]", get_radius=2000, get_fill_color=[200, 30, 0])
st.pydeck_chart(pdk.Deck(layers=[layer], initial_view_state=pdk.ViewState(longitude=120.9, latitude=30.84, zoom=7), map_provider="mapbox", map_style=STYLE), height=620)
'''


class StepFailed(RuntimeError):
    """An interaction did not reach its visible result within `STEP_TIMEOUT_S` (names the interaction and what was missing)."""


class Wire:
    """The websocket frames one browser page received: (perf_counter s, bytes, ForwardMsg type, script_finished status)."""

    def __init__(self, page):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._msg = ForwardMsg
        self.frames: list[tuple[float, int, str, int]] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload) -> None:
        now = time.perf_counter()
        data = payload if isinstance(payload, bytes) else payload.encode()
        kind, status = "", -1
        try:
            msg = self._msg.FromString(data)
            kind = msg.WhichOneof("type") or ""
            status = msg.script_finished if kind == "script_finished" else -1
        except Exception:  # noqa: BLE001  (a frame that is no ForwardMsg: counted, not decoded)
            kind = "?"
        self.frames.append((now, len(data), kind, status))

    def finished_since(self, n0: int) -> float | None:
        """Time of the last completed run (script or fragment; not one cut short for a rerun) since frame `n0`."""
        done = self._msg.ScriptFinishedStatus
        ok = (done.FINISHED_SUCCESSFULLY, done.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
        hits = [f[0] for f in self.frames[n0:] if f[2] == "script_finished" and f[3] in ok]
        return hits[-1] if hits else None


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p95 of 5 values is their maximum)."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def _js_cond(cond: str) -> str:
    return f"(arg) => {{ try {{ return ({cond}) && {_IDLE}; }} catch (e) {{ return false; }} }}"


def timed(page, wire: Wire | None, name: str, action: Callable[[], None], cond: str, *, arg=None, rerun: bool = True, what: str = "") -> dict:
    """Run `action` and time it until `cond` (a JS expression over `arg`) holds, no run is shown as running, and (if `rerun`) a run finished; then two frames.

    Returns seconds to drawn, to the last websocket frame, to the run's end, and the bytes and frames received.
    Raises `StepFailed` naming `name` and what was missing after `STEP_TIMEOUT_S`.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    n0 = len(wire.frames) if wire else 0
    t0 = time.perf_counter()
    action()
    deadline = t0 + STEP_TIMEOUT_S
    js = _js_cond(cond)
    while True:
        left_ms = max(1.0, (deadline - time.perf_counter()) * 1000)
        try:
            page.wait_for_function(js, arg=arg, polling="raf", timeout=left_ms)
        except PlaywrightTimeout:
            shown = page.evaluate(f"(arg) => {{ try {{ return !!({cond}); }} catch (e) {{ return String(e); }} }}", arg)
            idle = page.evaluate(f"() => {_IDLE}")
            raise StepFailed(
                f"{name}: after {STEP_TIMEOUT_S:.0f} s {what or cond!r} shown: {shown}; Streamlit idle: {idle}; "
                f"a run finished: {wire is not None and wire.finished_since(n0) is not None}"
            ) from None
        if not rerun or wire is None or wire.finished_since(n0) is not None:
            break
        if time.perf_counter() > deadline:
            raise StepFailed(f"{name}: after {STEP_TIMEOUT_S:.0f} s the page shows {what or cond!r} but no run finished on the websocket")
        page.wait_for_timeout(5)  # lets the websocket events in; polls, not the measure
    page.evaluate(_RAF2)
    t_end = time.perf_counter()
    frames = [f for f in (wire.frames[n0:] if wire else []) if f[0] <= t_end]
    finished = wire.finished_since(n0) if wire else None
    return {
        "total_s": t_end - t0,
        "last_frame_s": (frames[-1][0] - t0) if frames else None,
        "finished_s": (finished - t0) if finished else None,
        "bytes": sum(f[1] for f in frames),
        "frames": len(frames),
    }


# ---- actions -----------------------------------------------------------------------------
def _open_select(page, label: str, option: str, *, scope=None):
    """Open the selectbox `label` and filter it to `option`; returns the option to click (the timed action)."""
    box = (scope or page).get_by_role("combobox", name=label, exact=True)
    box.click()
    box.press_sequentially(option[:3])
    opt = page.get_by_role("option", name=option, exact=True)
    opt.wait_for(timeout=30_000)
    return opt


def _choose(page, label: str, option: str) -> Callable[[], None]:
    opt = _open_select(page, label, option)
    return opt.click


def _settled(page) -> None:
    wait_idle(page, timeout_ms=int(STEP_TIMEOUT_S * 1000))


def _map_box(page) -> dict:
    """The main map's box in the viewport, scrolled into view first (a click outside the viewport reaches nothing)."""
    canvas = page.locator('[data-testid="stMain"] [data-testid="stDeckGlJsonChart"] canvas').first
    canvas.scroll_into_view_if_needed()
    return canvas.bounding_box()


def _menu(page, title: str):
    return page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True)


def _caption_text(page, prefix: str) -> str:
    return page.evaluate(
        "(p) => { const e = [...document.querySelectorAll('[data-testid=stCaptionContainer]')].find(e => e.innerText.startsWith(p)); return e ? e.innerText : ''; }",
        prefix,
    )


def _caption_changed(prefix: str) -> str:
    """JS: a caption starting with `prefix` whose text differs from `arg`, and a table shown."""
    return (
        f"(() => {{ const e = [...document.querySelectorAll('[data-testid=stCaptionContainer]')].find(e => e.innerText.startsWith({prefix!r})); "
        "return e && e.innerText !== arg && document.querySelector('[data-testid=stMain] [data-testid=stDataFrame]'); })()"
    )


def _text_shown(text_js: str) -> str:
    return f"document.querySelector('[data-testid=stMain]').innerText.includes({text_js})"


# ---- the run -----------------------------------------------------------------------------
def _accounts(workspace: Path) -> None:
    """The benchmark's two accounts, made the way a site makes them (tests/people.py): 嘉善县's commander and 浙江省's data administrator."""
    from data.storage.workspace import Workspace
    from tests.people import People, cheap_accounts

    with Workspace(workspace) as ws:
        people = People(cheap_accounts(ws))
        for username, dept, jur, role, name in (("bench_cmd", "emergency", "330421", "commander", "基准指挥长"), ("bench_data", "natural_resources", "330000", "data_admin", "基准数据管理员")):
            people.sign_in(username, dept, jur, role, display_name=name)  # made once, its first password changed to `PASSWORD`


def _sign_in(page, username: str) -> None:
    from tests.walk import sign_in

    sign_in(page, username, PASSWORD)
    page.locator('[data-testid="stSidebar"]').get_by_text("已登录：", exact=False).wait_for(timeout=30_000)
    _settled(page)


def _picks(dataset: Path) -> dict:
    """Two places, two materials and a quantity that change the dispatch answer, from the dataset itself."""
    from data.dataset.store import Store

    store = Store(dataset)
    places = store.layer("places")
    pick = {}
    for code in ("330421", "320509"):  # 嘉善县, 吴江区
        row = places[places["county_code"] == code].sort_values("population", ascending=False).iloc[0]
        pick.setdefault("places", []).append(f"{row['name']} · {row['county_name']}")
    inv = store.table("inventory")
    held = inv.groupby("material")["stockpile_id"].nunique().sort_values(ascending=False)
    m1, m2 = held.index[:2]
    q = inv.loc[inv["material"] == m1, "quantity"].astype(float)
    pick["materials"] = [m1, m2]
    pick["quantity"] = [1.0, float(math.ceil(q.median()))]
    pick["teams"] = len(store.layer("teams"))
    return pick


def _failed(exc: Exception, page=None, name: str = "") -> str:
    """The error as reported (first line of a Playwright call log), with a screenshot of `page` in the temp folder."""
    text = f"{type(exc).__name__}: {exc}".split("\nCall log")[0][:400]
    if page is not None:
        shot = Path(tempfile.gettempdir()) / f"interactions-failed-{abs(hash(name)) % 10**6}.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)
            text += f" (screenshot {shot})"
    return text


def _repeat(results: dict, name: str, reps: int, one: Callable[[int], dict], *, kind: str = "warm", page=None) -> None:
    """`reps` timed repetitions of `one(i)` into `results[name]`; a failure is recorded and ends this interaction only."""
    runs, error = [], None
    for i in range(reps):
        try:
            runs.append(one(i))
        except Exception as exc:  # noqa: BLE001  (reported in the table; the other interactions still run)
            error = _failed(exc, page, name)
            break
    results[name] = {"kind": kind, "runs": runs, "error": error}
    print(f"  {name}: " + (", ".join(f"{r['total_s']:.2f}" for r in runs) or "-") + (f"  FAILED {error}" if error else ""), file=sys.stderr, flush=True)


def _session(browser, url: str, path: str, ready: Callable, *, height: int = 1100):
    """A new browser session (context, page, its websocket `Wire`) on `url + path`, once `ready(page)` and settled."""
    ctx = browser.new_context(viewport={"width": 1500, "height": height})
    ctx.set_default_timeout(STEP_TIMEOUT_S * 1000)
    page = ctx.new_page()
    wire = Wire(page)
    page.goto(url + path)
    ready(page)
    _settled(page)
    return ctx, page, wire


def _situation_rendered(page, wire, name: str, action, *, extra: str = "true") -> dict:
    return timed(page, wire, name, action, f"{_CANVAS} && {_LEGEND} && ({extra})", what="the situation map and legend")


def run(dataset: Path, *, reps: int = 5) -> dict:
    """Measure every interaction `reps` times on one warm server; return the figures (seconds, bytes)."""
    dataset = Path(dataset)
    out: dict = {"load_start": os.getloadavg(), "reps": reps, "interactions": {}}
    res = out["interactions"]
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if not os.environ.get("YRD_WORKSPACE"):
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            os.environ["YRD_WORKSPACE"] = str(Path(tmp) / "workspace.duckdb")
        os.environ.setdefault("YRD_DATASET", str(dataset))
        os.environ.setdefault("YRD_CONFIG", str(ROOT / "tests" / "no-config.toml"))
        _accounts(Path(os.environ["YRD_WORKSPACE"]))
        picks = _picks(dataset)
        bare_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        from layers.situation import map_style

        (bare_dir / "bare.py").write_text(BARE_PAGE.format(style=map_style()), encoding="utf-8")
        bare_port = free_port()
        bare_url = f"http://127.0.0.1:{bare_port}"
        stack.enter_context(running(
            [sys.executable, "-m", "streamlit", "run", str(bare_dir / "bare.py"), "--server.port", str(bare_port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            ready_url=bare_url + "/_stcore/health", ready=lambda b: b == b"ok", what="bare streamlit", cwd=bare_dir,
        ))  # fmt: skip
        url = stack.enter_context(serve(dataset))
        browser = stack.enter_context(chromium())
        ctx, page, wire = _session(browser, url, "/situation", lambda p: p.wait_for_function(f"() => {_CANVAS} && {_LEGEND}", polling="raf", timeout=90_000))

        # the incident the consultation board shows, opened by 嘉善县's commander in a second session
        cmd_ctx, cmd, cmd_wire = _session(browser, url, "/consultation", lambda p: p.get_by_text("联合会商：事件、预警叫应与资源请求").first.wait_for(timeout=90_000), height=1300)
        _sign_in(cmd, "bench_cmd")
        cmd.get_by_label("事件名称").fill("基准测试：嘉善县化工泄漏")
        cmd.get_by_role("button", name="建立事件档案").click()
        cmd.get_by_text("已建立事件", exact=False).first.wait_for(timeout=60_000)
        _settled(cmd)

        print("interactions:", file=sys.stderr, flush=True)
        # ---- situation filters and a layer toggle ----
        for name, label, options in (
            ("situation: choose province (浙江省 ↔ 江苏省)", "省（市）", ("浙江省", "江苏省")),
            ("situation: choose city (嘉兴市 ↔ 湖州市)", "地市", ("嘉兴市", "湖州市")),
            ("situation: choose county (嘉善县 ↔ 平湖市)", "区县", ("嘉善县", "平湖市")),
        ):
            def one(i, label=label, options=options, name=name):
                target = options[i % 2]
                return _situation_rendered(page, wire, name, _choose(page, label, target),
                                           extra=f"[...document.querySelectorAll('[data-testid=stCaptionContainer]')].some(e => e.innerText.trim() === '当前范围内：{target}')")
            _repeat(res, name, reps, one)
            if reps % 2 == 0:  # leave the first option chosen for the next filter
                _choose(page, label, options[0])()
                _settled(page)

        toggle = page.locator('[data-testid="stSidebar"]').get_by_text("避难场所", exact=True)

        def one_toggle(i):
            shown = i % 2 == 1
            js = ("(() => { const m = [...document.querySelectorAll('[data-testid=stMarkdownContainer]')].find(e => e.innerText.startsWith('图例'));"
                  " return m && m.innerText.includes('避难场所') === arg; })()")  # fmt: skip
            return timed(page, wire, "situation: toggle a layer", toggle.click, f"{_CANVAS} && {js}", arg=shown, what="the legend with/without 避难场所")
        _repeat(res, "situation: toggle the shelters layer (嘉善县 view)", reps, one_toggle)
        if reps % 2 == 1:
            toggle.click()
            _settled(page)

        # ---- first map in a new tab, beside a bare Streamlit page with one pydeck map ----
        def new_tab(target: str, cond: str, name: str) -> dict:
            tab = ctx.new_page()
            tab_wire = Wire(tab)
            try:
                return timed(tab, tab_wire, name, lambda: tab.goto(target), cond, what="the first map")
            finally:
                tab.close()

        new_tab(bare_url, _CANVAS, "bare page (warm-up)")  # the browser has the bare server's scripts cached from here on
        app_tabs, bare_tabs = [], []
        for i in range(reps):
            try:
                app_tabs.append(new_tab(url + "/situation", f"{_CANVAS} && {_LEGEND}", "situation map in a new tab"))
                bare_tabs.append(new_tab(bare_url, _CANVAS, "bare pydeck page in a new tab"))
            except Exception as exc:  # noqa: BLE001
                res["new tab"] = {"kind": "new_tab", "runs": [], "error": _failed(exc)}
                break
        res["first view of the situation map in a new tab"] = {"kind": "new_tab", "runs": app_tabs, "error": None}
        res["bare Streamlit page with one pydeck map in a new tab (same run)"] = {"kind": "bare", "runs": bare_tabs, "error": None}
        print(f"  new tab: app {[round(r['total_s'], 2) for r in app_tabs]} bare {[round(r['total_s'], 2) for r in bare_tabs]}", file=sys.stderr, flush=True)

        # ---- pages from the menu (and back to the situation page) ----
        page_marks = {
            "责任区与覆盖": ("zones", f"{_CANVAS} && {_text_shown(repr('责任区、1小时覆盖与跨界互助'))}"),
            "选址规划": ("planning", f"{_CANVAS} && {_text_shown(repr('建议新建'))}"),
            "调度辅助": ("dispatch", f"{_CANVAS} && {_text_shown(repr('调度辅助：最近资源与跨界路线'))} && document.querySelector('[data-testid=stMain] [data-testid=stDataFrame]')"),
            "联合会商": ("consultation", f"{_text_shown(repr('最新动态'))} && {_text_shown(repr('基准测试：嘉善县化工泄漏'))}"),
        }
        back = []
        for title, (slug, cond) in page_marks.items():
            try:  # the first visit fills the page's caches: timed, reported apart
                first = timed(page, wire, f"open {title} (first)", _menu(page, title).click, cond, what=f"{title}'s map or board")
                back_first = _situation_rendered(page, wire, "open 态势一张图", _menu(page, "态势一张图").click)
                res[f"open {title} from the menu, first visit"] = {"kind": "first", "runs": [first], "error": None}
                back.append(back_first)
            except Exception as exc:  # noqa: BLE001
                res[f"open {title} from the menu, first visit"] = {"kind": "first", "runs": [], "error": _failed(exc)}
                page.goto(url + "/situation")
                _settled(page)
                continue

            def one_menu(i, title=title, cond=cond):
                r = timed(page, wire, f"open {title}", _menu(page, title).click, cond, what=f"{title}'s map or board")
                back.append(_situation_rendered(page, wire, "open 态势一张图", _menu(page, "态势一张图").click))
                return r
            _repeat(res, f"open {title} from the menu (to its {'board' if slug == 'consultation' else 'map'})", reps, one_menu, kind="menu")
        res["open 态势一张图 from the menu (back from the pages above)"] = {"kind": "menu", "runs": back, "error": None}

        # ---- zones: the view shown on its one map (覆盖指标 ↔ 责任区, a fragment rerun) ----
        _menu(page, "责任区与覆盖").click()
        page.wait_for_function(_js_cond(page_marks["责任区与覆盖"][1]), polling="raf", timeout=90_000)
        _settled(page)
        view_marks = {  # a text only that view shows, with its map drawn
            "覆盖指标": f"{_CANVAS} && {_text_shown(repr('各区县专业救援队伍数'))}",
            "责任区": f"{_CANVAS} && {_text_shown(repr('下载 GeoJSON'))} && !document.querySelector('[data-testid=stMain]').innerText.includes('各区县专业救援队伍数')",
        }

        def one_view(i):
            target = ("覆盖指标", "责任区")[i % 2]
            click = page.locator("[data-testid=stMain]").get_by_text(target, exact=True).click
            return timed(page, wire, "zones view", click, view_marks[target], what=f"the {target} view's map")
        _repeat(res, "zones: switch the view (覆盖指标 ↔ 责任区)", reps, one_view)

        # ---- planning: a run (p = 4 ↔ 3) ----
        _menu(page, "选址规划").click()
        page.wait_for_function(_js_cond(page_marks["选址规划"][1]), polling="raf", timeout=90_000)
        _settled(page)
        p_box = page.locator('[data-testid="stSidebar"]').get_by_label("新增基地数 p", exact=True)

        def one_plan(i):
            p = (4, 3)[i % 2]

            def act():
                p_box.fill(str(p))
                p_box.press("Enter")
            return timed(page, wire, "planning run", act, f"{_CANVAS} && {_text_shown(repr(f'建议新建 {p} 处'))}", what=f"建议新建 {p} 处")
        _repeat(res, "planning: run (p = 4 ↔ 3)", reps, one_plan)

        # ---- dispatch ----
        _menu(page, "调度辅助").click()
        page.wait_for_function(_js_cond(page_marks["调度辅助"][1]), polling="raf", timeout=90_000)
        _settled(page)
        side = page.locator('[data-testid="stSidebar"]')
        snap = "事件位置吸附"

        def incident_step(name: str, act_for: Callable[[int], Callable[[], None]]):
            def one(i):
                before = _caption_text(page, snap)
                act = act_for(i)
                return timed(page, wire, name, act, _caption_changed(snap), arg=before, what="a new snap caption and the ranked table")
            return one

        _repeat(res, "dispatch: by county (嘉善县 ↔ 青浦区)", reps,
                incident_step("dispatch by county", lambda i: _choose(page, "行政区", ("青浦区 (上海市)", "嘉善县 (嘉兴市)")[i % 2])))  # fmt: skip
        side.get_by_text("地名", exact=True).click()
        _settled(page)
        _repeat(res, f"dispatch: by place ({' ↔ '.join(picks['places'])})", reps,
                incident_step("dispatch by place", lambda i: _choose(page, "地名", picks["places"][(i + 1) % 2])))  # fmt: skip
        side.get_by_text("输入坐标", exact=True).click()
        _settled(page)
        coords = side.get_by_label("经度,纬度", exact=True)

        def coord_act(i):
            def act():
                coords.fill(("121.1240,31.1500", "120.9070,30.8410")[i % 2])
                coords.press("Enter")
            return act
        _repeat(res, "dispatch: by coordinates (fill + Enter)", reps, incident_step("dispatch by coordinates", coord_act))
        side.get_by_text("点击地图", exact=True).click()
        _settled(page)

        def click_act(i):
            box = _map_box(page)
            fx, fy = ((0.35, 0.4), (0.65, 0.6))[i % 2]
            return lambda: page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        _repeat(res, "dispatch: by map click", reps, incident_step("dispatch by map click", click_act))

        # stockpiles holding a material (and at least a quantity), from 嘉善县
        side.get_by_text("行政区", exact=True).click()
        _settled(page)
        _choose(page, "调度资源", "物资储备点")()
        _settled(page)
        legend_js = ("(() => { const m = [...document.querySelectorAll('[data-testid=stMarkdownContainer]')].find(e => e.innerText.startsWith('路线颜色'));"
                     " return m ? m.innerText : ''; })()")  # fmt: skip

        def table_step(name: str, act_for):
            def one(i):
                before = page.evaluate(f"() => {legend_js}")
                r = timed(page, wire, name, act_for(i), "document.querySelector('[data-testid=stMain] [data-testid=stDataFrame]') && " + _CANVAS, what="the ranked table")
                r["changed"] = page.evaluate(f"() => {legend_js}") != before
                return r
            return one

        m1, m2 = picks["materials"]
        _repeat(res, f"dispatch: stockpiles with material ({m1} ↔ {m2})", reps,
                table_step("dispatch material", lambda i: _choose(page, "所需物资（可选）", (m1, m2)[i % 2])))  # fmt: skip
        if reps % 2 == 0:
            _choose(page, "所需物资（可选）", m1)()
            _settled(page)
        qty = side.get_by_label("最少数量", exact=True)
        q1, q2 = picks["quantity"]

        def qty_act(i):
            def act():
                qty.fill(f"{(q2, q1)[i % 2]:g}")
                qty.press("Enter")
            return act
        _repeat(res, f"dispatch: {m1} at least a quantity ({q2:g} ↔ {q1:g})", reps, table_step("dispatch quantity", qty_act))

        # a closure clicked on the map (cleared, untimed, between repetitions)
        side.get_by_text("添加封闭区（圆形）", exact=True).click()
        _settled(page)
        closure_js = "[...document.querySelectorAll('[data-testid=stMain] [data-testid=stAlertContainer]')].some(e => e.innerText.includes('已避开封闭区') || e.innerText.includes('封闭区未覆盖任何道路'))"

        def one_closure(i):
            clear = side.get_by_role("button", name="清除全部封闭区")
            if clear.count():
                clear.click()
                page.wait_for_function(f"() => !({closure_js}) && {_IDLE}", polling="raf", timeout=30_000)
                _settled(page)
            box = _map_box(page)
            fx, fy = ((0.5, 0.5), (0.45, 0.55))[i % 2]
            return timed(page, wire, "closure added", lambda: page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy),
                         f"{closure_js} && {_CANVAS}", what="the closures message")  # fmt: skip
        _repeat(res, "dispatch: closure added (map click)", reps, one_closure)

        # ---- consultation: a log entry by the commander ----
        def one_entry(i):
            text = f"基准记录 {i + 1}：现场风向东南"
            cmd.get_by_label("内容", exact=True).fill(text)
            return timed(cmd, cmd_wire, "consultation write", cmd.get_by_role("button", name="记录", exact=True).click,
                         f"{_text_shown('arg')} && {_text_shown(repr('已保存记录'))}", arg=text, what="the saved entry on the board")  # fmt: skip
        _repeat(res, "consultation: write a log entry", reps, one_entry)
        cmd_ctx.close()

        # ---- import commit, then the situation page until its map shows the import ----
        data_ctx, data, data_wire = _session(browser, url, "/manage", lambda p: p.get_by_text("数据管理").first.wait_for(timeout=90_000))
        _sign_in(data, "bench_data")
        from data.dataset.store import Store

        county = Store(dataset).jurisdictions("county", detail="full").set_index("code").at["330421", "geometry"].representative_point()
        commits, after = [], []
        error = None
        for i in range(reps):
            try:
                if i == 0:
                    _choose(data, "导入到图层", "救援队伍")()
                    _settled(data)
                csv = bare_dir / f"bench-teams-{i + 1}.csv"
                csv.write_text(f"名称,经度,纬度,类型,所属部门,所属区县\n基准导入测试队{i + 1},{county.x + 0.001 * i:.6f},{county.y:.6f},专业救援队伍,应急管理局,嘉善县\n", encoding="utf-8")
                data.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(csv))
                data.get_by_role("button", name="提交导入").wait_for(timeout=60_000)
                _settled(data)
                source = data.get_by_label("数据来源", exact=True)
                source.fill(f"基准测试 {i + 1}")
                source.press("Enter")
                _settled(data)
                commits.append(timed(data, data_wire, "import commit", data.get_by_role("button", name="提交导入").click,
                                     _text_shown(repr("已导入 1 条记录到“救援队伍”")), what="已导入 1 条记录"))  # fmt: skip
                expected = picks["teams"] + i + 1
                metric = ("[...document.querySelectorAll('[data-testid=stMetric]')].some(m => m.innerText.startsWith('救援队伍') &&"
                          " m.querySelector('[data-testid=stMetricValue]').innerText.trim() === String(arg))")  # fmt: skip
                after.append(timed(data, data_wire, "situation after import", data.get_by_role("link", name="到态势一张图查看").click,
                                   f"{_CANVAS} && {_LEGEND} && {metric}", arg=expected, what=f"the situation map with {expected} teams"))  # fmt: skip
                _menu(data, "数据管理").click()
                data.get_by_role("combobox", name="导入到图层", exact=True).wait_for(timeout=60_000)
                _settled(data)
            except Exception as exc:  # noqa: BLE001
                error = _failed(exc, data, "import")
                break
        res["import commit (one team, CSV)"] = {"kind": "warm", "runs": commits, "error": error}
        res["situation page after an import (link → map shows it)"] = {"kind": "after_import", "runs": after, "error": error}
        print(f"  import: {[round(r['total_s'], 2) for r in commits]} after: {[round(r['total_s'], 2) for r in after]} {error or ''}", file=sys.stderr, flush=True)
    out["browser_wall_s"] = time.perf_counter() - started
    out["script_s"] = _script_times(reps)
    out["load_end"] = os.getloadavg()
    return out


def _script_times(reps: int) -> dict:
    """The situation page's script time (AppTest, in process) for the same filter steps and toggle."""
    from streamlit.testing.v1 import AppTest

    from pages._shared import widget_key

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    out: dict = {}
    for name, key, values in (("province", "sit_province", ("330000", "320000")), ("city", "sit_city", ("330400", "330500")), ("county", "sit_county", ("330421", "330482"))):
        times = []
        for i in range(reps):
            box = at.selectbox(key=widget_key(key, "zh"))
            t = time.perf_counter()
            box.set_value(values[i % 2]).run()
            times.append(time.perf_counter() - t)
        if reps % 2 == 0:
            at.selectbox(key=widget_key(key, "zh")).set_value(values[0]).run()
        out[name] = times
    times = []
    for i in range(reps):
        t = time.perf_counter()
        at.toggle(key="sit_layer_shelters").set_value(i % 2 == 1).run()
        times.append(time.perf_counter() - t)
    out["toggle"] = times
    if at.exception:
        out["error"] = str(at.exception[0].message)[:300]
    return out


# ---- the report --------------------------------------------------------------------------
def _target(kind: str, p95: float, bare_p50: float | None, p50: float) -> str:
    if kind in ("warm", "menu", "after_import"):
        limit = {"warm": TARGETS["warm_s"], "menu": TARGETS["menu_s"], "after_import": TARGETS["after_import_s"]}[kind]
        return f"p95 ≤ {limit:g} s {'✅' if p95 <= limit else '❌'}"
    if kind == "new_tab" and bare_p50:
        ratio = p50 / bare_p50
        return f"{ratio:.2f}× bare (≤ {TARGETS['new_tab_ratio']}×) {'✅' if ratio <= TARGETS['new_tab_ratio'] else '❌'}"
    return ""


def markdown(r: dict) -> str:
    """The section of BENCHMARKS.md for these figures."""
    inter = r["interactions"]
    bare = next((v for k, v in inter.items() if v["kind"] == "bare"), None)
    bare_p50 = statistics.median(x["total_s"] for x in bare["runs"]) if bare and bare["runs"] else None
    ls, le = r["load_start"], r["load_end"]
    lines = [
        "## Interactions in the browser (`benchmarks/interactions.py`)",
        "",
        f"One warm server, headless Chromium (software WebGL), {r['reps']} repetitions each alternating between two states; "
        "time from the action to the visible result: Streamlit's run finished (its `script_finished` message, no running "
        "indicator) and the map/table/message shown, plus two animation frames. p95 is the nearest rank (of 5: the slowest). "
        f"Load average (1/5/15 min) at the start {ls[0]:.2f}/{ls[1]:.2f}/{ls[2]:.2f}, at the end {le[0]:.2f}/{le[1]:.2f}/{le[2]:.2f} "
        f"(2 cores; other work ran beside it). Browser part {r['browser_wall_s'] / 60:.1f} min.",
        "",
        "| interaction | p50 | p95 | target | last ws frame p50 | drawing share p50 | received p50 | runs (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, v in inter.items():
        runs = v["runs"]
        if not runs:
            lines.append(f"| {name} | — | — | | | | | failed: {v['error']} |")
            continue
        tot = [x["total_s"] for x in runs]
        p50, p95 = statistics.median(tot), _pct(tot, 95)
        last = [x["last_frame_s"] for x in runs if x["last_frame_s"] is not None]
        share = [(x["total_s"] - x["last_frame_s"]) / x["total_s"] for x in runs if x["last_frame_s"] is not None]
        kib = statistics.median(x["bytes"] for x in runs) / 1024
        changed = [x.get("changed") for x in runs if "changed" in x]
        note = f"; answer changed in {sum(changed)}/{len(changed)}" if changed else ""
        err = f"; then failed: {v['error']}" if v["error"] else ""
        lines.append(
            f"| {name} | {p50:.2f} s | {p95:.2f} s | {_target(v['kind'], p95, bare_p50, p50)} | "
            f"{statistics.median(last):.2f} s | {statistics.median(share) * 100:.0f}% | {kib:,.0f} KiB | "
            f"{', '.join(f'{x:.2f}' for x in tot)}{note}{err} |"
            if last else f"| {name} | {p50:.2f} s | {p95:.2f} s | {_target(v['kind'], p95, bare_p50, p50)} | — | — | {kib:,.0f} KiB | {', '.join(f'{x:.2f}' for x in tot)}{note}{err} |"
        )
    s = r.get("script_s") or {}
    if s:
        lines += [
            "",
            "Page script alone (AppTest in process, same steps, no browser, no websocket), median of "
            f"{r['reps']}: " + ", ".join(f"{k} {statistics.median(v) * 1000:.0f} ms" for k, v in s.items() if isinstance(v, list))
            + (f" (AppTest error: {s['error']})" if s.get("error") else ""),
        ]
    lines += [
        "",
        "*last ws frame*: time from the action until the last websocket frame of the run arrived (the server's script and the "
        "transfer); *drawing share*: the part of the total after it (the browser: React and deck.gl). *received*: websocket "
        "payload bytes during the interaction (after decompression). A tab switch runs no script (Streamlit tabs are drawn "
        "in the browser). The consultation board refreshes itself every 3 s, so its bytes may include a refresh.",
    ]
    return "\n".join(lines)
