import numpy as np
import pytest
import tensorflow as tf

from seqapps import config as config_lib
from seqapps.errors import ConfigError, DataError
from seqapps.export import export
from seqapps.runs import evaluate_run, load_run
from seqapps.tasks.forecasting import ForecastingConfig, ForecastingTask, forecast_scores
from seqapps.trainer import train

from ..conftest import png_is_a_drawing

# Under pytest-xdist (make test), the tests of the session's forecasting run share a worker.
pytestmark = pytest.mark.xdist_group("forecasting")

TINY = ["units=8", "epochs=2", "window=10", "horizon=3", "batch_size=64"]


def make_task(*overrides):
    return ForecastingTask(config_lib.resolve(ForecastingConfig, None, [*TINY, *overrides]))


def synthetic(tmp_path, n=300, tickers=("AAA", "BBB")):
    """Geometric random walks, one row per (ticker, day), in the long layout."""
    rng = np.random.default_rng(0)
    days = np.arange(np.datetime64("2019-01-01"), np.datetime64("2019-01-01") + n)
    lines = ["date,open,high,low,close,volume,Name"]
    for t in tickers:
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        lines += [
            f"{d},{c},{c * 1.01},{c * 0.99},{c},{1000 + i}," + t
            for i, (d, c) in enumerate(zip(days, close, strict=True))
        ]
    path = tmp_path / "prices.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_windows_target_the_next_h_days(tmp_path):
    task = make_task(f"data={synthetic(tmp_path)}")
    data = task.load_data()
    task.adapt(data)
    window, future, ticker = next(iter(task._windows(data, "test", 4)))
    origin = data.origins["test"][:4]
    s = data.series[int(ticker[0])]
    local = origin[0] - data.offsets[int(ticker[0])]
    np.testing.assert_allclose(window[0, :, 0], s.values[local - 9 : local + 1, 3], rtol=1e-6)
    np.testing.assert_allclose(future[0], s.values[local + 1 : local + 4, 3], rtol=1e-6)
    assert s.dates[local + 1] >= data.test_start  # the first forecast day is in the test period


def test_splits_do_not_straddle_the_cuts(tmp_path):
    task = make_task(f"data={synthetic(tmp_path)}")
    data = task.load_data()
    for t, off in enumerate(data.offsets):
        dates = data.series[t].dates
        for split, lo, hi in [
            ("train", None, data.val_start),
            ("val", data.val_start, data.test_start),
            ("test", data.test_start, None),
        ]:
            o = data.origins[split][data.tickers[split] == t] - off
            targets = np.concatenate([dates[o + h] for h in (1, 2, 3)])
            assert lo is None or (targets >= lo).all()
            assert hi is None or (targets < hi).all()


def test_no_leakage_from_the_test_period(tmp_path):
    """Scaling statistics and training windows must not change when test prices do."""
    path = synthetic(tmp_path)
    task = make_task(f"data={path}")
    data = task.load_data()
    task.adapt(data)
    lines = path.read_text().splitlines()
    cut = str(data.test_start)
    # Multiply every test-period price by 3 and volumes by 10.
    changed = [lines[0]] + [
        ",".join([p[0], *[str(float(v) * 3) for v in p[1:5]], str(float(p[5]) * 10), p[6]])
        if p[0] >= cut
        else line
        for line in lines[1:]
        for p in [line.split(",")]
    ]
    other = tmp_path / "changed.csv"
    other.write_text("\n".join(changed) + "\n")
    task2 = make_task(f"data={other}")
    data2 = task2.load_data()
    task2.adapt(data2)
    assert task2.stats == task.stats
    np.testing.assert_array_equal(data2.origins["train"], data.origins["train"])
    a = next(iter(task.make_dataset(data, "train", batch_size=512, training=False)))
    b = next(iter(task2.make_dataset(data2, "train", batch_size=512, training=False)))
    np.testing.assert_allclose(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])


def test_scores_on_a_hand_made_series():
    last = np.array([10.0, 20.0])
    actual = np.array([[11.0, 12.0], [19.0, 18.0]])
    persistence = np.repeat(last[:, None], 2, axis=1)
    drift = np.array([[11.0, 12.0], [21.0, 22.0]])
    scale = np.array([1.0, 2.0])
    p = forecast_scores(actual, persistence, last, scale)
    np.testing.assert_allclose(p["mae"], [1.0, 2.0])
    np.testing.assert_allclose(p["rmse"], [1.0, 2.0])
    np.testing.assert_allclose(p["mase"], [(1 + 0.5) / 2, (2 + 1) / 2])
    np.testing.assert_allclose(
        p["mape"], 100 * np.array([(1 / 11 + 1 / 19) / 2, (2 / 12 + 2 / 18) / 2])
    )
    d = forecast_scores(actual, drift, last, scale)
    np.testing.assert_allclose(d["mae"], [1.0, 2.0])  # right on ticker 1, wrong way on 2
    np.testing.assert_allclose(d["directional_accuracy"], [0.5, 0.5])


def test_train_evaluate_export_round_trip(runs):
    run = runs.get("forecasting").run_dir  # the session's tiny run on the packaged sample
    metrics = runs.metrics("forecasting")
    for key in [
        "mae",
        "rmse",
        "mase",
        "persistence_mae",
        "directional_accuracy",
        "drift_mase_h3",
        "moving_average_mase",
    ]:
        assert np.isfinite(metrics[key]), key
    per_ticker = (run / "per_ticker_test.csv").read_text().splitlines()
    assert len(per_ticker) == 1 + 3  # a header and the sample's three tickers
    for name in ["error_by_horizon_test.png", "forecasts_test.png"]:
        png_is_a_drawing(run / name)
    task, model = load_run(run)
    data = task.load_data()
    window, _, _ = next(iter(task._windows(data, "test", 5)))
    ref = task.to_prices(window[:, -1, 0], model(task.features(window))).numpy()
    loaded = runs.loaded("forecasting")  # the session export, loaded once
    out = loaded.serving_default(window)["forecast"].numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    assert out.shape == (5, 3) and (out > 0).all()


def test_too_short_and_bad_dates(tmp_path):
    path = synthetic(tmp_path, n=8)
    with pytest.raises(DataError, match="no ticker has the 13 rows one window needs"):
        make_task(f"data={path}").load_data()
    with pytest.raises(ConfigError, match="val_start='2019-99-01' is not a date"):
        make_task("val_start=2019-99-01")


def test_pinball_loss_is_minimised_by_the_quantile():
    from seqapps.tasks.forecasting import PinballLoss

    rng = np.random.default_rng(0)
    y = rng.normal(size=(2000, 1)).astype("float32")
    loss = PinballLoss([0.9])
    q90 = np.quantile(y, 0.9)

    def at(value):
        return float(loss(y, np.full((2000, 1, 1), value, "float32")))

    assert at(q90) < at(q90 - 0.3) and at(q90) < at(q90 + 0.3)


def test_quantile_heads_train_export_and_report_coverage(tmp_path):
    run = tmp_path / "run"
    train(make_task("quantiles=0.1,0.9", "epochs=1"), run)
    metrics = evaluate_run(run, "test")
    assert metrics["settings"]["interval_nominal_coverage"] == pytest.approx(0.8)
    assert 0.0 <= metrics["interval_coverage"] <= 1.0
    task, _ = load_run(run)
    window, _, _ = next(iter(task._windows(task.load_data(), "test", 4)))
    loaded = tf.saved_model.load(str(export(run, tmp_path / "models")))
    out = loaded.serving_default(window)
    assert out["forecast"].shape == (4, 3) and out["quantiles"].shape == (4, 3, 2)


def test_bad_quantiles():
    with pytest.raises(ConfigError, match="levels must be distinct, in"):
        make_task("quantiles=0.5,1.5")
    with pytest.raises(ConfigError, match="expected numbers like"):
        make_task("quantiles=low,high")


# --- numbers that are not numbers (issue #15) -------------------------------------------


@pytest.mark.parametrize(
    "override, message",
    [
        ("window=0", "window=0: must be >= 2"),
        ("window=1", "window=1: must be >= 2"),
        ("horizon=0", "horizon=0: must be >= 1"),
        ("ma_days=0", "ma_days=0: must be >= 1"),
    ],
)
def test_empty_windows_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        make_task(override)


def test_wide_file_with_a_ticker_listed_late_trains_on_its_prices_only(tmp_path):
    """A ticker starting 200 rows after the others, fill=ffill: no NaN close reaches a window."""
    rng = np.random.default_rng(0)
    days = np.arange(np.datetime64("2019-01-01"), np.datetime64("2019-01-01") + 400)
    a = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    b = 80 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    lines = ["date,AAA,LATE"] + [
        f"{d},{x:.4f},{'' if i < 200 else f'{y:.4f}'}"
        for i, (d, x, y) in enumerate(zip(days, a, b, strict=True))
    ]
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n")
    task = make_task(f"data={path}", "fill=ffill")
    data = task.load_data()
    late = data.series[1]
    assert late.ticker == "LATE" and len(late) == 200 and late.dates[0] == days[200]
    np.testing.assert_allclose(late.values[:, 3], np.round(b[200:], 4))
    assert np.isfinite(data.values[:, 3]).all()
    task.adapt(data)
    assert np.isfinite(task.stats["return_std"]) and task.stats["return_std"] > 0
    for split in ("train", "val", "test"):
        for x, y in task.make_dataset(data, split, batch_size=512, training=False):
            assert np.isfinite(x).all() and np.isfinite(y).all(), split


def with_row(path, replace, tmp_path):
    """``path`` with the 21st row of BBB rewritten by ``replace(cells)``; the new file, line."""
    lines = path.read_text().splitlines()
    at = [i for i, line in enumerate(lines) if line.endswith(",BBB")][20]
    cells = lines[at].split(",")
    replace(cells)
    lines[at] = ",".join(cells)
    out = tmp_path / "changed.csv"
    out.write_text("\n".join(lines) + "\n")
    return out, at + 1


@pytest.mark.parametrize(
    "inputs, column, value, message",
    [
        ("close", 4, "inf", "BBB: close 'inf' is not a finite number"),
        ("ohlcv", 4, "-inf", "BBB: close '-inf' is not a finite number"),
        ("ohlcv", 5, "-1000", "BBB: negative volume -1000"),
        ("close", 5, "-1000", "BBB: negative volume -1000"),
        ("close", 4, "0", "BBB: non-positive close 0"),
        ("ohlc", 2, "1", "BBB: high 1 is below low"),
    ],
)
def test_impossible_prices_are_data_errors_naming_file_line_and_ticker(
    tmp_path, inputs, column, value, message
):
    def put(cells):
        cells[column] = value

    path, line = with_row(synthetic(tmp_path), put, tmp_path)
    with pytest.raises(DataError, match=rf"changed.csv:{line}: {message}"):
        make_task(f"data={path}", f"inputs={inputs}", "fill=ffill").load_data()


def test_high_below_low_is_accepted_when_the_model_reads_closes_only(tmp_path):
    def put(cells):
        cells[2] = "1"

    path, _ = with_row(synthetic(tmp_path), put, tmp_path)
    assert len(make_task(f"data={path}").load_data().series) == 2


def test_non_finite_forecasts_are_an_error_not_mae_nan(runs, tmp_path):
    from seqapps.errors import SeqappsError

    run = runs.get("forecasting")
    model = keras_clone(run.model)
    weights = model.get_weights()
    weights[-1] = np.full_like(weights[-1], np.nan)  # the output bias: every forecast NaN
    model.set_weights(weights)
    n = len(run.data.test)
    with pytest.raises(SeqappsError, match=rf"not finite on {n} of {n} test windows: its weights"):
        run.task.evaluate(model, run.data, "test", tmp_path)
    assert not list(tmp_path.iterdir())  # no scores, no plots


def keras_clone(model):
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def corrupt(window, row, day, column, value):
    x = window.numpy().copy()
    x[row, day, column] = value
    return tf.constant(x)


def test_serving_marks_rows_it_cannot_forecast_from(runs):
    """NaN, inf, zero or negative prices: that row invalid with NaN forecasts, the rest served."""
    run = runs.get("forecasting")
    task = run.task
    loaded = runs.loaded("forecasting")
    window, _, _ = next(iter(task._windows(run.data, "test", 6)))
    clean = loaded.serving_default(window)
    assert clean["valid"].dtype == tf.bool and clean["valid"].numpy().all()
    x = window.numpy().copy()
    x[1, 3, 0] = np.nan
    x[2, -1, 0] = np.inf
    x[3, 0, 0] = 0.0
    x[4, 5, 0] = -12.5
    out = loaded.serving_default(tf.constant(x))
    np.testing.assert_array_equal(out["valid"], [True, False, False, False, False, True])
    forecast = out["forecast"].numpy()
    assert np.isnan(forecast[1:5]).all()
    np.testing.assert_allclose(forecast[[0, 5]], clean["forecast"].numpy()[[0, 5]], rtol=1e-6)
    # The Python path (seqapps predict's, and the training code's) agrees.
    np.testing.assert_array_equal(task.serve(run.model, tf.constant(x))["valid"], out["valid"])


def test_serving_reads_the_trained_window(runs):
    """Fewer days than the window: a clear InvalidArgumentError; more: the last W days."""
    run = runs.get("forecasting")
    loaded = runs.loaded("forecasting")
    window, _, _ = next(iter(run.task._windows(run.data, "test", 3)))  # (3, 10, 1)
    for short in (window[:, 1:], window[:, :0]):
        days = short.shape[1]
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=rf"prices: the model reads the last 10 days, got {days}",
        ):
            loaded.serving_default(short)
    longer = tf.concat([tf.fill([3, 7, 1], np.nan), window], axis=1)  # ignored days
    np.testing.assert_allclose(
        loaded.serving_default(longer)["forecast"], loaded.serving_default(window)["forecast"]
    )
    empty = loaded.serving_default(tf.zeros([0, 0, 1]))  # an empty batch of no days
    assert empty["forecast"].shape == (0, 3) and empty["valid"].shape == (0,)


def test_predict_refuses_what_serving_cannot_forecast_from(runs, tmp_path, capsys):
    from seqapps.cli import main

    run = runs.get("forecasting")
    export_dir = str(runs.export("forecasting"))
    good = run.inputs()[0]
    text = open(good).read().splitlines()
    for value, message in [
        ("inf", "close 'inf' is not a finite number"),
        ("-3", "non-positive close -3"),
    ]:
        cells = text[-2].split(",")
        cells[4] = value
        bad = tmp_path / "bad.csv"
        bad.write_text("\n".join([*text[:-2], ",".join(cells), text[-1]]) + "\n")
        assert main(["predict", export_dir, str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and message in err and f"bad.csv:{len(text) - 1}:" in err, err
    short = tmp_path / "short.csv"
    short.write_text("\n".join(text[:6]) + "\n")
    assert main(["predict", export_dir, str(short)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "5 rows, but the model reads the last 10 days" in err, err


def test_format_predictions_refuses_an_invalid_row(runs):
    task = ForecastingTask(runs.get("forecasting").task.cfg)  # not the session's task
    task._predicted = [("AAA", np.datetime64("2020-01-02"), 10.0, "a.csv")]
    outputs = {"forecast": tf.fill([1, 3], np.nan), "valid": tf.constant([False])}
    with pytest.raises(DataError, match="a.csv: AAA: the model cannot forecast from"):
        task.format_predictions(["a.csv"], outputs)
