# Frontline: `make run` starts the product, `make test` runs the tests.
# Both create .venv from the lock first (needs only python3 with pip and venv).

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
STAMP := $(VENV)/.frontline-setup
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup run test lint check clean

setup: $(STAMP)

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Reinstalled only when the lock or the project metadata changed.
$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON) --quiet
	$(VENV)/bin/python -c "from core.i18n import compile_catalogues; compile_catalogues()"
	touch $(STAMP)

run: setup
	$(VENV)/bin/frontline run

test: setup
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy core ingest knowledge reminders rights broadcasts tasks bot desk cli.py schema.py jobs.py
	$(VENV)/bin/lint-imports

check: lint test

clean:
	rm -rf .uv $(VENV) .pytest_cache .mypy_cache .ruff_cache
