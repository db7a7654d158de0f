"""The Task base's shared mechanics: data= resolution, subsets, config checks, the recipe."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from seqapps import config as config_lib
from seqapps.config import RecurrentConfig, TrainConfig
from seqapps.errors import ConfigError, DataError
from seqapps.task import Bucketing, DataSource
from seqapps.tasks import TASKS
from seqapps.tasks.sentiment import SentimentConfig, SentimentTask


def make(name: str, *overrides: str):
    cls = TASKS[name]
    extra = ["weights=none"] if name == "captioning" else []
    return cls(config_lib.resolve(cls.config_class, None, [*extra, *overrides]))


@pytest.mark.parametrize("name", sorted(TASKS))
def test_missing_data_path_is_one_data_error_listing_the_sources(name, tmp_path):
    task = make(name, f"data={tmp_path / 'nothing'}")
    with pytest.raises(DataError) as error:
        task.load_data()
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'nothing'}: no such file or directory")
    assert "data= takes 'sample'" in message  # the hint lists what the task reads
    if name == "captioning":  # its tfds: entry only explains; it is not listed
        assert message.endswith("or an image<TAB>caption file)")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_sample_loads_and_subsets_cap_every_split(name):
    full = make(name).load_data()
    sizes = {s: len(full.split(s)) for s in ("train", "val", "test")}
    small = make(name, "max_train_samples=5", "max_eval_samples=3").load_data()
    assert {s: len(small.split(s)) for s in sizes} == {"train": 5, "val": 3, "test": 3}
    assert min(sizes.values()) > 5  # the sample is bigger than the caps


def test_train_subset_is_seeded_in_file_order_and_eval_subset_is_the_first_examples():
    full = make("sentiment").load_data()
    a = make("sentiment", "max_train_samples=20", "max_eval_samples=4").load_data()
    b = make("sentiment", "max_train_samples=20", "max_eval_samples=4").load_data()
    c = make("sentiment", "max_train_samples=20", "seed=1").load_data()
    assert a.train.texts == b.train.texts and a.train.texts != c.train.texts
    positions = [full.train.texts.index(t) for t in a.train.texts]
    assert positions == sorted(positions)
    assert a.val.texts == full.val.texts[:4] and a.test.texts == full.test.texts[:4]
    np.testing.assert_array_equal(a.test.labels, full.test.labels[:4])


def test_tfds_on_a_task_without_a_tfds_loader_is_a_config_error():
    task = make("forecasting", "data=tfds:anything")
    with pytest.raises(ConfigError, match="forecasting has no TFDS loader; data= takes"):
        task.load_data()


def test_data_source_table_order_decides(tmp_path):
    class Probe(SentimentTask):
        sources = (
            DataSource("file", lambda task, p: f"json:{p}", "a JSON file", suffixes=(".json",)),
            DataSource("file", lambda task, p: f"any:{p}", "any file"),
            DataSource(
                "other",
                lambda task, p: f"other:{p}",
                "a {cfg.cell} prefix",
                accepts=lambda task, p: p.endswith("@"),
            ),
        )

        def subset_splits(self, data):  # the loaders above return strings
            return data

    (tmp_path / "a.JSON").write_text("{}")
    (tmp_path / "b.txt").write_text("")
    probe = Probe(SentimentConfig(data=str(tmp_path / "a.JSON")))
    assert probe.load_data() == f"json:{tmp_path / 'a.JSON'}"
    probe.cfg = SentimentConfig(data=str(tmp_path / "b.txt"))
    assert probe.load_data() == f"any:{tmp_path / 'b.txt'}"
    probe.cfg = SentimentConfig(data="x@")
    assert probe.load_data() == "other:x@"
    assert probe.data_help() == "data= takes a JSON file, any file or a lstm prefix"


def test_config_checks_of_every_class_run_even_when_a_task_defines_its_own():
    @dataclasses.dataclass
    class Own(RecurrentConfig, TrainConfig):
        width: int = 1

        def check(self) -> None:  # does not call the parents: they still run
            if self.width < 1:
                raise ConfigError("width must be >= 1")

    with pytest.raises(ConfigError, match="units must be >= 1"):
        Own(units=0)
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        Own(epochs=0)
    with pytest.raises(ConfigError, match="width must be >= 1"):
        Own(width=0)
    with pytest.raises(ConfigError, match="max_eval_samples must be >= 1 or None"):
        Own(max_eval_samples=0)


def test_batches_recipe_keeps_order_for_evaluation():
    task = make("sentiment")
    examples = tf.data.Dataset.range(10)
    batches = list(task.batches(examples, 10, batch_size=4, training=False).as_numpy_iterator())
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def epochs_of(task, rows, n=3):
    examples = tf.data.Dataset.from_generator(
        lambda: iter(rows), output_signature=tf.TensorSpec([None], tf.int32)
    )
    bucketing = Bucketing(lambda ids: tf.shape(ids)[0], max_length=16)
    stream = task.batches(
        examples, len(rows), batch_size=len(rows), training=True, bucketing=bucketing
    )
    return list(stream.take(n).as_numpy_iterator())


def test_batches_recipe_reshuffles_each_epoch_seeded_and_pads_on_the_right():
    # Lengths 1..6 fall in one bucket (edges 8, 16): one batch is one whole epoch.
    rows = [list(range(1, n + 1)) for n in range(1, 7)]
    epochs = epochs_of(make("sentiment", "seed=5"), rows)
    orders = []
    for batch in epochs:
        lengths = (batch > 0).sum(axis=1)
        assert sorted(lengths.tolist()) == [1, 2, 3, 4, 5, 6]  # every example, once
        for row, n in zip(batch, lengths, strict=True):
            assert (row[:n] == np.arange(1, n + 1)).all() and (row[n:] == 0).all()
        orders.append(lengths.tolist())
    assert len({tuple(o) for o in orders}) == 3  # a new order every epoch
    again = epochs_of(make("sentiment", "seed=5"), rows)
    assert [b.tolist() for b in again] == [b.tolist() for b in epochs]  # seeded


def test_forecasting_reads_a_directory_of_per_ticker_files(tmp_path):
    import csv

    from seqapps.data.io import sample_dir

    with (sample_dir("forecasting") / "prices.csv").open() as f:
        rows = list(csv.DictReader(f))
    for ticker in sorted({r["Name"] for r in rows}):
        with (tmp_path / f"{ticker}.csv").open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(r for r in rows if r["Name"] == ticker)
    from_dir = make("forecasting", f"data={tmp_path}").load_data()
    sample = make("forecasting").load_data()
    assert [s.ticker for s in from_dir.series] == [s.ticker for s in sample.series]
    np.testing.assert_array_equal(from_dir.test.origins, sample.test.origins)


def test_forecasting_eval_subset_spans_every_ticker():
    full = make("forecasting").load_data()
    small = make("forecasting", "max_eval_samples=9").load_data()
    assert len(small.test) == 9
    assert set(small.test.tickers.tolist()) == set(full.test.tickers.tolist())
    assert small.test.origins[0] == full.test.origins[0]
    assert small.test.origins[-1] == full.test.origins[-1]


def test_importing_the_tasks_does_not_start_tensorflows_runtime():
    """Multi-worker training must configure collective ops before TF's runtime starts.

    Running a TF op at import time (it happened: a constant encoded with tf.io) started it,
    and ``strategy=multi_worker`` then failed with "Collective ops must be configured at
    program startup". Logical devices can only be set before the runtime starts.
    """
    import subprocess
    import sys

    code = (
        "import seqapps.tasks, seqapps.trainer, seqapps.cli, tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "two = [tf.config.LogicalDeviceConfiguration()] * 2\n"
        "tf.config.set_logical_device_configuration(cpu, two)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
