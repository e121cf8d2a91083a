# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv lint format migrate procfile proxy drill drill-short clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools<81' wheel
	# XStatic-Bootstrap ships only an sdist whose setup.py needs pkg_resources (setuptools<81).
	$(BIN)/pip install -q --no-build-isolation 'XStatic-Bootstrap>=5.3,<5.4'
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

run: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: venv
	scripts/test

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

migrate: venv
	$(BIN)/python manage.py migrate --noinput

# Production-like local run: gunicorn, a Celery worker and beat (needs DATABASE_URL, REDIS_URL).
procfile: venv
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/honcho start

# The reference caching proxy (nginx) on loopback in front of `make run` or `make procfile`.
proxy:
	scripts/proxy

# Production drills: own PostgreSQL, Redis, SMTP sink, gunicorn, worker and beat on loopback,
# mixed load, one fault at a time, then a check that nothing was lost or doubled.
drill-short: venv
	$(BIN)/python -m bench.drills.run --short

drill: venv
	$(BIN)/python -m bench.drills.run

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles e2e-artifacts
