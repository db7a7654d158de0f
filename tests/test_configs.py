"""The run settings in ``configs/``: one commented file per task and use (shared DESIGN.md, 13).

``configs/TASK/demo.yaml`` is what ``make demo`` runs on the packaged sample;
``configs/TASK/benchmark.yaml`` is what ``benchmarks/TASK.py`` runs on the real data set.
Each file carries one line ``# differs-from-defaults: KEY, KEY`` (or ``none``) naming exactly
the keys whose values differ from the task's config dataclass defaults. A benchmark file
that names only ``data`` (and captioning's local ``weights`` file) claims to be the
defaults, as docs/BENCHMARKS.md says; so a default changed in code and not in the file, or
the reverse, fails here. No training: every check reads files and builds dataclasses.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from benchmarks.common import resolve_config
from seqapps import config as config_lib
from seqapps.tasks import TASKS, get_task_class

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(ROOT.glob("configs/*/*.yaml"))
CLAIM = re.compile(r"^# differs-from-defaults:(.*)$", re.MULTILINE)


def _claimed(path: Path) -> set[str]:
    """The keys the file's ``# differs-from-defaults:`` line names."""
    found = CLAIM.findall(path.read_text(encoding="utf-8"))
    assert len(found) == 1, f"{path}: needs one '# differs-from-defaults: KEY, ...' line"
    keys = {k.strip() for k in found[0].split(",") if k.strip()}
    return set() if keys == {"none"} else keys


def _resolve(path: Path) -> tuple[object, dict]:
    """The file's config and its raw values, paths read from the repository root.

    A local weights file (captioning's benchmark names the one in ../shared) may be absent
    on this machine, and the config refuses a missing file: its values are then checked with
    ``weights: none`` in its place (as ``resolve`` checks a file), and the file's value is
    compared as written.
    """
    cls = get_task_class(path.parent.name).config_class
    raw = config_lib.read_yaml(path)
    raw.pop("task", None)
    weights = raw.get("weights")
    if weights not in (None, "imagenet", "none") and not (ROOT / weights).is_file():
        return config_lib.from_dict(cls, {**raw, "weights": "none"}, source=str(path)), raw
    return config_lib.resolve(cls, path), raw


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the files' paths are relative to the repository root


def test_every_task_has_a_demo_and_a_benchmark_file():
    assert {p.parent.name for p in CONFIGS} == set(TASKS)
    for task in TASKS:
        assert {p.name for p in CONFIGS if p.parent.name == task} == {
            "demo.yaml",
            "benchmark.yaml",
        }


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_file_resolves_and_names_exactly_the_keys_that_differ_from_the_defaults(path):
    cls = get_task_class(path.parent.name).config_class
    cfg, raw = _resolve(path)
    defaults = config_lib.resolve(cls)
    differ = set()
    for key, value in raw.items():
        resolved = value if key == "weights" and cfg.weights != value else getattr(cfg, key)
        if resolved != getattr(defaults, key):
            differ.add(key)
    assert differ == _claimed(path), (
        f"{path.relative_to(ROOT)}: its '# differs-from-defaults:' line says "
        f"{sorted(_claimed(path))}, but the keys that differ from {cls.__name__}'s defaults "
        f"are {sorted(differ)}"
    )


@pytest.mark.parametrize("task", sorted(TASKS))
def test_demo_runs_on_the_sample_and_benchmark_on_real_data(task):
    demo, _ = _resolve(ROOT / "configs" / task / "demo.yaml")
    bench, _ = _resolve(ROOT / "configs" / task / "benchmark.yaml")
    assert demo.data == "sample"
    assert bench.data.startswith("../shared/data/")


def _makefile_demo_commands() -> dict[str, list[str]]:
    """``make demo``'s pipeline command per task, as argument lists after the module name."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = text.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    commands = {}
    for line in recipe.splitlines():
        match = re.search(r"-m pipelines\.(\w+) (.*)$", line)
        if match:
            commands[match.group(1)] = shlex.split(match.group(2))
    return commands


def test_makefile_demo_runs_every_task_from_its_demo_file():
    commands = _makefile_demo_commands()
    assert set(commands) == set(TASKS)
    for task, args in commands.items():
        assert "--config" in args, f"make demo: {task} has no --config"
        i = args.index("--config")
        assert args[i + 1] == f"configs/{task}/demo.yaml"
        overrides = [a for a in args if re.fullmatch(r"\w+=.*", a)]
        # The settings live in the file; the one override is captioning's weights file,
        # found at make time. Overrides must come before the options (argparse).
        assert overrides == (["weights=$(CAPTION_WEIGHTS)"] if task == "captioning" else [])
        assert all(args.index(o) < i for o in overrides)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_pipeline_docstrings_and_readme_point_at_the_files(task):
    doc = (ROOT / "pipelines" / f"{task}.py").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("demo.yaml", "benchmark.yaml"):
        assert f"--config configs/{task}/{name}" in doc
        assert f"--config configs/{task}/{name}" in readme


def test_benchmark_cells_override_only_what_they_vary():
    # benchmarks/*.py resolve each cell as: file < --data < the cell's settings < key=value.
    path = ROOT / "configs" / "ner" / "benchmark.yaml"
    args = argparse.Namespace(config=str(path), data=None, overrides=["epochs=1"])
    cfg = resolve_config(get_task_class("ner").config_class, args, "cell=gru", "head=softmax")
    file_cfg, _ = _resolve(path)
    assert (cfg.cell, cfg.head, cfg.epochs) == ("gru", "softmax", 1)
    assert (cfg.data, cfg.units, cfg.word_dropout) == (
        file_cfg.data,
        file_cfg.units,
        file_cfg.word_dropout,
    )
    args.data = "elsewhere"
    assert resolve_config(get_task_class("ner").config_class, args).data == "elsewhere"
