# Two commands: `make run` starts the embedded default, `make test` runs every test.
# Both build what they need from nothing: .venv (Python >= 3.10) and the npm proxy.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROXY := node_modules/.bin/configurable-http-proxy
# the browser tests' headless browser: Debian's package (Playwright downloads none here)
CHROMIUM := /usr/bin/chromium
# the scale benchmark's load generator
WRK := /usr/bin/wrk

.PHONY: run test lint bench bench-scale install clean

run: install
	$(BIN)/jupyterhub -f jupyterhub_config.py

test: lint $(CHROMIUM)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (its settings in pyproject.toml): lint, and the formatting of every file
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python -m bench.run

# 1,000 and 10,000 notebooks on stub servers (about half an hour); requests/s are wrk's
bench-scale: install $(WRK)
	$(BIN)/python -m bench.scale $(BENCH_ARGS)

install: $(VENV)/.installed $(PROXY)

# Run as root, the hub runs notebooks as unprivileged OS users, who must be able to run the
# venv's Python: a Python they cannot reach (under /root, say) is replaced by /usr/bin/python3.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "Python >= 3.10 is needed (found $$($(PYTHON) --version)); set PYTHON=python3.x"; exit 1; }
	@python=$$($(PYTHON) -c 'import sys; print(sys.executable)'); \
	if [ "$$(id -u)" = 0 ] && ! runuser -u nobody -- "$$python" -c '' 2>/dev/null; then \
		echo "$$python is closed to other users, who run the notebooks: the venv uses /usr/bin/python3"; \
		python=/usr/bin/python3; \
	fi; \
	if ! [ -x $(BIN)/python ] || { [ "$$(id -u)" = 0 ] && ! runuser -u nobody -- $(BIN)/python -c '' 2>/dev/null; }; then \
		rm -rf $(VENV) && "$$python" -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(PROXY): package.json package-lock.json
	@command -v npm >/dev/null || { echo "Node.js >= 20 and npm are needed for the proxy"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHROMIUM):
	@[ "$$(id -u)" = 0 ] || { echo "The browser tests need $(CHROMIUM): apt-get install chromium (as root)"; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium </dev/null

$(WRK):
	@[ "$$(id -u)" = 0 ] || { echo "make bench-scale needs wrk: apt-get install wrk (as root)"; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk </dev/null

clean:
	rm -rf $(VENV) node_modules data .pytest_cache
