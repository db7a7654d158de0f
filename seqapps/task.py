"""The Task base class: the mechanics every task shares, and what each task must supply.

A task turns raw data into ``tf.data`` pipelines, builds its Keras model, scores it and
wraps it into a serving function that takes raw input. Its preprocessing state (for example
a vocabulary) is fitted on the training split only by :meth:`Task.adapt` and saved beside
the run, so that evaluation, export and a resumed run all see the same state.

Written once here, for every task:

- ``data=`` resolution (:meth:`Task.load_data`) from the task's table of
  :class:`DataSource` entries (``sample``, ``tfds:NAME``, a directory layout, files by
  suffix), with one "no such file or directory" error listing what the task reads;
  archives (``.zip``, ``.tar[.gz|.bz2|.xz]``, ``archive.zip:member``) are resolved first
  (:func:`seqapps.data.archives.resolve`);
- ``train=``, ``val=``, ``test=`` split files (:meth:`Task.load_split_files`): each read
  by the task's :meth:`Task.read_split`, a missing ``val=`` / ``test=`` carved from train;
- ``max_train_samples`` and ``max_eval_samples``: subsets of the splits through their
  ``subset()``;
- the training-stream recipe (:meth:`Task.batches`: cache, shuffle, repeat, per-example
  augmentation, length buckets, prefetch);
- the export template (:meth:`Task.export_archive`: track the model and the task's lookup
  resources, wrap :meth:`Task.serve` as ``serving_default``);
- vocabulary and JSON asset helpers (:func:`write_lines`, read back with
  :func:`seqapps.data.io.read_lines`; :func:`write_json`, :func:`read_json`) and a default
  string :meth:`Task.predict_inputs`.

A task file holds its config, its model, its losses and metrics, its evaluation and its
``serve`` function. See docs/ARCHITECTURE.md for the checklist of adding a task.
"""

from __future__ import annotations

import abc
import dataclasses
import glob
import json
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

import keras
import numpy as np
import tensorflow as tf

from seqapps.data import archives
from seqapps.data.batching import batches_per_pass, bucketed_batches, round_up_shapes
from seqapps.data.io import SPLITS
from seqapps.data_report import SPLIT_NAMES, coverage, label_counts, shift_warning
from seqapps.errors import ConfigError, DataError

ConfigT = TypeVar("ConfigT")
DataT = TypeVar("DataT")


class Split(Protocol):
    """What every split type provides: its size, and a subset by example indices."""

    def __len__(self) -> int: ...

    def subset(self, index: np.ndarray) -> Split:
        """The examples at ``index`` (an int array), in that order."""
        ...


@dataclasses.dataclass(frozen=True)
class DataSource:
    """One way a task reads ``data=``.

    Attributes:
        kind: ``sample`` (the packaged sample; ``load(task, "sample")``), ``tfds``
            (``data=tfds:NAME``; ``load(task, NAME)``), ``dir`` (an existing directory),
            ``file`` (an existing file whose suffix is in ``suffixes``, or any file when
            ``suffixes`` is empty), or ``other`` (neither exists, and ``accepts(task, data)``
            says this source reads it, e.g. a prefix of aligned files).
        load: ``(task, source) -> data``; raises DataError naming file and line on bad input.
        what: how the error message describes it, e.g. ``"a TweetEval directory"``; may
            name config fields as ``{cfg.FIELD}``.
        suffixes: lower-case file suffixes for ``file`` sources, e.g. ``(".json",)``.
        accepts: for ``other`` sources only.
        listed: named in the error message's list of what the task reads.
    """

    kind: Literal["sample", "tfds", "dir", "file", "other"]
    load: Callable[[Any, str], Any]
    what: str
    suffixes: tuple[str, ...] = ()
    accepts: Callable[[Any, str], bool] | None = None
    listed: bool = True

    def matches(self, task: Task, source: str) -> bool:
        """Whether this entry reads ``source`` (the value of ``data=``)."""
        path = Path(source)
        if self.kind == "sample":
            return source == "sample"
        if self.kind == "tfds":
            return source.startswith("tfds:")
        if self.kind == "dir":
            return path.is_dir()
        if self.kind == "file":  # pairs.tsv.xz is a .tsv file
            return path.is_file() and (
                not self.suffixes or archives.plain_suffix(path) in self.suffixes
            )
        return self.accepts is not None and self.accepts(task, source)


@dataclasses.dataclass(frozen=True)
class Bucketing:
    """How :meth:`Task.batches` groups examples: by length, padded on the right.

    Attributes:
        length_fn: one unbatched element -> its scalar length.
        max_length: the longest length expected; sets the bucket edges (powers of two).
        padding_values: pad value per component, structured like an element (None = 0).
    """

    length_fn: Callable[..., tf.Tensor]
    max_length: int
    padding_values: Any = None


class Task(abc.ABC, Generic[ConfigT, DataT]):
    """Base class of the tasks: shared mechanics here, specifics in each subclass.

    Attributes:
        name: registry key and CLI name, e.g. ``"sentiment"``.
        config_class: the task's config dataclass (a :class:`~seqapps.config.TrainConfig`).
        sources: how ``data=`` is read, tried in order (see :class:`DataSource`).
        monitor: the task's default validation metric that selects the best epoch
            (checkpoint, early stop); ``monitor=`` in the config picks another of
            :meth:`validation_metrics` (see :meth:`monitored`).
        serving_input: the ``serving_default`` input (its name is the signature's key).
        serving_filler: one input row :meth:`serve` accepts, used in place of an empty
            batch (whose outputs are then cut to zero rows); None when ``serve`` handles
            empty batches itself.
        count_keys: keys of :meth:`evaluate`'s result that count things (examples, tokens,
            images, ...): ``metrics.json`` keeps them under ``counts``.
        setting_keys: keys that echo settings (e.g. ``beam_width``): kept under ``settings``.
        input_path_keys: settings that may name files the run reads (``data``, encoder
            weights, ...): :meth:`input_paths` gives the trainer what to fingerprint.
        split_files_help: what ``train=`` / ``val=`` / ``test=`` take, for error messages
            (may name config fields as ``{cfg.FIELD}``; "" = the task reads no split files).
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    sources: ClassVar[Sequence[DataSource]] = ()
    monitor: ClassVar[str] = "val_loss"
    serving_input: ClassVar[tf.TensorSpec] = tf.TensorSpec([None], tf.string, name="texts")
    serving_filler: ClassVar[Any] = ("",)
    count_keys: ClassVar[tuple[str, ...]] = ("examples",)
    setting_keys: ClassVar[tuple[str, ...]] = ()
    input_path_keys: ClassVar[tuple[str, ...]] = ("data", "train", "val", "test")
    split_files_help: ClassVar[str] = ""
    # Batches per training pass under batch_tokens, per global batch size, set by
    # make_dataset (see steps_per_epoch).
    _batches_per_pass: dict[int, int] | None = None

    def __init__(self, cfg: ConfigT) -> None:
        self.cfg = cfg
        self.monitored()  # an unknown monitor= fails here, before any data is read

    # --- epoch selection ---------------------------------------------------------------
    def validation_metrics(self) -> dict[str, Literal["min", "max"]]:
        """Every validation metric ``fit`` logs each epoch (``history.csv``), and its mode.

        ``"min"`` for losses and errors (loss, perplexity, mae, ...), ``"max"`` for scores
        (accuracy, recall, F1, ...). Any of them can select the epoch (``monitor=``); the
        contract test trains each task and checks every name here is in ``history.csv``.
        """
        return {"val_loss": "min"}

    def monitored(self) -> tuple[str, Literal["min", "max"]]:
        """The metric that selects the epoch and its mode: ``monitor=``, else :attr:`monitor`.

        Raises:
            ConfigError: ``monitor=`` names a metric the task does not log (one line,
                listing those it does).
        """
        metrics = self.validation_metrics()
        name = getattr(self.cfg, "monitor", "") or self.monitor
        if name not in metrics:
            raise ConfigError(
                f"monitor={name!r} is not a validation metric of {self.name}; "
                f"choose one of: {', '.join(metrics)}"
            )
        return name, metrics[name]

    # --- data ------------------------------------------------------------------------
    def load_data(self) -> DataT:
        """Read the data through the first matching source; subset the training split.

        With ``train=`` set, :meth:`load_split_files` reads it instead. An archive in
        ``data=`` is resolved first: ``archive.zip:member``, the only text member, or
        (for a task with a ``dir`` source) the archive's folder.

        Raises:
            DataError: ``data=`` names nothing that exists (the message lists what the task
                reads), or the loader found a problem in a file or archive.
            ConfigError: ``data=tfds:NAME`` for a task without a TFDS loader.
        """
        if getattr(self.cfg, "train", ""):
            return self.subset_splits(self.load_split_files())
        given = str(self.cfg.data)
        folders = any(e.kind == "dir" for e in self.sources)
        source = archives.resolve(given, folders=folders)
        for entry in self.sources:
            if entry.matches(self, source):
                arg = source[len("tfds:") :] if entry.kind == "tfds" else source
                return self.subset_splits(entry.load(self, arg))
        if source.startswith("tfds:"):
            raise ConfigError(f"{self.name} has no TFDS loader; {self.data_help()}")
        if source != given:  # an archive's member that no source reads
            raise DataError(given, f"no source reads {source}", hint=self.data_help())
        raise DataError(source, "no such file or directory", hint=self.data_help())

    # --- split files (train= / val= / test=) -----------------------------------------
    def read_split(self, paths: list[str]) -> Split:
        """Read one split from ``paths`` (one or more files, concatenated in order).

        Each path is one of the task's single data files (a CoNLL file, a CSV, a pair
        file, ...), already resolved from globs and archives. A task that reads split
        files overrides this, :meth:`join_splits` and :attr:`split_files_help`.
        """
        raise ConfigError(f"{self.name} does not read train=/val=/test= files; use data=")

    def join_splits(self, parts: dict[str, Any]) -> DataT:
        """The task's data from ``{"train": split, "val": split, "test": split}``."""
        raise ConfigError(f"{self.name} does not read train=/val=/test= files; use data=")

    def split_path_ok(self, path: str) -> bool:
        """Whether :meth:`read_split` can read ``path`` (an existing file by default)."""
        return Path(path).is_file()

    def split_paths(self, key: str, spec: str) -> list[str]:
        """The files a ``train=`` / ``val=`` / ``test=`` value names, archives resolved.

        A glob (``*``, ``?``, ``[``, ``**``) matches files in sorted order.

        Raises:
            DataError: a glob that matches nothing, or a path the task cannot read.
        """
        helps = self.split_files_help.format(cfg=self.cfg)
        hint = f"{key}= takes {helps}" if helps else None
        if any(c in spec for c in "*?[") and not Path(spec).exists():
            matches = sorted(p for p in glob.glob(spec, recursive=True) if Path(p).is_file())
            if not matches:
                raise DataError(spec, f"{key}=: no file matches this pattern", hint=hint)
        else:
            matches = [spec]
        out = []
        for match in matches:
            path = archives.resolve(match, folders=False)
            if not self.split_path_ok(path):
                raise DataError(path, f"{key}=: no such file", hint=hint)
            out.append(path)
        return out

    def load_split_files(self) -> DataT:
        """Read ``train=``, ``val=`` and ``test=``; carve a missing val / test from train.

        Each split is read from its own files by :meth:`read_split` (no random split). A
        split not given is held out of the training files at random (seeded) by
        ``val_fraction`` / ``test_fraction``, as from one plain data file.

        Raises:
            DataError: a missing or malformed file; too few training examples to carve.
            ConfigError: the task does not read split files.
        """
        cfg = self.cfg
        if not self.split_files_help:
            self.read_split([])  # raises: the task does not read split files
        parts = {}
        for key in SPLITS:
            spec = str(getattr(cfg, key, "") or "")
            if spec:
                parts[key] = self.read_split(self.split_paths(key, spec))
        missing = [k for k in ("val", "test") if k not in parts]
        if missing:
            train = parts["train"]
            n = len(train)
            fractions = {"val": cfg.val_fraction, "test": cfg.test_fraction}
            counts = {k: int(round(n * fractions[k])) for k in missing}
            if min(counts.values()) < 1 or n - sum(counts.values()) < 1:
                shares = ", ".join(f"{k}_fraction={fractions[k]}" for k in missing)
                raise DataError(
                    cfg.train,
                    f"{n} examples are too few to hold out {' and '.join(missing)} ({shares})",
                    hint=f"give {'= and '.join(missing)}= files",
                )
            order = np.random.default_rng(cfg.seed).permutation(n)
            start = 0
            for k in ("test", "val"):
                if k in counts:
                    parts[k] = train.subset(np.sort(order[start : start + counts[k]]))
                    start += counts[k]
            parts["train"] = train.subset(np.sort(order[start:]))
        return self.join_splits(parts)

    def input_paths(self) -> dict[str, str]:
        """``{setting: value}`` of :attr:`input_path_keys` that name existing files or folders.

        A resumed run whose files changed since it started is refused
        (:func:`seqapps.rundir.check_same_inputs`).
        """
        values = {k: str(getattr(self.cfg, k, "") or "") for k in self.input_path_keys}
        # archive.zip:member is fingerprinted as the archive.
        values = {k: archives.archive_path(v) for k, v in values.items()}
        # A glob (train=data/train-*.csv) is kept as a pattern: the fingerprint expands it.
        return {
            k: v
            for k, v in values.items()
            if v and (Path(v).exists() or (any(c in v for c in "*?[") and glob.glob(v)))
        }

    def data_help(self) -> str:
        """``data= takes 'sample', a ..., or tfds:NAME``: the sources, for error messages."""
        names = [e.what.format(cfg=self.cfg) for e in self.sources if e.listed]
        listed = ", ".join(names[:-1]) + (f" or {names[-1]}" if len(names) > 1 else names[0])
        return f"data= takes {listed}"

    def subset_splits(self, data: DataT) -> DataT:
        """Apply ``max_train_samples`` and ``max_eval_samples``.

        Training keeps a seeded random subset (in file order); validation and test keep
        the examples :meth:`eval_indices` picks (the first ``max_eval_samples``).
        """
        limit = self.cfg.max_train_samples
        train = data.train
        if limit and limit < len(train):
            keep = np.random.default_rng(self.cfg.seed).permutation(len(train))[:limit]
            data.train = train.subset(np.sort(keep))
        limit = self.cfg.max_eval_samples
        for name in ("val", "test"):
            part = getattr(data, name)
            if limit and limit < len(part):
                setattr(data, name, part.subset(self.eval_indices(len(part), limit)))
        return data

    def eval_indices(self, size: int, limit: int) -> np.ndarray:
        """Which ``limit`` of a validation or test split's ``size`` examples to keep.

        The first ones, as Hugging Face's examples take ``max_eval_samples``.
        """
        return np.arange(limit)

    def num_examples(self, data: DataT, split: str) -> int:
        """Number of training examples in ``split`` (one per ``split`` item by default)."""
        return len(data.split(split))

    def steps_per_epoch(self, data: DataT, global_batch: int) -> int:
        """Training batches in one pass over the training split (at least 1).

        ``num_examples / global_batch`` rounded up; with ``batch_tokens`` the count of the
        token-budget batches the last training stream (:meth:`make_dataset` with
        ``training=True``) makes, which :meth:`batches` measured from the lengths.
        """
        counted = (self._batches_per_pass or {}).get(global_batch)
        if getattr(self.cfg, "batch_tokens", 0) > 0 and counted is not None:
            return counted
        return max(1, -(-self.num_examples(data, "train") // global_batch))

    # --- the data report ---------------------------------------------------------------
    def data_report(self, data: DataT) -> dict[str, Any]:
        """What was read: examples, label counts, vocabulary coverage, drops, warnings.

        Called after :meth:`adapt` (or :meth:`load_assets`): coverage is measured against
        the fitted vocabulary. The shared part is here; a task supplies its labels
        (:meth:`report_labels`), tokens and vocabulary (:meth:`report_tokens`,
        :meth:`report_vocabulary`) and what it drops or cuts (:meth:`dropped_items`). The
        keys are described in :mod:`seqapps.data_report`.
        """
        report: dict[str, Any] = {
            "task": self.name,
            "data": str(getattr(self.cfg, "data", "")),
            "examples": {s: len(data.split(s)) for s in SPLIT_NAMES},
        }
        warnings: list[str] = []
        labels = {s: self.report_labels(data, s) for s in SPLIT_NAMES}
        if all(v is not None for v in labels.values()):
            counts = {s: label_counts(v) for s, v in labels.items()}
            report["counts_by_label"] = counts
            report["label_shift"], shift = shift_warning(counts)
            warnings += shift
        vocabulary = self.report_vocabulary()
        if vocabulary:
            per_split = {s: self.report_tokens(data, s) for s in SPLIT_NAMES}
            report["vocabulary_coverage"] = {
                side: {s: coverage(per_split[s][side], vocab) for s in SPLIT_NAMES}
                for side, vocab in vocabulary.items()
            }
        report["dropped"] = [d for d in self.dropped_items(data) if d["count"]]
        report["subsets"] = {
            k: getattr(self.cfg, k)
            for k in ("max_train_samples", "max_eval_samples")
            if getattr(self.cfg, k, None)
        }
        report["warnings"] = warnings
        return report

    def report_labels(self, data: DataT, split: str) -> list[str] | None:
        """One label per counted item of ``split`` (a class, an entity type, a ticker).

        None (the default) for a task without labels: no ``counts_by_label``.
        """
        return None

    def report_vocabulary(self) -> dict[str, set[str]]:
        """The fitted vocabulary per input side, e.g. ``{"text": {...}}``; {} = none."""
        return {}

    def report_tokens(self, data: DataT, split: str) -> dict[str, list[list[str]]]:
        """Per side of :meth:`report_vocabulary`: each item's tokens as the model reads them."""
        return {}

    def dropped_items(self, data: DataT) -> list[dict[str, Any]]:
        """Items left out or cut: ``{"split", "count", "reason"}`` each (zero counts hidden)."""
        return []

    @abc.abstractmethod
    def adapt(self, data: DataT) -> None:
        """Fit preprocessing state (vocabularies, scalers) on the training split only."""

    @abc.abstractmethod
    def save_assets(self, directory: Path) -> None:
        """Write the fitted preprocessing state into ``directory`` (created if needed)."""

    @abc.abstractmethod
    def load_assets(self, directory: Path) -> None:
        """Restore the state written by :meth:`save_assets`."""

    @abc.abstractmethod
    def make_dataset(
        self, data: DataT, split: str, *, batch_size: int, training: bool
    ) -> tf.data.Dataset:
        """Return batches of ``(inputs, targets)``; shuffled and repeated when training."""

    def batches(
        self,
        examples: tf.data.Dataset,
        size: int,
        *,
        batch_size: int,
        training: bool,
        bucketing: Bucketing | None = None,
        augment: Callable[..., Any] | None = None,
        after_batch: Callable[..., Any] | None = None,
    ) -> tf.data.Dataset:
        """The training-stream recipe, written once for every task.

        ``examples`` (unbatched, deterministic) are cached; when training they are
        reshuffled every epoch (seeded), repeated (the trainer sets ``steps_per_epoch``) and
        passed through ``augment``. Then batched (by length bucket, right-padded, when
        ``bucketing`` is given), mapped through ``after_batch`` and prefetched.

        Args:
            examples: unbatched elements, e.g. ``(token_ids, label)``.
            size: number of elements (the shuffle buffer holds them all).
            batch_size: examples per batch (global under a distribution strategy).
            training: shuffle, repeat and augment.
            bucketing: group by length; None = plain batches in order.
            augment: per-example random map when training. Run sequentially on purpose:
                parallel calls would draw the random numbers in a varying order, and seeded
                runs would stop being reproducible.
            after_batch: per-batch map (e.g. gathering cached features), run in parallel.
        """
        ds = examples.cache()
        # Per replica, as batch_size: scaled as the batch asked for is (global, or eval).
        batch_tokens = getattr(self.cfg, "batch_tokens", 0) * max(
            1, batch_size // getattr(self.cfg, "batch_size", batch_size)
        )
        if (
            bucketing is not None
            and 0 < getattr(self.cfg, "batch_tokens", 0) < bucketing.max_length
        ):
            raise ConfigError(
                f"batch_tokens={self.cfg.batch_tokens} is below max_length="
                f"{bucketing.max_length}: a batch of the longest sequences would not fit"
            )
        if training and bucketing is not None and batch_tokens > 0:
            # Token budgets make batches of varying size: count one pass's batches from
            # the lengths (this first pass also fills the cache).
            lengths = ds.map(bucketing.length_fn).batch(65536).as_numpy_iterator()
            self._batches_per_pass = dict(self._batches_per_pass or {})
            self._batches_per_pass[batch_size] = batches_per_pass(
                np.concatenate([np.zeros(0, np.int64), *lengths]),
                batch_size=batch_size,
                max_length=bucketing.max_length,
                batch_tokens=batch_tokens,
            )
        if training:
            ds = ds.shuffle(max(size, 1), seed=self.cfg.seed, reshuffle_each_iteration=True)
            ds = ds.repeat()
            if augment is not None:
                ds = ds.map(augment)
        if bucketing is None:
            ds = ds.batch(batch_size)
        else:
            ds = bucketed_batches(
                ds,
                batch_size=batch_size,
                max_length=bucketing.max_length,
                length_fn=bucketing.length_fn,
                padding_values=bucketing.padding_values,
                batch_tokens=batch_tokens,
            )
            if getattr(self.cfg, "jit_compile", False):
                # A few shapes, not one per batch length: XLA compiles each shape once.
                spec, pads = examples.element_spec, bucketing.padding_values
                ds = ds.map(lambda *b: round_up_shapes(b if len(b) > 1 else b[0], spec, pads))
        if after_batch is not None:
            ds = ds.map(after_batch, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    # --- model -----------------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self) -> keras.Model:
        """Build the (uncompiled) Keras model; called inside the strategy scope."""

    @abc.abstractmethod
    def compile_args(self, model: keras.Model) -> dict[str, Any]:
        """Loss and metrics for ``model.compile`` (the trainer adds the optimizer).

        ``model`` is the one :meth:`build_model` returned: a loss may need its layers (a
        CRF loss reads the CRF layer's transition scores).
        """

    def fit_args(self, data: DataT) -> dict[str, Any]:
        """Extra keyword arguments for ``model.fit``, e.g. ``class_weight``."""
        return {}

    # --- evaluation and serving ------------------------------------------------------
    @abc.abstractmethod
    def evaluate(self, model: keras.Model, data: DataT, split: str, out_dir: Path) -> dict:
        """Score ``model`` on ``split``; write plots into ``out_dir``; return flat metrics."""

    def arrange_metrics(self, flat: dict[str, float]) -> dict[str, Any]:
        """``metrics.json``'s layout: scores at the top, ``counts`` and ``settings`` apart.

        Example:
            >>> task.arrange_metrics({"f1": 0.9, "examples": 3.0})  # doctest: +SKIP
            {'f1': 0.9, 'counts': {'examples': 3}, 'settings': {}}
        """
        scores = {k: v for k, v in flat.items() if k not in (*self.count_keys, *self.setting_keys)}
        counts = {k: int(flat[k]) for k in self.count_keys if k in flat}
        settings = {k: flat[k] for k in self.setting_keys if k in flat}
        return {**scores, "counts": counts, "settings": settings}

    @abc.abstractmethod
    def serve(self, model: keras.Model, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        """Raw input (:attr:`serving_input`) -> named outputs; traced into the SavedModel.

        TF ops only, no Python control flow on tensors (traced without AutoGraph).
        """

    def serve_any_batch(self, model: keras.Model, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        """:meth:`serve`, also for an empty batch: zero rows of every output, same dtypes.

        A recurrent layer cannot run over a batch of nothing, so an empty batch is served
        as one :attr:`serving_filler` row, and every output is cut to the batch's size.
        """
        if self.serving_filler is None:
            return self.serve(model, inputs)
        rows = tf.shape(inputs)[0]
        filler = tf.constant(self.serving_filler, inputs.dtype)
        safe = tf.cond(rows > 0, lambda: inputs, lambda: filler)
        return {k: v[:rows] for k, v in self.serve(model, safe).items()}

    def resources(self, model: keras.Model) -> list[Any]:
        """Lookup layers and other state :meth:`serve` uses besides ``model`` (tracked)."""
        return []

    def export_archive(self, model: keras.Model) -> keras.export.ExportArchive:
        """Wrap :meth:`serve` into an archive whose ``serving_default`` takes raw input."""
        archive = keras.export.ExportArchive()
        archive.track(model)
        for resource in self.resources(model):  # lookup tables must travel with the model
            archive.track(resource)

        # autograph=False: serve is plain TF ops (decoding loops are explicit while loops);
        # AutoGraph would only warn about the closures it cannot convert.
        @tf.function(input_signature=[self.serving_input], autograph=False)
        def serving_default(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            return self.serve_any_batch(model, inputs)

        archive.add_endpoint("serving_default", serving_default)
        return archive

    def predict_inputs(self, inputs: list[str]) -> Any:
        """Command-line inputs -> the tensor ``serving_default`` takes (strings by default)."""
        return tf.constant(inputs, tf.string)

    @abc.abstractmethod
    def format_predictions(self, inputs: list[str], outputs: dict[str, tf.Tensor]) -> list[str]:
        """Render ``serving_default`` outputs as one printable line per input."""

    # An input for the model card's examples (a text; tasks with file inputs override
    # card_usage instead).
    card_example: ClassVar[str] = "some text"

    def card_usage(self) -> dict[str, str]:
        """How the model card shows a call (:mod:`seqapps.model_card`).

        Returns:
            ``predict``: ``seqapps predict`` arguments (shell-quoted); ``instances``: a JSON
            list for the REST API's row format (no single quotes: it sits in ``-d '...'``);
            ``python``: the ``serving_default`` argument as Python source (``tf`` imported);
            optionally ``note``: one sentence on what an instance is.
        """
        text = self.card_example
        return {
            "predict": shlex.quote(text),
            "instances": json.dumps([text], ensure_ascii=False),
            "python": f"tf.constant([{text!r}])",
        }

    def card_limits(self) -> list[str]:
        """The model card's "intended use and known limits", one sentence each."""
        return [
            "Scores hold for data like the test split above; expect lower ones on other "
            "domains, languages or time periods: evaluate on a sample of yours first.",
        ]


# --- asset helpers --------------------------------------------------------------------
def write_lines(directory: Path, name: str, items: Sequence[str]) -> None:
    """Write ``items`` one per line (a vocabulary: tokens never contain newlines).

    :func:`seqapps.data.io.read_lines` reads it back (an empty line is an item: padding).
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("".join(f"{item}\n" for item in items), encoding="utf-8")


def write_json(directory: Path, name: str, value: Any) -> None:
    """Write ``value`` as UTF-8 JSON (non-ASCII kept readable)."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(value, ensure_ascii=False, indent=1)
    (directory / name).write_text(text, encoding="utf-8")


def read_json(directory: Path, name: str) -> Any:
    """Read what :func:`write_json` wrote."""
    return json.loads((directory / name).read_text(encoding="utf-8"))
