# eventsim: two virtual environments, one project.
#   .venv       Python 3.11: eventsim + torch (training) + Dask (run-dataset) + nir (NIR import/export) + test tools
#   .venv-lava  Python 3.10: eventsim + lava-nc 0.10.0 (Lava needs 3.10 and numpy<2)
# Every target bootstraps what it needs; re-running is cheap (stamp files).
# Editable installs use compat mode (a .pth to the repo root), so packages added
# after the venv was made import without reinstalling.

SHELL := /bin/bash
PY311 ?= $(shell (pyenv prefix 3.11.7 2>/dev/null || pyenv prefix 3.11 2>/dev/null) | head -n1 | sed 's|$$|/bin/python3.11|' | xargs -r ls 2>/dev/null || command -v python3.11)
PY310 ?= $(shell pyenv prefix 3.10.13 2>/dev/null | sed 's|$$|/bin/python3.10|' | xargs -r ls 2>/dev/null)
PIP_FLAGS := --quiet --disable-pip-version-check
VENV := .venv
LAVA_VENV := .venv-lava
PYTEST_FLAGS ?= -q

.PHONY: all venv lava-venv test test-core test-lava coverage demo bench bench-quick default-model sparse-model sparsity-tradeoff dvs-model clean

all: test

$(VENV)/.installed: pyproject.toml
	@if [ -z "$(PY311)" ]; then \
	  echo "error: Python 3.11 not found. Install it (pyenv install 3.11.7) or run 'make PY311=/path/to/python3.11'." >&2; exit 2; fi
	@echo "==> creating $(VENV) with $(PY311)"
	@test -x $(VENV)/bin/python || $(PY311) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e '.[train,dev,dask,nir]' --config-settings editable_mode=compat 2> >(grep -v 'is ignored' >&2)
	@# tonic: the oracle of tests/test_events_tonic.py; its own requirements (numpy<2, librosa) do not fit, so --no-deps
	$(VENV)/bin/pip install $(PIP_FLAGS) --no-deps tonic==1.7.0 2> >(grep -v 'is ignored' >&2) \
	  || echo "note: tonic could not be installed; tests/test_events_tonic.py will skip" >&2
	@touch $@

$(LAVA_VENV)/.installed: pyproject.toml
	@if [ -z "$(PY310)" ]; then \
	  echo "error: Python 3.10.13 not found (Lava 0.10.0 needs Python 3.10 and fails to import on 3.11)." >&2; \
	  echo "       Install it with 'pyenv install 3.10.13', or run 'make PY310=/path/to/python3.10'." >&2; exit 2; fi
	@echo "==> creating $(LAVA_VENV) with $(PY310)"
	@test -x $(LAVA_VENV)/bin/python || $(PY310) -m venv $(LAVA_VENV)
	$(LAVA_VENV)/bin/pip install $(PIP_FLAGS) -e '.[lava,dev]' --config-settings editable_mode=compat 2> >(grep -v 'is ignored' >&2)
	@touch $@

venv: $(VENV)/.installed
lava-venv: $(LAVA_VENV)/.installed

test: test-core test-lava

test-core: venv lava-venv
	$(VENV)/bin/python -m pytest $(PYTEST_FLAGS) tests --ignore=tests/lava

test-lava: lava-venv
	$(LAVA_VENV)/bin/python -m pytest $(PYTEST_FLAGS) tests/lava

# Line coverage of eventsim/ by the kernel tests with the JIT off (every kernel runs as Python;
# tests/nojit.py stands in for the LLVM intrinsics).  Numba-compiled code is invisible to coverage.py.
# Slow (pure-Python kernels); the compile-count test means nothing without the JIT and is left out.
COVERAGE_TESTS := tests/test_kernels.py tests/test_engine_vs_reference.py tests/test_sam.py tests/test_fixed_point.py
coverage: venv
	NUMBA_DISABLE_JIT=1 $(VENV)/bin/python -m pytest $(PYTEST_FLAGS) -p no:cacheprovider \
	  --deselect tests/test_engine_vs_reference.py::test_no_recompilation_across_models_and_options \
	  --cov=eventsim --cov-report=term $(COVERAGE_TESTS)

demo: venv
	$(VENV)/bin/eventsim demo
	$(VENV)/bin/eventsim demo --events

bench: venv lava-venv
	$(VENV)/bin/eventsim bench --out benchmarks/results

bench-quick: venv lava-venv
	$(VENV)/bin/eventsim bench --quick --out benchmarks/results

clean:
	rm -rf $(VENV) $(LAVA_VENV) demo-out build *.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +

# The shipped default model: SpikingVGG trained on SynthShapes (docs/training.md).
default-model: venv
	mkdir -p build
	OMP_WAIT_POLICY=PASSIVE nice -n 5 $(VENV)/bin/eventsim train --default-recipe --out build/default_model.pt \
	  --export eventsim/data/default_model.h5 --evaluate 2000

# The packaged sparse model: the same recipe with the synaptic-operation regularizer (docs/training.md).
sparse-model: venv
	mkdir -p build
	OMP_WAIT_POLICY=PASSIVE nice -n 5 $(VENV)/bin/eventsim train --default-recipe --synops-weight 8 \
	  --out build/sparse_model.pt --export eventsim/data/sparse_model.h5 --evaluate 2000

# The accuracy / synops trade-off of docs/training.md: table (JSON) and Pareto chart from the model files
# (build/sparse-w2.h5 and build/sparse-w32.h5: the commands are in docs/training.md).
sparsity-tradeoff: venv
	$(VENV)/bin/python -m training.experiments.sparsity_tradeoff eventsim/data/default_model.h5 build/sparse-w2.h5 \
	  eventsim/data/sparse_model.h5 build/sparse-w32.h5 --n 2000 \
	  --json docs/img/sparsity/tradeoff.json --png docs/img/sparsity/pareto.png

# The DVS model: a spiking VGG on SynthShapes-DVS event counts (docs/training.md, docs/events.md).
# The synthesized streams are cached in build/dvs-cache (about 80 MB) and reused by later runs.
dvs-model: venv
	mkdir -p build
	OMP_WAIT_POLICY=PASSIVE nice -n 5 $(VENV)/bin/eventsim train --dvs-recipe --cache-dir build/dvs-cache \
	  --out build/dvs_model.pt --export eventsim/data/dvs_model.h5 --evaluate 2000
