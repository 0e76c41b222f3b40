# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages that provide the external oracles the tests compare against.
ORACLES := binutils binutils-aarch64-linux-gnu llvm-19 clang-19
ORACLE_TOOLS := as aarch64-linux-gnu-as llvm-mc-19 llvm-objdump-19 clang-19

.PHONY: demo test oracles venv clean

# Debian's system Python keeps venv in a separate package (python3-venv): install it if needed.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

venv: $(BIN)/python

demo: venv
	$(BIN)/python -m pip install -q .
	$(BIN)/refjit demo

oracles:
	@missing=""; for t in $(ORACLE_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing the external oracles (missing:$$missing)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(ORACLES); \
	fi

test: venv oracles
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
