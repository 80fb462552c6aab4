# churnguard: `make run` runs the main job, `make test` runs the tests. Both install what they need.
SHELL := /bin/bash
VENV ?= .venv
AIRFLOW_VENV ?= .venv-airflow
STAMP := $(VENV)/.installed
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
OPS_VENV ?= .venv-ops
OPS_STAMP := $(OPS_VENV)/.installed
PYTEST_ARGS ?=
# Test processes (pytest-xdist); groups keep each expensive shared fixture on one worker (tests/conftest.py).
PYTEST_WORKERS ?= 2

.PHONY: ops-venv run test test-fast lint venv airflow-venv summary clean-data airflow airflow-stop

run: $(STAMP)
	$(VENV)/bin/churnguard run

test: $(STAMP) $(AIRFLOW_STAMP) $(OPS_STAMP)
	scripts/install-system-packages.sh
	$(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Minutes, not the better part of an hour: skips tests marked slow (a whole tiny pipeline run, Airflow,
# a browser) and integration. One area: make test PYTEST_ARGS=tests/orchestration
test-fast: $(STAMP) $(OPS_STAMP)   # the ops venv holds checkov for the (fast) Terraform scan
	scripts/install-system-packages.sh   # promtool and docker-compose for the (fast) ops checks
	$(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) -m "not slow and not integration" $(PYTEST_ARGS)

venv: $(STAMP)
airflow-venv: $(AIRFLOW_STAMP)

$(STAMP): requirements/project.lock.txt requirements/constraints.txt pyproject.toml
	scripts/install-venv.sh $(VENV) requirements/project.lock.txt --editable
	touch $@

# Airflow lives in its own environment (its attrs pin conflicts with alibi's); tasks call the project's.
$(AIRFLOW_STAMP): requirements/airflow.lock.txt
	scripts/install-venv.sh $(AIRFLOW_VENV) requirements/airflow.lock.txt
	touch $@

# Validation-only tools of tests/ops (checkov) in their own environment: their pins conflict with the project lock.
ops-venv: $(OPS_STAMP)
$(OPS_STAMP): requirements/ops.lock.txt
	scripts/install-venv.sh $(OPS_VENV) requirements/ops.lock.txt
	touch $@

summary: $(STAMP)
	$(VENV)/bin/churnguard summary

# Airflow standalone on 127.0.0.1 (SQLite under .airflow/; CHURNGUARD_AIRFLOW_DB for PostgreSQL), dags/ loaded.
airflow: $(STAMP) $(AIRFLOW_STAMP)
	scripts/airflow.sh start

airflow-stop:
	scripts/airflow.sh stop

# Static checks .ci/run runs before the tests: lint, format, import contracts, types.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
