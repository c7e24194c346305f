# Credit-risk prediction system. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
API_PORT ?= 8000
DASHBOARD_PORT ?= 8501
# The venv first on PATH, as `source .venv/bin/activate` does (stage commands pick their interpreter
# themselves: stages/python.sh).
export PATH := $(abspath $(BIN)):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup repro run serve dashboard serve-and-dashboard monitor compare backtest score report scorecard-sql \
	test test-fast bench clean container-check release release-check promote rollback stages recalibrate challenger

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP) ## create .venv, install the pinned dependencies, recreate missing release and registry tags (releases.yaml)
	$(BIN)/python -m creditrisk.releases tags

repro: setup ## run the DVC pipeline (only what changed), then say whether and why dvc.lock changed
	$(BIN)/dvc repro
	@$(BIN)/python -m creditrisk.releases explain-lock

run: repro ## set up, run the pipeline, then start the API and the dashboard
	$(MAKE) --no-print-directory serve-and-dashboard

serve: setup ## start the scoring API (gunicorn.conf.py; port from PORT, default 8000)
	PORT=$${PORT:-$(API_PORT)} $(BIN)/gunicorn -c gunicorn.conf.py

serve-and-dashboard: setup ## start the API and the dashboard together; Ctrl-C stops both
	@PORT=$(API_PORT) $(BIN)/gunicorn -c gunicorn.conf.py & api=$$!; \
	CREDITRISK_API_URL=$${CREDITRISK_API_URL:-http://127.0.0.1:$(API_PORT)} \
		$(BIN)/streamlit run dashboard/app.py --server.headless true --server.address 127.0.0.1 \
		--server.port $(DASHBOARD_PORT) --browser.gatherUsageStats false >/dev/null & board=$$!; \
	trap 'kill $$api $$board 2>/dev/null' INT TERM EXIT; \
	for attempt in $$(seq 60); do \
		$(BIN)/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$(API_PORT)/health', timeout=1)" 2>/dev/null && break; \
		sleep 1; \
	done; \
	echo "API:       http://127.0.0.1:$(API_PORT)  (GET /ready, POST /predict, /openapi.json)"; \
	echo "Dashboard: http://127.0.0.1:$(DASHBOARD_PORT)"; \
	echo "Ctrl-C stops both."; \
	wait $$api $$board

dashboard: setup ## start the Streamlit dashboard on DASHBOARD_PORT (default 8501); reads reports/, models/, data/
	@echo "Dashboard: http://127.0.0.1:$(DASHBOARD_PORT)"
	$(BIN)/streamlit run dashboard/app.py --server.headless true --server.address 127.0.0.1 \
		--server.port $(DASHBOARD_PORT) --browser.gatherUsageStats false

monitor: setup ## rerun only the drift stage so it reads the newest API prediction-log rows
	$(BIN)/dvc repro --force --single-item drift

compare: setup ## rerun only the compare stage (champion against challenger) so it reads the newest prediction-log rows
	$(BIN)/dvc repro --force --single-item compare

backtest: setup ## replay the incoming months: champion, recalibrated, retrained (writes reports/backtest.json)
	$(BIN)/dvc repro backtest

recalibrate: setup ## a challenger: the champion recalibrated on the latest matured labels, gated (models/challengers/recalibrated; FROM=path|stage)
	$(BIN)/python -m creditrisk.monitoring.challengers recalibrated $(if $(FROM),--from '$(FROM)')

challenger: setup ## a challenger retrained on every matured label (models/challengers/retrained; about a minute; FROM=path|stage)
	$(BIN)/python -m creditrisk.monitoring.challengers retrained $(if $(FROM),--from '$(FROM)')

score: setup ## score a dataset with the served model on Dask: make score INPUT=dir-or-glob OUTPUT=dir (default: params.yaml score)
	$(BIN)/python -m stages.score $(if $(INPUT),--input '$(INPUT)') $(if $(OUTPUT),--output '$(OUTPUT)')

report: setup ## build the model report (dvc repro evaluate), print its path, and a PDF beside it where Chromium is installed
	$(BIN)/dvc repro evaluate
	$(BIN)/python -m creditrisk.modeling.model_report

scorecard-sql: setup ## write models/scorecard.sql: the scorecard benchmark as one SELECT for PostgreSQL and SQLite
	$(BIN)/dvc repro scorecard_sql

test: setup ## set up and run the whole test suite (what CI runs)
	$(BIN)/python -m pytest

test-fast: setup ## the tests without the slow end-to-end ones
	$(BIN)/python -m pytest -m "not slow"

container-check: setup ## build the images and run them as compose does (podman + buildah when there is no Docker engine)
	$(BIN)/python scripts/container_check.py

bench: setup ## print speed and memory figures
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

release: setup ## cut a release: make release VERSION=x.y.z SUMMARY="what changed" (needs clean dvc status, green tests)
	@test -n "$(VERSION)" || { echo 'make release needs VERSION=x.y.z SUMMARY="one line of what changed"'; exit 2; }
	$(BIN)/python -m creditrisk.releases release "$(VERSION)" "$(SUMMARY)" --dvc $(BIN)/dvc \
		--test-command "$(MAKE) --no-print-directory test"

release-check: setup ## the release gate: workspace metrics against the latest release, tolerances in params.yaml
	$(BIN)/python -m creditrisk.releases check

promote: setup ## assign a release to a stage through the gate: make promote VERSION=x.y.z STAGE=prod REASON="..." [FORCE=1]
	@test -n "$(VERSION)" -a -n "$(STAGE)" || { echo 'make promote needs VERSION=x.y.z STAGE=staging|prod (REASON="why"; FORCE=1 overrides a breach, with a REASON)'; exit 2; }
	$(BIN)/python -m creditrisk.releases promote "$(VERSION)" "$(STAGE)" --reason "$(REASON)" \
		$(if $(filter 1 yes true,$(FORCE)),--force)

rollback: setup ## assign again the version that held a stage before: make rollback STAGE=prod REASON="..."
	@test -n "$(STAGE)" || { echo 'make rollback needs STAGE=staging|prod REASON="why"'; exit 2; }
	$(BIN)/python -m creditrisk.releases rollback "$(STAGE)" --reason "$(REASON)"

stages: setup ## which version holds each stage, and every assignment (who, when, why, the gate)
	$(BIN)/python -m creditrisk.releases stages

clean: ## remove the virtual environment and caches (not data)
	rm -rf $(VENV) .pytest_cache .hypothesis
