"""Captioning pipeline: features -> train -> evaluate on test -> export a SavedModel that captions.

The settings of a run live in a commented config file: ``configs/captioning/demo.yaml``
(the packaged Flickr8k sample, 100 training images; a small decoder, a couple of minutes on 2
CPU cores; expect generic captions such as "A dog runs through the grass."; what ``make demo``
runs, with the ImageNet weights file as an override)::

    python -m pipelines.captioning weights=PATH/TO/mobilenet_v2_..._0.5_224_no_top.h5 \
        --config configs/captioning/demo.yaml --run-dir runs/captioning

The file says ``weights=none``, a random backbone (calibrated to the images, but its captions
ignore most of the picture); ``weights=imagenet`` downloads the ImageNet weights (online).

``configs/captioning/benchmark.yaml`` is Flickr8k (official splits; frozen MobileNetV2-0.5
with the weights file in ../shared/data/weights; the benchmark in docs/BENCHMARKS.md)::

    python -m pipelines.captioning --config configs/captioning/benchmark.yaml --run-dir runs/f8k

Any config key can be overridden as key=value, before or after the options (``seqapps config
captioning`` lists them).
Metric: corpus BLEU-1..4 of beam search against all reference captions of each image.
"""

import sys

from seqapps.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "captioning", *sys.argv[1:]]))
