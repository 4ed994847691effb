"""Every page as a duty officer meets it: opened by its own URL on a fresh server, in Chinese and in
English, its main widgets used, and nothing shown or requested that should not be (see tests/walk.py).

Screenshots: tests/artifacts/walk/<page>-<lang>.png.  The harness's own test serves a copy of the
app without .streamlit/config.toml and checks that the walk then fails (outlines answered with the
HTML page, usage statistics requested from data.streamlit.io, the Deploy button shown).
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from layers.labels import t
from tests.browser import chromium, serve, wait_idle
from tests.conftest import ROOT
from tests.walk import Watch, deck_count, english_words, look, sign_in

pytestmark = pytest.mark.browser

PAGES = ["situation", "manage", "dispatch", "consultation", "scenarios", "duty", "zones", "planning", "accounts"]
ADMIN_PW = "管理员-初始口令-2025"


# ---- what each page's user does ----------------------------------------------------------------
def _choose(page, label: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    box.press_sequentially(option[:2])
    page.get_by_role("option", name=option, exact=True).first.click()
    wait_idle(page)


def _tabs(page, checks, where):
    tabs = page.locator('[data-testid="stMain"] [data-testid="stTab"]')
    for i in range(tabs.count()):
        tabs.nth(i).click()
        wait_idle(page)
        checks(f"{where} tab {i + 1}")


def _main_radios(page, checks, where, *, limit=8):
    """Click every option of the radios in the page's main area (sections, modes)."""
    options = page.locator('[data-testid="stMain"] [data-testid="stRadio"] label:has(input[type="radio"])')
    for i in range(min(options.count(), limit)):
        options.nth(i).click()
        wait_idle(page)
        checks(f"{where} option {i + 1}")


def walk_situation(page, lang, checks):
    names = {"zh": ("浙江省", "嘉兴市", "嘉善县", "消防救援"), "en": ("浙江省", "嘉兴市", "嘉善县", "Fire and rescue")}[lang]
    _choose(page, t("sit.province", lang), names[0])
    _choose(page, t("sit.city", lang), names[1])
    _choose(page, t("sit.county", lang), names[2])
    checks("situation county")
    # a multiselect's list open: Streamlit's own "Select all" must read in the UI language
    box = page.get_by_role("combobox", name=t("sit.department", lang), exact=True)
    box.click()
    page.wait_for_timeout(500)
    checks("situation department list open")
    page.get_by_role("option", name=names[3], exact=True).first.click()
    page.keyboard.press("Escape")
    wait_idle(page)
    checks("situation department chosen")
    _tabs(page, checks, "situation")


def walk_dispatch(page, lang, checks):
    sidebar = page.locator('[data-testid="stSidebar"]')
    for how in ("place", "coords", "jurisdiction"):
        sidebar.get_by_text(t(f"dis.by_{how}", lang), exact=True).first.click()
        wait_idle(page)
        checks(f"dispatch by {how}")
        if how == "coords":  # typed as from Amap, in full-width digits; "Press Enter to apply" shows while typing
            field = page.get_by_label(t("dis.coords", lang), exact=True)
            field.fill("１２０．９０７，３０．８４１")
            checks("dispatch typing coordinates")
            field.press("Enter")
            wait_idle(page)
            checks("dispatch full-width coordinates")
            field.fill("东经一二〇度")  # unreadable, and not Latin: the message echoes what was typed
            field.press("Enter")
            wait_idle(page)
            checks("dispatch unreadable coordinates")
    _choose(page, t("dis.resource_layer", lang), t("layer.stockpiles", lang))
    checks("dispatch stockpiles")
    sidebar.get_by_text(t("dis.by_click", lang), exact=True).first.click()
    wait_idle(page)
    canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
    wait_idle(page)
    checks("dispatch map click")


def walk_generic(page, lang, checks, where):
    _tabs(page, checks, where)
    _main_radios(page, checks, where)


def walk_planning(page, lang, checks):
    walk_generic(page, lang, checks, "planning")


def walk_accounts(page, lang, checks):
    """Sign in through the sidebar (a wrong password first), then every tab of the accounts page."""
    for password in ("wrong-password-123", ADMIN_PW):
        sign_in(page, "admin", password, lang=lang)
        checks("sign-in with a wrong password" if password != ADMIN_PW else "signed in")
    page.wait_for_selector('[data-testid="stMain"] [role="tab"]', timeout=30_000)  # the administrator's tabs
    _tabs(page, checks, "accounts")


def walk_duty(page, lang, checks):
    """Every tab as a visitor, then signed in as 嘉善县's duty officer (the seeded incident's report draft, the handover of no shift)."""
    _tabs(page, checks, "duty")
    sign_in(page, "jsduty", SEED_PW, lang=lang)
    checks("duty signed in")
    _tabs(page, checks, "duty signed in")


WALKS = {
    "accounts": walk_accounts,
    "duty": walk_duty,
    "scenarios": lambda p, lang, c: walk_generic(p, lang, c, "scenarios"),
    "situation": walk_situation,
    "dispatch": walk_dispatch,
    "manage": lambda p, lang, c: walk_generic(p, lang, c, "manage"),
    "consultation": lambda p, lang, c: walk_generic(p, lang, c, "consultation"),
    "zones": lambda p, lang, c: walk_generic(p, lang, c, "zones"),
    "planning": walk_planning,
}


# ---- a workspace with an incident in progress ------------------------------------------------------
#: The accounts the seed writes with (username -> display name, department, jurisdiction, roles); a browser signs in as them with `SEED_PW`.
SEED_ACCOUNTS = {
    "jsduty": ("值班员甲", "emergency", "330421", ("duty_officer",)),  # 嘉善县应急管理局's duty officer
    "jsfire": ("联络员乙", "fire", "330421", ("liaison",)),  # 嘉善县消防救援大队's liaison
}
SEED_PW = "嘉善值班-口令-2026"


def _admin(accounts):
    """The first system administrator (admin / `ADMIN_PW`), made once, signed in."""
    from data.schema import now_beijing

    if accounts.get("admin") is None:
        accounts.bootstrap(username="admin", display_name="系统管理员", department="emergency", jurisdiction="310000", roles=["sysadmin"], password=ADMIN_PW,
                           by="系统运维", now=now_beijing())  # fmt: skip
    return accounts.authenticate("admin", ADMIN_PW, now=now_beijing())


def seed_admin() -> None:
    """The first system administrator (Argon2 with its production parameters), unless the seed made it already."""
    from data.accounts.accounts import Accounts
    from data.storage.workspace import Workspace

    ws = Workspace()
    try:
        _admin(Accounts(ws))
    finally:
        ws.close()


def seed_accounts(accounts) -> dict:
    """`SEED_ACCOUNTS`, created by the administrator with an initial password and changed to `SEED_PW` at the first
    sign-in, as a site does; their sessions by username."""
    from data.schema import now_beijing

    admin, now, initial = _admin(accounts), now_beijing(), SEED_PW + "-初始"
    sessions = {}
    for username, (name, department, jurisdiction, roles) in SEED_ACCOUNTS.items():
        accounts.create(admin, username=username, display_name=name, department=department, jurisdiction=jurisdiction, roles=list(roles), password=initial, now=now)
        sessions[username] = accounts.change_password(accounts.authenticate(username, initial, now=now), initial, SEED_PW, now=now)
    return sessions


def seed_incident(store) -> None:
    """An incident in 嘉善县 with a warning (one call answered, the others not) and a request, written by the `SEED_ACCOUNTS`
    (the administrator, admin / `ADMIN_PW`, made too)."""
    from data.accounts.accounts import Accounts
    from data.incidents.log import IncidentLog
    from data.schema import now_beijing
    from data.storage.workspace import Workspace
    from geo.warning import buffer_area, call_list

    ws = Workspace()
    try:
        log = IncidentLog(ws, accounts=Accounts(ws))
        who = seed_accounts(log.accounts)
        duty = {"by": who["jsduty"]}
        start = now_beijing() - dt.timedelta(minutes=40)
        inc = log.open_incident(title="嘉善县西塘镇危化品运输车辆泄漏", kind="hazchem", level="III", lon=120.888, lat=30.943,
                                lead_code="330421", lead_name="嘉善县", **duty, at=start,
                                jurisdictions=["320509"], departments=["fire", "police"])  # fmt: skip
        calls = call_list(["330421", "320509"], ["fire", "police"], store.table("contacts"))
        area = buffer_area(120.888, 30.943, 5000)
        warning = log.issue_warning(inc, colour="red", text="红色预警：5 公里内疏散", area_kind="buffer", area=area.__geo_interface__,
                                    counties=["330421", "320509"], departments=["fire", "police"], calls=calls.to_dict("records"),
                                    **duty, at=start + dt.timedelta(minutes=5), radius_m=5000)  # fmt: skip
        assert calls["unit"].iloc[0] == "嘉善县消防救援大队"  # its own liaison answers
        log.acknowledge(inc, warning, calls["contact_id"].iloc[0], by=who["jsfire"], at=start + dt.timedelta(minutes=9))
        teams = store.layer("teams")
        team = teams[teams["county_code"] == "320509"].iloc[0] if (teams["county_code"] == "320509").any() else teams.iloc[0]
        log.request(inc, resource_id=team["id"], resource_name=team["name"], resource_layer="teams", from_code=team["county_code"], to_code="330421",
                    text="请求支援", **duty, at=start + dt.timedelta(minutes=12), eta_s=1900.0)  # fmt: skip
        log.note(inc, "log", "现场已封控", **duty, at=start + dt.timedelta(minutes=15))
    finally:
        ws.close()


# ---- the walk --------------------------------------------------------------------------------------
def walk(url: str, lang: str, pages: list[str], shots) -> list[str]:
    """Open each page by its URL in a fresh browser session, switch to `lang`, use it; the problems seen."""
    problems: list[str] = []
    with chromium() as browser:
        for name in pages:
            context = browser.new_context(viewport={"width": 1500, "height": 1100})
            page = context.new_page()
            watch = Watch(url).attach(page)
            page.goto(f"{url}/{name}")
            page.wait_for_selector('[data-testid="stSidebar"]', timeout=60_000)
            wait_idle(page, 90_000)
            if page.get_by_role("dialog").count():
                problems.append(f"{name}: a dialog blocks the page: {page.get_by_role('dialog').first.inner_text()[:200]!r}")
            if lang == "en":
                page.locator('[data-testid="stSidebar"]').get_by_text("English", exact=True).click()
                wait_idle(page, 90_000)
            if page.locator('[data-testid="stAppDeployButton"]').count():
                problems.append(f"{name}: the Deploy button is shown")
            seen: set[str] = set()

            def checks(where: str, page=page, seen=seen) -> None:
                for p in look(page, lang=lang, where=f"{name}/{lang} {where}"):
                    key = p.split(": ", 1)[1]
                    if key not in seen:
                        seen.add(key)
                        problems.append(p)

            checks("opened")
            if name in ("situation", "dispatch", "zones", "planning") and deck_count(page) == 0:
                problems.append(f"{name}/{lang}: no map drawn")
            try:
                WALKS[name](page, lang, checks)
            except Exception as exc:  # a step that cannot be done is a finding, with the screenshot
                problems.append(f"{name}/{lang}: walk step failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / f"{name}-{lang}.png"), full_page=True)
            if name == "situation" and not any("province" in p for p in watch.map_data):
                problems.append(f"situation/{lang}: the province outlines were never fetched as GeoJSON")
            problems += [f"{name}/{lang}: {p}" for p in dict.fromkeys(watch.problems)]
            context.close()
    return problems


@pytest.fixture(scope="module")
def shots(artifacts):
    path = artifacts / "walk"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_as_a_user_sees_it(dataset, store, shots, lang):
    seed_incident(store)
    seed_admin()
    with serve(dataset) as url:
        problems = walk(url, lang, PAGES, shots)
    assert not problems, "\n".join(problems)


def test_the_walk_fails_without_the_committed_streamlit_config(dataset, tmp_path, shots):
    """The harness itself: the app served without .streamlit/config.toml must fail the walk, as it
    did on every fresh clone while that file was ignored by git."""
    copy = tmp_path / "app"
    keep = shutil.ignore_patterns(".git", ".venv", "build", "artifacts", ".streamlit", "static", "__pycache__", ".pytest_cache", ".hypothesis")
    shutil.copytree(ROOT, copy, ignore=keep)
    assert not (copy / ".streamlit").exists()
    (shots / "no-config").mkdir(exist_ok=True)
    with serve(dataset, root=copy) as url:
        problems = walk(url, "zh", ["situation"], shots / "no-config")
    text = "\n".join(problems)
    assert "map layer data did not load" in text, text
    assert "request to another host: https://data.streamlit.io" in text, text
    assert "Deploy button" in text, text


def test_served_settings_take_effect(dataset):
    """Each setting of .streamlit/config.toml, read back from the served app."""
    import json
    import urllib.request

    with serve(dataset) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        watch = Watch(url).attach(page)
        # static serving: the outline files are served as JSON
        page.goto(url + "/situation")
        wait_idle(page, 90_000)
        for _ in range(30):
            if watch.map_data:
                break
            page.wait_for_timeout(500)
        assert watch.map_data, watch.problems
        with urllib.request.urlopen(url + watch.map_data[0]) as r:
            assert r.headers["Content-Type"].startswith("application/json")
            assert json.loads(r.read())["type"] == "FeatureCollection"
        # usage statistics off, toolbar without Deploy
        assert not [p for p in watch.problems if "another host" in p]
        assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
        # the upload limit shown is the data page's 50 MB, in Chinese
        page.goto(url + "/manage")
        wait_idle(page, 90_000)
        uploader = page.locator('[data-testid="stFileUploader"]').first.inner_text()
        assert "每个文件不超过 50MB" in uploader and "200MB" not in uploader, uploader


def test_allow_list_catches_english_and_lets_names_through():
    assert english_words(["每个文件不超过 50MB • CSV, XLSX", "© OpenStreetMap contributors, ODbL", "WGS84 / CGCS2000", "GN1805419", "T-3f2a9c1b0d4e"]) == []
    found = english_words(["Select all", "Choose options", "坐标无法识别：is not LON,LAT"])
    assert [w.split(" in ")[0] for w in found] == ["'Select all'", "'Choose options'", "'is not'"]
