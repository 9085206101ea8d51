# jiangxin: `make run` serves the app with demo content; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
WORKERS ?= 1

.PHONY: run test lint typecheck pytest services services-down install demo-art browser bench-tools bench bench-media bench-feed bench-signups bench-checkins bench-console clean

# The venv is rebuilt whenever the dependencies or their pinned versions change.
$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint requirements.lock --editable '.[dev]'
	@touch $@

install: $(VENV)/.installed

services: install
	scripts/services up

services-down:
	scripts/services down

# The demo covers and portraits (.data/demo-art/), drawn once from demo/ (tools/demo_art.py),
# and the demo students' check-in photos (tools/demo_photos.py).
demo-art: install
	$(BIN)/python -m tools.demo_art
	$(BIN)/python -m tools.demo_photos

run: services demo-art
	set -a && source .data/services.env && set +a && \
	APP_ENV=development $(BIN)/python -m server seed && \
	APP_ENV=development exec $(BIN)/python -m server serve --host $(HOST) --port $(PORT) --workers $(WORKERS) --with-jobs

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy .

# The console's browser tests drive Debian's Chromium, with CJK fonts (Playwright's own
# browser downloads are never used); installed with apt-get when missing, as
# scripts/services installs redis-server.
BROWSER_PACKAGES := chromium fonts-noto-cjk
browser:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { \
	  echo "test: installing $(BROWSER_PACKAGES) with apt-get..."; \
	  apt="$$( [ "$$(id -u)" -eq 0 ] || echo sudo -n ) env DEBIAN_FRONTEND=noninteractive apt-get"; \
	  ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 || $$apt update -qq; \
	  $$apt install -y -qq $(BROWSER_PACKAGES) >/dev/null \
	  || { $$apt update -qq && $$apt install -y -qq $(BROWSER_PACKAGES) >/dev/null; } \
	  || { echo "test: could not install $(BROWSER_PACKAGES); install them by hand"; exit 1; }; }

pytest: services browser
	set -a && source .data/services.env && set +a && $(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# wrk drives the HTTP benchmarks of small requests (Debian's package); without it they
# fall back to a Python load generator, which saturates before the servers do.
# bench-media uploads photos with aiohttp and needs no wrk.
bench-tools:
	@command -v wrk >/dev/null || { echo "bench: installing wrk with apt-get..."; \
	  $$( [ "$$(id -u)" -eq 0 ] || echo sudo -n ) apt-get install -y -qq wrk >/dev/null \
	  || echo "bench: could not install wrk; using the Python load generator"; }

bench: services bench-tools
	set -a && source .data/services.env && set +a && $(BIN)/python -m bench.overhead

bench-feed: services demo-art bench-tools
	set -a && source .data/services.env && set +a && $(BIN)/python -m bench.feed --instructions

bench-signups: services
	set -a && source .data/services.env && set +a && $(BIN)/python -m bench.signups

bench-media: services
	set -a && source .data/services.env && set +a && $(BIN)/python -m bench.media

bench-checkins: services
	set -a && source .data/services.env && set +a && $(BIN)/python -m bench.checkins

# The console's pages on the demo data (a fresh database, seeded), as each demo account.
bench-console: services demo-art
	set -a && source .data/services.env && set +a && $(BIN)/python -m bench.console

clean: services-down
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
