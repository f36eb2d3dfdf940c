# Q-YOLO pipeline. `make demo` and `make test` work on any machine with python3; the GPU targets run inside
# the project's Docker image (see README.md).
SHELL := /bin/bash
PYTHON_BOOT ?= python3
VENV ?= .venv
PY ?= $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test

# The venv is made once; torch is installed only when not importable (the Docker image brings its own torch).
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m tools.demo

test: $(STAMP)
	$(PY) -m pytest -q
