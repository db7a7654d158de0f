"""Hyperparameter search with Optuna: ``seqapps tune TASK ... --trials N --budget MINUTES``.

Each trial trains one configuration with :func:`seqapps.trainer.train` into
``OUT/trials/<n>``, drawn by Optuna's TPE sampler from the task's search space
(:func:`seqapps.space.search_space`, declared beside each config class) on top of the
settings given (``--config``, then ``key=value``; a ``key=value`` setting is fixed, not
searched, while the config file's values are only the starting point).
Trial 0 is the starting configuration itself, so the search can only improve on it (on
validation). A trial's score is the best value of the task's ``monitor`` metric on the
**validation** split over its epochs; the test split is never read. Bad trials are stopped
early: after each epoch (from the second) the trial reports its monitor value and Optuna's
median pruner stops it when it is worse than the median of the finished trials at the same
epoch (from trial 1 on, trial 0 being the first).

The search stops after ``trials`` trials or once ``budget`` minutes of search have been
spent (the running trial stops at its next epoch end and keeps its best epoch). It is
resumable: the study lives in ``OUT/study.journal`` (Optuna's append-only journal file, safe
against a kill mid-write); rerunning the same command continues it, and a trial a kill
interrupted is re-run with the same settings, resuming its own run directory from its
backup. Time spent before a kill counts against the budget.

Outputs in ``OUT``: ``trials.csv`` (one row per trial: state, value, epochs, seconds,
settings), ``best.yaml`` (the best trial's full config: ``seqapps train TASK --config
OUT/best.yaml`` retrains it), ``tuning.png`` (value per trial and best so far) and
``tune.yaml`` (what was searched, so a rerun with other settings is refused).

Why Optuna rather than KerasTuner: it is framework-neutral (the tuner calls our own
``train``, so resumable run directories, the NaN guard and the data pipeline stay one code
path), its journal storage makes a study survive ``kill -9``, and it is actively released
(5.0, 2026); KerasTuner wants to own the model-building and fit loop.

Training length is searched as ``train_steps`` (optimisation steps, so the range suits any
data size); when the starting configuration sets ``epochs`` (which wins over
``train_steps``), that dimension is left out of the search.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import yaml

from seqapps import config as config_lib
from seqapps.errors import ConfigError, SeqappsError
from seqapps.rundir import RunLock, atomic_write, atomic_write_json
from seqapps.space import Choice, FloatRange, IntRange, Param, search_space
from seqapps.task import Task

STUDY = "seqapps"
# Failed trials in a row after which the search stops: the fault is then the data or a
# fixed setting, not the sampled ones (else a wrong data path would fail for the budget).
MAX_FAILURES_IN_A_ROW = 5


def _optuna() -> Any:
    try:
        import optuna  # noqa: PLC0415  (an extra: pip install seqapps[tune])
    except ImportError:
        raise ConfigError(
            "seqapps tune needs Optuna: pip install 'seqapps[tune]' (or pip install optuna)"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _suggest(trial: Any, name: str, param: Param) -> Any:
    if isinstance(param, IntRange):
        return trial.suggest_int(name, param.low, param.high, step=param.step, log=param.log)
    if isinstance(param, FloatRange):
        return trial.suggest_float(name, param.low, param.high, log=param.log)
    if isinstance(param, Choice):
        return trial.suggest_categorical(name, list(param.options))
    raise TypeError(f"{name}: not a search-space entry: {param!r}")


def _inside(value: Any, param: Param) -> bool:
    """Whether ``value`` is a point of ``param`` (so it can seed the search)."""
    if isinstance(param, Choice):
        return value in param.options
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return param.low <= value <= param.high


class _Epochs(keras.callbacks.Callback):
    """Reports each epoch's monitor value to Optuna, prunes, and enforces the budget."""

    def __init__(self, trial: Any, monitor: str, deadline: float, clock: _Clock) -> None:
        super().__init__()
        self.trial, self.monitor, self.deadline, self.clock = trial, monitor, deadline, clock
        self.pruned = False
        self.out_of_time = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:  # noqa: D102
        self.clock.save()
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(float(value)):
            self.trial.report(float(value), epoch)
            if self.trial.should_prune():
                self.pruned = True
                self.model.stop_training = True
        if time.monotonic() >= self.deadline:
            self.out_of_time = True
            self.model.stop_training = True


@dataclasses.dataclass
class _Clock:
    """Search time spent, kept in ``OUT/budget.json`` so a resumed search counts it."""

    path: Path
    spent_before: float = 0.0
    started: float = dataclasses.field(default_factory=time.monotonic)

    @classmethod
    def load(cls, path: Path) -> _Clock:
        spent = json.loads(path.read_text(encoding="utf-8"))["seconds"] if path.is_file() else 0.0
        return cls(path, float(spent))

    @property
    def spent(self) -> float:
        return self.spent_before + time.monotonic() - self.started

    def save(self) -> None:
        atomic_write_json(self.path, {"seconds": self.spent})


def _best_monitor(run_dir: Path, monitor: str, mode: str) -> tuple[float | None, int]:
    """The best ``monitor`` value in a trial's history.csv, and the number of epochs run."""
    path = run_dir / "history.csv"
    if not path.is_file():
        return None, 0
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    values = [float(r[monitor]) for r in rows if r.get(monitor) not in (None, "")]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None, len(rows)
    return (max(values) if mode == "max" else min(values)), len(rows)


def _check_same_search(out: Path, record: dict[str, Any]) -> None:
    path = out / "tune.yaml"
    if path.is_file():
        old = yaml.safe_load(path.read_text(encoding="utf-8"))
        if old != record:
            raise ConfigError(
                f"{path}: this directory holds a search with other settings; use a new --out, "
                "or the same task, config and key=value settings to resume"
            )
    else:
        atomic_write(
            path, lambda tmp: tmp.write_text(yaml.safe_dump(record, sort_keys=False), "utf-8")
        )


def _space_record(space: dict[str, Param]) -> dict[str, str]:
    return {k: repr(v) for k, v in space.items()}


def tune(
    task_class: type[Task],
    out: str | Path,
    *,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    trials: int = 20,
    budget_minutes: float = 60.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Search the task's hyperparameters on its validation split; see the module docstring.

    Args:
        task_class: the task, e.g. :class:`seqapps.tasks.ner.NerTask`.
        out: the search directory (created; rerun the same call to resume).
        config_file: a YAML config the trials start from (``--config``).
        overrides: ``key=value`` settings; a searched key given here is fixed instead (the
            config file's values are not fixed).
        trials: the most trials to run (counting those of earlier, interrupted runs).
        budget_minutes: search time after which no trial starts and the running one stops
            at its next epoch end.
        seed: the sampler's seed (the trials' own ``seed`` setting is left as configured).

    Returns:
        ``{"best_value", "best_params", "best_trial", "best_run_dir", "monitor", "trials",
        "seconds"}``; ``best_run_dir`` holds the best trial's trained run.

    Raises:
        ConfigError: Optuna is not installed; the directory holds another search; a setting
            is invalid; no trial finished.
    """
    optuna = _optuna()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = config_lib.resolve(task_class.config_class, config_file, list(overrides))
    # Only key=value settings are fixed: a config file is where the search starts from
    # (benchmark configs list every key; fixing them all would leave nothing to search).
    fixed = set(config_lib.parse_overrides(list(overrides)))
    space = {k: v for k, v in search_space(task_class.config_class).items() if k not in fixed}
    if base.epochs is not None:  # epochs wins over train_steps: sampling it would do nothing
        space.pop("train_steps", None)
    if not space:
        raise ConfigError(f"{task_class.name}: every searched setting is fixed; nothing to tune")
    probe = task_class(base)
    monitor, mode = probe.monitored()
    record = {
        "task": task_class.name,
        "config": dataclasses.asdict(base),
        "space": _space_record(space),
        "monitor": monitor,
        "sampler_seed": seed,
    }
    with RunLock(out):
        _check_same_search(out, record)
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(str(out / "study.journal")))
        study = optuna.create_study(
            study_name=STUDY,
            storage=storage,
            load_if_exists=True,
            direction="maximize" if mode == "max" else "minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            # From the first finished trial on (trial 0, the starting configuration): on 2
            # cores a slow trial can take most of a 60-minute budget, and waiting for three
            # finished trials before pruning let one run unchecked (TweetEval: a 2-layer
            # trial at 3 min an epoch for 14 epochs). The first epoch is never judged.
            pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1),
        )
        _rerun_interrupted(study, optuna)
        if not study.get_trials(deepcopy=False):  # trial 0: the starting configuration
            start = {k: getattr(base, k) for k, p in space.items() if _inside(getattr(base, k), p)}
            study.enqueue_trial(start)
        clock = _Clock.load(out / "budget.json")
        deadline = time.monotonic() + budget_minutes * 60 - clock.spent_before
        failures: list[str] = []
        while _finished(study, optuna) < trials and time.monotonic() < deadline:
            error = _run_trial(
                study, optuna, task_class, base, space, out, monitor, mode, deadline, clock
            )
            clock.save()
            keras.backend.clear_session()  # trials would otherwise pile up TF graphs
            failures = [*failures, error] if error else []
            if len(failures) >= MAX_FAILURES_IN_A_ROW:
                raise ConfigError(
                    f"{out}: {len(failures)} trials in a row failed; the last: {failures[-1]}"
                )
        clock.save()
    return _write_results(study, optuna, task_class, base, out, monitor, clock.spent)


def _finished(study: Any, optuna: Any) -> int:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def _rerun_interrupted(study: Any, optuna: Any) -> None:
    """Fail the trials a kill left RUNNING and queue their settings again (same run dir)."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        # Optuna has no public call to fail a trial of a dead process; the storage's is it.
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        # A re-run of a re-run keeps the first attempt's directory (and its backup).
        first = trial.user_attrs.get("resumes", trial.number)
        study.enqueue_trial(trial.params, user_attrs={"resumes": first})


def _run_trial(
    study: Any,
    optuna: Any,
    task_class: type[Task],
    base: Any,
    space: dict[str, Param],
    out: Path,
    monitor: str,
    mode: str,
    deadline: float,
    clock: _Clock,
) -> str | None:
    """Run one trial; return None, or the error that failed it.

    Raises:
        SeqappsError: the starting configuration (trial 0) itself fails: the data or a
            fixed setting is wrong, and no sampled setting can fix that.
    """
    from seqapps.trainer import train  # late: importing the trainer loads TensorFlow

    trial = study.ask()
    params = {name: _suggest(trial, name, param) for name, param in space.items()}
    number = trial.user_attrs.get("resumes", trial.number)  # a re-run resumes its directory
    run_dir = out / "trials" / f"{number:03d}"
    trial.set_user_attr("run_dir", str(run_dir))
    try:
        cfg = dataclasses.replace(base, **params)
    except ConfigError as e:  # a combination the config refuses: not a result, a skip
        trial.set_user_attr("error", str(e))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return str(e)
    epochs = _Epochs(trial, monitor, deadline, clock)
    print(f"trial {trial.number}: {_describe(params)}", flush=True)
    try:
        if not (run_dir / "train_stats.json").exists():  # else it finished before a kill
            train(task_class(cfg), run_dir, callbacks=[epochs])
    except SeqappsError as e:
        # Diverged (TrainingError), or settings the data cannot support (a window longer
        # than the validation period): a bad result of these settings, not of the search.
        trial.set_user_attr("error", str(e))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        print(f"trial {trial.number}: failed: {e}", flush=True)
        if trial.number == 0:
            raise
        return str(e)
    value, n_epochs = _best_monitor(run_dir, monitor, mode)
    trial.set_user_attr("epochs", n_epochs)
    if value is None:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    elif epochs.pruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, value)
    shown = "none" if value is None else f"{value:.4f}"
    state = "pruned" if epochs.pruned else "stopped by the budget" if epochs.out_of_time else "done"
    print(f"trial {trial.number}: {monitor} {shown} ({state}, {n_epochs} epochs)", flush=True)
    return None if value is not None else f"no finite {monitor} in {run_dir / 'history.csv'}"


def _describe(params: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _write_results(
    study: Any,
    optuna: Any,
    task_class: type[Task],
    base: Any,
    out: Path,
    monitor: str,
    seconds: float,
) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    names = sorted({k for t in trials for k in t.params})
    rows = [
        {
            "trial": t.number,
            "state": t.state.name.lower(),
            f"val_{monitor.removeprefix('val_')}": "" if t.value is None else t.value,
            "epochs": t.user_attrs.get("epochs", ""),
            "seconds": ""
            if t.datetime_complete is None or t.datetime_start is None
            else round((t.datetime_complete - t.datetime_start).total_seconds(), 1),
            **{k: t.params.get(k, "") for k in names},
        }
        for t in trials
    ]

    def write_csv(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["trial"])
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(out / "trials.csv", write_csv)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ConfigError(f"{out}: no trial finished within the budget; raise --budget")
    best = study.best_trial
    cfg = dataclasses.replace(base, **best.params)
    text = yaml.safe_dump(
        {"task": task_class.name, **dataclasses.asdict(cfg)}, sort_keys=False, allow_unicode=True
    )
    header = (
        f"# seqapps tune: trial {best.number} of {len(trials)}, best {monitor} on the "
        f"validation split = {best.value:.4f}\n# retrain: seqapps train {task_class.name} "
        f"--config {out / 'best.yaml'}\n"
    )
    atomic_write(out / "best.yaml", lambda tmp: tmp.write_text(header + text, "utf-8"))
    _plot(complete, study.direction == optuna.study.StudyDirection.MAXIMIZE, monitor, out)
    return {
        "best_value": best.value,
        "best_params": best.params,
        "best_trial": best.number,
        "best_run_dir": best.user_attrs.get("run_dir"),
        "monitor": monitor,
        "trials": len(trials),
        "seconds": seconds,
    }


def _plot(trials: list, maximize: bool, monitor: str, out: Path) -> None:
    from seqapps.plots import plot_search  # late: matplotlib

    numbers = [t.number for t in trials]
    plot_search(numbers, [t.value for t in trials], maximize, monitor, out / "tuning.png")
