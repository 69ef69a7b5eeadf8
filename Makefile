# Two commands on a fresh machine: `make study` and `make test`.
# torch is pinned to the CPU wheel that lies on disk (torch==2.13.0) so that no resolver
# ever pulls a multi-GB CUDA build; pyproject.toml keeps a range (torch>=2.3) for users.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_PIN ?= torch==2.13.0
# Two cores here: keep torch from oversubscribing them.
export OMP_NUM_THREADS ?= 2
export MPLBACKEND ?= Agg

.PHONY: study readme test test-slow lint bench clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -e ".[dev,notebooks]"
	touch $(STAMP)

study: $(STAMP)
	$(VENV)/bin/onespike study --out reports/default

# The README's headline answers and its two figures, regenerated from the default study's run.
readme: study
	$(PY) -m analysis.report.readme reports/default README.md

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)
