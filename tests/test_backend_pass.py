"""The PostgreSQL pass of `make test` picks every test that touches storage, through helpers and subprocess code too, and no pure one."""

from __future__ import annotations

import textwrap

import pytest

from tests.backends import reaches_storage
from tests.conftest import ROOT


def _module(folder, name: str, source: str):
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


@pytest.fixture
def suite(tmp_path):
    """A small tests package: a helper module opening the workspace, and a test module using it in several ways."""
    folder = tmp_path / "tests"
    folder.mkdir()
    _module(folder, "helpers", """
        from data.storage.workspace import Workspace

        def seed(path):
            with Workspace(path) as ws:
                return ws.version()

        def pure(x):
            return x + 1
    """)
    return _module(folder, "test_some", """
        import pytest
        from tests.helpers import pure, seed

        CODE = "from data.incidents.log import IncidentLog\\nIncidentLog(ws)"

        def _indirect(path):
            return seed(path)

        @pytest.fixture
        def seeded(tmp_path):
            return _indirect(tmp_path)

        def test_through_an_imported_helper(tmp_path):
            assert _indirect(tmp_path) == 0

        def test_through_a_fixture(seeded):
            assert seeded == 0

        def test_in_a_subprocess(tmp_path):
            run(CODE)

        def test_pure():
            assert pure(1) == 2  # near People's Square, no workspace
    """)


@pytest.mark.parametrize("name, fixtures", [("test_through_an_imported_helper", []), ("test_through_a_fixture", ["seeded"]), ("test_in_a_subprocess", [])])
def test_storage_is_found_through_helpers_fixtures_and_subprocess_code(suite, name, fixtures):
    assert reaches_storage(suite, [name, *fixtures])


def test_a_pure_test_is_left_to_the_duckdb_pass(suite):
    assert not reaches_storage(suite, ["test_pure", "tmp_path"])


def test_the_real_suite_is_split_as_intended():
    """The log's and the pages' tests go to the PostgreSQL pass, pure geometry does not."""
    from tests.backends import module_names

    assert reaches_storage(ROOT / "tests" / "test_incidents.py", ["test_kill_9_while_writing_loses_no_saved_entry"])
    assert reaches_storage(ROOT / "tests" / "test_pages_zones.py", ["page"])
    pure = ROOT / "tests" / "test_crs.py"
    assert "test_shift_is_hundreds_of_metres_in_shanghai" in module_names(str(pure))[0]
    assert not reaches_storage(pure, ["test_shift_is_hundreds_of_metres_in_shanghai"])
