"""seqapps tune: Optuna search over a task's declared space, on validation, resumable."""

import csv

import pytest

optuna = pytest.importorskip("optuna")

from seqapps import cli  # noqa: E402
from seqapps import config as config_lib  # noqa: E402
from seqapps.errors import ConfigError  # noqa: E402
from seqapps.space import Choice, FloatRange, IntRange, search_space  # noqa: E402
from seqapps.tasks import TASKS  # noqa: E402
from seqapps.tasks.sentiment import SentimentConfig, SentimentTask  # noqa: E402
from seqapps.tune import STUDY, tune  # noqa: E402

# Tiny trials: 96 tweets, 8 units, one epoch; the searched keys stay free.
FIXED = ["max_train_samples=96", "max_eval_samples=64", "units=8", "max_tokens=500", "epochs=1"]


def rows(out) -> list[dict]:
    with (out / "trials.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_declares_a_search_space_of_its_own_fields(name):
    config_class = TASKS[name].config_class
    space = search_space(config_class)
    assert {"learning_rate", "batch_size", "units", "dropout"} <= set(space)
    defaults = config_class()
    for key, param in space.items():
        assert isinstance(param, IntRange | FloatRange | Choice), key
        value = getattr(defaults, key)
        if isinstance(param, Choice):
            assert all(type(o) is type(value) or value is None for o in param.options), key
        else:
            assert param.low < param.high, key


@pytest.mark.slow  # trains one to three tiny trials: make test-all
def test_search_writes_trials_best_config_and_plot(tmp_path, capsys):
    out = tmp_path / "search"
    assert (
        cli.main(
            ["tune", "sentiment", *FIXED, "--trials", "3", "--budget", "10", "--out", str(out)]
        )
        == 0
    )
    assert "retrain: seqapps train sentiment --config" in capsys.readouterr().out
    table = rows(out)
    assert [r["trial"] for r in table] == ["0", "1", "2"]
    assert all(r["state"] in ("complete", "pruned") for r in table)
    assert "units" not in table[0] and "embedding_dim" in table[0]  # fixed keys are not searched
    best = config_lib.resolve(SentimentConfig, out / "best.yaml")  # what `train --config` reads
    assert best.units == 8 and best.max_train_samples == 96
    winner = max(
        (r for r in table if r["val_macro_recall"]), key=lambda r: float(r["val_macro_recall"])
    )
    assert best.embedding_dim == int(winner["embedding_dim"])  # selected on validation
    assert (out / "tuning.png").stat().st_size > 0


@pytest.mark.slow  # trains one to three tiny trials: make test-all
def test_a_killed_search_resumes_and_reruns_the_interrupted_trial(tmp_path):
    out = tmp_path / "search"
    tune(SentimentTask, out, overrides=FIXED, trials=1, budget_minutes=10)
    # A kill mid-trial leaves it RUNNING in the journal, its run directory half-written.
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(out / "study.journal")))
    study = optuna.load_study(study_name=STUDY, storage=storage)
    killed = study.ask({"embedding_dim": optuna.distributions.IntDistribution(32, 200, log=True)})
    result = tune(SentimentTask, out, overrides=FIXED, trials=2, budget_minutes=10)
    states = {r["trial"]: r["state"] for r in rows(out)}
    assert states[str(killed.number)] == "fail"  # the interrupted attempt...
    rerun = [t for t in study.get_trials() if t.user_attrs.get("resumes") == killed.number]
    assert len(rerun) == 1 and rerun[0].params["embedding_dim"] == killed.params["embedding_dim"]
    assert result["trials"] == 3  # 1 before the kill, the killed one, its re-run


@pytest.mark.slow  # trains one to three tiny trials: make test-all
def test_other_settings_in_the_same_directory_are_refused(tmp_path):
    out = tmp_path / "search"
    tune(SentimentTask, out, overrides=FIXED, trials=1, budget_minutes=10)
    with pytest.raises(ConfigError, match="search with other settings"):
        tune(SentimentTask, out, overrides=[*FIXED, "cell=gru"], trials=1, budget_minutes=10)


def test_no_budget_left_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no trial finished within the budget"):
        tune(SentimentTask, tmp_path / "s", overrides=FIXED, trials=3, budget_minutes=0)


def test_everything_fixed_is_a_clear_error(tmp_path):
    fixed = [f"{k}={getattr(SentimentConfig(), k)}" for k in search_space(SentimentConfig)]
    with pytest.raises(ConfigError, match="nothing to tune"):
        tune(SentimentTask, tmp_path / "s", overrides=fixed, trials=1)


def test_a_broken_starting_config_stops_the_search_at_once(tmp_path, monkeypatch):
    """A wrong data path must not fail trial after trial for the whole budget."""
    from seqapps.errors import DataError

    def broken(*args, **kwargs):
        raise DataError("typo.csv", "no such file or directory")

    monkeypatch.setattr("seqapps.trainer.train", broken)
    with pytest.raises(DataError, match="typo.csv"):
        tune(SentimentTask, tmp_path / "s", overrides=FIXED, trials=5, budget_minutes=10)
