"""Export to TF Serving's layout: ``<root>/<integer version>/`` holding a SavedModel.

A version is written into a temporary directory beside the others and renamed into place,
so a server polling ``<root>`` never sees half a model, and an existing version is never
overwritten. Exported trees get the usual permissions (755 / 644 less the umask), and
temporary directories left by a killed export are removed by the next one.
``assets.extra/seqapps/`` (TF Serving ignores ``assets.extra``) holds the resolved config,
the test metrics and the task's preprocessing assets.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import tensorflow as tf

from seqapps import __version__
from seqapps.errors import ConfigError
from seqapps.model_card import model_card
from seqapps.runs import load_run, load_task, metrics_path
from seqapps.task import Task

META_DIR = Path("assets.extra") / "seqapps"


def versions(root: str | Path) -> list[int]:
    """The integer version directories under ``root``, ascending."""
    root = Path(root)
    if not root.is_dir():
        return []
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses
    return sorted(
        int(p.name) for p in root.iterdir() if re.fullmatch(r"[0-9]+", p.name) and p.is_dir()
    )


TMP_PREFIX = ".tmp-export-"


def readable(tree: Path) -> None:
    """Give ``tree`` the usual permissions (directories 755, files 644, less the umask).

    ``tempfile.mkdtemp`` makes a private (700) directory, and renaming it kept it private, so
    a model server running as another user could not read the exported version.
    """
    umask = os.umask(0)
    os.umask(umask)
    for path in [tree, *tree.rglob("*")]:
        if not path.is_symlink():
            path.chmod((0o755 if path.is_dir() else 0o644) & ~umask)


def remove_abandoned(root: Path) -> list[Path]:
    """Remove temporary export directories whose exporting process no longer runs.

    A killed export leaves ``.tmp-export-<pid>-*`` behind; servers ignore it (not an integer
    name), and the next export clears it. Returns what was removed.
    """
    removed = []
    for path in root.glob(f"{TMP_PREFIX}*"):
        pid = path.name[len(TMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def copy_run_files(run_dir: Path, dest: Path) -> None:
    """Copy what an export's readers need from ``run_dir`` into ``dest``.

    ``assets/``, ``config.yaml``, and where they exist the test ``metrics.json`` and
    ``data_report.json``.
    """
    shutil.copytree(run_dir / "assets", dest / "assets")
    shutil.copy(run_dir / "config.yaml", dest / "config.yaml")
    test_metrics = metrics_path(run_dir, "test")
    if test_metrics.exists():
        shutil.copy(test_metrics, dest / "metrics.json")
    if (run_dir / "data_report.json").is_file():
        shutil.copy(run_dir / "data_report.json", dest / "data_report.json")


def claim_version(tmp: Path, root: Path) -> Path:
    """Rename the finished ``tmp`` to the next free version number under ``root``; return it.

    The rename is atomic, so a reader sees no version or a whole one.

    Raises:
        OSError: the rename failed, or 100 numbers were taken by concurrent exporters.
    """
    for _ in range(100):  # another exporter may take a number between our look and rename
        target = root / str((versions(root) or [0])[-1] + 1)
        try:
            os.rename(tmp, target)  # fails if target exists and is not empty
            return target
        except OSError:
            if not target.exists():
                raise
    raise OSError(f"{root}: could not claim a new version number")


def export(
    run_dir: str | Path,
    root: str | Path,
    format: str = "savedmodel",  # noqa: A002  (the CLI's --format)
    *,
    quantize: bool = False,
) -> Path:
    """Export the best model of ``run_dir`` as a new version under ``root``; return its path.

    The version directory holds the SavedModel, ``assets.extra/seqapps/`` (config, assets,
    test metrics, data report: what :func:`load_export` and the model card read) and the
    model card ``README.md`` (:mod:`seqapps.model_card`).

    ``format="onnx"`` or ``"tflite"`` writes a portable export instead (the networks and
    their sidecar files, run by :mod:`seqapps.portable.client`); ``quantize`` applies to
    TFLite only. See :func:`seqapps.portable.export.export_portable`.

    Example:
        >>> export("runs/sentiment", "saved_models/sentiment")   # doctest: +SKIP
        PosixPath('saved_models/sentiment/1')
    """
    if format != "savedmodel" or quantize:
        from seqapps.portable.export import export_portable  # noqa: PLC0415

        return export_portable(run_dir, root, format, quantize=quantize)
    run_dir, root = Path(run_dir), Path(root)
    task, model = load_run(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    remove_abandoned(root)
    # The process id in the name tells a later export whether this one is still running.
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=root))
    try:
        task.export_archive(model).write_out(str(tmp), verbose=False)
        meta = tmp / META_DIR
        copy_run_files(run_dir, meta)
        info = {
            "task": task.name,
            "seqapps_version": __version__,
            "run_dir": str(run_dir),
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (meta / "export.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        # The model card (README.md) is read from the files above and the signature.
        card = model_card(task, run_dir, tmp, root.name)
        (tmp / "README.md").write_text(card, encoding="utf-8")
        readable(tmp)
        return claim_version(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def resolve_export(path: str | Path) -> Path:
    """Accept a version directory, or a model root (its newest version is used)."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    found = versions(path)
    if not found:
        raise ConfigError(f"{path}: no SavedModel here and no integer version directories")
    return path / str(found[-1])


def load_export(path: str | Path) -> tuple[Task, tf.Module, Path]:
    """Load an export: its Task (config and assets restored), the SavedModel, its path."""
    path = resolve_export(path)
    meta = path / META_DIR
    if not (meta / "config.yaml").is_file():
        raise ConfigError(f"{path}: not a seqapps export (no {META_DIR}/config.yaml)")
    task = load_task(meta)
    try:  # text exports normalise with TF Text's NormalizeUTF8 op: register it before loading
        import tensorflow_text  # noqa: F401, PLC0415
    except ImportError:
        pass
    return task, tf.saved_model.load(str(path)), path


def predict(path: str | Path, inputs: list[str]) -> list[str]:
    """Run an export's ``serving_default`` on raw inputs and format one line per input."""
    task, loaded, _ = load_export(path)
    outputs = loaded.serving_default(task.predict_inputs(inputs))
    return task.format_predictions(inputs, outputs)


__all__ = ["export", "load_export", "predict", "resolve_export", "versions"]
