"""The briefing (情况简报): DOCX and PDF read back, the offline map, user text kept literal, the CLI."""

from __future__ import annotations

import io
import logging
import re
import struct
from datetime import datetime, timedelta

import docx
import pytest
import shapely
from pypdf import PdfReader

from data.incidents import briefing as br
from data.__main__ import main
from data.incidents.board import build
from data.incidents.log import IncidentLog
from data.storage.workspace import Workspace
from geo.warning import buffer_area
from tests.people import People, cheap_accounts
from tests.test_incidents import Clock

T0 = datetime(2026, 11, 22, 9, 50)
SCRIPT = "<script>alert(1)</script>"
LON, LAT = 120.92, 30.84


def record_incident(workspace: Workspace, contacts) -> tuple[IncidentLog, str, Clock]:
    """嘉善县 leads, 青浦区 takes part; a red warning to 3 duty contacts (2 answer); 2 requests (15 and 40 min); closed.

    Written by the accounts of tests/people.py `CAST`, each doing what the permission table lets them.
    """
    clock = Clock(T0 + timedelta(minutes=10))
    log = IncidentLog(workspace, clock=clock, accounts=cheap_accounts(workspace))
    p = People(log.accounts, now=clock)
    iid = log.open_incident(title="嘉善化工园区泄漏", kind="hazchem", level="II", lon=LON, lat=LAT, lead_code="330421", lead_name="嘉善县",
                            by=p["commander"], at=T0, place="惠民街道", description="储罐泄漏，现场有刺激性气味。",
                            jurisdictions=["310118"], departments=["fire", "police"])  # fmt: skip
    calls = contacts[contacts["id"].isin(["C0194", "C0195", "C0056"])].rename(columns={"id": "contact_id"}).to_dict("records")
    assert len(calls) == 3
    area = shapely.geometry.mapping(buffer_area(LON, LAT, 5000))
    warning = log.issue_warning(iid, colour="red", text="危化品泄漏，5 公里内人员疏散", area_kind="buffer", area=area, counties=["330421", "310118"],
                                departments=["emergency", "fire"], calls=calls, by=p["duty"], radius_m=5000)  # fmt: skip
    clock.tick(minutes=3)
    log.acknowledge(iid, warning, "C0194", by=p["duty"])  # each unit answers its own call
    log.acknowledge(iid, warning, "C0195", by=p["fire"])
    near = log.request(iid, resource_id="T1", resource_name="青浦消防特勤站", resource_layer="teams", from_code="310118", to_code="330421", text="",
                       by=p["duty"], eta_s=900, route=[[121.05, 31.10], [121.0, 31.0], [LON, LAT]], crossed=["310118", "330421"],
                       provider_department="fire")  # fmt: skip
    log.request(iid, resource_id="T2", resource_name="嘉兴危化救援队", resource_layer="teams", from_code="330402", to_code="330421", text="",
                by=p["duty"], eta_s=2400, estimate=True, route=[[120.76, 30.75], [120.85, 30.80], [LON, LAT]],
                crossed=["330402", "330421"], provider_department="fire")  # fmt: skip
    for status in ("approved", "dispatched", "arrived"):
        clock.tick(minutes=4)
        log.advance_request(iid, near, status, by=p["qingpu_fire"])  # the providing side: 青浦区's fire duty officer
    log.note(iid, "event", SCRIPT, by=p["police"])
    wrong = log.note(iid, "log", "封控范围 3 公里 <b>", by=p["fire"])
    log.note(iid, "correction", "封控范围应为 5 公里", by=p["fire"], corrects=wrong)
    log.transition(iid, "response", by=p["commander"])
    clock.tick(minutes=30)
    log.transition(iid, "aftermath", by=p["commander"], text="险情排除")
    return log, iid, clock


@pytest.fixture(scope="module")
def counties(store):
    return store.jurisdictions("county", detail="display")


@pytest.fixture(scope="module")
def names(counties):
    return dict(zip(counties["code"], counties["name"], strict=True))


@pytest.fixture
def workspace(workspace_path):
    ws = Workspace(workspace_path)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def incident(store, tmp_path_factory):
    """The board of the recorded incident (in a workspace of its own, shared by the read-only tests) and its time."""
    ws = Workspace(tmp_path_factory.mktemp("briefing") / "workspace.duckdb")
    try:
        log, iid, clock = record_incident(ws, store.table("contacts"))
        return build(log.rows(iid), now=clock.now), clock.now
    finally:
        ws.close()


@pytest.fixture(scope="module")
def png(incident, counties):
    return br.render_map(incident[0], counties)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def check_content(text: str) -> None:
    assert "关于嘉善化工园区泄漏的情况简报" in text
    for name in ("嘉善县", "青浦区", "南湖区"):  # lead, taking part, a resource's origin
        assert name in text
    for heading in ("一、事件概况", "二、涉及辖区与部门", "三、资源调度与到达时间", "四、预警与叫应", "五、时间线", "六、复盘"):
        assert heading in text
    assert "15.0" in text and "40.0（估算）" in text
    assert "已叫应 2/3（67%）" in text
    assert "上海市青浦区消防救援支队" in text and "021-0000-0056" in text  # the unit that has not answered, with its phone
    assert SCRIPT in text and "封控范围 3 公里 <b>" in text
    assert "已被 #" in text and "更正 #" in text
    assert "应急终止与善后" in text
    assert "达标" in text and "未达标" in text


def test_map_is_a_png_of_the_asked_size(incident, counties, png):
    assert png_size(png) == (1600, 1100)
    small = br.render_map(incident[0], counties, width_px=900, height_px=613)
    assert png_size(small) == (900, 613)


def test_map_without_a_cjk_font_still_draws(incident, counties):
    assert png_size(br.render_map(incident[0], counties, font_path=None, width_px=800, height_px=550)) == (800, 550)


@pytest.mark.parametrize(("kwargs", "match"), [({"width_px": 50}, "`width_px` was 50"), ({"height_px": 1e4}, "`height_px` was 10000.0")])
def test_map_refuses_bad_sizes(incident, counties, kwargs, match):
    with pytest.raises(ValueError, match=match):
        br.render_map(incident[0], counties, **kwargs)


def test_map_needs_county_crs(incident, counties):
    with pytest.raises(ValueError, match="no CRS"):
        br.render_map(incident[0], counties.set_crs(None, allow_override=True))


def test_docx_holds_the_briefing_with_chinese_fonts(incident, png, names):
    board, now = incident
    data = br.to_docx(board, png, names=names, generated_at=now)
    check_content(docx_text(data))
    document = docx.Document(io.BytesIO(data))
    fonts = document.styles["Normal"].element.rPr.rFonts
    assert fonts.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia") == "宋体"
    assert len(document.inline_shapes) == 1
    texts = [p.text for p in document.paragraphs]
    assert texts.index("二、涉及辖区与部门") < texts.index("三、资源调度与到达时间") < texts.index("六、复盘")


def test_pdf_holds_the_briefing_and_user_text_stays_literal(incident, png, names):
    board, now = incident
    data = br.to_pdf(board, png, names=names, generated_at=now)
    assert data[:5] == b"%PDF-"
    check_content(pdf_text(data))
    assert len(PdfReader(io.BytesIO(data)).pages) <= 4


def test_pdf_falls_back_to_the_builtin_cid_font(incident, png, names):
    board, now = incident
    data = br.to_pdf(board, png, names=names, generated_at=now, font_path=None)
    assert b"STSong-Light" in data
    check_content(pdf_text(data))


def test_review_only_in_aftermath(workspace, store, names, counties):
    log, iid, clock = record_incident(workspace, store.table("contacts"))
    rows = log.rows(iid)
    open_board = build(rows[rows["kind"] != "phase"], now=clock.now)  # the same incident before its phase changes
    text = docx_text(br.to_docx(open_board, br.render_map(open_board, counties, width_px=400, height_px=300), names=names, generated_at=clock.now))
    assert "五、时间线" in text and "六、复盘" not in text


def test_long_incident_keeps_the_briefing_short(workspace, store, names, counties):
    log, iid, clock = record_incident(workspace, store.table("contacts"))
    fire = People(log.accounts, now=clock)["fire"]
    for k in range(br.LOG_LIMIT + 7):
        log.note(iid, "log", f"巡查记录 {k}", by=fire)
    board = build(log.rows(iid), now=clock.now)
    text = pdf_text(br.to_pdf(board, br.render_map(board, counties, width_px=400, height_px=300), names=names, generated_at=clock.now))
    assert "另有 8 条部门工作记录见一事一档导出" in text  # 58 position-log entries in the file (one early), the latest 50 shown
    assert "巡查记录 7" in text and f"巡查记录 {br.LOG_LIMIT + 6}" in text
    assert "巡查记录 6" not in text and "巡查记录 0" not in text and "封控范围 3 公里" not in text


def test_control_characters_do_not_break_the_documents(workspace, store, names, counties):
    log, iid, clock = record_incident(workspace, store.table("contacts"))
    log.note(iid, "log", "铃声\x07记录", by=People(log.accounts, now=clock)["fire"])
    board = build(log.rows(iid), now=clock.now)
    png = br.render_map(board, counties, width_px=400, height_px=300)
    assert "铃声记录" in docx_text(br.to_docx(board, png, names=names, generated_at=clock.now))
    assert "铃声记录" in pdf_text(br.to_pdf(board, png, names=names, generated_at=clock.now))


def test_briefing_refuses_an_unknown_format(incident, counties, names):
    with pytest.raises(ValueError, match=r"`fmt` was 'odt'; expected one of \('docx', 'pdf'\)"):
        br.briefing(incident[0], counties, fmt="odt", names=names, generated_at=incident[1])


def test_cli_lists_incidents_and_writes_briefings(workspace_path, dataset, store, tmp_path, capsys):
    ws = Workspace(workspace_path)
    try:
        _, iid, _ = record_incident(ws, store.table("contacts"))
    finally:
        ws.close()
    places = ["--dataset", str(dataset), "--workspace", str(workspace_path)]
    assert main(["incidents", *places]) == 0
    listing = capsys.readouterr().out
    assert iid in listing and "嘉善化工园区泄漏" in listing and "应急终止与善后" in listing and "嘉善县" in listing

    for name, fmt in (("b.pdf", None), ("b.bin", "docx")):
        out = tmp_path / name
        assert main(["briefing", iid, "--out", str(out), *places, *(["--format", fmt] if fmt else [])]) == 0
        text = docx_text(out.read_bytes()) if fmt == "docx" else pdf_text(out.read_bytes())
        assert "关于嘉善化工园区泄漏的情况简报" in text and SCRIPT in text
        assert "登记：commander（嘉善县）（" in text.replace("\n", "")  # signed with the account's name and jurisdiction, not the bare username
    assert "written to" in capsys.readouterr().out


def test_cli_unknown_incident_and_format(workspace_path, dataset, tmp_path, capsys):
    places = ["--dataset", str(dataset), "--workspace", str(workspace_path)]
    assert main(["briefing", "YRD-20990101-001", "--out", str(tmp_path / "x.pdf"), *places]) == 2
    err = capsys.readouterr().err
    assert "YRD-20990101-001" in err and "not in the log" in err and "Traceback" not in err
    assert not (tmp_path / "x.pdf").exists()
    assert main(["briefing", "YRD-20990101-001", "--out", str(tmp_path / "x.odt"), *places]) == 2
    assert "expected one of ('docx', 'pdf')" in capsys.readouterr().err
    assert main(["incidents", *places]) == 0
    assert "no incidents" in capsys.readouterr().out


def test_no_cjk_font_logs_a_warning(monkeypatch, caplog, incident, counties):
    """With no CJK font anywhere, the map still draws and says why the names are missing."""
    monkeypatch.setattr(br, "_MAP_FAMILIES", ("No Such Family Sans",))
    monkeypatch.setattr(br, "_truetype_candidates", lambda: [])
    br._map_font.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="data.incidents.briefing"):
            png = br.render_map(incident[0], counties, width_px=400, height_px=300)
    finally:
        br._map_font.cache_clear()
    assert png_size(png) == (400, 300)
    assert "no CJK font found" in caplog.text


def test_pdf_refuses_a_font_it_cannot_embed(incident, png, names, tmp_path):
    fake = tmp_path / "not-a-font.ttf"
    fake.write_bytes(b"OTTO" + bytes(200))  # a CFF (OpenType) header: reportlab cannot embed those outlines
    with pytest.raises(ValueError, match="`font_path` was .*not-a-font.ttf.*TrueType-outline"):
        br.to_pdf(incident[0], png, names=names, generated_at=incident[1], font_path=str(fake))


def test_review_figures_read_the_same_on_the_page_in_the_csv_docx_and_pdf(workspace, store, names, counties):
    """Figures that two rounding rules would split (153 s = 2.55 min: 2.5 by f"{:.1f}", 2.6 by Series.round) read the same everywhere.

    The page shows and exports (CSV) `layers.consultation.review_table`; the briefing writes its own table: all use `data.board.minutes`.
    """
    import pandas as pd

    from data.incidents.board import review
    from layers.consultation import review_table

    clock = Clock(T0 + timedelta(hours=1))
    log = IncidentLog(workspace, clock=clock, accounts=cheap_accounts(workspace))
    p = People(log.accounts, now=clock)
    iid = log.open_incident(title="复盘取整", kind="hazchem", level="II", lon=LON, lat=LAT, lead_code="330421", lead_name="嘉善县", at=T0,
                            by=p["commander"])  # fmt: skip
    calls = store.table("contacts").query("id == 'C0194'").rename(columns={"id": "contact_id"}).to_dict("records")
    issued = T0 + timedelta(seconds=60)
    warning = log.issue_warning(iid, colour="red", text="预警", area_kind="buffer", area=shapely.geometry.mapping(buffer_area(LON, LAT, 5000)),
                                counties=["330421"], departments=["emergency"], calls=calls, by=p["duty"], at=issued)  # fmt: skip
    log.acknowledge(iid, warning, "C0194", by=p["duty"], at=issued + timedelta(seconds=153))  # 2.55 min after the warning
    req = log.request(iid, resource_id="T1", resource_name="特勤站", resource_layer="teams", from_code="330421", to_code="330421", text="",
                      by=p["duty"], eta_s=600, provider_department="fire", at=T0 + timedelta(seconds=100))  # fmt: skip
    for status, after_s in (("approved", 150), ("dispatched", 213), ("arrived", 1029)):  # dispatched 3.55 min, on scene 17.15 min after the incident
        log.advance_request(iid, req, status, by=p["commander"], at=T0 + timedelta(seconds=after_s))  # 嘉善县 provides: its commander
    log.transition(iid, "aftermath", by=p["commander"])
    board = build(log.rows(iid), now=T0 + timedelta(hours=1))

    minute_columns = ["首次应答（分钟）", "首次出发（分钟，自事发）", "首次到场（分钟，自事发）"]
    page = review_table(review(board), "zh")
    csv = pd.read_csv(io.StringIO(page.to_csv(index=False)), dtype=str, keep_default_na=False)
    csv_rows = csv[minute_columns].values.tolist()
    png = br.render_map(board, counties, width_px=400, height_px=300)
    table = docx.Document(io.BytesIO(br.to_docx(board, png, names=names, generated_at=board.now))).tables[-1]
    assert table.rows[0].cells[0].text == "部门"
    docx_rows = [[row.cells[k].text for k in (2, 5, 6)] for row in table.rows[1:]]
    pdf = pdf_text(br.to_pdf(board, png, names=names, generated_at=board.now))
    pdf_figures = re.findall(r"\d+\.\d", pdf.split("六、复盘", 1)[1])

    def figures(rows):
        return [v for row in rows for v in row if re.fullmatch(r"\d+\.\d", str(v))]

    assert figures(csv_rows) == figures(docx_rows) == pdf_figures == ["2.6", "3.6", "17.2", "2.6", "3.6", "17.2"]  # half up, everywhere
    assert csv_rows == docx_rows == [["2.6", "—", "—"], ["—", "3.6", "17.2"], ["2.6", "3.6", "17.2"]]  # emergency, fire, all; "—" where nothing was measured
    assert page[minute_columns].values.tolist() == csv_rows
