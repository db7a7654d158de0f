"""Test set-up: quiet TensorFlow, two logical CPUs, and one tiny trained run per task.

The CPU split lets ``MirroredStrategy(["CPU:0", "CPU:1"])`` run without GPUs, as Keras' own
distribution tests do. It must happen before TensorFlow creates its devices, hence here.

Training is what makes the suite slow, so each task is trained once per session, tiny, by
:func:`seqapps.trainer.train` (the ``trained`` fixture); the export, evaluate, predict and
CLI tests all read that run. A task registered in ``seqapps.tasks.TASKS`` and missing from
:data:`TINY_TASKS` gets :data:`DEFAULT_TINY` (the keys its config lacks are left out) and
text inputs.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Property tests (Hypothesis): a few fixed examples each in `make test` ("fast": derandomized,
# so a run repeats), a deeper random search in `make test-all` ("deep", set by the Makefile).
_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile(
    "fast",
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_HEALTH,
)
settings.register_profile(
    "deep", max_examples=60, deadline=None, database=None, suppress_health_check=_HEALTH
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "seqapps" / "data" / "samples"

# Small enough that a sentiment training run takes seconds on 2 cores.
TINY = [
    "units=8",
    "embedding_dim=8",
    "max_tokens=500",
    "batch_size=32",
    "epochs=2",
    "patience=5",
]

# Per task: settings for a run that trains in a few seconds (one epoch, a subset), not a
# run that learns anything. Captioning uses a random MobileNet 0.25 at 32 px (1 x 1 feature
# position): the cheapest backbone the public settings offer.
TINY_TASKS: dict[str, list[str]] = {
    "sentiment": [
        "units=8",
        "embedding_dim=8",
        "max_tokens=500",
        "batch_size=32",
        "epochs=1",
        "max_train_samples=128",
    ],
    "ner": [
        "units=8",
        "word_embedding_dim=8",
        "char_embedding_dim=4",
        "char_features=4",
        "case_embedding_dim=2",
        "batch_size=32",
        "epochs=1",
        "max_train_samples=128",
    ],
    "translation": [
        "cell=gru",
        "units=8",
        "embedding_dim=8",
        "min_count=2",
        "batch_size=32",
        "epochs=1",
        "beam_width=2",
        "max_length=20",
        "max_train_samples=128",
        "max_eval_samples=48",
    ],
    "captioning": [
        "weights=none",
        "backbone=mobilenet",
        "alpha=0.25",
        "image_size=32",
        "cell=gru",
        "units=8",
        "feature_units=8",
        "embedding_dim=8",
        "min_count=2",
        "batch_size=32",
        "epochs=1",
        "dropout=0",
        "beam_width=2",
        "max_length=12",
        "max_train_samples=20",
    ],
    "forecasting": ["units=8", "epochs=1", "window=10", "horizon=3", "batch_size=64"],
}
DEFAULT_TINY = [
    "units=8",
    "embedding_dim=8",
    "batch_size=32",
    "epochs=1",
    "max_train_samples=128",
]

SENTENCES = {
    "sentiment": ["what a great day :)", "worst service ever", "", "@user #monday 😀 sooo tired"],
    "ner": ["John Smith lives in New York .", "", "EU rejects German call to boycott"],
    "translation": ["Ein Mann fährt Fahrrad.", "", "Zwei Hunde spielen im Schnee."],
}
DEFAULT_INPUTS = ["a short test input", "", "another one ."]


def by_task(names, slow=frozenset()) -> list:
    """Task names as test parameters in their task's xdist group; those in ``slow`` marked
    ``slow`` (run by ``make test-all`` only).

    ``make test`` runs with ``--dist loadgroup``: a group runs on one worker, so each task's
    session run (the ``runs`` fixture) is trained on one worker only, not on both.
    """
    return [
        pytest.param(
            n, id=n, marks=[pytest.mark.xdist_group(n), *([pytest.mark.slow] if n in slow else [])]
        )
        for n in names
    ]


def tiny_overrides(name: str, *extra: str) -> list[str]:
    """The tiny settings of task ``name`` (those its config has) plus ``extra``."""
    from seqapps.tasks import TASKS

    if name in TINY_TASKS:
        return [*TINY_TASKS[name], *extra]
    keys = {f.name for f in dataclasses.fields(TASKS[name].config_class)}
    return [o for o in DEFAULT_TINY if o.split("=")[0] in keys] + list(extra)


def make_tiny_task(name: str, *extra: str, feature_cache: Path | None = None):
    """A Task of ``name`` with tiny settings (and a private captioning feature cache)."""
    from seqapps import config as config_lib
    from seqapps.tasks import TASKS

    cls = TASKS[name]
    overrides = tiny_overrides(name, *extra)
    keys = {f.name for f in dataclasses.fields(cls.config_class)}
    if feature_cache is not None and "feature_cache" in keys:
        overrides.append(f"feature_cache={feature_cache}")
    return cls(config_lib.resolve(cls.config_class, None, overrides))


def raw_inputs(name: str, tmp: Path) -> list[str]:
    """Command-line inputs for ``seqapps predict`` on task ``name``: one example each."""
    if name in SENTENCES:
        return list(SENTENCES[name])
    if name == "captioning":
        images = sorted((SAMPLES / "captioning" / "images").glob("*.jpg"))
        return [str(p) for p in images[:2]]
    if name == "forecasting":  # one ticker per file, so that one input is one row
        lines = (SAMPLES / "forecasting" / "prices.csv").read_text().splitlines()
        header, rows = lines[0], lines[1:]
        ticker_at = header.split(",").index("Name")
        tickers = sorted({r.split(",")[ticker_at] for r in rows})[:2]
        paths = []
        for t in tickers:
            path = tmp / f"{t}.csv"
            path.write_text("\n".join([header, *[r for r in rows if r.split(",")[ticker_at] == t]]))
            paths.append(str(path))
        return paths
    return list(DEFAULT_INPUTS)


def png_is_a_drawing(path: Path) -> None:
    """``path`` is a PNG that decodes, of a figure's size, and not one flat colour."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) >= 100, (image.format, image.size)
        assert len(image.convert("L").getcolors(maxcolors=1 << 16)) > 2, "a blank image"


@dataclasses.dataclass
class TrainedRun:
    """One tiny trained run: the Task that trained it (assets fitted), its model and data."""

    name: str
    run_dir: Path
    task: object
    model: object
    data: object
    root: Path  # a scratch directory of the session for this task

    def inputs(self) -> list[str]:
        """Raw inputs for predict / serving (written under ``root`` where they are files)."""
        return raw_inputs(self.name, self.root)


class _Runs:
    """Trains each task at most once per session, on first use."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.runs: dict[str, TrainedRun] = {}
        self.evaluated: dict[str, dict] = {}
        self.exports: dict[str, Path] = {}
        self.saved_models: dict[str, object] = {}

    def get(self, name: str) -> TrainedRun:
        if name not in self.runs:
            from seqapps.trainer import train

            root = self.factory.mktemp(f"{name}-session")
            task = make_tiny_task(name, feature_cache=root / "features")
            model = train(task, root / "run")
            self.runs[name] = TrainedRun(name, root / "run", task, model, task.load_data(), root)
        return self.runs[name]

    def metrics(self, name: str) -> dict:
        """The run's test metrics (``seqapps.runs.evaluate_run``, once)."""
        if name not in self.evaluated:
            from seqapps.runs import evaluate_run

            self.evaluated[name] = evaluate_run(self.get(name).run_dir, "test")
        return self.evaluated[name]

    def export(self, name: str) -> Path:
        """The version directory (``.../models/1``) of an export of the evaluated run."""
        if name not in self.exports:
            from seqapps.export import export

            self.metrics(name)
            self.exports[name] = export(self.get(name).run_dir, self.get(name).root / "models")
        return self.exports[name]

    def loaded(self, name: str):
        """The session export, loaded once (``tf.saved_model.load``): read only.

        Kept alive here: the loaded object owns the variables its signatures read.
        """
        if name not in self.saved_models:
            self.saved_models[name] = tf.saved_model.load(str(self.export(name)))
        return self.saved_models[name]


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> _Runs:
    """``runs.get(name)``, ``.metrics(name)``, ``.export(name)``, ``.loaded(name)``: shared,
    read only."""
    return _Runs(tmp_path_factory)


@pytest.fixture(scope="session")
def model_servers(runs, tmp_path_factory):
    """``model_servers.get(task, *names)`` -> (URL, app): a server of the task's session export.

    Started on first use (a uvicorn thread on a loopback port, in this process) and kept
    for the session; stopped at its end. Needs the ``serve`` extra (Starlette, uvicorn).
    """
    pytest.importorskip("starlette", reason="the serve extra is not installed")
    pytest.importorskip("uvicorn", reason="the serve extra is not installed")
    from .serving import ServerPool

    pool = ServerPool(runs, tmp_path_factory)
    yield pool
    pool.close()
