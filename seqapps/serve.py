"""``seqapps serve``: an HTTP server speaking TF Serving's REST API, and a page to try models.

The exports are SavedModels in TF Serving's layout, but TF Serving itself is not installable
from the package registries. This module serves the same ``ROOT/NAME/VERSION`` tree from a
Python machine, with the same REST API, so a client written for TF Serving works unchanged:

* ``GET  /v1/models/NAME[/versions/N]``            version status
* ``GET  /v1/models/NAME[/versions/N]/metadata``   the signature defs (dtypes, shapes)
* ``POST /v1/models/NAME[/versions/N]:predict``    ``{"instances": [...]}`` (row format) or
  ``{"inputs": ...}`` (columnar), strings as JSON text or ``{"b64": "..."}``
* ``GET  /v1/models``  (not in TF Serving) every served model: name, version, task, signature
  and the few settings the page needs (class names, forecast window)
* ``GET  /``  a page (``seqapps/serve_static/index.html``, vanilla JS) to try each model

Each model is served at its newest *ready* version (``saved_model.pb`` and
``assets.extra/seqapps/config.yaml`` present: a ``.tmp-export-*`` directory or a half-copied
one never is). A poller thread looks at ROOT every ``poll_seconds`` (a cheap ``stat`` of a
few directories), loads a new version in the background and swaps it in atomically; requests
in flight finish on the version they started with. A version that fails to load is logged
once and the previous one stays served.

Limits: the request body (``max_request_bytes``, 413), the batch (``max_batch`` instances,
400) and a per-request deadline (``timeout_s``, 504; inference runs in a thread pool, and a
timed-out call is answered at once though its thread runs to the end). Every error is a JSON
``{"error": "..."}`` of one line, as TF Serving's; a bad request is a 4xx and never a trace.
Like TF Serving, floats that are NaN or infinite are written as the bare tokens ``NaN`` /
``Infinity`` (forecasting marks rows it cannot forecast with NaN), and a string output is
UTF-8 text unless its name ends in ``_bytes`` (then ``{"b64": ...}``).

Why Starlette and uvicorn: Starlette is the small ASGI core FastAPI is built on, kept by the
same people; the API is TF Serving's fixed JSON, so FastAPI's pydantic models would add a
dependency and nothing else. uvicorn is Starlette's standard server. Both are optional:
``pip install 'seqapps[serve]'``. Nothing here authenticates a client, so the server binds to
the loopback interface unless told otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from seqapps.errors import SeqappsError
from seqapps.export import META_DIR, load_export, versions

log = logging.getLogger("seqapps.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501  # TF Serving's REST port
DEFAULT_MAX_REQUEST_MB = 32.0
DEFAULT_MAX_BATCH = 1024
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_POLL_S = 2.0
DEFAULT_WORKERS = 4
INSTALL_HINT = "pip install 'seqapps[serve]'"


class RequestError(Exception):
    """A client error: answered as ``{"error": message}`` with HTTP ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# --- what is served ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Signature:
    """One signature of a loaded SavedModel: its function and named input/output specs."""

    name: str
    function: Callable[..., dict[str, tf.Tensor]]
    inputs: dict[str, tf.TensorSpec]
    outputs: dict[str, tf.TensorSpec]


@dataclasses.dataclass(frozen=True)
class Served:
    """One loaded model version. ``loaded`` is kept so its variables stay alive."""

    name: str
    version: int
    path: Path
    task: str
    loaded: Any
    signatures: dict[str, Signature]
    info: dict[str, Any]  # what the page needs to build inputs and show outputs
    metadata: dict[str, Any]  # signature defs as TF Serving's metadata shows them


def ready(version_dir: Path) -> bool:
    """Whether a version directory is a complete seqapps export (never a half-written one)."""
    return (version_dir / "saved_model.pb").is_file() and (
        version_dir / META_DIR / "config.yaml"
    ).is_file()


def _spec(value: Any) -> tf.TensorSpec:
    return value if isinstance(value, tf.TensorSpec) else tf.TensorSpec.from_tensor(value)


def signatures_of(loaded: Any) -> dict[str, Signature]:
    """Every signature of a loaded SavedModel, with named input and output specs.

    Raises:
        ValueError: a signature with positional inputs or a non-dict output (not what
            ``tf.saved_model.save`` writes for a signature).
    """
    found = {}
    for name, function in loaded.signatures.items():
        args, kwargs = function.structured_input_signature
        outputs = function.structured_outputs
        if args or not isinstance(outputs, dict):
            raise ValueError(f"signature {name}: expected named inputs and outputs")
        found[name] = Signature(
            name,
            function,
            {k: _spec(v) for k, v in kwargs.items()},
            {k: _spec(v) for k, v in outputs.items()},
        )
    return found


def page_info(task: Any) -> dict[str, Any]:
    """Task settings the page needs: class names, forecast window and price columns."""
    info: dict[str, Any] = {}
    if getattr(task, "label_names", None):
        info["labels"] = [str(n) for n in task.label_names]
    if task.name == "forecasting":
        from seqapps.data.prices import PRICE_FIELDS  # noqa: PLC0415
        from seqapps.tasks.forecasting import INPUT_FIELDS  # noqa: PLC0415

        cfg = task.cfg
        fields = [PRICE_FIELDS[i] for i in INPUT_FIELDS[cfg.inputs]]
        info.update(
            window=cfg.window,
            horizon=cfg.horizon,
            fields=fields,
            columns={
                "date": cfg.date_column,
                "ticker": cfg.ticker_column,
                **{f: getattr(cfg, f"{f}_column") for f in PRICE_FIELDS},
            },
            quantile_levels=list(cfg.quantile_levels),
        )
    return info


def load_version(name: str, path: Path) -> Served:
    """Load one version directory (``load_export``) into a :class:`Served`."""
    task, loaded, path = load_export(path)
    return Served(
        name,
        int(path.name),
        path,
        task.name,
        loaded,
        signatures_of(loaded),
        page_info(task),
        signature_defs(path),
    )


def model_dirs(root: Path) -> dict[str, Path]:
    """Model name -> model root under ``root``.

    ``root`` holds model roots (``root/NAME/VERSION``), or is itself one model root
    (``root/VERSION``, served under its own name). Hidden entries (``.tmp...``) are skipped.
    """
    if any(ready(root / str(v)) for v in versions(root)):
        return {root.resolve().name: root}
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return {}
    return {p.name: p for p in entries if p.is_dir() and not p.name.startswith(".")}


def _stamp(version_dir: Path) -> tuple[int, ...]:
    """Modification times that change while a version directory is still being filled."""
    parts = [version_dir, version_dir / "saved_model.pb", version_dir / "variables"]
    stamps = []
    for p in [*parts, version_dir / META_DIR]:
        try:
            stamps.append(p.stat().st_mtime_ns)
        except OSError:
            stamps.append(0)
    return tuple(stamps)


class Registry:
    """The served models: the newest ready version of each model under ``root``.

    Readers take the current mapping with :meth:`snapshot` (the dict is replaced whole,
    never changed in place, so a reader never sees half an update). Only one thread
    scans at a time; loading happens outside the lock that guards the swap.
    """

    def __init__(
        self,
        root: str | Path,
        poll_seconds: float = DEFAULT_POLL_S,
        loader: Callable[[str, Path], Served] = load_version,
    ) -> None:
        self.root = Path(root)
        self.poll_seconds = poll_seconds
        self.loader = loader
        self._models: dict[str, Served] = {}
        self._failed: dict[Path, tuple[int, ...]] = {}  # path -> stamp when its load failed
        self._scan_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> dict[str, Served]:
        """The served models now (a mapping that is never mutated afterwards)."""
        return self._models

    def get(self, name: str, version: int | None = None) -> Served:
        """The served version of ``name`` (``version`` must be it when given).

        Raises:
            RequestError: 404, in TF Serving's words, naming the served models.
        """
        served = self._models.get(name)
        if served is None or (version is not None and served.version != version):
            spec = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            names = ", ".join(f"{s.name} (version {s.version})" for s in self._models.values())
            raise RequestError(
                f"Servable not found for request: {spec}; served: {names or 'none'}", 404
            )
        return served

    def scan(self) -> list[Served]:
        """Load what changed under ``root``; return the versions newly served."""
        with self._scan_lock:
            return self._scan()

    def _scan(self) -> list[Served]:
        current = self._models
        wanted: dict[str, Served | None] = {}
        changed: list[Served] = []
        dirs = model_dirs(self.root) if self.root.is_dir() else {}
        for name, model_root in dirs.items():
            served = current.get(name)
            try:
                found = versions(model_root)
            except OSError as e:  # unreadable: served as before, if it was
                log.error("%s: %s", model_root, _one_line(e))
                if served is not None:
                    wanted[name] = served
                continue
            for version in reversed(found):
                path = model_root / str(version)
                if served is not None and served.version == version and served.path == path:
                    wanted[name] = served  # still the newest ready version
                    break
                if not ready(path):
                    continue  # half-written (or not a seqapps export): never served
                if served is not None and version < served.version and served.path.is_dir():
                    wanted[name] = served  # a newer one failed to load: keep serving this
                    break
                stamp = _stamp(path)
                if self._failed.get(path) == stamp:
                    continue  # failed before and unchanged since
                started = time.monotonic()
                try:
                    loaded = self.loader(name, path)
                except Exception as e:  # noqa: BLE001 - one bad export must not stop the server
                    self._failed[path] = stamp
                    log.error("%s: could not load version %s: %s", name, version, _one_line(e))
                    continue
                self._failed.pop(path, None)
                log.info(
                    "serving %s version %s (%s) from %s, loaded in %.1f s",
                    name,
                    version,
                    loaded.task,
                    path,
                    time.monotonic() - started,
                )
                wanted[name] = loaded
                changed.append(loaded)
                break
        for name, served in current.items():
            if name not in wanted:
                log.info("%s: version %s is gone from disk; no longer served", name, served.version)
        models = {n: s for n, s in sorted(wanted.items()) if s is not None}
        if models.keys() != current.keys() or any(models[n] is not current[n] for n in models):
            self._models = models  # one assignment: readers see the old or the new mapping
        return changed

    def start(self) -> None:
        """Load what is there now, then poll ``root`` in a daemon thread (not if poll <= 0)."""
        self.scan()
        if self.poll_seconds > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._poll, name="seqapps-serve-poll", daemon=True
            )
            self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.scan()
            except Exception as e:  # noqa: BLE001 - a transient disk error must not end polling
                log.error("scanning %s: %s", self.root, _one_line(e))

    def stop(self) -> None:
        """Stop polling (waits for a load in progress to finish)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


# --- JSON <-> tensors -------------------------------------------------------------------
def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split("\n")[0].split())


def _leaf(value: Any, dtype: tf.DType, where: str) -> Any:
    """One JSON scalar as a value of ``dtype`` (strings: UTF-8 bytes, or ``{"b64": ...}``)."""
    if dtype == tf.string:
        if isinstance(value, str):
            return value.encode("utf-8", "surrogatepass")
        if isinstance(value, dict) and list(value) == ["b64"] and isinstance(value["b64"], str):
            text = re.sub(r"\s+", "", value["b64"])  # `base64` without -w0 wraps lines
            try:
                return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(f"{where}: unable to base64 decode {_short(value)}") from None
    elif dtype == tf.bool:
        if isinstance(value, bool):
            return value
    elif dtype.is_floating:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                too_big = math.isfinite(value) and abs(value) > dtype.max
            except OverflowError:  # an integer beyond any float
                too_big = True
            if too_big:
                raise RequestError(
                    f"{where}: cannot convert {_short(value)} to {dtype.name} without loss"
                )
            return value
    elif dtype.is_integer:
        if isinstance(value, int) and not isinstance(value, bool):
            if not dtype.min <= value <= dtype.max:
                raise RequestError(f"{where}: {value} is out of range for {dtype.name}")
            return value
    else:
        raise RequestError(f"{where}: inputs of type {dtype.name} are not supported")
    kind = "null" if value is None else type(value).__name__
    kind = {"str": "string", "dict": "object", "list": "list", "bool": "boolean"}.get(kind, kind)
    raise RequestError(f"{where}: {_short(value)} ({kind}) is not of expected type {dtype.name}")


def to_array(value: Any, dtype: tf.DType, where: str) -> np.ndarray:
    """A nested JSON list (or scalar) -> a dense array of ``dtype``; strings as bytes objects.

    Raises:
        RequestError: a value of the wrong type, a ragged list, a bad ``{"b64": ...}``.
    """
    shape: list[int] = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    flat: list[Any] = []

    def fill(item: Any, level: int) -> None:
        if isinstance(item, list):
            if level >= len(shape):
                raise RequestError(f"{where}: a list at depth {level + 1}, expected a value")
            if len(item) != shape[level]:
                raise RequestError(
                    f"{where}: lists of unequal length at depth {level + 1} ({len(item)} and "
                    f"{shape[level]}); a tensor must be rectangular"
                )
            for x in item:
                fill(x, level + 1)
        else:
            if level != len(shape):
                raise RequestError(
                    f"{where}: a value at depth {level}, expected a list at depth {level + 1}"
                )
            flat.append(_leaf(item, dtype, where))

    fill(value, 0)
    if dtype == tf.string:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    return np.asarray(flat, dtype=dtype.as_numpy_dtype).reshape(shape)


def _shape_text(shape: tf.TensorShape | tuple[int, ...]) -> str:
    dims = shape.as_list() if isinstance(shape, tf.TensorShape) else list(shape)
    return "[" + ",".join("-1" if d is None else str(d) for d in dims) + "]"


def _check_shape(array: np.ndarray, spec: tf.TensorSpec, where: str) -> None:
    if spec.shape.rank is None:
        return
    if not spec.shape.is_compatible_with(array.shape):
        raise RequestError(
            f"{where}: shape {_shape_text(array.shape)} does not fit the signature's "
            f"{_shape_text(spec.shape)} ({spec.dtype.name})"
        )


def parse_predict(
    body: Any, signatures: dict[str, Signature], max_batch: int
) -> tuple[Signature, dict[str, np.ndarray], str]:
    """A predict request's JSON -> (signature, input arrays by name, ``"row"`` or ``"columnar"``).

    Raises:
        RequestError: 400 for every malformed request, with a one-line message.
    """
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    name = body.get("signature_name", "")
    if not isinstance(name, str):
        raise RequestError("'signature_name' must be a string")
    name = name or "serving_default"
    if name not in signatures:
        raise RequestError(
            f'Serving signature name: "{name}" not found in signature def '
            f"(has: {', '.join(sorted(signatures))})"
        )
    sig = signatures[name]
    if ("instances" in body) == ("inputs" in body):
        raise RequestError("expected exactly one of the keys 'instances' (rows) or 'inputs'")
    names = sorted(sig.inputs)
    arrays: dict[str, np.ndarray] = {}
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list):
            raise RequestError("'instances' must be a list")
        if not instances:
            raise RequestError("no values in 'instances'")
        if len(instances) > max_batch:
            raise RequestError(
                f"{len(instances)} instances are over this server's limit of {max_batch} "
                "(--max-batch)"
            )
        named = isinstance(instances[0], dict) and set(instances[0]) != {"b64"}
        if not named and len(names) > 1:
            raise RequestError(
                f"instances must be objects with the keys {', '.join(names)} "
                "(the signature takes several inputs)"
            )
        columns: dict[str, list[Any]] = {n: [] for n in names}
        for i, item in enumerate(instances):
            item_named = isinstance(item, dict) and set(item) != {"b64"}
            if item_named != named:
                raise RequestError(
                    f"instance {i}: mixes objects and plain values; use one form for all"
                )
            if named:
                if set(item) != set(names):
                    raise RequestError(
                        f"instance {i}: keys {', '.join(sorted(item)) or '(none)'} must be "
                        f"the signature's inputs: {', '.join(names)}"
                    )
                for n in names:
                    columns[n].append(item[n])
            else:
                columns[names[0]].append(item)
        for n in names:
            array = to_array(columns[n], sig.inputs[n].dtype, f"input '{n}'")
            if array.ndim == 0 or array.shape[0] != len(instances):  # pragma: no cover
                raise RequestError(f"input '{n}': could not batch the instances")
            _check_shape(array, sig.inputs[n], f"input '{n}' (instances stacked)")
            arrays[n] = array
        return sig, arrays, "row"
    inputs = body["inputs"]
    if isinstance(inputs, dict) and set(inputs) != {"b64"}:
        unknown = sorted(set(inputs) - set(names))
        missing = sorted(set(names) - set(inputs))
        if unknown or missing:
            raise RequestError(
                f"'inputs' must have the keys {', '.join(names)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        values = inputs
    elif len(names) > 1:
        raise RequestError(
            f"'inputs' must be an object with the keys {', '.join(names)} "
            "(the signature takes several inputs)"
        )
    else:
        values = {names[0]: inputs}
    for n in names:
        array = to_array(values[n], sig.inputs[n].dtype, f"input '{n}'")
        _check_shape(array, sig.inputs[n], f"input '{n}'")
        if array.ndim and array.shape[0] > max_batch:
            raise RequestError(
                f"input '{n}': a batch of {array.shape[0]} is over this server's limit of "
                f"{max_batch} (--max-batch)"
            )
        arrays[n] = array
    return sig, arrays, "columnar"


def _float_list(array: np.ndarray) -> Any:
    # float32 -> the shortest decimal that reads back the same float32 (0.2, not
    # 0.20000000298023224), as TF Serving writes them; str() of a numpy float32 is that.
    flat = np.empty(array.size, dtype=object)
    flat[:] = [float(str(v)) for v in array.ravel()]
    return flat.reshape(array.shape).tolist()


def to_json(array: np.ndarray, name: str) -> Any:
    """An output array -> JSON values: text (``{"b64"}`` for ``*_bytes`` outputs), numbers."""
    if array.dtype == object or array.dtype.kind == "S":
        as_b64 = name.endswith("_bytes")
        flat = np.empty(array.size, dtype=object)
        flat[:] = [
            {"b64": base64.b64encode(v).decode("ascii")} if as_b64 else v.decode("utf-8", "replace")
            for v in array.ravel()
        ]
        return flat.reshape(array.shape).tolist()
    if array.dtype == np.float32 or array.dtype == np.float16:
        return _float_list(array)
    return array.tolist()


def format_predict(outputs: dict[str, np.ndarray], kind: str) -> dict[str, Any]:
    """Outputs -> TF Serving's response: ``predictions`` (rows) or ``outputs`` (columnar).

    One output: its value (a list of per-row values for rows); several: a dict by name
    (a list of per-row dicts for rows).
    """
    names = sorted(outputs)
    if kind == "columnar":
        values = {n: to_json(outputs[n], n) for n in names}
        return {"outputs": values[names[0]] if len(names) == 1 else values}
    rows = {len(outputs[n]) if outputs[n].ndim else -1 for n in names}
    if len(rows) != 1 or -1 in rows:
        raise RuntimeError(f"outputs of unequal batch sizes: {sorted(rows)}")
    values = {n: to_json(outputs[n], n) for n in names}
    if len(names) == 1:
        return {"predictions": values[names[0]]}
    count = rows.pop()
    return {"predictions": [{n: values[n][i] for n in names} for i in range(count)]}


def run_signature(sig: Signature, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Call a signature on numpy inputs (in a worker thread); numpy outputs.

    Raises:
        RequestError: 400 with TensorFlow's message when the model refuses the input
            (``InvalidArgumentError``, e.g. too few days for the forecast window).
    """
    tensors = {n: tf.constant(a, dtype=sig.inputs[n].dtype) for n, a in arrays.items()}
    try:
        outputs = sig.function(**tensors)
    except tf.errors.InvalidArgumentError as e:
        raise RequestError(_tf_message(e)) from None
    return {k: v.numpy() for k, v in outputs.items()}


def _tf_message(error: tf.errors.OpError) -> str:
    """TensorFlow's message on one line, without its framing.

    A graph error reads ``Graph execution error:`` / ``Detected at node ...`` / the message
    / ``[[{{node ...}}]] [Op:...]``; an ``Assert`` wraps its text in ``assertion failed: [...]``.
    Only the message is kept: ``prices: the model reads the last 60 days, got 30``.
    """
    skip = ("Graph execution error", "Detected at node", "<stack traces", "File ")
    lines = [
        line.strip()
        for line in error.message.splitlines()
        if line.strip() and not line.strip().startswith(skip)
    ]
    text = lines[0] if lines else ""
    text = re.sub(r"\s*\[\[\{\{node .*$", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\]$", "", text)
    found = re.fullmatch(r"assertion failed: \[(.*)\]", text)
    text = found.group(1) if found else text
    return " ".join(text.split()) or type(error).__name__


# --- HTTP -------------------------------------------------------------------------------
def _json_bytes(payload: Any) -> bytes:
    # allow_nan: NaN and Infinity as bare tokens, as TF Serving writes them.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature_defs(path: Path) -> dict[str, Any]:
    """The signature defs of ``path/saved_model.pb`` as TF Serving's metadata writes them.

    Read from the file (not the loaded functions) so names, dtypes (``DT_FLOAT``) and shapes
    (``{"size": "-1"}``) are those a TF Serving would report for the same export.
    """
    from tensorflow.core.framework import types_pb2  # noqa: PLC0415
    from tensorflow.core.protobuf import saved_model_pb2  # noqa: PLC0415

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    graph = next(
        (g for g in proto.meta_graphs if "serve" in g.meta_info_def.tags), proto.meta_graphs[0]
    )

    def tensor_info(info: Any) -> dict[str, Any]:
        shape = info.tensor_shape
        return {
            "dtype": types_pb2.DataType.Name(info.dtype),
            "tensor_shape": {
                "dim": [{"size": str(d.size), "name": d.name} for d in shape.dim],
                "unknown_rank": shape.unknown_rank,
            },
            "name": info.name,
        }

    return {
        key: {
            "inputs": {k: tensor_info(v) for k, v in sorted(sig.inputs.items())},
            "outputs": {k: tensor_info(v) for k, v in sorted(sig.outputs.items())},
            "method_name": sig.method_name,
        }
        for key, sig in sorted(graph.signature_def.items())
    }


def version_status(served: Served) -> dict[str, Any]:
    """TF Serving's status response for the served version."""
    return {
        "model_version_status": [
            {
                "version": str(served.version),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


def model_listing(served: Served) -> dict[str, Any]:
    """One entry of ``GET /v1/models``: name, version, task, signature, page settings."""
    sig = served.signatures.get("serving_default")

    def specs(items: dict[str, tf.TensorSpec]) -> dict[str, Any]:
        return {k: {"dtype": v.dtype.name, "shape": v.shape.as_list()} for k, v in items.items()}

    return {
        "name": served.name,
        "version": str(served.version),
        "task": served.task,
        "inputs": specs(sig.inputs) if sig else {},
        "outputs": specs(sig.outputs) if sig else {},
        "info": served.info,
    }


_MODEL_URL = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>[^/]*))?/?$"
)


def create_app(
    root: str | Path,
    *,
    max_request_bytes: int = int(DEFAULT_MAX_REQUEST_MB * 2**20),
    max_batch: int = DEFAULT_MAX_BATCH,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_seconds: float = DEFAULT_POLL_S,
    workers: int = DEFAULT_WORKERS,
    registry: Registry | None = None,
) -> Any:
    """The Starlette application serving the models under ``root``.

    The registry loads and starts polling when the app starts (its lifespan: uvicorn, or
    ``with TestClient(app)``) and stops with it. ``app.state.registry`` is the registry.

    Raises:
        SeqappsError: Starlette is not installed (with the install command).
    """
    try:
        from starlette.applications import Starlette  # noqa: PLC0415
        from starlette.requests import Request  # noqa: PLC0415
        from starlette.responses import HTMLResponse, Response  # noqa: PLC0415
        from starlette.routing import Route  # noqa: PLC0415
    except ImportError:
        raise SeqappsError(f"serve needs Starlette and uvicorn: {INSTALL_HINT}") from None

    registry = registry or Registry(root, poll_seconds)
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="seqapps-predict")

    def reply(payload: Any, status: int = 200) -> Response:
        return Response(_json_bytes(payload), status, media_type="application/json")

    def error(message: str, status: int) -> Response:
        return reply({"error": message}, status)

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        too_big = RequestError(
            f"the request body is over this server's limit of {max_request_bytes} bytes "
            "(--max-request-mb)",
            413,
        )
        if length is not None and length.isdigit() and int(length) > max_request_bytes:
            raise too_big
        chunks, size = [], 0
        async for chunk in request.stream():  # a chunked body has no Content-Length
            size += len(chunk)
            if size > max_request_bytes:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    def answer(body: bytes, served: Served) -> bytes:
        # In the pool: a large body's JSON work must not stall the event loop, and it
        # counts against --timeout.
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError as e:
            raise RequestError(f"JSON parse error: {e.msg} at offset {e.pos}") from None
        # ValueError: Python's limit on the digits of an integer literal (4300)
        except (UnicodeDecodeError, RecursionError, ValueError) as e:
            raise RequestError(f"JSON parse error: {_one_line(e)}") from None
        try:
            sig, arrays, kind = parse_predict(parsed, served.signatures, max_batch)
        except RecursionError:
            raise RequestError("the input is nested too deeply") from None
        return _json_bytes(format_predict(run_signature(sig, arrays), kind))

    async def predict(request: Request, served: Served) -> Response:
        body = await read_body(request)
        if not body.strip():
            raise RequestError("the request body is empty; expected JSON")
        loop = asyncio.get_running_loop()
        try:
            payload = await asyncio.wait_for(
                loop.run_in_executor(pool, answer, body, served), timeout_s
            )
        except asyncio.TimeoutError:
            raise RequestError(
                f"the model did not answer within {timeout_s:g} s (--timeout)", 504
            ) from None
        return Response(payload, 200, media_type="application/json")

    async def models_endpoint(request: Request) -> Response:
        path = request.url.path
        if path.rstrip("/") == "/v1/models":
            if request.method != "GET":
                raise RequestError(f"{request.method} is not allowed here; use GET", 405)
            models = registry.snapshot().values()
            return reply({"models": [model_listing(s) for s in models]})
        match = _MODEL_URL.match(path)
        if match is None:
            raise RequestError(f"malformed request: {request.method} {path}", 404)
        if match["label"] is not None:
            raise RequestError("version labels are not supported; use /versions/N", 404)
        version = None
        if match["version"] is not None:
            if not re.fullmatch(r"[0-9]+", match["version"]):
                raise RequestError(f"version must be an integer, got {match['version']!r}")
            version = int(match["version"])
        verb = match["verb"]
        if verb is not None:
            if verb != "predict":
                raise RequestError(
                    f"':{verb}' is not supported; this server answers ':predict'",
                    404 if verb not in ("classify", "regress") else 400,
                )
            if request.method != "POST":
                raise RequestError(f"{request.method} is not allowed for :predict; use POST", 405)
            return await predict(request, registry.get(match["name"], version))
        if request.method != "GET":
            raise RequestError(f"{request.method} is not allowed here; use GET", 405)
        served = registry.get(match["name"], version)
        if match["metadata"]:
            spec = {"name": served.name, "signature_name": "", "version": str(served.version)}
            metadata = {"signature_def": {"signature_def": served.metadata}}
            return reply({"model_spec": spec, "metadata": metadata})
        return reply(version_status(served))

    async def guarded(request: Request) -> Response:
        try:
            return await models_endpoint(request)
        except RequestError as e:
            return error(e.message, e.status)
        except Exception as e:  # noqa: BLE001 - answered as JSON; the trace goes to the log
            log.exception("%s %s failed", request.method, request.url.path)
            return error(f"internal error: {_one_line(e)}", 500)

    page = (resources.files("seqapps") / "serve_static" / "index.html").read_bytes()

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        detail = "not found" if status == 404 else getattr(exc, "detail", "error")
        return error(f"{detail}: {request.method} {request.url.path}", status)

    async def server_error(request: Request, exc: Exception) -> Response:
        return error(f"internal error: {_one_line(exc)}", 500)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        # The first load happens before the server accepts connections (a few seconds a
        # model); it runs in a thread so the event loop is not held meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, registry.start)
        if not registry.snapshot():
            log.warning(
                "no models under %s yet; exports into it are served as they appear", registry.root
            )
        try:
            yield
        finally:
            registry.stop()
            pool.shutdown(wait=False, cancel_futures=True)

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/v1/models", guarded, methods=methods),
            Route("/v1/models/{rest:path}", guarded, methods=methods),
        ],
        exception_handlers={404: not_found, 405: not_found, 500: server_error},
        lifespan=lifespan,
    )
    app.state.registry = registry
    return app


def serve(
    root: str | Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    max_request_mb: float = DEFAULT_MAX_REQUEST_MB,
    max_batch: int = DEFAULT_MAX_BATCH,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_seconds: float = DEFAULT_POLL_S,
) -> None:
    """Serve every model under ``root`` until interrupted (Ctrl-C); ``seqapps serve``.

    ``root`` must exist; when it holds no model yet the server starts anyway, says so, and
    serves models as they are exported into it.

    Raises:
        SeqappsError: Starlette or uvicorn missing, ``root`` missing, a bad limit.
    """
    try:
        import uvicorn  # noqa: PLC0415
    except ImportError:
        raise SeqappsError(f"serve needs Starlette and uvicorn: {INSTALL_HINT}") from None
    root = Path(root)
    if not root.is_dir():
        raise SeqappsError(f"{root}: no such directory (expected ROOT/NAME/VERSION exports)")
    for name, value in [("--max-request-mb", max_request_mb), ("--max-batch", max_batch)]:
        if value <= 0:
            raise SeqappsError(f"{name} must be positive, got {value}")
    if timeout_s <= 0:
        raise SeqappsError(f"--timeout must be positive, got {timeout_s}")
    logging.basicConfig(level=logging.INFO, format="seqapps serve: %(message)s")
    registry = Registry(root, poll_seconds)
    app = create_app(
        root,
        max_request_bytes=int(max_request_mb * 2**20),
        max_batch=max_batch,
        timeout_s=timeout_s,
        registry=registry,
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: anyone who can reach it can use the models", host)
    where = f"[{host}]" if ":" in host else host
    log.info("page and REST API at http://%s:%s/ (models from %s)", where, port, root)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


__all__ = ["Registry", "RequestError", "create_app", "load_version", "ready", "serve"]
