# refmail — the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install lint bench servers clean

demo: $(STAMP)  ## Install into .venv and show refmail on its built-in sample inbox
	$(BIN)/refmail demo

test: $(STAMP) servers  ## Install everything the tests need and run the whole suite
	$(BIN)/ruff check refmail tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "refmail needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

# The tests start their own private Dovecot (IMAP + LMTP) on 127.0.0.1; this
# installs the Debian packages when they are missing.
servers:
	@bash scripts/ensure-dovecot

# Issue 6's benchmarks against their floors, into bench/RESULTS.md (the best part of an
# hour on 2 cores). mbsync (isync) is the comparison for ingest; GNU time measures peak RSS.
bench: $(STAMP) servers
	@{ command -v mbsync && [ -x /usr/bin/time ]; } >/dev/null 2>&1 || { \
	  echo "Installing isync (mbsync) and GNU time for the benchmarks…"; \
	  SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends isync time >/dev/null; }
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run_all.py
	$(BIN)/python bench/reply_corpus.py --results bench/RESULTS.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
