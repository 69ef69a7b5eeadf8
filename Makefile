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

.PHONY: study readme test test-slow lint bench notebooks clean-venv

# The study and the tests need the package and its dev tools only; JupyterLab (the `notebooks`
# extra, the largest part of an install) comes with `make notebooks`.
# The venv gets a current pip from the interpreter's own (ensurepip's bundled pip, installed and then
# upgraded, took 3x as long): a current pip resolves this install in half the CPU of Python 3.11's pip 23.
# One resolver run for torch and the package, then the packages taken without their dependencies (-qq: the
# machine's extra indexes lack most packages, and pip 26 warns of each one).
# No byte-compilation here: what the tests import is compiled as they first import it (see the top), about
# a third of what compiling every installed package cost.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(PY) install -qq --upgrade pip || $(PY) -m ensurepip --upgrade
	$(PY) -m pip install -qq --no-compile "$(TORCH_PIN)" -e ".[dev,frameworks,nir,slim]"
	$(PY) -m pip install -qq --no-compile --no-deps "$(SPIKINGJELLY_PIN)" $(NORSE_SINABS_PINS) $(ZIGZAG_TONIC_PINS)
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
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -q $(PYTEST_LOAD) -n $(TEST_WORKERS) --dist loadgroup

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
