# Two commands do all set-up on a fresh machine with Python 3.11: `make demo`, `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test faults lint bench serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

demo: $(STAMP)  ## the main job end to end on the embedded defaults
	$(BIN)/outreach demo

test: $(TEST_STAMP)  ## the whole suite (PostgreSQL/Redis too when OUTREACH_TEST_* are set)
	$(BIN)/python -m pytest -n 2 -m "not faults"

faults: $(TEST_STAMP)  ## slow fault-injection tests (killed workers…), a step of .ci/run
	$(BIN)/python -m pytest -m faults  # one at a time: they measure timing under faults

lint: $(TEST_STAMP)
	$(BIN)/ruff check outreach tests bench migrations
	$(BIN)/ruff format --check outreach tests bench migrations
	$(BIN)/mypy outreach
	$(BIN)/lint-imports  # the import contracts of pyproject.toml (docs/architecture.md)

bench: $(TEST_STAMP)  ## benchmarks, printed beside their baselines (not part of the suite)
	$(BIN)/python bench/import_contacts.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/send.py

serve: $(STAMP)
	$(BIN)/outreach db upgrade && $(BIN)/outreach serve

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
