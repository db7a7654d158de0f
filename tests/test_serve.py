"""``seqapps serve``: TF Serving's REST API over the session's tiny exports, on a real socket.

Each task's tests share its xdist worker (the one that trains its session run); every
server is a uvicorn thread on a free 127.0.0.1 port. The first part needs no model.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import math
import os
import shutil
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("starlette", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")

from seqapps import cli  # noqa: E402
from seqapps.serve import (  # noqa: E402
    Registry,
    RequestError,
    Served,
    _tf_message,
    create_app,
    format_predict,
    load_version,
    to_array,
    to_json,
)

from .conftest import by_task  # noqa: E402
from .serving import b64, call, instances_for, running  # noqa: E402

TASK_NAMES = ["sentiment", "ner", "translation", "captioning", "forecasting"]
BY_TASK = by_task(TASK_NAMES)
SENTIMENT = pytest.mark.xdist_group("sentiment")
INPUT_NAME = {
    "sentiment": "texts",
    "ner": "sentences",
    "translation": "sentences",
    "captioning": "images",
    "forecasting": "prices",
}


# --- no model needed ----------------------------------------------------------------------
def test_json_values_become_tensors_or_one_line_errors():
    assert to_array([[1, 2.5], [3, 4]], tf.float32, "x").dtype == np.float32
    texts = to_array(["a", b64(b"\xff\x00"), "é"], tf.string, "x")
    assert list(texts) == [b"a", b"\xff\x00", "é".encode()]
    # base64 as `base64` prints it (wrapped) or without padding is accepted.
    assert to_array([{"b64": "aGVs\nbG8"}], tf.string, "x")[0] == b"hello"
    cases = [
        ([[1.0], [1.0, 2.0]], tf.float32, "rectangular"),
        ([1.0, [2.0]], tf.float32, "expected a value"),
        (["1.5"], tf.float32, "not of expected type float32"),
        ([True], tf.float32, "not of expected type float32"),
        ([None], tf.float32, "null"),
        ([1e39], tf.float32, "without loss"),
        ([1], tf.string, "not of expected type string"),
        ([{"b64": "!!"}], tf.string, "base64"),
        ([{"text": "a"}], tf.string, "not of expected type string"),
        ([2**40], tf.int32, "out of range"),
    ]
    for value, dtype, message in cases:
        with pytest.raises(RequestError, match=message) as info:
            to_array(value, dtype, "input 'x'")
        assert "\n" not in info.value.message and info.value.status == 400


def test_outputs_take_tf_servings_response_shapes():
    outputs = {
        "label": np.array([b"pos", b"neg"], dtype=object),
        "probabilities": np.array([[0.2, 0.8], [0.9, 0.1]], np.float32),
    }
    rows = format_predict(outputs, "row")
    # float32 written as its shortest decimal, as TF Serving writes it.
    assert rows == {
        "predictions": [
            {"label": "pos", "probabilities": [0.2, 0.8]},
            {"label": "neg", "probabilities": [0.9, 0.1]},
        ]
    }
    assert format_predict({"t": outputs["label"]}, "row") == {"predictions": ["pos", "neg"]}
    columns = format_predict(outputs, "columnar")
    assert columns == {
        "outputs": {"label": ["pos", "neg"], "probabilities": [[0.2, 0.8], [0.9, 0.1]]}
    }
    assert format_predict({"t": outputs["label"]}, "columnar") == {"outputs": ["pos", "neg"]}
    # Only outputs named *_bytes come back as base64.
    raw = np.array([b"\xff"], dtype=object)
    assert to_json(raw, "image_bytes") == [{"b64": "/w=="}]
    assert to_json(raw, "text") == ["\ufffd"]
    assert to_json(np.array([np.nan], np.float32), "f")[0] != 0  # NaN kept (bare token in JSON)
    assert to_json(np.array([3], np.int64), "n") == [3]


def test_tensorflow_errors_are_one_line_messages():
    error = tf.errors.InvalidArgumentError(
        None,
        None,
        "Graph execution error:\n\nDetected at node window_check/Assert defined at (most "
        "recent call last):\n<stack traces unavailable>\nassertion failed: [prices: the model "
        "reads the last 10 days, got 3]\n\t [[{{node window_check/Assert}}]] [Op:__inference_1]",
    )
    assert _tf_message(error) == "prices: the model reads the last 10 days, got 3"


def _fake_version(name: str, path: Path) -> Served:
    if (path / "broken").exists():
        raise ValueError("a broken SavedModel")
    return Served(name, int(path.name), path, "sentiment", None, {}, {}, {})


def _make_version(root: Path, name: str, version: str, *, complete: bool = True) -> Path:
    path = root / name / version
    (path / "assets.extra" / "seqapps").mkdir(parents=True)
    (path / "assets.extra" / "seqapps" / "config.yaml").write_text("{}")
    if complete:
        (path / "saved_model.pb").write_bytes(b"")
    return path


def test_registry_serves_the_newest_ready_version(tmp_path):
    registry = Registry(tmp_path, poll_seconds=0, loader=_fake_version)
    assert registry.scan() == [] and registry.snapshot() == {}
    _make_version(tmp_path, "a", "1")
    _make_version(tmp_path, "a", "2", complete=False)  # no saved_model.pb yet
    (tmp_path / "a" / ".tmp-export-1-x").mkdir()
    _make_version(tmp_path, "a", "x9")  # not an integer: never a version
    (tmp_path / ".hidden").mkdir()
    registry.scan()
    assert {n: s.version for n, s in registry.snapshot().items()} == {"a": 1}
    (tmp_path / "a" / "2" / "saved_model.pb").write_bytes(b"")
    before = registry.snapshot()
    assert [s.version for s in registry.scan()] == [2]
    assert before["a"].version == 1  # the old mapping is never changed in place
    # A version that fails to load is not served, nor retried while unchanged.
    (_make_version(tmp_path, "a", "3") / "broken").write_text("")
    assert registry.scan() == [] and registry.get("a").version == 2
    calls = []
    registry.loader = lambda n, p: calls.append(p) or _fake_version(n, p)
    registry.scan()
    assert calls == []
    # Versions removed from disk: the newest remaining one is served, or none.
    shutil.rmtree(tmp_path / "a" / "3")
    shutil.rmtree(tmp_path / "a" / "2")
    registry.scan()
    assert registry.get("a").version == 1
    with pytest.raises(RequestError, match=r"Specific\(a, 2\)") as info:
        registry.get("a", 2)
    assert info.value.status == 404
    shutil.rmtree(tmp_path / "a")
    registry.scan()
    assert registry.snapshot() == {}
    # A model root itself (ROOT/VERSION) is served under its own name.
    _make_version(tmp_path, "b", "4")
    single = Registry(tmp_path / "b", poll_seconds=0, loader=_fake_version)
    single.scan()
    assert list(single.snapshot()) == ["b"]


def test_cli_serve_binds_to_loopback_by_default(tmp_path, monkeypatch, capsys):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    args = cli._parser().parse_args(["serve"])
    assert (args.root, args.host, args.port) == ("saved_models", "127.0.0.1", 8501)
    assert cli.main(["serve", str(tmp_path)]) == 0  # an empty ROOT: served, and said so
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8501)
    assert seen["app"].state.registry.root == tmp_path
    assert cli.main(["serve", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"seqapps: error: {tmp_path / 'missing'}: no such directory (expected "
        "ROOT/NAME/VERSION exports)"
    ]
    assert cli.main(["serve", str(tmp_path), "--max-batch", "0"]) == 2
    assert "--max-batch must be positive" in capsys.readouterr().err


def test_cli_serve_without_the_extra_says_how_to_install(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    assert cli.main(["serve", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "seqapps: error: serve needs Starlette and uvicorn: pip install 'seqapps[serve]'"
    )


def test_page_and_errors_of_an_empty_server(tmp_path):
    with running(create_app(tmp_path, poll_seconds=0)) as url:
        status, models = call(f"{url}/v1/models")
        assert (status, models) == (200, {"models": []})
        with urllib_open(url + "/") as response:
            page = response.read().decode()
            assert response.headers["content-type"].startswith("text/html")
        assert '<select id="model"' in page
        # Self-contained: nothing fetched from elsewhere (the machine may be offline).
        assert 'src="http' not in page and 'href="http' not in page and "@import" not in page
        for path, method, code in [
            ("/v1/models/nope", "GET", 404),
            ("/v1/models/nope/versions/3/metadata", "GET", 404),
            ("/v1/models/nope:predict", "POST", 404),
            ("/v1/models/nope/versions/x", "GET", 400),
            ("/v1/models/nope/labels/stable", "GET", 404),
            ("/elsewhere", "GET", 404),
            ("/v1/models/nope:predict", "GET", 405),
            ("/v1/models/nope", "POST", 405),
        ]:
            status, answer = call(
                url + path, method=method, data=b"{}" if method == "POST" else None
            )
            assert status == code, (path, answer)
            assert set(answer) == {"error"} and "\n" not in answer["error"], answer


def urllib_open(url: str):
    import urllib.request

    return urllib.request.urlopen(url, timeout=60)


# --- every task -------------------------------------------------------------------------
def _expected(app, name: str, tensor) -> dict[str, np.ndarray]:
    """The signature called directly, in process, on the same input."""
    loaded = app.state.registry.get(name).loaded
    signature = loaded.signatures["serving_default"]
    spec = next(iter(signature.structured_input_signature[1].values()))
    outputs = signature(**{INPUT_NAME[name]: tf.constant(tensor, spec.dtype)})
    return {k: v.numpy() for k, v in outputs.items()}


def _assert_same(served, expected: np.ndarray) -> None:
    if expected.dtype == object:  # strings: UTF-8 text
        text = np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(expected)
        assert served == text.tolist()
    elif expected.dtype.kind == "f":
        np.testing.assert_allclose(np.array(served, dtype=expected.dtype), expected, rtol=1e-6)
    else:
        np.testing.assert_array_equal(np.array(served, dtype=expected.dtype), expected)


@pytest.mark.parametrize("name", BY_TASK)
def test_status_and_metadata(name, runs, model_servers):
    url, app = model_servers.get(name)
    ok = {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert call(f"{url}/v1/models/{name}") == (200, ok)
    assert call(f"{url}/v1/models/{name}/versions/1") == (200, ok)
    status, answer = call(f"{url}/v1/models/{name}/versions/2")
    assert status == 404 and "Specific" in answer["error"]
    status, meta = call(f"{url}/v1/models/{name}/versions/1/metadata")
    assert status == 200
    assert meta["model_spec"] == {"name": name, "signature_name": "", "version": "1"}
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    loaded = app.state.registry.get(name).loaded.signatures["serving_default"]
    specs = loaded.structured_input_signature[1]
    assert list(sig["inputs"]) == [INPUT_NAME[name]] == list(specs)
    spec = specs[INPUT_NAME[name]]
    dtype = {"string": "DT_STRING", "float32": "DT_FLOAT"}[spec.dtype.name]
    assert sig["inputs"][INPUT_NAME[name]]["dtype"] == dtype
    dims = sig["inputs"][INPUT_NAME[name]]["tensor_shape"]["dim"]
    assert [d["size"] for d in dims] == [str(-1 if d is None else d) for d in spec.shape]
    assert set(sig["outputs"]) == set(loaded.structured_outputs)
    status, listing = call(f"{url}/v1/models")
    (entry,) = listing["models"]
    assert (entry["name"], entry["version"], entry["task"]) == (name, "1", name)


@pytest.mark.parametrize("name", BY_TASK)
def test_predict_rows_and_columns_match_the_signature(name, runs, model_servers):
    url, app = model_servers.get(name)
    run = runs.get(name)
    instances, tensor = instances_for(name, run.inputs(), run.task)
    expected = _expected(app, name, tensor)
    predict = f"{url}/v1/models/{name}:predict"
    status, rows = call(predict, {"instances": instances})
    assert status == 200, rows
    assert len(rows["predictions"]) == len(instances)
    status, columns = call(f"{url}/v1/models/{name}/versions/1:predict", {"inputs": instances})
    assert status == 200, columns
    status, named = call(
        predict,
        {
            "signature_name": "serving_default",
            "instances": [{INPUT_NAME[name]: x} for x in instances],
        },
    )
    assert status == 200 and named == rows
    outputs = columns["outputs"]
    if len(expected) == 1:  # one output: a list of values, and the value itself
        (key,) = expected
        _assert_same(rows["predictions"], expected[key])
        _assert_same(outputs, expected[key])
    else:
        assert set(outputs) == set(expected)
        for key, value in expected.items():
            _assert_same([p[key] for p in rows["predictions"]], value)
            _assert_same(outputs[key], value)
    if name in ("sentiment", "ner", "translation"):
        # Text as {"b64": ...} is the same text.
        as_b64 = [b64(t.encode("utf-8")) for t in instances]
        assert call(predict, {"instances": as_b64}) == (200, rows)


@pytest.mark.xdist_group("forecasting")
def test_forecasting_invalid_rows_and_short_windows(runs, model_servers):
    url, _ = model_servers.get("forecasting")
    window = runs.get("forecasting").task.cfg.window
    good = [[100.0 + i] for i in range(window)]
    bad = [[0.0]] * window  # a price <= 0: that row is NaN, the batch is still served
    status, answer = call(f"{url}/v1/models/forecasting:predict", {"instances": [good, bad]})
    assert status == 200
    first, second = answer["predictions"]
    assert first["valid"] is True and all(math.isfinite(v) for v in first["forecast"])
    assert second["valid"] is False and all(math.isnan(v) for v in second["forecast"])
    status, answer = call(f"{url}/v1/models/forecasting:predict", {"instances": [good[:3]]})
    assert (status, answer) == (
        400,
        {"error": f"prices: the model reads the last {window} days, got 3"},
    )
    status, answer = call(f"{url}/v1/models/forecasting:predict", {"instances": [[1.0, 2.0]]})
    assert status == 400 and "does not fit the signature's [-1,-1,1]" in answer["error"]


# --- the sentiment model: errors, limits, threads, new versions -----------------------------
TEXTS = ["what a great day :)", "worst service ever", "", "@user #monday 😀 sooo tired"]


@SENTIMENT
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "JSON parse error"),
        (b"", "the request body is empty"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"instance": ["a"]}', "exactly one of the keys 'instances' (rows) or 'inputs'"),
        (b'{"instances": ["a"], "inputs": ["a"]}', "exactly one of the keys"),
        (b'{"instances": []}', "no values in 'instances'"),
        (b'{"instances": "a"}', "'instances' must be a list"),
        (b'{"instances": [1, 2]}', "input 'texts': 1 (int) is not of expected type string"),
        (b'{"instances": [{"sentences": "a"}]}', "must be the signature's inputs: texts"),
        (b'{"inputs": {"sentences": ["a"]}}', "'inputs' must have the keys texts; unknown"),
        (b'{"instances": [["a"], ["b", "c"]]}', "rectangular"),
        (b'{"instances": [["a"]]}', "shape [1,1] does not fit the signature's [-1]"),
        (b'{"instances": [{"b64": "***"}]}', "unable to base64 decode"),
        (b'{"instances": ["a"], "signature_name": "other"}', '"other" not found'),
        (b'{"instances": ["a"], "signature_name": 3}', "'signature_name' must be a string"),
        (b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", ""),
    ],
    ids=lambda v: v[:30].decode() if isinstance(v, bytes) else None,
)
def test_bad_requests_are_400_with_a_one_line_json_error(body, message, model_servers):
    url, _ = model_servers.get("sentiment")
    status, answer = call(f"{url}/v1/models/sentiment:predict", data=body, method="POST")
    assert status == 400, answer
    assert set(answer) == {"error"} and message in answer["error"], answer
    assert "\n" not in answer["error"] and "Traceback" not in answer["error"]


@pytest.mark.slow  # waits out timeouts, 18 s: make test-all
@SENTIMENT
def test_limits_body_size_batch_and_time(runs, tmp_path):
    runs.export("sentiment")
    root = tmp_path / "models"
    root.mkdir()
    os.symlink(runs.export("sentiment").parent, root / "sentiment")

    release = threading.Event()

    def slow_loader(name: str, path: Path) -> Served:
        served = load_version(name, path)
        sig = served.signatures["serving_default"]
        sig.function(texts=tf.constant(["warm up"]))  # a first call is slower: not timed here

        def slow(**inputs):
            if inputs["texts"].shape[0] == 3:  # only this request's batch hangs
                release.wait(60)
            return sig.function(**inputs)

        signatures = {"serving_default": dataclasses.replace(sig, function=slow)}
        return dataclasses.replace(served, signatures=signatures)

    app = create_app(
        root,
        max_request_bytes=2000,
        max_batch=4,
        timeout_s=5,  # the last request must be answered within it on a loaded machine
        registry=Registry(root, poll_seconds=0, loader=slow_loader),
    )
    with running(app) as url:
        predict = f"{url}/v1/models/sentiment:predict"
        status, answer = call(predict, {"instances": ["x" * 3000]})
        assert status == 413 and "limit of 2000 bytes (--max-request-mb)" in answer["error"]
        # A chunked body has no Content-Length: the limit holds while it is read.
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        chunks = [b'{"instances": ["', *[b"y" * 500] * 6, b'"]}']
        connection.request(
            "POST",
            "/v1/models/sentiment:predict",
            body=iter(chunks),
            encode_chunked=True,
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        assert response.status == 413 and "2000 bytes" in json.loads(response.read())["error"]
        connection.close()
        status, answer = call(predict, {"instances": ["a"] * 5})
        assert status == 400 and "5 instances are over this server's limit of 4" in answer["error"]
        status, answer = call(predict, {"inputs": ["a"] * 5})
        assert status == 400 and "limit of 4 (--max-batch)" in answer["error"]
        status, answer = call(predict, {"instances": ["a", "b", "c"]})
        release.set()
        assert (status, answer) == (
            504,
            {"error": "the model did not answer within 5 s (--timeout)"},
        )
        status, answer = call(predict, {"instances": ["a", "b"]})  # the server still answers
        assert status == 200 and len(answer["predictions"]) == 2


@SENTIMENT
def test_concurrent_requests_are_all_answered_correctly(runs, model_servers):
    url, app = model_servers.get("sentiment")
    batches = [[TEXTS[(i + j) % len(TEXTS)] for j in range(1 + i % 3)] for i in range(16)]
    expected = [
        _expected(app, "sentiment", np.array([t.encode() for t in b], dtype=object))
        for b in batches
    ]
    results: list = [None] * len(batches)
    barrier = threading.Barrier(len(batches))

    def worker(i: int) -> None:
        barrier.wait()  # all requests at once
        results[i] = call(f"{url}/v1/models/sentiment:predict", {"instances": batches[i]})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for (status, answer), want in zip(results, expected, strict=True):
        assert status == 200, answer
        got = answer["predictions"]
        assert [p["label"] for p in got] == [x.decode() for x in want["label"]]
        np.testing.assert_allclose(
            [p["probabilities"] for p in got], want["probabilities"], rtol=1e-5, atol=1e-7
        )


def _wait_for(predicate, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@SENTIMENT
def test_new_versions_are_served_without_restart_and_half_written_ones_never(runs, tmp_path):
    export = runs.export("sentiment")
    model = tmp_path / "models" / "sentiment"
    model.mkdir(parents=True)
    shutil.copytree(export, model / "1")
    app = create_app(tmp_path / "models", poll_seconds=0.05)
    registry = app.state.registry
    with running(app) as url:
        status_url = f"{url}/v1/models/sentiment"
        predict = f"{url}/v1/models/sentiment:predict"
        assert call(status_url)[1]["model_version_status"][0]["version"] == "1"
        # Half-written versions: a temporary export directory (even one holding a whole
        # model), an integer directory still without saved_model.pb, a broken SavedModel.
        shutil.copytree(export, model / ".tmp-export-1-abc")
        shutil.copytree(export / "assets.extra", model / "5" / "assets.extra")
        # built aside and renamed in, so that no poll sees a whole version 4 in between
        shutil.copytree(export, model / ".building-4")
        (model / ".building-4" / "saved_model.pb").write_bytes(b"not a SavedModel")
        (model / ".building-4").rename(model / "4")
        scans = []
        original = registry.scan
        registry.scan = lambda: scans.append(1) or original()
        assert _wait_for(lambda: len(scans) >= 5)
        assert call(status_url)[1]["model_version_status"][0]["version"] == "1"
        # Requests keep being answered while the next version is loaded and swapped in.
        answers, stop = [], threading.Event()

        def keep_asking() -> None:
            while not stop.is_set():
                answers.append(call(predict, {"instances": TEXTS})[0])

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            # As `seqapps export` writes one: a temporary directory renamed into place.
            shutil.copytree(export, model / ".tmp-export-2-def")
            shutil.rmtree(model / "5")
            os.rename(model / ".tmp-export-2-def", model / "5")

            def version() -> str:
                return call(status_url)[1]["model_version_status"][0]["version"]

            assert _wait_for(lambda: version() == "5"), "version 5 was not loaded"
        finally:
            stop.set()
            asker.join(60)
        assert answers and set(answers) == {200}
        status, answer = call(f"{url}/v1/models/sentiment/versions/5:predict", {"instances": TEXTS})
        assert status == 200 and len(answer["predictions"]) == len(TEXTS)
        assert call(f"{url}/v1/models/sentiment/versions/1:predict", {"instances": TEXTS})[0] == 404
        assert call(f"{url}/v1/models/sentiment/versions/4")[0] == 404  # never loaded
