"""Resume that loses nothing and changes nothing; failures that say so (issue #15.4, #15.6)."""

import csv
import errno
import json

import keras
import numpy as np
import pytest

from seqapps import cli
from seqapps.callbacks import read_backup
from seqapps.errors import ConfigError, TrainingError
from seqapps.rundir import RunLock, atomic_write, check_writable
from seqapps.trainer import train

from .test_trainer import Interrupt, make_task

# Dropout in the RNN and word dropout in the data stream: both random streams must resume.
RANDOM = ["epochs=3", "dropout=0.3", "word_dropout=0.1", "seed=7"]


def history_rows(run_dir) -> list[dict]:
    with (run_dir / "history.csv").open() as f:
        return list(csv.DictReader(f))


def weights(run_dir) -> list[np.ndarray]:
    return keras.models.load_model(run_dir / "best.keras", compile=False).get_weights()


class Poison(keras.callbacks.Callback):
    """Makes the weights NaN at the start of epoch ``at``, as a diverging run would."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.epoch == self.at and batch == 0:
            kernel = self.model.trainable_variables[1]
            kernel.assign(np.full(kernel.shape, np.nan, kernel.dtype))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("whole")
    train(make_task(*RANDOM), run_dir)
    return run_dir


@pytest.mark.slow  # trains two or three times: make test-all
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(uninterrupted, tmp_path):
    with pytest.raises(RuntimeError, match="killed"):
        train(make_task(*RANDOM), tmp_path, callbacks=[Interrupt(at=0)])
    train(make_task(*RANDOM), tmp_path)
    assert history_rows(tmp_path) == history_rows(uninterrupted)  # every epoch's numbers
    for got, want in zip(weights(tmp_path), weights(uninterrupted), strict=True):
        np.testing.assert_array_equal(got, want)
    stats = json.loads((tmp_path / "train_stats.json").read_text())
    assert stats["epochs_run"] == 3  # both processes' epochs, not the second one's only


@pytest.mark.slow  # trains two or three times: make test-all
def test_kill_while_writing_the_backup_keeps_the_previous_one(uninterrupted, tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match="killed"):
        train(make_task(*RANDOM), tmp_path, callbacks=[Interrupt(at=0)])
    whole = read_backup(tmp_path / "backup")
    assert whole is not None and whole.epoch == 1

    def killed_mid_write(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"\x89HDF\r\n")  # a truncated weights file
        raise KeyboardInterrupt  # the kill

    monkeypatch.setattr(keras.Model, "save_weights", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        train(make_task(*RANDOM), tmp_path)
    monkeypatch.undo()
    assert read_backup(tmp_path / "backup") == whole  # the previous backup, still in use
    assert not list((tmp_path / "backup").glob(".*tmp*"))  # the partial file is gone
    train(make_task(*RANDOM), tmp_path)  # the rerun resumes from epoch 1 and finishes
    assert history_rows(tmp_path) == history_rows(uninterrupted)


def test_full_disk_during_training_is_one_line(tmp_path, monkeypatch, capsys):
    def full(self, filepath, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(filepath))

    monkeypatch.setattr(keras.Model, "save_weights", full)
    args = ["train", "sentiment", "--run-dir", str(tmp_path), "max_train_samples=96"]
    assert cli.main([*args, "units=8", "embedding_dim=8", "epochs=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0], err


def test_disk_without_room_is_refused_up_front(tmp_path, monkeypatch):
    class Usage:
        free = 1000

    monkeypatch.setattr("shutil.disk_usage", lambda _: Usage)
    with pytest.raises(ConfigError, match="MB free on this disk"):
        check_writable(tmp_path, 10_000_000)
    with pytest.raises(ConfigError, match="MB free on this disk"):
        train(make_task("epochs=1"), tmp_path / "run")
    assert not (tmp_path / "run" / "backup").exists()


def test_unwritable_run_directory_is_one_line(tmp_path, monkeypatch):
    def denied(*args, **kwargs):  # chmod cannot stop root, who runs CI: fake the refusal
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("seqapps.rundir.tempfile.TemporaryFile", denied)
    with pytest.raises(ConfigError, match="cannot write here \\(Permission denied\\)"):
        train(make_task("epochs=1"), tmp_path / "run")


@pytest.mark.slow  # trains two or three times: make test-all
def test_failed_start_does_not_block_the_corrected_command(tmp_path):
    from seqapps.errors import DataError

    with pytest.raises(DataError, match="no such file"):
        train(make_task("epochs=1", f"data={tmp_path / 'typo.csv'}"), tmp_path / "run")
    train(make_task("epochs=1"), tmp_path / "run")  # refused as "different settings" before
    assert (tmp_path / "run" / "train_stats.json").exists()


@pytest.mark.slow  # trains two or three times: make test-all
def test_changed_data_files_are_refused_like_a_changed_config(tmp_path):
    data = tmp_path / "tweets.csv"
    rows = ["text,label"] + [
        f"tweet number {i} is {'good' if i % 2 else 'bad'},{i % 2}" for i in range(90)
    ]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    settings = ["epochs=2", f"data={data}"]
    with pytest.raises(RuntimeError, match="killed"):
        train(make_task(*settings), tmp_path / "run", callbacks=[Interrupt(at=0)])
    data.write_text("\n".join(rows[:-5]) + "\n", encoding="utf-8")  # edited since
    with pytest.raises(ConfigError, match=r"files of data \(.*tweets.csv\) changed"):
        train(make_task(*settings), tmp_path / "run")


def test_second_train_on_the_same_run_directory_is_refused(tmp_path):
    tmp_path.joinpath("run").mkdir()
    with RunLock(tmp_path / "run"), pytest.raises(ConfigError, match="in use by a train"):
        train(make_task("epochs=1"), tmp_path / "run")
    train(make_task("epochs=1"), tmp_path / "run")  # free again once the holder is done


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path):
    path = tmp_path / "best.keras"
    path.write_bytes(b"old")

    def fail(tmp):
        tmp.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old" and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    "at, best_kept", [(0, False), pytest.param(1, True, marks=pytest.mark.slow)]
)
def test_nan_loss_fails_the_run_without_a_nan_best_model(tmp_path, at, best_kept):
    with pytest.raises(TrainingError, match=f"epoch {at + 1}, batch 1: the loss is nan"):
        train(make_task("epochs=3"), tmp_path, callbacks=[Poison(at)])
    assert (tmp_path / "best.keras").exists() == best_kept
    assert not (tmp_path / "train_stats.json").exists()
    if best_kept:
        assert all(np.isfinite(w).all() for w in weights(tmp_path))
        assert read_backup(tmp_path / "backup").epoch == 1  # the NaN epoch is not backed up


def test_nan_loss_is_a_one_line_error_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("seqapps.trainer.standard_callbacks", _with_poison(monkeypatch))
    args = ["train", "sentiment", "--run-dir", str(tmp_path), "max_train_samples=96"]
    assert cli.main([*args, "units=8", "embedding_dim=8", "epochs=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the loss is nan" in err[0] and "no best.keras" in err[0], err


def _with_poison(monkeypatch):
    from seqapps import callbacks

    original = callbacks.standard_callbacks

    def poisoned(*args, **kwargs):
        return [Poison(0), *original(*args, **kwargs)]

    return poisoned


@pytest.mark.xdist_group("sentiment")
@pytest.mark.parametrize("command", ["evaluate", "export"])
def test_a_diverged_best_model_is_refused_not_scored(runs, tmp_path, capsys, command):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(runs.get("sentiment").run_dir, run_dir)
    (run_dir / "metrics.json").unlink(missing_ok=True)  # other tests may have evaluated it
    model = keras.models.load_model(run_dir / "best.keras", compile=False)
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    model.save(run_dir / "best.keras")
    extra = ["--out", str(tmp_path / "models")] if command == "export" else []
    assert cli.main([command, str(run_dir), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NaN or infinite" in err[0], err
    assert not (run_dir / "metrics.json").exists() and not (tmp_path / "models").exists()


def test_input_fingerprint_covers_glob_patterns(tmp_path):
    from seqapps.rundir import input_fingerprint

    for i in range(2):
        (tmp_path / f"train-{i}.csv").write_text(f"text,label\nrow {i},0\n")
    pattern = str(tmp_path / "train-*.csv")
    before = input_fingerprint({"train": pattern})
    assert before["train"]["files"] == 2
    (tmp_path / "train-1.csv").write_text("text,label\nedited,1\n")
    assert input_fingerprint({"train": pattern})["train"]["sha256"] != before["train"]["sha256"]


@pytest.mark.slow  # trains twice: make test-all
def test_a_kill_between_the_csv_row_and_the_first_backup_leaves_no_duplicate_row(tmp_path):
    import shutil

    with pytest.raises(RuntimeError, match="killed"):
        train(make_task("epochs=2"), tmp_path, callbacks=[Interrupt(at=0)])
    shutil.rmtree(tmp_path / "backup")  # as if killed before epoch 0's backup was written
    train(make_task("epochs=2"), tmp_path)
    assert [r["epoch"] for r in history_rows(tmp_path)] == ["0", "1"]


def test_disk_errors_say_epochs_are_kept_only_for_training():
    from seqapps.rundir import disk_error_message

    e = OSError(errno.EACCES, "Permission denied", "data.csv")
    assert disk_error_message(e) == "data.csv: Permission denied"
    assert "finished epochs are kept" in disk_error_message(e, training=True)
    assert disk_error_message(OSError(errno.ENOENT, "No such file")) is None
