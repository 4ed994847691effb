# Two commands matter: `make run` (set up, build the dataset, serve the app) and `make test`.
# Everything is installed into .venv from PyPI; the browser for tests from Debian packages.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATASET := data/build/yrd.duckdb
PORT   ?= 8501

.PHONY: run run-cluster cluster-settings test setup setup-dev browser postgres data bench clean

run: setup data
	$(BIN)/python serve.py --server.port $(PORT)

# N app servers (ports PORT, PORT+1, ...) on one PostgreSQL: make run-cluster N=3 YRD_DATABASE_URL=postgresql://user:pw@host/yrd
# Each runs in the foreground group; Ctrl-C stops them all. Put them behind a reverse proxy with sticky sessions (README).
N ?= 2
run-cluster: cluster-settings setup data
	@pids=""; trap 'kill $$pids 2>/dev/null' INT TERM EXIT; \
	for i in $$(seq 0 $$(( $(N) - 1 ))); do \
		port=$$(( $(PORT) + i )); echo "server $$((i + 1))/$(N): http://127.0.0.1:$$port"; \
		YRD_DATABASE_URL='$(YRD_DATABASE_URL)' $(BIN)/python serve.py --server.port $$port --server.headless true & pids="$$pids $$!"; \
	done; \
	wait

# Refuses before anything is installed or built.
cluster-settings:
	@case "$(YRD_DATABASE_URL)" in postgresql://*|postgres://*) ;; \
		*) echo "run-cluster needs one shared PostgreSQL: make run-cluster N=$(N) YRD_DATABASE_URL=postgresql://user:password@host:5432/yrd" >&2; exit 2;; esac
	@case "$(N)" in ''|*[!0-9]*|0) echo "run-cluster: N must be a whole number of servers, 1 or more (got '$(N)')" >&2; exit 2;; esac

# Two passes, one suite: every test on the embedded DuckDB workspace, then every test that touches storage
# (workspace, incident log, accounts, imports, pages; chosen from the tests' code by tests/backends.py) again,
# each on a fresh database of a throwaway PostgreSQL cluster. Of the browser tests the second pass runs only
# those reaching storage paths the AppTests do not (two servers, consultation, single sign-on, data page):
# the others would add many minutes of CI for no new storage path (BROWSER_ON_POSTGRES in tests/backends.py).
# Two lines side by side, of about equal length (each runs one test at a time and leaves a core idle part
# of the time; at most two served apps at a time): the DuckDB pass's tests other than the browser ones,
# then its page walk (tests/test_browser_walk.py); and the PostgreSQL pass, then the DuckDB pass's other
# browser tests. The reports follow one another, and any run failing (or running no test) fails `make test`.
test: setup-dev browser postgres data
	@rm -f .pytest-browser.log .pytest-postgres.log .pytest-*.rc; \
	( $(BIN)/python -m pytest --backend=postgres -p no:cacheprovider --durations=15 > .pytest-postgres.log 2>&1; echo $$? > .pytest-postgres.rc; \
	  $(BIN)/python -m pytest --backend=duckdb -m browser --ignore=tests/test_browser_walk.py -p no:cacheprovider --durations=15 > .pytest-browser.log 2>&1; echo $$? > .pytest-browser.rc ) & \
	$(BIN)/python -m pytest --backend=duckdb -m "not browser" --durations=25; duck=$$?; \
	$(BIN)/python -m pytest --backend=duckdb -m browser -p no:cacheprovider --durations=5 tests/test_browser_walk.py; walk=$$?; \
	wait; pgrc=$$(cat .pytest-postgres.rc); brrc=$$(cat .pytest-browser.rc); \
	echo "==== PostgreSQL pass (pytest --backend=postgres) ===="; cat .pytest-postgres.log; \
	echo "==== DuckDB pass, other browser tests (pytest --backend=duckdb -m browser --ignore=tests/test_browser_walk.py) ===="; cat .pytest-browser.log; \
	echo "DuckDB pass exit $$duck (page walk $$walk, other browser tests $$brrc), PostgreSQL pass exit $$pgrc"; \
	test $$duck -eq 0 && test $$walk -eq 0 && test $$brrc -eq 0 && test $$pgrc -eq 0

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

# Headless Chromium and CJK fonts for the browser tests and the briefing PDF's embedded font (Debian packages; needs root or sudo).
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || ! fc-list 2>/dev/null | grep -qi "WenQuanYi Zen Hei"; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-cjk fonts-wqy-zenhei >/dev/null; \
	fi
	@/usr/bin/chromium --version

# PostgreSQL 15 + PostGIS server binaries: the tests start a throwaway cluster of their own (tests/conftest.py); no service runs (Debian packages; needs root or sudo).
postgres:
	@if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || [ ! -f /usr/share/postgresql/15/extension/postgis.control ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql postgresql-15-postgis-3 >/dev/null; \
	fi
	@/usr/lib/postgresql/15/bin/postgres --version

# The embedded dataset and its road networks (approximate, backbone): rebuilt when their sources or builder change (offline, ~25 s).
data: $(DATASET)
$(DATASET): $(VENV)/.installed data/schema.py data/dataset/build.py data/dataset/store.py geo/crs.py geo/network.py geo/backbone.py $(wildcard data/samples/*.csv)
	$(BIN)/python -m data build

bench: setup-dev browser data
	$(BIN)/python -m benchmarks

# Keeps data/build/workspace.duckdb: users' imports are not build output.
clean:
	rm -rf .pytest_cache
	find data/build -mindepth 1 -maxdepth 1 ! -name 'workspace.duckdb*' -exec rm -rf {} + 2>/dev/null || true
