"""The command line end to end on the packaged sample, and its one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from seqapps.cli import main

from .conftest import TINY


def seqapps(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "seqapps.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_train_evaluate_export_predict(tmp_path):
    run_dir, out = tmp_path / "run", tmp_path / "models"
    r = seqapps("train", "sentiment", *TINY, "--run-dir", str(run_dir))
    assert r.returncode == 0, r.stderr
    r = seqapps("evaluate", str(run_dir))
    assert r.returncode == 0, r.stderr
    assert "macro_recall" in r.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ["macro_recall", "macro_f1", "accuracy", "train_samples_per_second", "wall_seconds"]:
        assert isinstance(metrics[key], float)
    assert (run_dir / "confusion_matrix_test.png").exists()
    r = seqapps("export", str(run_dir), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(str(out / "1"))
    r = seqapps("predict", str(out), "what a great day", "so sad today")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 2
    r = seqapps("predict", str(out / "1"), stdin="line one\n\nline two\n")
    assert [line.split("\t")[2] for line in r.stdout.strip().splitlines()] == [
        "line one",
        "line two",
    ]


def test_pipeline_module(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.sentiment",
            *TINY,
            "epochs=1",
            "--run-dir",
            str(tmp_path / "run"),
            "--out",
            str(tmp_path / "models"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "models" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "run" / "metrics.json").exists()


def test_ner_pipeline_prints_per_type_scores_and_entities(tmp_path):
    tiny = ["units=8", "word_embedding_dim=8", "char_features=8", "epochs=1"]
    dirs = ["--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "models")]
    r = subprocess.run(
        [sys.executable, "-m", "pipelines.ner", *tiny, *dirs],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "precision     recall         f1    support" in r.stdout
    assert any(line.split()[:1] == ["PER"] for line in r.stdout.splitlines())
    r = seqapps("predict", str(tmp_path / "models"), "John lives in New York")
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip("\n").split("\t")[1].startswith("John/")


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "sentiment", "epoch=2"], "unknown key epoch; valid keys: data,"),
        (["train", "sentiment", "cell=rnn"], "cell='rnn' is not one of: simple_rnn, lstm, gru"),
        (["train", "sentiment", "data=/no/such/dir"], "/no/such/dir: no such file or directory"),
        (["train", "parsing"], "unknown task 'parsing'; available: sentiment, ner"),
        (["train", "ner", "head=hmm"], "head='hmm' is not one of: crf, softmax"),
        (["evaluate", "/no/run"], "not a run directory"),
        (["predict", "/no/model", "hi"], "no SavedModel here"),
    ],
)
def test_errors_are_one_line(args, message, capsys, tmp_path):
    if args[0] == "train":
        args = [*args, "--run-dir", str(tmp_path / "r")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqapps: error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_data_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "tweets.csv"
    bad.write_bytes(b"text,label\nfine,positive\nbad \xff byte,negative\n")
    assert main(["train", "sentiment", f"data={bad}", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: not valid UTF-8" in err


def test_resume_after_sigkill(tmp_path):
    """A run killed with SIGKILL resumes from its backup when the same command is rerun."""
    import signal
    import time

    run_dir = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "seqapps.cli",
        "train",
        "sentiment",
        *TINY,
        "epochs=6",
        "--run-dir",
        str(run_dir),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = run_dir / "history.csv"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) >= 2:  # an epoch is done
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "train_stats.json").exists(), "the run finished before the kill"
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "Epoch 1/6" not in r.stdout  # it did not start over
    epochs = [int(line.split(",")[0]) for line in history.read_text().splitlines()[1:]]
    assert epochs[-1] == 5 and epochs == sorted(set(epochs))
