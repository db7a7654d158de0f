"""NER pipeline: train -> evaluate on test -> export a SavedModel that tags raw sentences.

The settings of a run live in a commented config file: ``configs/ner/demo.yaml`` (the
packaged CoNLL-2003 sample, 607 training sentences; about a minute on 2 CPU cores, test F1
about 0.77; what ``make demo`` runs)::

    python -m pipelines.ner --config configs/ner/demo.yaml --run-dir runs/ner --out saved_models/ner

and ``configs/ner/benchmark.yaml`` (CoNLL-2003: train eng.train, select on eng.testa, report
eng.testb; BiLSTM-CRF with character CNN, no pretrained embeddings; see docs/BENCHMARKS.md for
the measured F1 and runtime, about 15 minutes on 2 CPU cores)::

    python -m pipelines.ner --config configs/ner/benchmark.yaml --run-dir runs/conll-lstm-crf

Any config key can be overridden as key=value, before or after the options (``seqapps config
ner`` lists them).
Metric: entity-level F1 with conlleval semantics (type and both boundaries must match).
"""

import sys

from seqapps.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "ner", *sys.argv[1:]]))
