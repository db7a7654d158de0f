#!/bin/bash
# usage: compare.sh CODE_DIR OUT_DIR
set -e
cd "$1"
PY=/work/main/.venv/bin/python
export TF_CPP_MIN_LOG_LEVEL=3
declare -A S
S[ner]="units=16 word_embedding_dim=16 char_features=8 epochs=2 max_train_samples=200"
S[translation]="cell=gru units=16 embedding_dim=16 epochs=2 max_train_samples=500 beam_width=3"
S[captioning]="weights=none backbone=mobilenet alpha=0.25 image_size=64 units=16 feature_units=16 embedding_dim=16 min_count=2 epochs=2 feature_cache=$2/fc"
S[forecasting]="units=16 epochs=2 window=20 horizon=3"
for t in ner translation captioning forecasting; do
  $PY -m seqapps.cli train $t ${S[$t]} --run-dir $2/$t > $2/$t.train.log 2>&1
  $PY -m seqapps.cli evaluate $2/$t > $2/$t.eval.log 2>&1
done
