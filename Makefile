# Two commands on a fresh machine: `make study` and `make test`.
# torch is pinned to the CPU wheel that lies on disk (torch==2.13.0+cpu, in TORCH_WHEELS) so that no resolver
# ever pulls a multi-GB CUDA build: PyPI holds no `+cpu` build, so the pin can only be met by that file (a machine
# without it fails at once; point TORCH_WHEELS at a folder or find-links page that holds it). pyproject.toml keeps
# a range (torch>=2.3) for users.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOKS_STAMP := $(VENV)/.notebooks-installed
TORCH_PIN ?= torch==2.13.0+cpu
TORCH_WHEELS ?= /opt/wheels
# The installer: uv (from PyPI, into the venv by the interpreter's pip), which installed the packages in half
# pip's wall time (fresh clone, empty caches: 11.9 s at load 1.5 against 26.7 s at load 0.5 for pip 26's two
# steps; torch's 1 GB wheel unpacked in 4.5 s). uv reads no pip.conf: the torch wheel's folder is named to it.
UV_PIN ?= uv==0.13.10
UV := $(VENV)/bin/uv
UV_INSTALL = $(UV) pip install --quiet --python $(PY)
# Test processes (pytest-xdist): one per core, each running torch on one thread (tests/conftest.py;
# OMP_NUM_THREADS=1 for the studies and notebook kernels the tests start), so that no core is shared.
# Tests are handed out one at a time, a file sharing a fixture wider than a test as one unit (loadgroup,
# tests/conftest.py), so that the two workers end together.
TEST_WORKERS ?= auto
# The pytest plugins the tests use, named instead of auto-loaded: pytest rewrites the asserts of every module of
# an auto-loaded plugin's package (hypothesis: 73 modules, xdist, typeguard, platformdirs: 110 besides the tests),
# which cost each test process ~2 CPU s of its ~9 s start (pytest 9.2, collection only: 9.6-10.4 -> 7.8-8.2 CPU s);
# a plugin named with -p has only that module rewritten.
PYTEST_LOAD ?= --disable-plugin-autoload -p xdist.plugin -p xdist.looponfail -p _hypothesis_pytestplugin -p pytest_timeout
# Test-only SNN framework (see pyproject's `frameworks` extra): without its declared dependencies
# (they pull torchvision and tensorboard).
SPIKINGJELLY_PIN ?= spikingjelly==2.0.0
# Norse and Sinabs (test-only, recognised by class path): without their declared dependencies
# (Norse's torchvision, Sinabs's samna chip driver); what they import is in the frameworks and nir extras.
NORSE_SINABS_PINS ?= norse==1.1.0 sinabs==3.1.3
# The zigzag and events extras' packages, for the tests without their declared dependencies too: tonic's librosa
# (numba, llvmlite, soundfile: its audio transforms) and zigzag-dse's onnx and seaborn (its own ONNX front end and
# plots) are never reached by the toolkit; what the two import is pyproject's `slim` extra.
ZIGZAG_TONIC_PINS ?= zigzag-dse==3.9.1 tonic==1.7.0
export MPLBACKEND ?= Agg
# Python writes the .pyc of each module it imports (an environment's PYTHONDONTWRITEBYTECODE would make every
# study, test worker and notebook kernel recompile torch's modules): nothing is byte-compiled at install.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: study readme test test-durations test-slow lint bench notebooks clean-venv

# The study and the tests need the package and its dev tools only; JupyterLab (the `notebooks`
# extra, the largest part of an install) comes with `make notebooks`.
# The venv gets uv from the interpreter's own pip (`pip --python`, pip >= 22.3; an older one: ensurepip, then
# the venv's pip), so no machine needs uv beforehand. uv installs pip into the venv too, for whoever activates it.
# One resolver run for torch and the package, then the packages taken without their dependencies.
# No byte-compilation here (uv's default): what the tests import is compiled as they first import it (see the
# top), about a third of what compiling every installed package cost.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	test -x $(UV) || $(PYTHON) -m pip --python $(PY) install -qq "$(UV_PIN)" || \
		{ $(PY) -m ensurepip && $(PY) -m pip install -qq "$(UV_PIN)"; }
	$(UV_INSTALL) --find-links $(TORCH_WHEELS) "$(TORCH_PIN)" pip -e ".[dev,frameworks,nir,slim]"
	$(UV_INSTALL) --no-deps "$(SPIKINGJELLY_PIN)" $(NORSE_SINABS_PINS) $(ZIGZAG_TONIC_PINS)
	touch $(STAMP)

$(NOTEBOOKS_STAMP): $(STAMP)
	$(UV_INSTALL) --find-links $(TORCH_WHEELS) "$(TORCH_PIN)" -e ".[dev,notebooks]"
	touch $(NOTEBOOKS_STAMP)

study: $(STAMP)
	$(VENV)/bin/onespike study --out reports/default

# The README's headline answers and its two figures, regenerated from the default study's run.
readme: study
	$(PY) -m analysis.report.readme reports/default README.md

test: $(STAMP)
	$(VENV)/bin/ruff check .
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -q $(PYTEST_LOAD) -n $(TEST_WORKERS) --dist loadgroup

# The seconds each test of 0.1 s or more took (tests/durations.json), by which `make test` hands out the longest
# tests first so that the two workers end together (handed out by size and file order they ended 7.8-12.7 s apart,
# test_speed's helper study last; by this file 1.0-1.5 s apart): rerun after adding, renaming or reshaping a slow
# test (a test unknown to it is handed out after the known ones; tests/project/test_suite_start.py fails once the
# entries naming gone tests hold a tenth of its seconds). The file is written only when every test passed.
test-durations: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -q $(PYTEST_LOAD) -n $(TEST_WORKERS) --dist loadgroup --store-durations

test-slow: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -q $(PYTEST_LOAD) -m slow -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

notebooks: $(NOTEBOOKS_STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)
