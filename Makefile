# Two commands on a fresh machine: `make study` and `make test`.
# torch is pinned to the CPU wheel that lies on disk (torch==2.13.0) so that no resolver
# ever pulls a multi-GB CUDA build; pyproject.toml keeps a range (torch>=2.3) for users.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOKS_STAMP := $(VENV)/.notebooks-installed
TORCH_PIN ?= torch==2.13.0
# Test processes (pytest-xdist): one per core, each running torch on one thread (tests/conftest.py;
# OMP_NUM_THREADS=1 for the studies and notebook kernels the tests start), so that no core is shared.
TEST_WORKERS ?= auto
# Test-only SNN framework (see pyproject's `frameworks` extra): without its declared dependencies
# (they pull torchvision and tensorboard).
SPIKINGJELLY_PIN ?= spikingjelly==2.0.0
# Norse and Sinabs (test-only, recognised by class path): without their declared dependencies
# (Norse's torchvision, Sinabs's samna chip driver); what they import is in the frameworks and nir extras.
NORSE_SINABS_PINS ?= norse==1.1.0 sinabs==3.1.3
export MPLBACKEND ?= Agg

.PHONY: study readme test test-slow lint bench notebooks clean-venv

# The study and the tests need the package and its dev tools only; JupyterLab (the `notebooks`
# extra, the largest part of an install) comes with `make notebooks`.
# One resolver run for torch and the package; pip's byte-compilation (one file at a time, half of the
# install's CPU) is left to compileall on every core, skipping the packages' own test suites.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile "$(TORCH_PIN)" -e ".[dev,frameworks,nir,zigzag,events]"
	$(PY) -m pip install --quiet --no-compile --no-deps "$(SPIKINGJELLY_PIN)" $(NORSE_SINABS_PINS)
	$(PY) -m compileall -q -j 0 -x '/tests?/|/testing/_internal/' "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
	touch $(STAMP)

$(NOTEBOOKS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,notebooks]"
	touch $(NOTEBOOKS_STAMP)

study: $(STAMP)
	$(VENV)/bin/onespike study --out reports/default

# The README's headline answers and its two figures, regenerated from the default study's run.
readme: study
	$(PY) -m analysis.report.readme reports/default README.md

test: $(STAMP)
	$(VENV)/bin/ruff check .
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-slow: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -q -m slow -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

notebooks: $(NOTEBOOKS_STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)
