# Two commands on a fresh machine:  `make demo` (set up + correct the bundled clip) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	mkdir -p out
	$(BIN)/smask probe data/sample/sample.mp4
	$(BIN)/smask correct data/sample/sample.mp4 -o out/sample_corrected.mp4 \
		--report out/sample_report.json --plot out/sample_pitch.png
	@echo "Corrected clip: out/sample_corrected.mp4"
	@echo "Report:         out/sample_report.json"
	@echo "Pitch picture:  out/sample_pitch.png"

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) out build *.egg-info
