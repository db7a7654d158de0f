"""Configuration: plain dataclasses, YAML files and type-checked ``key=value`` overrides.

Every task has a config dataclass made of the shared :class:`TrainConfig`, the shared
:class:`RecurrentConfig` and the task's own fields. A config is resolved in three layers:
the dataclass defaults, then a YAML file, then ``key=value`` pairs from the command line.
Each value is checked against the field's type hint (``int``, ``float``, ``bool``, ``str``,
``Optional``, ``Literal`` choices); an unknown key is an error listing the valid keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml

from seqapps.errors import ConfigError
from seqapps.space import Choice, FloatRange, IntRange

CellName = Literal["simple_rnn", "lstm", "gru"]


class CheckedConfig:
    """Root of the config dataclasses: runs every class's ``check`` after ``__init__``.

    Each config class states only its own rules in a ``check(self)`` method (raising
    :class:`ConfigError`); ``__post_init__`` here calls the ``check`` of every class in the
    method resolution order, bases first. A task's config therefore cannot skip the checks
    of :class:`TrainConfig` or :class:`RecurrentConfig`, as an overridden ``__post_init__``
    that forgot a parent could.
    """

    def __post_init__(self) -> None:
        for klass in reversed(type(self).__mro__):
            check = klass.__dict__.get("check")
            if check is not None:
                check(self)


@dataclasses.dataclass
class TrainConfig(CheckedConfig):
    """Settings shared by every task: data source, optimisation, distribution, seed."""

    # Where the data comes from: "sample" (shipped with the package), a directory in the
    # data set's standard layout (or with files named *train*, *dev*/*valid*/*val*,
    # *test*), a plain file, an archive (.zip, .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz; a
    # member as archive.zip:path/in/it), or "tfds:NAME" (needs internet). .gz, .bz2 and
    # .xz files are read directly.
    data: str = "sample"
    # Split files instead of data= (leave data= unset or ""): paths or globs (several files
    # are read in sorted order and concatenated), archives and archive.zip:member too, each
    # read as the task's single data file. Without val= or test=, that split is carved
    # from train= by val_fraction / test_fraction (seeded), as from one plain file.
    train: str = ""
    # Validation split file(s) for train= ("" = carved from train= by val_fraction).
    val: str = ""
    # Test split file(s) for train= ("" = carved from train= by test_fraction).
    test: str = ""
    # Cap on training examples (None = all); for quick runs on big data sets.
    max_train_samples: int | None = None
    # Cap on validation and test examples (None = all): the first N of each, as Hugging
    # Face's examples take them. Quick looks only: epochs are then selected on fewer
    # examples, and test scores are not comparable with full-split figures.
    max_eval_samples: int | None = None
    # Training length in epochs (passes over the training split). None = set by
    # `train_steps`; set, it wins over `train_steps` (a fixed number of passes).
    epochs: int | None = None
    # Per replica: the global batch is batch_size * number of replicas.
    batch_size: int = 64
    # Tasks that batch by length bucket (sentiment, ner, translation, captioning): if > 0,
    # batches of about this many padded tokens instead of batch_size examples, so short
    # sequences come in larger batches (OpenNMT-py and fairseq batch this way); a bucket
    # of lengths up to L batches batch_tokens // L examples. Per replica, as batch_size.
    # 0 = batch_size examples per batch.
    batch_tokens: int = 0
    learning_rate: float = 1e-3
    # Learning-rate decay per epoch: lr / (1 + lr_decay * epoch), as Ma & Hovy (2016) train
    # their taggers; applied step by step. 0 = constant.
    lr_decay: float = 0.0
    optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] = "adam"
    # Gradient clipping by global norm (None = off). RNNs can explode; 1.0 is a safe default.
    clipnorm: float | None = 1.0
    # auto: mirrored with >1 GPU, one_device with 1 GPU, default otherwise.
    strategy: Literal["auto", "default", "one_device", "mirrored", "multi_worker"] = "auto"
    # Devices for "mirrored"/"one_device", comma separated (e.g. "CPU:0,CPU:1"); "" = GPUs.
    devices: str = ""
    # Mixed precision compute dtype: float16 suits GPUs, bfloat16 suits recent CPUs/TPUs.
    mixed_precision: Literal["off", "float16", "bfloat16"] = "off"
    seed: int = 42
    # Compile the training and evaluation steps with XLA (fuses the recurrent cell's ops;
    # each new batch shape compiles once). A task whose ops XLA cannot compile (the NER CRF
    # metric) turns it off; on a GPU Keras runs cuDNN LSTM/GRU layers uncompiled anyway. On
    # 2 CPU cores it made sentiment training slower (docs/BENCHMARKS.md), hence off.
    jit_compile: bool = False
    # Training steps run per call into the compiled graph: fewer Python round trips, but
    # batch-level callbacks (the NaN check) see every Nth step only. 1 = every step.
    steps_per_execution: int = 1
    # Early stopping: epochs without improvement of the monitored validation metric.
    # None = set by `patience_steps`; set, it wins over `patience_steps`.
    patience: int | None = None
    # The default training length, in optimisation steps: the run trains
    # ceil(train_steps / steps per epoch) epochs, so a small data set gets as many updates as
    # a large one rather than as many passes (a 3k-sentence NER set trains 4.7 times the
    # epochs of CoNLL-2003's 14k). Each task sets it to its benchmark's epochs times the
    # benchmark's steps per epoch, so the benchmark trains exactly as before. Used only
    # when `epochs` is None.
    train_steps: int | None = 5000
    # Early-stopping patience in optimisation steps: ceil(patience_steps / steps per epoch)
    # epochs. Used only when `patience` is None.
    patience_steps: int | None = 1000
    # The validation metric (a history.csv column, e.g. val_macro_f1) that selects the best
    # epoch (best.keras) and drives early stopping; "" = the task's own default. It must be
    # one the task logs each epoch (an unknown name lists them); minimised or maximised as
    # the metric says (losses, perplexity, errors down; accuracy, recall, F1 up).
    monitor: str = ""
    # Every N training steps, log the per-time-step gradient profile of a fixed batch to
    # TensorBoard (seqapps.diagnostics.GradientProfileLogger); 0 = off.
    grad_profile_every: int = 0
    # A data set without its own splits (one plain file, or train= without val= / test=):
    # the shares held out for validation and test, drawn with `seed`.
    val_fraction: float = 0.1
    test_fraction: float = 0.1

    # What `seqapps tune` may vary (seqapps.space); a task's config adds its own.
    search_space: ClassVar[dict[str, Any]] = {
        "learning_rate": FloatRange(1e-4, 3e-3, log=True),
        "batch_size": Choice((16, 32, 64, 128)),
    }

    def epochs_for(self, steps_per_epoch: int) -> int:
        """Epochs to train: ``epochs`` when set, else ``train_steps`` in epochs of that many steps.

        >>> TrainConfig(train_steps=13170).epochs_for(439)  # CoNLL-2003: 30 epochs
        30
        >>> TrainConfig(train_steps=13170).epochs_for(94)  # 3,000 sentences: 141 epochs
        141
        >>> TrainConfig(epochs=3, train_steps=13170).epochs_for(94)
        3
        """
        if self.epochs is not None:
            return self.epochs
        assert self.train_steps is not None  # check() refuses neither
        return max(1, -(-self.train_steps // max(steps_per_epoch, 1)))

    def patience_for(self, steps_per_epoch: int) -> int:
        """Early-stopping patience in epochs: ``patience`` when set, else ``patience_steps``."""
        if self.patience is not None:
            return self.patience
        assert self.patience_steps is not None  # check() refuses neither
        return max(1, -(-self.patience_steps // max(steps_per_epoch, 1)))

    def steps_based(self) -> bool:
        """Whether training length or patience come from optimisation steps (not set in epochs)."""
        return self.epochs is None or self.patience is None

    def split_args(self) -> dict[str, Any]:
        """``val_fraction``, ``test_fraction`` and ``seed``: what a file loader splits by."""
        return {
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
        }

    def check(self) -> None:
        """Raise :class:`ConfigError` for an out-of-range shared training setting."""
        _check(self.epochs is None or self.epochs >= 1, "epochs must be >= 1 or None")
        _check(
            self.epochs is not None or self.train_steps is not None,
            "set epochs or train_steps (both are None)",
        )
        _check(
            self.patience is not None or self.patience_steps is not None,
            "set patience or patience_steps (both are None)",
        )
        _check(self.batch_size >= 1, "batch_size must be >= 1")
        _check(self.steps_per_execution >= 1, "steps_per_execution must be >= 1")
        _check(self.batch_tokens >= 0, "batch_tokens must be >= 0 (0 = batch_size examples)")
        # Multi-worker validation repeats its stream and counts steps from examples /
        # batch_size, which token-budget batches would not match.
        _check(
            not (self.batch_tokens and self.strategy == "multi_worker"),
            "batch_tokens is not supported with strategy=multi_worker (use batch_size)",
        )
        _check(self.learning_rate > 0, "learning_rate must be > 0")
        _check(self.lr_decay >= 0, "lr_decay must be >= 0")
        _check(self.clipnorm is None or self.clipnorm > 0, "clipnorm must be > 0 or None")
        _check(self.patience is None or self.patience >= 1, "patience must be >= 1 or None")
        _check(
            self.train_steps is None or self.train_steps >= 1, "train_steps must be >= 1 or None"
        )
        _check(
            self.patience_steps is None or self.patience_steps >= 1,
            "patience_steps must be >= 1 or None",
        )
        _check(self.grad_profile_every >= 0, "grad_profile_every must be >= 0")
        # NumPy and Python's random take seeds in [0, 2**32); -1 gave a traceback.
        _check(0 <= self.seed < 2**32, "seed must be an integer in [0, 4294967295]")
        _check(
            0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1,
            "val_fraction and test_fraction must be in [0, 1)",
        )
        _check(
            not (self.val or self.test) or bool(self.train),
            "val= and test= need train= (or use data=)",
        )
        _check(
            not self.train or str(self.data) in ("", "sample"),
            f"data={self.data} and train={self.train} both name the data: give one "
            "(after a config file that sets data=, add data= to clear it)",
        )
        _check(
            self.max_train_samples is None or self.max_train_samples >= 1,
            "max_train_samples must be >= 1 or None",
        )
        _check(
            self.max_eval_samples is None or self.max_eval_samples >= 1,
            "max_eval_samples must be >= 1 or None",
        )


@dataclasses.dataclass
class RecurrentConfig(CheckedConfig):
    """The recurrent stack every task builds: cell type, width, depth, direction, dropout."""

    cell: CellName = "lstm"
    units: int = 128
    # Number of stacked recurrent layers.
    layers: int = 1
    bidirectional: bool = True
    # Dropout between recurrent layers (not inside the cell: that would leave cuDNN).
    dropout: float = 0.3

    search_space: ClassVar[dict[str, Any]] = {
        "units": IntRange(32, 256, log=True),
        "layers": IntRange(1, 2),
        "dropout": FloatRange(0.0, 0.6),
    }

    def stack_args(self) -> dict[str, Any]:
        """The keyword arguments of :func:`seqapps.layers.recurrent_stack` set by this config."""
        return {
            "cell": self.cell,
            "units": self.units,
            "layers": self.layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
        }

    def check(self) -> None:
        """Raise :class:`ConfigError` for an out-of-range recurrent-stack setting."""
        _check(self.units >= 1, "units must be >= 1")
        _check(self.layers >= 1, "layers must be >= 1")
        _check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


C = TypeVar("C")


def field_names(cls: type) -> list[str]:
    """Return the config keys of dataclass ``cls`` in declaration order."""
    return [f.name for f in dataclasses.fields(cls)]


def _coerce(key: str, value: Any, hint: Any, source: str) -> Any:
    """Convert ``value`` (a string from the CLI or a YAML scalar) to type ``hint``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(key, value, arg, source)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{source}: {key}: bad value {value!r}")
    if origin is Literal:
        if value not in args:
            choices = ", ".join(map(str, args))
            raise ConfigError(f"{source}: {key}={value!r} is not one of: {choices}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"{source}: {key}={value!r} is not a boolean (true/false)")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{source}: {key}={value!r} is not an integer")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: {key}={value!r} is not an integer") from None
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{source}: {key}={value!r} is not a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: {key}={value!r} is not a number") from None
    if hint is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{source}: {key} must be a string, got {type(value).__name__}")
        return str(value)
    raise TypeError(f"unsupported config type {hint!r} for {key}")  # a bug, not user input


def from_dict(cls: type[C], values: dict[str, Any], source: str = "config") -> C:
    """Build a config of type ``cls`` from ``values``, checking every key and type.

    Args:
        cls: the config dataclass.
        values: key -> value; values may be strings (CLI) or YAML scalars.
        source: where the values came from, for error messages.

    Example:
        >>> cfg = from_dict(TrainConfig, {"epochs": "3"})
        >>> cfg.epochs
        3
    """
    hints = typing.get_type_hints(cls)
    valid = field_names(cls)
    unknown = [k for k in values if k not in valid]
    if unknown:
        raise ConfigError(
            f"{source}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"valid keys: {', '.join(valid)}"
        )
    kwargs = {k: _coerce(k, v, hints[k], source) for k, v in values.items()}
    return cls(**kwargs)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """Turn ``["epochs=3", "cell=gru"]`` into ``{"epochs": "3", "cell": "gru"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"command line: expected key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` with errors that name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8-sig"))  # a BOM is not a key
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value, got {type(loaded).__name__}")
    return loaded


def resolve(
    cls: type[C], config_file: str | Path | None = None, overrides: list[str] | None = None
) -> C:
    """Resolve a config: dataclass defaults < YAML file < ``key=value`` overrides.

    A ``task:`` key in the YAML file (as written by :func:`save`) is ignored here.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(read_yaml(config_file))
        values.pop("task", None)
        from_dict(cls, values, source=str(config_file))  # report file errors against the file
    cli = parse_overrides(overrides or [])
    from_dict(cls, cli, source="command line")
    values.update(cli)
    return from_dict(cls, values, source=str(config_file or "command line"))


def save(cfg: Any, path: str | Path, task: str) -> None:
    """Write the resolved config as YAML (with the task name) so a run can be reproduced."""
    data = {"task": task, **dataclasses.asdict(cfg)}
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def to_dict(cfg: Any) -> dict[str, Any]:
    """Return the config as a plain dict."""
    return dataclasses.asdict(cfg)


def _field_comments(cls: type) -> dict[str, str]:
    """Comments written above each field in the source of ``cls`` and its bases."""
    import inspect

    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        pending: list[str] = []
        for line in inspect.getsource(klass).splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                pending.append(stripped.lstrip("# "))
                continue
            name = stripped.split(":", 1)[0]
            if pending and name in {f.name for f in dataclasses.fields(klass)}:
                comments[name] = " ".join(pending)
            pending = []
    return comments


def describe(cls: type) -> str:
    """Return the defaults of config class ``cls`` as commented YAML (``seqapps config``)."""
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    lines = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if typing.get_origin(hint) is Literal:
            type_name = "one of: " + ", ".join(map(str, typing.get_args(hint)))
        else:
            type_name = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
        if f.name in comments:
            lines.append(f"# {comments[f.name]}")
        value = yaml.safe_dump({f.name: f.default}, default_flow_style=True).strip()[1:-1]
        lines.append(f"{value}  # {type_name}")
    return "\n".join(lines) + "\n"
