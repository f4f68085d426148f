# outsim: one-command setup for a fresh machine.
#   make run    set up .venv and run the baseline scenario
#   make test   set up .venv and run the test suite
#   make bench  set up .venv and print the speed benchmarks (make bench-large adds 100,000 firms)
#   make bench-app  time a Step click on the dashboard at 1,000 firms in headless Chromium (benchmarks/bench_app.py)
#   make lab    set up .venv with JupyterLab and serve the student lab (notebooks/) on 127.0.0.1
# Override the interpreter with PYTHON=/path/to/python3 (3.12 or later).

SHELL := /bin/bash
VENV  := .venv
VPY   := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAB_STAMP := $(VENV)/.installed-lab
LAB_ARGS ?=

# First interpreter that runs and reports 3.12+: python3.13, python3.12, pyenv's 3.12+ builds, python3.
# (On some machines python3.12 is a pyenv shim that fails; running it is the only honest test.)
PYENV_ROOT_DIR := $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
CANDIDATES := python3.13 python3.12 $(sort $(wildcard $(PYENV_ROOT_DIR)/versions/3.1[2-9]*/bin/python3)) python3
ifndef PYTHON
PYTHON := $(firstword $(foreach c,$(CANDIDATES),$(shell $(c) -c 'import sys; print("ok") if sys.version_info >= (3, 12) else None' 2>/dev/null | grep -q ok && echo $(c))))
endif

.PHONY: run test bench bench-large bench-app app lab clean python-check

python-check:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "outsim needs Python 3.12 or later, and none was found (tried: $(CANDIDATES))."; \
	  echo "Install Python 3.12+ (for example 'pyenv install 3.12') or pass PYTHON=/path/to/python3.12."; \
	  exit 2; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' || \
	  { echo "PYTHON=$(PYTHON) is older than 3.12; outsim needs 3.12 or later."; exit 2; }

$(STAMP): pyproject.toml constraints.txt | python-check
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	@# setuptools warns on every editable install that folders named like the package could shadow it
	@# (a UserWarning of ten lines); no top-level folder here shadows another package.
	PYTHONWARNINGS=ignore::UserWarning $(VPY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/outsim run scenarios/baseline.toml

test: $(STAMP)
	$(VPY) -m pytest -q

app: $(STAMP)
	$(VENV)/bin/outsim app

bench: $(STAMP)
	$(VPY) benchmarks/bench_model.py

bench-large: $(STAMP)
	$(VPY) benchmarks/bench_model.py --large

bench-app: $(STAMP)
	$(VPY) benchmarks/bench_app.py

# JupyterLab comes with the lab extra, on top of dev; it is reinstalled whenever the dev install is.
$(LAB_STAMP): $(STAMP)
	PYTHONWARNINGS=ignore::UserWarning $(VPY) -m pip install --quiet -c constraints.txt -e '.[dev,lab]'
	@touch $(LAB_STAMP)

# Loopback only, no browser opened: open the address with the token it prints. Another port: make lab LAB_ARGS='--port=8899';
# as root (a container), Jupyter refuses to start unless given LAB_ARGS='--allow-root'.
lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --notebook-dir=notebooks $(LAB_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
