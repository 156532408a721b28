# Two set-up commands: `make demo` and `make test`. Each creates .venv on first use.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
# Linux: the CPU build of torch (an unpinned torch pulls a multi-GB CUDA build); macOS: the normal wheel (MPS).
# With an NVIDIA GPU, pass your own: make demo TORCH='torch==2.13.0' (pip then picks the CUDA build).
ifeq ($(shell uname -s),Darwin)
TORCH  ?= torch>=2.13
else
TORCH  ?= torch==2.13.0
endif

.PHONY: demo test clean

demo: $(VENV)/.installed
	$(BIN)/desktune train --overwrite

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q '$(TORCH)'
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) runs
