# Both targets set themselves up from nothing: a fresh clone needs only python3.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: demo test test-all coverage lint bench clean

# The captioning demo's encoder weights: the ImageNet file in ../shared when it is there.
MOBILENET := ../shared/data/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5
CAPTION_WEIGHTS ?= $(if $(wildcard $(MOBILENET)),$(MOBILENET),none)

$(VENV)/.stamp-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-base
	$(PY) -m pip install -q -e ".[test]"
	touch $@

## make demo: train, evaluate and export every built pipeline on its packaged sample, with the
## settings in configs/TASK/demo.yaml (key=value overrides win over it).
demo: $(VENV)/.stamp-base
	@echo "== sentiment: the sample has 600 training tweets, so expect a weak model (docs/BENCHMARKS.md has real ones)"
	$(PY) -m pipelines.sentiment --config configs/sentiment/demo.yaml --run-dir runs/demo/sentiment-$$(date +%Y%m%d-%H%M%S) --out saved_models/sentiment
	$(VENV)/bin/seqapps predict saved_models/sentiment "what a great day :)" "worst service ever, never again"
	@echo "== ner: 607 CoNLL-2003 training sentences (~0.77 F1 in a minute); the real benchmark reaches 86 F1 (docs/BENCHMARKS.md)"
	$(PY) -m pipelines.ner --config configs/ner/demo.yaml --run-dir runs/demo/ner-$$(date +%Y%m%d-%H%M%S) --out saved_models/ner
	$(VENV)/bin/seqapps predict saved_models/ner "Angela Merkel met Emmanuel Macron in Paris on Monday ." "Shares of Apple rose 3 percent on Wall Street ."
	@echo "== translation: 3,000 Multi30k pairs and a small model (~4 BLEU), so expect rough German->English with repeated words; the benchmark model reaches 32.3 BLEU (docs/BENCHMARKS.md)"
	$(PY) -m pipelines.translation --config configs/translation/demo.yaml --run-dir runs/demo/translation-$$(date +%Y%m%d-%H%M%S) --out saved_models/translation
	$(VENV)/bin/seqapps predict saved_models/translation "Ein Mann fährt Fahrrad." "Zwei Hunde spielen im Schnee."
	@echo "== captioning: 100 Flickr8k training images and a small decoder (~38 BLEU-1, ~6 BLEU-4, generic captions); MobileNetV2-0.5 ImageNet weights from ../shared when present, else a random backbone (weights=none); the benchmark reaches the figures in docs/BENCHMARKS.md"
	$(PY) -m pipelines.captioning weights=$(CAPTION_WEIGHTS) --config configs/captioning/demo.yaml --run-dir runs/demo/captioning-$$(date +%Y%m%d-%H%M%S) --out saved_models/captioning
	$(VENV)/bin/seqapps predict saved_models/captioning $$(ls seqapps/data/samples/captioning/images/*.jpg | head -3)
	@echo "== forecasting: 3 tickers x 3 years; compare the model with the baselines in metrics.json"
	$(PY) -m pipelines.forecasting --config configs/forecasting/demo.yaml --run-dir runs/demo/forecasting-$$(date +%Y%m%d-%H%M%S) --out saved_models/forecasting
	$(VENV)/bin/seqapps predict saved_models/forecasting seqapps/data/samples/forecasting/prices.csv

# pytest-xdist processes; a task's tests share one (--dist loadgroup), so each trains its
# tiny run once. WORKERS=0 runs in this process.
WORKERS ?= 2
XDIST   := $(if $(filter-out 0,$(WORKERS)),-n $(WORKERS) --dist loadgroup)

## make test: the default suite (minutes on 2 cores): every test except `slow` and `large`.
## `make test ARGS="-m large"` runs the real-data tests.
test: $(VENV)/.stamp-test
	$(PY) -m pytest $(XDIST) $(ARGS)

## make test-all: everything but `large`, the slow checks included (what CI runs).
test-all: $(VENV)/.stamp-test
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest $(XDIST) -m "not large" $(ARGS)

## make coverage: the default suite with line coverage of seqapps/ (pytest-cov).
coverage: $(VENV)/.stamp-test
	$(PY) -m pytest $(XDIST) --cov=seqapps --cov-report=term $(ARGS)

lint: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check seqapps pipelines tests benchmarks
	$(VENV)/bin/ruff format --check seqapps pipelines tests benchmarks

clean:
	rm -rf runs bench_out .pytest_cache
