# Two commands on a fresh machine:  `make demo` (set up + correct the bundled clip) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv demo test lint bench bench-deps bench-pitch train-pitch train-onsets sample clean

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

bench: bench-deps
	$(BIN)/python -m bench.all

# Peers for the benchmarks, and the Debian tools the renders need (fluidsynth, soundfonts, rubberband).
bench-deps: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	command -v fluidsynth >/dev/null && command -v rubberband >/dev/null && \
	  command -v espeak-ng >/dev/null && test -f /usr/share/sounds/sf3/MuseScore_General_Full.sf3 || \
	  (apt-get update -qq && apt-get install -y -qq fluidsynth fluid-soundfont-gm \
	   timgm6mb-soundfont musescore-general-soundfont espeak-ng rubberband-cli)

bench-pitch: bench-deps
	$(BIN)/python -m bench.pitch

# Retrain the shipped pitch weights (about 17 min on 2 CPU cores; uses CUDA when present).
train-pitch: bench-deps
	$(BIN)/python -m models.training.train --config models/configs/default.toml \
		--out runs/pitch/default.pt --cache runs/cache
	@echo "copy runs/pitch/default.pt to models/weights/default.pt once bench-pitch agrees"

# Retrain the shipped onset network (about 15 min on 2 CPU cores: 2.5 to render, 10 to train).
train-onsets: bench-deps
	$(BIN)/python -m models.training.train_onsets --out runs/onsets/onsets.pt --cache runs/cache
	@echo "copy runs/onsets/onsets.pt to models/weights/onsets.pt once bench.score --noisy --dev agrees"

# Rebuild data/sample/sample.mp4 from its script.
sample: bench-deps
	$(BIN)/python data/make_sample.py

clean:
	rm -rf $(VENV) out build *.egg-info
