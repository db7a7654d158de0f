"""The command line on the session's tiny runs, in process, and its one-line errors.

One test starts the real process (exit status, stdin); the rest call ``seqapps.cli.main``.
"""

import io
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from seqapps.cli import main

from .conftest import ROOT, TINY, png_is_a_drawing, tiny_overrides

PER_TYPE_HEADER = ["precision", "recall", "f1", "support"]


def seqapps(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the ``seqapps`` console script (``python -m seqapps.cli`` where none is installed).

    PYTHONPATH puts this checkout first, ahead of wherever the package was installed from.
    """
    script = Path(sys.executable).with_name("seqapps")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "seqapps.cli"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [*command, *args], input=stdin, capture_output=True, text=True, env=env, timeout=600
    )


@pytest.mark.slow  # a subprocess per command, 24 s on 2 cores: make test-all
@pytest.mark.xdist_group("sentiment")  # the worker that trains the sentiment session run
def test_console_script_smoke(runs):
    """The one subprocess: ``seqapps predict`` as a process, inputs from stdin."""
    r = seqapps("predict", str(runs.export("sentiment")), stdin="line one\n\nline two\n")
    assert r.returncode == 0, r.stderr
    assert [line.split("\t")[2] for line in r.stdout.strip().splitlines()] == [
        "line one",
        "line two",
    ]


def test_console_script_entry_point():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'seqapps = "seqapps.cli:main"' in text


@pytest.mark.xdist_group("sentiment")
def test_evaluate_export_predict_in_process(runs, tmp_path, capsys, monkeypatch):
    run_dir, out = runs.get("sentiment").run_dir, tmp_path / "models"
    capsys.readouterr()  # the session run may have just trained here, printing its epochs
    assert main(["evaluate", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("test metrics:\n") and "  macro_recall  " in printed
    assert printed.rstrip().endswith(f"metrics written to {run_dir / 'metrics.json'}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ["macro_recall", "macro_f1", "accuracy", "train_samples_per_second", "wall_seconds"]:
        assert isinstance(metrics[key], float)
    png_is_a_drawing(run_dir / "confusion_matrix_test.png")
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"{out / '1'}\n"
    assert main(["predict", str(out), "what a great day", "so sad today"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[2] for line in lines] == ["what a great day", "so sad today"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("line one\n\nline two\n"))
    assert main(["predict", str(out / "1")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[2] for line in lines] == ["line one", "line two"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["predict", str(out)]) == 2
    assert "predict: no inputs given" in capsys.readouterr().err


def test_run_command_trains_evaluates_and_exports(tmp_path, capsys):
    run_dir, out = tmp_path / "run", tmp_path / "models"
    tiny = tiny_overrides("forecasting")
    assert main(["run", "forecasting", *tiny, "--run-dir", str(run_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"training forecasting into {run_dir}"
    assert f"best model: {run_dir / 'best.keras'}" in printed
    assert "test metrics:" in printed and printed[-1] == str(out / "1")
    assert any(line.startswith("metrics written to ") and "per-horizon" in line for line in printed)
    assert (out / "1" / "saved_model.pb").is_file() and (run_dir / "metrics.json").is_file()
    # A finished run is not trained again.
    assert main(["train", "forecasting", *tiny, "--run-dir", str(run_dir)]) == 2
    assert "this run is complete" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["sentiment", "ner", "translation", "captioning", "forecasting"])
def test_pipeline_modules_run_their_task(name, monkeypatch):
    """``python -m pipelines.NAME ARGS`` is ``seqapps run NAME ARGS``."""
    calls = []
    monkeypatch.setattr("seqapps.cli.main", lambda argv: calls.append(argv) or 0)
    monkeypatch.setattr(sys, "argv", [f"pipelines/{name}.py", "epochs=1", "--run-dir", "r"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module(f"pipelines.{name}", run_name="__main__")
    assert exit_.value.code == 0
    assert calls == [["run", name, "epochs=1", "--run-dir", "r"]]


@pytest.mark.xdist_group("ner")
def test_ner_evaluate_prints_per_type_scores_and_predict_entities(runs, capsys):
    run = runs.get("ner")
    runs.metrics("ner")
    assert main(["evaluate", str(run.run_dir)]) == 0
    printed = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(printed) if line.split() == PER_TYPE_HEADER)
    types = [line.split()[0] for line in printed[header + 1 : header + 5]]
    assert sorted(types) == ["LOC", "MISC", "ORG", "PER"]
    assert main(["predict", str(runs.export("ner")), "John lives in New York"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    entities, tagged = line.split("\t")
    assert [t.rsplit("/", 1)[0] for t in tagged.split()] == "John lives in New York".split()


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


@pytest.mark.slow
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
    # An epoch is done once its backup is: the backup is written last, after history.csv's
    # row (a kill between the two repeats that epoch; tests/test_resume.py covers it).
    backed_up = run_dir / "backup" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if backed_up.exists():
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
