"""NER pipeline: train -> evaluate on test -> export a SavedModel that tags raw sentences.

Run (the packaged CoNLL-2003 sample, 607 training sentences; about a minute on 2 CPU cores,
test F1 about 0.77; a higher learning rate suits so small a training set)::

    python -m pipelines.ner epochs=25 learning_rate=0.005 --run-dir runs/ner --out saved_models/ner

On CoNLL-2003 (train eng.train, select on eng.testa, report eng.testb; BiLSTM-CRF with
character CNN, no pretrained embeddings; see docs/BENCHMARKS.md for the measured F1 and
runtime, about 15 minutes on 2 CPU cores)::

    python -m pipelines.ner data=../shared/data/ner/conll2003 --run-dir runs/conll-lstm-crf

Any config key can be overridden as key=value (``seqapps config ner`` lists them).
Metric: entity-level F1 with conlleval semantics (type and both boundaries must match).
"""

import sys

from seqapps.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "ner", *sys.argv[1:]]))
