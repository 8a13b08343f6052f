# Two entry points: `make demo` and `make test`. Both create .venv if missing and install what they need,
# idempotently (a stamp file records the last successful install of pyproject.toml).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# Where the CPU build of torch comes from when no local wheel is found.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
DEMO_OUT ?= runs/demo

.PHONY: demo test test-fast lint pages bench screenshots venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@# torch first: on a machine without an NVIDIA driver take a CPU build (local wheel if present, else
	@# PyTorch's CPU index) so the project's own `torch>=...` never pulls a multi-GB CUDA build.
	@if ! $(BIN)/python -c "import torch" 2>/dev/null; then \
	  if command -v nvidia-smi >/dev/null 2>&1; then \
	    $(BIN)/pip install -q "torch==$(TORCH_VERSION)"; \
	  else \
	    $(BIN)/pip install -q --no-index --no-deps "torch==$(TORCH_VERSION)" 2>/dev/null || \
	    $(BIN)/pip install -q --no-deps "torch==$(TORCH_VERSION)" --index-url $(TORCH_CPU_INDEX); \
	  fi; \
	fi
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

demo: venv
	$(BIN)/cbqa demo --out $(DEMO_OUT)
	@echo "Explore the results in the app:  $(BIN)/cbqa app --runs $(DEMO_OUT)"

# Two pytest-xdist workers, each test file whole on one worker (its module fixtures built once): the tests run on
# one OpenMP thread each, so a serial run leaves the second core of a 2-core machine idle.
test: venv lint
	$(BIN)/python -m pytest -m "not gpu" -q -n 2 --dist loadfile --durations=5

test-fast: venv lint
	$(BIN)/python -m pytest -m "not gpu and not slow" -q -n 2 --dist loadfile

# Style and layers, checked by tools before the tests: ruff (format and lint, [tool.ruff] in pyproject.toml) and
# import-linter (the layers, [tool.importlinter]; its report is printed only when a contract is broken).
lint: venv
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .
	@$(BIN)/lint-imports --no-cache >/dev/null || $(BIN)/lint-imports --no-cache

# The results tables of README.md and docs/ (their <!-- results: NAME --> blocks), redrawn from the results registry
# (cbqa/results/registry.yaml); tests/test_docs.py fails while a page is stale.
pages: venv
	$(BIN)/python -m cbqa.results.pages

# docs/img from the demo run (make demo first): every page in headless Debian Chromium (never downloads a browser)
screenshots: venv
	$(BIN)/python -m cbqa_app.screenshots --runs $(DEMO_OUT) --out docs/img

bench: venv
	$(BIN)/python bench/train_step.py

clean:
	rm -rf $(VENV) runs
