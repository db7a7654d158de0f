"""Captioning pipeline: features -> train -> evaluate on test -> export a SavedModel that captions.

Run (the packaged Flickr8k sample, 100 training images; a small decoder, a couple of minutes
on 2 CPU cores; expect generic captions such as "A dog runs through the grass.")::

    python -m pipelines.captioning weights=PATH/TO/mobilenet_v2_..._0.5_224_no_top.h5 \
        units=128 feature_units=128 embedding_dim=64 min_count=2 learning_rate=0.003 \
        batch_size=32 epochs=30 patience=5 --run-dir runs/captioning

``weights=imagenet`` downloads the ImageNet weights (online); ``weights=none`` uses a random
backbone (calibrated to the images, but its captions ignore most of the picture).

On Flickr8k (official splits; frozen MobileNetV2-0.5 from ../shared/data/weights; the
benchmark in docs/BENCHMARKS.md)::

    W=../shared/data/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5
    python -m pipelines.captioning data=../shared/data/captioning/flickr8k weights=$W \
        --run-dir runs/flickr8k

Any config key can be overridden as key=value (``seqapps config captioning`` lists them).
Metric: corpus BLEU-1..4 of beam search against all reference captions of each image.
"""

import sys

from seqapps.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "captioning", *sys.argv[1:]]))
