"""Translation pipeline: train -> evaluate on test -> export a SavedModel that translates.

Run (the packaged Multi30k sample, 3,000 German-English training pairs; a small model, a
few minutes on 2 CPU cores; expect rough translations of frequent phrases only)::

    python -m pipelines.translation cell=gru units=64 embedding_dim=64 dropout=0 \
        learning_rate=0.003 batch_size=32 epochs=25 --run-dir runs/translation

On Multi30k (train 29,000 pairs, select on val, report test_2016_flickr; LSTM encoder-decoder
with Bahdanau attention and beam search: test BLEU 32.3 after about 34 minutes of training on
2 CPU cores, docs/BENCHMARKS.md)::

    python -m pipelines.translation data=../shared/data/translation/multi30k --run-dir runs/m30k

Any config key can be overridden as key=value (``seqapps config translation`` lists them).
Metric: corpus BLEU and chrF (sacrebleu, detokenised, case-insensitive) of beam search.
"""

import sys

from seqapps.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "translation", *sys.argv[1:]]))
