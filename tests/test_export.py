"""Export to TF Serving's layout, on the session's tiny sentiment run."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from seqapps.errors import ConfigError
from seqapps.export import export, load_export, predict, resolve_export, versions
from seqapps.runs import load_run

from .conftest import SENTENCES

# Under pytest-xdist (make test), the tests of the session's sentiment run share a worker.
pytestmark = pytest.mark.xdist_group("sentiment")

TEXTS = SENTENCES["sentiment"]


@pytest.fixture
def run_dir(runs):
    """The session's tiny sentiment run, evaluated (read only)."""
    runs.metrics("sentiment")
    return runs.get("sentiment").run_dir


def test_round_trip_on_raw_strings(runs, run_dir):
    from seqapps.data.text import encode_texts

    task, model = load_run(run_dir)
    ids = encode_texts(task.vectorizer, tf.constant(TEXTS), task.cfg.max_length).to_tensor()
    ref = model(ids, training=False).numpy()
    loaded = runs.loaded("sentiment")  # the session export, loaded once
    out = loaded.serving_default(tf.constant(TEXTS))
    np.testing.assert_allclose(out["probabilities"].numpy(), ref, rtol=1e-5, atol=1e-6)
    expected = [task.label_names[i] for i in ref.argmax(axis=1)]
    assert [s.decode() for s in out["label"].numpy()] == expected
    # TF Serving calls the signature by name.
    sig = loaded.signatures["serving_default"]
    np.testing.assert_allclose(
        sig(texts=tf.constant(TEXTS))["probabilities"], ref, rtol=1e-5, atol=1e-6
    )


def test_versions_are_new_and_never_overwritten(run_dir, tmp_path):
    root = tmp_path / "sentiment"
    (root / "1").mkdir(parents=True)
    (root / "1" / "keep.txt").write_text("an older model")
    assert export(run_dir, root).name == "2"
    assert export(run_dir, root).name == "3"
    assert (root / "1" / "keep.txt").read_text() == "an older model"
    assert versions(root) == [1, 2, 3]
    assert not [p for p in os.listdir(root) if p.startswith(".tmp")]
    meta = root / "3" / "assets.extra" / "seqapps"
    assert json.loads((meta / "export.json").read_text())["task"] == "sentiment"
    assert "macro_recall" in json.loads((meta / "metrics.json").read_text())
    assert resolve_export(root) == root / "3"


def test_failed_export_leaves_nothing(run_dir, tmp_path, monkeypatch):
    from seqapps.tasks.sentiment import SentimentTask

    def broken(self, model):
        raise RuntimeError("disk full")

    monkeypatch.setattr(SentimentTask, "export_archive", broken)
    root = tmp_path / "sentiment"
    with pytest.raises(RuntimeError, match="disk full"):
        export(run_dir, root)
    assert list(root.iterdir()) == []


def test_exported_tree_is_readable_by_other_users(run_dir, tmp_path):
    # A version directory came from mkdtemp, drwx------: a server under another user could
    # not read it.
    old = os.umask(0o022)
    try:
        path = export(run_dir, tmp_path / "sentiment")
    finally:
        os.umask(old)
    modes = {p: p.stat().st_mode & 0o777 for p in [path, *path.rglob("*")]}
    assert modes[path] == 0o755
    assert all(m == (0o755 if p.is_dir() else 0o644) for p, m in modes.items())


def test_next_export_removes_what_a_killed_export_left(run_dir, tmp_path):
    import subprocess
    import sys

    root = tmp_path / "sentiment"
    root.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (root / f".tmp-export-{dead}-abc" / "variables").mkdir(parents=True)  # killed mid-write
    alive = root / f".tmp-export-{os.getpid()}-xyz"  # an export still running (this process)
    alive.mkdir()
    assert export(run_dir, root).name == "1"
    assert sorted(p.name for p in root.iterdir()) == sorted(["1", alive.name])


def test_predict_lines(run_dir, tmp_path):
    root = tmp_path / "sentiment"
    export(run_dir, root)
    lines = predict(root, TEXTS[:2])
    assert len(lines) == 2
    label, scores, text = lines[0].split("\t")
    assert label in ("negative", "neutral", "positive") and text == TEXTS[0]
    probs = [float(s.split("=")[1]) for s in scores.split()]
    assert abs(sum(probs) - 1) < 2e-3
    task, _, _ = load_export(root)
    assert task.name == "sentiment"


def test_not_an_export(tmp_path):
    with pytest.raises(ConfigError, match="no SavedModel here"):
        resolve_export(tmp_path)
