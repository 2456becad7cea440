# visiontrain — `make demo` runs the main job end to end, `make test` runs the suite.
# Both set up everything they need (a virtual environment in .venv) on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
export VISIONTRAIN_HOME ?= $(CURDIR)/.visiontrain
export RAY_USAGE_STATS_ENABLED = 0
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: venv chromium test test-fast demo up down bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[train,serve,tracking,llm,ui,dev]'
	touch $(STAMP)

test: venv chromium
	$(PY) -m pytest -q --durations=40 tests

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here), with a
# Korean font so that the Korean screenshots are readable.
CHROMIUM_PKGS := chromium fonts-nanum
chromium:
	@(command -v chromium >/dev/null && fc-list :lang=ko | grep -q .) \
	  || apt-get install -y -q $(CHROMIUM_PKGS) >/dev/null \
	  || (apt-get update -q >/dev/null && apt-get install -y -q $(CHROMIUM_PKGS) >/dev/null) \
	  || { echo "the browser tests need Debian's chromium: apt-get install $(CHROMIUM_PKGS)"; exit 1; }

test-fast: venv
	$(PY) -m pytest -q tests -m "not ray"

demo: venv
	$(VENV)/bin/visiontrain demo

up: venv
	$(VENV)/bin/visiontrain up

down: venv
	$(VENV)/bin/visiontrain down

bench: venv
	$(PY) bench/train_overhead.py
	$(PY) bench/monitor_overhead.py
	$(PY) bench/parse.py
	$(PY) bench/submit.py
	$(PY) bench/autoscale.py
	$(PY) bench/tune.py
	$(PY) bench/recovery.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
