# pulpo developer commands. Every target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
EXAMPLE := examples/jobhunter
TEST_WORKERS ?= 3
# One apt-get at a time: .ci/run installs the browser and Docker in the background.
APT_GET := flock --close /tmp/pulpo-apt.lock apt-get

.PHONY: install demo test test-fast lint bench golden clean browser ui-assets ui-screenshots

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
		(echo "python3 -m venv failed: installing python3-venv with apt-get (needs root)" && \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq python3-venv && $(PYTHON) -m venv $(VENV))
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: install
	cd $(EXAMPLE) && ../../$(BIN)/pulpo build
	cd $(EXAMPLE) && ../../$(BIN)/pulpo prefect run scraping_flow --param keywords=python

test: install browser
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(echo "installing PostgreSQL for the Prefect-on-PostgreSQL test (apt-get, needs root)" && \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq postgresql)
	@# Docker for the container tests, made usable while the first tests run (their
	@# fixture runs the script again, which waits for this one).
	@if [ "$$(id -u)" = 0 ]; then echo "making Docker usable in the background (tests/docker/ensure_docker.sh)"; \
		(sh tests/docker/ensure_docker.sh >>/tmp/pulpo-ensure-docker.log 2>&1 &); fi
	@# Three workers on two cores: most e2e time is spent waiting on servers and
	@# containers. A module's tests stay on one worker (they share its stack).
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope

# The UI's end-to-end tests drive the system's Chromium (never a downloaded one).
browser:
	@command -v chromium >/dev/null || (echo "installing chromium with apt-get (needs root)" && \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq chromium >/dev/null)

test-fast: install
	$(BIN)/python -m pytest -m "not e2e"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_layers.py

bench: install
	$(BIN)/python benchmarks/compile_scaling.py

ui-screenshots: install browser
	PULPO_UI_SCREENSHOTS=docs/ui $(BIN)/python -m pytest -q tests/ui/test_ui_e2e.py

# Rebuilds the UI's vendored browser code from vendor/ui/package-lock.json (pinned,
# with integrity hashes); the result is committed, so installing needs no npm.
ui-assets:
	cd vendor/ui && npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p pulpo/ui/static/vendor
	cp vendor/ui/node_modules/@dagrejs/dagre/dist/dagre.min.js pulpo/ui/static/vendor/dagre.min.js
	cat vendor/ui/node_modules/@dagrejs/dagre/LICENSE vendor/ui/node_modules/@dagrejs/graphlib/LICENSE > pulpo/ui/static/vendor/dagre.LICENSE

golden: install
	$(BIN)/python tests/golden/regenerate.py

clean:
	rm -rf $(EXAMPLE)/run_cache tests/fixtures/*/run_cache .pytest_cache .ruff_cache .mypy_cache
