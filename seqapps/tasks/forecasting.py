"""Stock forecasting: the last W trading days of a ticker -> its next H closes.

The model reads a window of raw prices and predicts H log-returns of the close relative to
the window's last close, scaled by the training period's daily return volatility; forecasts
are turned back into prices (``last_close * exp(return)``). Working in returns relative to
the last close makes windows comparable across tickers and price levels, so one model trains
across many tickers, and a model that has learnt nothing forecasts "no change": persistence.

Splits are chronological by the *forecast dates*: a window belongs to train if all H target
days fall before ``val_start``, to val if they fall in [val_start, test_start), to test if
they fall on or after ``test_start``; windows straddling a cut are dropped. The inputs of a
val or test window may reach back before the cut: that is past data, known when forecasting.
Scaling statistics come from training-period days only.

Example:
    >>> from seqapps.tasks.forecasting import ForecastingConfig, ForecastingTask
    >>> task = ForecastingTask(ForecastingConfig(window=30, horizon=5))
    >>> data = task.load_data()   # the packaged sample: 3 tickers, 3 years
"""

from __future__ import annotations

import csv
import dataclasses
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

import keras
import numpy as np
import tensorflow as tf

from seqapps.config import RecurrentConfig, TrainConfig
from seqapps.data.io import SPLITS, Splits, sample_dir
from seqapps.data.prices import PRICE_FIELDS, Columns, Series, load_prices
from seqapps.errors import ConfigError, DataError, TrainingError
from seqapps.layers.recurrent import recurrent_stack
from seqapps.metrics import PinballLoss, forecast_scores
from seqapps.plots import plot_forecasts, plot_horizon_errors
from seqapps.progress import progress_bar
from seqapps.space import Choice, IntRange
from seqapps.task import DataSource, Task, read_json, write_json

INPUT_FIELDS = {"close": [3], "ohlc": [0, 1, 2, 3], "ohlcv": [0, 1, 2, 3, 4]}
METHODS = ("model", "persistence", "drift", "moving_average")


@dataclasses.dataclass
class ForecastingConfig(RecurrentConfig, TrainConfig):
    """Forecasting settings: the shared training and recurrent fields plus these."""

    units: int = 64
    bidirectional: bool = False
    dropout: float = 0.1
    batch_size: int = 256
    # 4 epochs with patience 2 over 200,000 S&P 500 windows (782 steps of 256 each): the
    # benchmark's budget, in optimisation steps so one ticker's few thousand windows train
    # hundreds of short epochs rather than 4.
    train_steps: int | None = 3128
    patience_steps: int | None = 1564
    # Trading days of history the model reads, and trading days it forecasts.
    window: int = 60
    horizon: int = 5
    search_space: ClassVar[dict[str, Any]] = {
        "window": Choice((20, 40, 60, 90)),
        "train_steps": IntRange(1500, 12000, log=True),  # 2-15 benchmark epochs
    }
    # Price columns the model reads (and the SavedModel takes): close only, OHLC, or OHLCV.
    inputs: Literal["close", "ohlc", "ohlcv"] = "close"
    # File layout: long (date, OHLCV, ticker per row), wide (a close column per ticker), auto.
    layout: Literal["auto", "long", "wide"] = "auto"
    date_column: str = "date"
    ticker_column: str = "Name"
    open_column: str = "open"
    high_column: str = "high"
    low_column: str = "low"
    close_column: str = "close"
    volume_column: str = "volume"
    # Missing values: an error, carried forward from the previous day, or the day dropped.
    # Under ffill a ticker's history runs from its first to its last close (no filled edges).
    fill: Literal["error", "ffill", "drop"] = "error"
    # First day of validation / test (YYYY-MM-DD); "" = cut the calendar span by fraction.
    # The periods are cut from data= by date: train= / val= / test= files are refused.
    val_start: str = ""
    test_start: str = ""
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    # Moving-average baseline: mean of the last ma_days closes.
    ma_days: int = 20
    # Tickers drawn in the forecast-vs-actual plot, comma separated ("" = the first three).
    plot_tickers: str = ""
    # Quantile levels for a forecast interval, e.g. "0.1,0.9" ("" = point forecasts only).
    # Extra heads trained with the pinball loss; evaluation reports the interval's coverage.
    quantiles: str = ""

    @property
    def quantile_levels(self) -> list[float]:
        """The levels of ``quantiles`` as floats, ascending."""
        return sorted(float(q) for q in self.quantiles.split(",") if q.strip())

    def check(self) -> None:
        """Raise :class:`ConfigError` for an out-of-range task setting.

        ``train=`` / ``val=`` / ``test=`` are refused: forecasting cuts one price history
        per ticker into periods by date (``val_start``, ``test_start``), and its windows
        need the days before each period's start, which per-period files would cut off.
        """
        if self.train or self.val or self.test:
            raise ConfigError(
                "forecasting splits one price history by date: give all prices as data= "
                "(a file, a folder of per-ticker files, or an archive) and choose the periods "
                "with val_start= / test_start= instead of train= / val= / test="
            )
        if self.batch_tokens:
            raise ConfigError(
                f"batch_tokens={self.batch_tokens}: every forecasting window has the same "
                "length (window=), so batches are by count: set batch_size= instead"
            )
        try:
            levels = self.quantile_levels
        except ValueError:
            raise ConfigError(
                f"quantiles={self.quantiles!r}: expected numbers like 0.1,0.9"
            ) from None
        if any(not 0 < q < 1 for q in levels) or len(set(levels)) != len(levels):
            raise ConfigError(f"quantiles={self.quantiles!r}: levels must be distinct, in (0, 1)")
        # A window of one day has no return to read; the drift baseline divides by window-1.
        for key, least in (("window", 2), ("horizon", 1), ("ma_days", 1)):
            if getattr(self, key) < least:
                raise ConfigError(f"{key}={getattr(self, key)}: must be >= {least}")
        for key in ("val_start", "test_start"):
            value = getattr(self, key)
            if value:
                try:
                    np.datetime64(value, "D")
                except ValueError:
                    raise ConfigError(f"{key}={value!r} is not a date (YYYY-MM-DD)") from None


@dataclasses.dataclass
class Windows:
    """One split's forecast windows.

    ``origins`` ``(n,)`` int64: global row index of each window's last input day;
    ``tickers`` ``(n,)`` int64: the index of each window's ticker.
    """

    origins: np.ndarray
    tickers: np.ndarray

    def __len__(self) -> int:
        return len(self.origins)

    def subset(self, index: np.ndarray) -> Windows:
        """The windows at ``index``, in that order."""
        return Windows(self.origins[index], self.tickers[index])


@dataclasses.dataclass
class PriceData(Splits):
    """All tickers' prices concatenated, plus the forecast windows of each split.

    ``values`` is ``(total_days, 5)`` (open, high, low, close, volume); ``offsets`` the row
    where each ticker starts; ``train`` / ``val`` / ``test`` the :class:`Windows`.
    """

    series: list[Series]
    values: np.ndarray
    offsets: np.ndarray
    train: Windows
    val: Windows
    test: Windows
    val_start: np.datetime64
    test_start: np.datetime64

    @property
    def origins(self) -> dict[str, np.ndarray]:
        """Window origins per split name."""
        return {k: self.split(k).origins for k in SPLITS}

    @property
    def tickers(self) -> dict[str, np.ndarray]:
        """Ticker index of each window, per split name."""
        return {k: self.split(k).tickers for k in SPLITS}


class ForecastingTask(Task[ForecastingConfig, PriceData]):
    """Direct multi-horizon forecasting of daily closes with a recurrent network."""

    name = "forecasting"
    config_class = ForecastingConfig
    monitor = "val_loss"

    def validation_metrics(self) -> dict[str, Literal["min", "max"]]:
        """Losses and MAE of the scaled returns, all minimised.

        Point forecasts: ``val_loss`` (MSE), ``val_mae``. With ``quantiles``: ``val_loss``
        (MSE + pinball), ``val_forecast_loss``, ``val_quantiles_loss``, ``val_forecast_mae``.
        """
        if not self.cfg.quantiles:
            return {"val_loss": "min", "val_mae": "min"}
        names = ("val_loss", "val_forecast_loss", "val_quantiles_loss", "val_forecast_mae")
        return dict.fromkeys(names, "min")

    count_keys = ("windows", "tickers")
    serving_filler = None  # an empty batch of windows gives empty forecasts already
    setting_keys = ("interval_nominal_coverage",)

    def __init__(self, cfg: ForecastingConfig) -> None:
        super().__init__(cfg)
        self.stats: dict = {}
        # Position of the close among the input columns (close alone, or O, H, L, C[, V]).
        self.close_at = 0 if cfg.inputs == "close" else 3

    # --- data ------------------------------------------------------------------------
    def _columns(self) -> Columns:
        c = self.cfg
        return Columns(
            c.date_column,
            c.ticker_column,
            c.open_column,
            c.high_column,
            c.low_column,
            c.close_column,
            c.volume_column,
        )

    def _read(self, source: str | Path) -> list[Series]:
        """:func:`load_prices` with this config; high >= low is checked when the model reads it."""
        cfg = self.cfg
        return load_prices(
            source, cfg.layout, self._columns(), cfg.fill, check_ranges=cfg.inputs != "close"
        )

    def _load(self, source: str | Path) -> PriceData:
        """Load, validate and cut a price file into chronological window origins."""
        cfg = self.cfg
        series = self._read(source)
        if cfg.inputs != "close":
            for s in series:
                needed = INPUT_FIELDS[cfg.inputs]
                if np.isnan(s.values[:, needed]).all(axis=0).any():
                    raise DataError(
                        source,
                        f"{s.ticker}: inputs={cfg.inputs} needs columns the file does not have",
                        hint="use inputs=close",
                    )
        need = cfg.window + cfg.horizon
        short = [s.ticker for s in series if len(s) < need]
        if len(short) == len(series):
            raise DataError(
                source,
                f"no ticker has the {need} rows one window needs "
                f"(window={cfg.window} + horizon={cfg.horizon})",
            )
        if short:  # too short for a single window: skipped, and said so
            print(
                f"forecasting: skipping {len(short)} ticker(s) with fewer than {need} rows: "
                f"{', '.join(short[:10])}{' ...' if len(short) > 10 else ''}",
                file=sys.stderr,
            )
        series = [s for s in series if len(s) >= need]
        first = min(s.dates[0] for s in series)
        last = max(s.dates[-1] for s in series)
        span = (last - first).astype(np.int64)
        test_start = (
            np.datetime64(cfg.test_start, "D")
            if cfg.test_start
            else last - int(span * cfg.test_fraction)
        )
        val_start = (
            np.datetime64(cfg.val_start, "D")
            if cfg.val_start
            else test_start - int(span * cfg.val_fraction)
        )
        if not first < val_start < test_start <= last:
            raise ConfigError(
                f"need {first} < val_start {val_start} < test_start {test_start} <= {last}"
            )
        values = np.concatenate([s.values for s in series]).astype(np.float32)
        offsets = np.cumsum([0] + [len(s) for s in series])[:-1]
        origins = {k: [] for k in ("train", "val", "test")}
        tickers = {k: [] for k in ("train", "val", "test")}
        for i, (s, off) in enumerate(zip(series, offsets, strict=True)):
            o = np.arange(cfg.window - 1, len(s) - cfg.horizon)
            first_target, last_target = s.dates[o + 1], s.dates[o + cfg.horizon]
            masks = {
                "train": last_target < val_start,
                "val": (first_target >= val_start) & (last_target < test_start),
                "test": first_target >= test_start,
            }
            for k, m in masks.items():
                origins[k].append(off + o[m])
                tickers[k].append(np.full(m.sum(), i))
        origins = {k: np.concatenate(v).astype(np.int64) for k, v in origins.items()}
        tickers = {k: np.concatenate(v).astype(np.int64) for k, v in tickers.items()}
        for k, v in origins.items():
            if not len(v):
                raise DataError(
                    source,
                    f"the {k} period has no complete window; "
                    "move val_start/test_start or shorten window/horizon",
                )
        splits = {k: Windows(origins[k], tickers[k]) for k in SPLITS}
        return PriceData(
            series, values, offsets, **splits, val_start=val_start, test_start=test_start
        )

    sources = (
        DataSource(
            "sample",
            lambda task, _: task._load(sample_dir("forecasting") / "prices.csv"),
            "'sample'",
        ),
        DataSource("dir", _load, "a directory of per-ticker CSV files"),
        DataSource("file", _load, "a CSV file of daily prices (long or wide layout)"),
    )

    def report_labels(self, data: PriceData, split: str) -> list[str]:
        """The ticker of each window."""
        names = [s.ticker for s in data.series]
        return [names[i] for i in data.split(split).tickers]

    def dropped_items(self, data: PriceData) -> list[dict]:
        """Windows whose targets straddle ``val_start`` or ``test_start``: in no split.

        So that no target crosses a split boundary. (Tickers too short for one window are
        said on stderr when the file is read; the loader does not keep their number.)
        """
        cfg = self.cfg
        straddling = 0
        for s in data.series:
            o = np.arange(cfg.window - 1, len(s) - cfg.horizon)
            first, last = s.dates[o + 1], s.dates[o + cfg.horizon]
            inside = (
                (last < data.val_start)
                | ((first >= data.val_start) & (last < data.test_start))
                | (first >= data.test_start)
            )
            straddling += int(np.sum(~inside))
        return [
            {
                "split": "none",
                "count": straddling,
                "reason": "windows whose targets straddle val_start or test_start, left out",
            }
        ]

    def eval_indices(self, size: int, limit: int) -> np.ndarray:
        """Evenly spaced windows (``max_eval_samples``).

        Windows are ordered ticker by ticker, so the first N would cover only the first
        tickers.
        """
        return np.unique(np.linspace(0, size - 1, limit).round().astype(np.int64))

    def adapt(self, data: PriceData) -> None:
        """Scaling statistics and MASE scales from training-period days only."""
        log_returns, log_volumes, naive = [], [], {}
        for s in data.series:
            train = s.dates < data.val_start
            close = s.values[train, 3]
            if len(close) >= 2:
                log_returns.append(np.diff(np.log(close)))
                naive[s.ticker] = float(np.mean(np.abs(np.diff(close))))
            vol = s.values[train, 4]
            log_volumes.append(np.log1p(vol[~np.isnan(vol)]))
        returns = np.concatenate(log_returns)
        volumes = np.concatenate(log_volumes) if log_volumes else np.zeros(0)
        self.stats = {
            "return_std": float(np.std(returns)),
            "volume_mean": float(volumes.mean()) if len(volumes) else 0.0,
            "volume_std": float(volumes.std()) if len(volumes) else 1.0,
            "naive_mae": naive,  # per ticker: the in-sample one-step naive error (MASE scale)
        }

    def save_assets(self, directory: Path) -> None:
        """Write ``stats.json``."""
        write_json(directory, "stats.json", self.stats)

    def load_assets(self, directory: Path) -> None:
        """Read ``stats.json``."""
        self.stats = read_json(directory, "stats.json")

    def features(self, prices: tf.Tensor) -> tf.Tensor:
        """Raw price windows ``(batch, time, inputs)`` -> model features ``(batch, time, f)``.

        Per day: log close relative to the window's last close, the day's log return, and for
        OHLC(V) inputs the open/high/low relative to that day's close and standardised log
        volume; all scaled with training-period statistics. TF ops, so the SavedModel runs
        the very same code on raw prices.
        """
        std = self.stats["return_std"]
        close_at = self.close_at
        log_close = tf.math.log(prices[:, :, close_at])  # (batch, time)
        time = tf.cast(tf.shape(prices)[1], tf.float32)
        level = (log_close - log_close[:, -1:]) / (std * tf.sqrt(time))
        ret = (
            tf.concat(
                [tf.zeros_like(log_close[:, :1]), log_close[:, 1:] - log_close[:, :-1]], axis=1
            )
            / std
        )
        parts = [level, ret]
        if self.cfg.inputs != "close":
            for j in range(3):  # open, high, low relative to the close
                parts.append((tf.math.log(prices[:, :, j]) - log_close) / std)
        if self.cfg.inputs == "ohlcv":
            parts.append(
                (tf.math.log1p(prices[:, :, 4]) - self.stats["volume_mean"])
                / self.stats["volume_std"]
            )
        return tf.stack(parts, axis=-1)

    def _horizon_scale(self) -> tf.Tensor:
        """Std of the h-day log return under a random walk: ``std * sqrt(h)``, ``(horizon,)``."""
        h = tf.range(1, self.cfg.horizon + 1, dtype=tf.float32)
        return self.stats["return_std"] * tf.sqrt(h)

    def to_prices(self, last_close: tf.Tensor, scaled: tf.Tensor, axis: int = -1) -> tf.Tensor:
        """Scaled log-returns -> prices: ``(batch, H)``, or ``(batch, H, Q)`` with ``axis=1``.

        ``last_close`` is ``(batch,)``, or ``(batch, 1)`` for the quantile form.
        """
        scale = self._horizon_scale()  # (H,)
        if axis == 1:
            return last_close[:, None] * tf.exp(scaled * scale[None, :, None])
        return last_close[:, None] * tf.exp(scaled * scale)

    def make_dataset(
        self, data: PriceData, split: str, *, batch_size: int, training: bool
    ) -> tf.data.Dataset:
        """Batches of ``(features (batch, window, f), scaled targets (batch, horizon))``.

        Only origin indices go through the pipeline; windows are gathered from the price
        table inside the map, so no window is ever materialised in Python.
        """
        part = data.split(split)
        gather = self._gather(data)
        quantiles = bool(self.cfg.quantiles)

        def pair(origin: tf.Tensor, ticker: tf.Tensor) -> tuple:
            window, future, _ = gather(origin, ticker)
            y = self._scale_targets(window, future)  # (batch, horizon)
            return self.features(window), {"forecast": y, "quantiles": y} if quantiles else y

        examples = tf.data.Dataset.from_tensor_slices((part.origins, part.tickers))
        return self.batches(
            examples, len(part), batch_size=batch_size, training=training, after_batch=pair
        )

    def _gather(self, data: PriceData):
        """``(origins (b,), tickers (b,)) -> (windows (b, W, inputs), futures (b, H), tickers)``.

        Windows are gathered from the price table inside the graph, so no window is ever
        materialised in Python.
        """
        cfg = self.cfg
        table = tf.constant(data.values)  # (total_days, 5)
        cols = INPUT_FIELDS[cfg.inputs]
        past = tf.range(-cfg.window + 1, 1, dtype=tf.int64)
        ahead = tf.range(1, cfg.horizon + 1, dtype=tf.int64)

        def gather(origin: tf.Tensor, ticker: tf.Tensor) -> tuple:
            window = tf.gather(tf.gather(table, origin[:, None] + past), cols, axis=2)
            future = tf.gather(table[:, 3], origin[:, None] + ahead)
            return window, future, ticker

        return gather

    def _windows(self, data: PriceData, split: str, batch_size: int) -> tf.data.Dataset:
        """Batches of ``_gather``'s triples for every window of ``split``, in order."""
        part = data.split(split)
        ds = tf.data.Dataset.from_tensor_slices((part.origins, part.tickers)).batch(batch_size)
        return ds.map(self._gather(data), num_parallel_calls=tf.data.AUTOTUNE)

    def _scale_targets(self, window: tf.Tensor, future: tf.Tensor) -> tf.Tensor:
        last = window[:, -1, self.close_at]
        return tf.math.log(future / last[:, None]) / self._horizon_scale()

    # --- model -----------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        """Recurrent stack over the window -> Dense(horizon) of scaled log-returns."""
        cfg = self.cfg
        n_features = 2 + (3 if cfg.inputs != "close" else 0) + (cfg.inputs == "ohlcv")
        x = inputs = keras.Input(shape=(None, n_features), name="features")
        x = recurrent_stack(x, **cfg.stack_args(), name="rnn")  # (batch, units)
        out = keras.layers.Dense(cfg.horizon, dtype="float32", name="forecast")(x)
        if not cfg.quantiles:
            return keras.Model(inputs, out, name=f"forecasting_{cfg.cell}")
        n_q = len(cfg.quantile_levels)
        q = keras.layers.Dense(cfg.horizon * n_q, dtype="float32", name="quantile_head")(x)
        q = keras.layers.Reshape((cfg.horizon, n_q), name="quantiles")(q)  # (batch, H, Q)
        return keras.Model(
            inputs, {"forecast": out, "quantiles": q}, name=f"forecasting_{cfg.cell}"
        )

    def compile_args(self, model: keras.Model) -> dict:
        """MSE on scaled log-returns (+ pinball loss for quantile heads); MAE beside it."""
        mae = keras.metrics.MeanAbsoluteError(name="mae")
        if not self.cfg.quantiles:
            return {"loss": "mse", "metrics": [mae]}
        return {
            "loss": {"forecast": "mse", "quantiles": PinballLoss(self.cfg.quantile_levels)},
            "metrics": {"forecast": [mae]},
        }

    def _outputs(self, model: keras.Model, features: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Scaled point forecasts ``(batch, H)`` and quantiles ``(batch, H, Q)`` or None."""
        out = model(features, training=False)
        if isinstance(out, dict):
            return out["forecast"], out["quantiles"]
        return out, None

    # --- evaluation and serving ------------------------------------------------------
    def forecast_split(self, model: keras.Model, data: PriceData, split: str) -> dict:
        """Forecasts of the model and the baselines on every window of ``split``, in order.

        Every window's origin is a forecast date that uses only data up to it: a rolling-
        origin (walk-forward) evaluation of the fitted model, without refitting.
        """
        cfg = self.cfg
        close_at = self.close_at
        out = {k: [] for k in ("ticker", "origin", "last", "actual", *METHODS)}
        bar = progress_bar(self.num_examples(data, split), unit="window")
        for window, future, ticker in self._windows(data, split, 1024):
            closes = window[:, :, close_at].numpy()
            last = closes[:, -1]
            scaled, quantiles = self._outputs(model, self.features(window))
            if quantiles is not None:  # monotone transform: price quantiles = transformed ones
                out.setdefault("quantiles", []).append(
                    self.to_prices(window[:, -1, close_at, None], quantiles, axis=1).numpy()
                )
            h = np.arange(1, cfg.horizon + 1)
            slope = (closes[:, -1] - closes[:, 0]) / (closes.shape[1] - 1)
            out["model"].append(self.to_prices(window[:, -1, close_at], scaled).numpy())
            out["persistence"].append(np.repeat(last[:, None], cfg.horizon, axis=1))
            out["drift"].append(last[:, None] + slope[:, None] * h[None, :])
            ma = closes[:, -cfg.ma_days :].mean(axis=1)
            out["moving_average"].append(np.repeat(ma[:, None], cfg.horizon, axis=1))
            out["last"].append(last)
            out["actual"].append(future.numpy())
            out["ticker"].append(ticker.numpy())
            bar.add(len(last))
        result = {k: np.concatenate(v) for k, v in out.items() if v}
        result["origin"] = data.origins[split]
        return result

    def evaluate(
        self, model: keras.Model, data: PriceData, split: str, out_dir: Path
    ) -> dict[str, float]:
        """MAE, RMSE, MAPE, MASE, directional accuracy: per horizon, pooled, per ticker."""
        f = self.forecast_split(model, data, split)
        self._check_finite(model, f["model"], split)
        names = [s.ticker for s in data.series]
        scale = np.array([self.stats["naive_mae"].get(names[t], np.nan) for t in f["ticker"]])
        metrics: dict[str, float] = {}
        for method in METHODS:
            scores = forecast_scores(f["actual"], f[method], f["last"], scale)
            prefix = "" if method == "model" else f"{method}_"
            for key, values in scores.items():
                if method == "persistence" and key == "directional_accuracy":
                    continue  # persistence predicts no move: direction is undefined
                metrics[f"{prefix}{key}"] = float(np.nanmean(values))
                for h, v in enumerate(values, start=1):
                    metrics[f"{prefix}{key}_h{h}"] = float(v)
        if "quantiles" in f:  # share of actual closes inside the [lowest, highest] band
            inside = (f["actual"] >= f["quantiles"][:, :, 0]) & (
                f["actual"] <= f["quantiles"][:, :, -1]
            )
            levels = self.cfg.quantile_levels
            metrics["interval_nominal_coverage"] = levels[-1] - levels[0]
            metrics["interval_coverage"] = float(inside.mean())
            for h, v in enumerate(inside.mean(axis=0), start=1):
                metrics[f"interval_coverage_h{h}"] = float(v)
        metrics["windows"] = float(len(f["last"]))
        metrics["tickers"] = float(len(np.unique(f["ticker"])))
        self._write_per_ticker(f, names, scale, out_dir / f"per_ticker_{split}.csv")
        plot_horizon_errors(
            metrics, METHODS, self.cfg.horizon, out_dir / f"error_by_horizon_{split}.png"
        )
        wanted = [t.strip() for t in self.cfg.plot_tickers.split(",") if t.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise ConfigError(f"plot_tickers: no ticker {', '.join(unknown)} in the data")
        chosen = [names.index(t) for t in wanted] or list(dict.fromkeys(f["ticker"].tolist()))[:3]
        plot_forecasts(f, names, data, chosen, out_dir / f"forecasts_{split}.png")
        return metrics

    @staticmethod
    def _check_finite(model: keras.Model, forecasts: np.ndarray, split: str) -> None:
        """Non-finite forecasts are an error, never an ``mae nan`` in the scores."""
        bad = ~np.isfinite(forecasts).all(axis=1)
        if not bad.any():
            return
        weights = all(np.isfinite(w).all() for w in model.get_weights())
        raise TrainingError(
            f"the model's forecasts are not finite on {int(bad.sum())} of {len(bad)} "
            f"{split} windows: "
            + (
                "its forecasts overflow (returns too large to turn into prices)"
                if weights
                else "its weights are NaN or inf (training diverged; "
                "lower learning_rate or set clipnorm, and train again)"
            )
        )

    def _write_per_ticker(self, f: dict, names: list[str], scale: np.ndarray, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as out:
            w = csv.writer(out)
            w.writerow(
                ["ticker", "windows", *(f"{m}_mase" for m in METHODS), "model_directional_accuracy"]
            )
            for t in np.unique(f["ticker"]):
                sel = f["ticker"] == t
                row = [names[t], int(sel.sum())]
                scores = {
                    m: forecast_scores(f["actual"][sel], f[m][sel], f["last"][sel], scale[sel])
                    for m in METHODS
                }
                for m in METHODS:
                    mase = scores[m]["mase"]
                    # A ticker listed after the training period has no MASE scale.
                    row.append("" if np.isnan(mase).all() else f"{mase.mean():.4f}")
                row.append(f"{scores['model']['directional_accuracy'].mean():.4f}")
                w.writerow(row)

    def card_usage(self) -> dict[str, str]:
        """Price CSV files on the command line; windows of daily prices over REST."""
        cfg = self.cfg
        names = ["open", "high", "low", "close", "volume"]
        fields = ", ".join(names[i] for i in INPUT_FIELDS[cfg.inputs])
        day = "[" + ", ".join(["101.5"] * len(INPUT_FIELDS[cfg.inputs])) + "]"
        return {
            "predict": "prices.csv",
            "instances": f"[[{day}, {day}, ...]]",
            "python": "tf.constant(prices, tf.float32)",
            "note": f" an instance is the last {cfg.window} trading days (or more: the last "
            f"{cfg.window} are read), oldest first, each day [{fields}]; write all "
            f"{cfg.window} days where the example shows `...` (in Python, `prices` is an "
            f"array of shape (n, {cfg.window}, {len(INPUT_FIELDS[cfg.inputs])})).",
        }

    def card_limits(self) -> list[str]:
        """What is forecast, from what, and how far to trust it, besides the base class's."""
        cfg = self.cfg
        return [
            f"Forecasts the next {cfg.horizon} daily closes of one series from its last "
            f"{cfg.window} trading days; it knows nothing but these prices (no news, no "
            "other tickers).",
            "Not investment advice: daily prices are close to a random walk, and on the S&P "
            "500 benchmark the models barely beat persistence (compare MASE and the "
            "baselines above).",
            "A window with a non-finite or non-positive price (or negative volume) gets "
            "valid=false and NaN forecasts; the other rows are unaffected.",
            *super().card_limits(),
        ]

    @property
    def serving_input(self) -> tf.TensorSpec:  # type: ignore[override]
        """Raw prices ``(batch, days, inputs)`` float32; ``inputs`` is 1, 4 or 5 columns."""
        n_inputs = len(INPUT_FIELDS[self.cfg.inputs])
        return tf.TensorSpec([None, None, n_inputs], tf.float32, name="prices")

    def valid_rows(self, prices: tf.Tensor) -> tf.Tensor:
        """``(batch,)`` bool: every value of the row finite, prices > 0 and volume >= 0."""
        is_price = tf.constant([j < 4 for j in INPUT_FIELDS[self.cfg.inputs]])  # (inputs,)
        in_range = tf.where(is_price, prices > 0, prices >= 0)
        ok = tf.math.is_finite(prices) & in_range  # NaN compares False: not in range either
        return tf.reduce_all(ok, axis=[1, 2])

    def serve(self, model: keras.Model, prices: tf.Tensor) -> dict[str, tf.Tensor]:
        """``prices (batch, days, inputs) -> {forecast (batch, H), valid (batch,)[, quantiles]}``.

        Prices are raw (price units, oldest day first; columns close, or open, high, low,
        close[, volume]); scaling happens inside the graph. The model reads the last
        ``window`` days of each row (the window it was trained on); earlier days are ignored.

        What it cannot forecast from:

        * fewer than ``window`` days (the whole batch has one length): an
          ``InvalidArgumentError`` saying ``prices: the model reads the last W days, got N``
          (TF Serving answers 400 with that message);
        * a row whose last ``window`` days hold a NaN or infinite value, a price <= 0 or a
          negative volume: that row's ``valid`` is False and its forecast (and quantiles)
          NaN; the other rows of the batch are served as usual.

        ``quantiles`` ``(batch, H, Q)`` are returned when the model has quantile heads. An
        empty batch (any number of days) returns zero rows of every output.
        """
        close_at, window = self.close_at, self.cfg.window
        rows, days = tf.shape(prices)[0], tf.shape(prices)[1]
        check = tf.debugging.Assert(
            (rows == 0) | (days >= window),
            [tf.strings.format(f"prices: the model reads the last {window} days, got {{}}", days)],
            name="window_check",
        )
        with tf.control_dependencies([check] if check is not None else []):
            # An empty batch may have fewer days: pad it (with nothing) to the window.
            pad = tf.maximum(window - days, 0)
            prices = tf.pad(prices, [[0, 0], [pad, 0], [0, 0]], constant_values=1.0)
        prices = prices[:, -window:]
        valid = self.valid_rows(prices)
        # Invalid rows are served as a flat row of ones, then their forecasts are NaN.
        safe = tf.where(valid[:, None, None], prices, tf.ones_like(prices))
        scaled, quantiles = self._outputs(model, self.features(safe))
        nan = tf.constant(np.nan, tf.float32)
        forecast = self.to_prices(safe[:, -1, close_at], scaled)
        out = {"forecast": tf.where(valid[:, None], forecast, nan), "valid": valid}
        if quantiles is not None:
            bands = self.to_prices(safe[:, -1, close_at, None], quantiles, axis=1)
            out["quantiles"] = tf.where(valid[:, None, None], bands, nan)
        return out

    def predict_inputs(self, inputs: list[str]) -> tf.Tensor:
        """Read CSV files of recent prices (any layout, any number of tickers).

        Returns the last ``window`` days of every ticker, ``(tickers, window, inputs)``. A
        ticker with fewer days, or without a column the model reads, is a :class:`DataError`
        (the loader has already refused non-finite and impossible values).
        """
        cols = INPUT_FIELDS[self.cfg.inputs]
        windows, self._predicted = [], []
        for path in inputs:
            for s in self._read(path):
                if len(s) < self.cfg.window:
                    raise DataError(
                        path,
                        f"{s.ticker}: {len(s)} rows, but the model reads the "
                        f"last {self.cfg.window} days",
                    )
                window = s.values[-self.cfg.window :, cols]
                if not np.isfinite(window).all():
                    field = PRICE_FIELDS[cols[int(np.argwhere(~np.isfinite(window))[0, 1])]]
                    raise DataError(
                        path,
                        f"{s.ticker}: no {field} in the last {self.cfg.window} days "
                        f"(the model reads inputs={self.cfg.inputs})",
                    )
                windows.append(window)
                self._predicted.append((s.ticker, s.dates[-1], s.values[-1, 3], path))
        return tf.constant(np.stack(windows), tf.float32)

    def format_predictions(self, inputs: list[str], outputs: dict[str, tf.Tensor]) -> list[str]:
        """``ticker<TAB>last date and close<TAB>next H closes[<TAB>interval per day]``."""
        lines = []
        bands = outputs["quantiles"].numpy() if "quantiles" in outputs else None
        valid = outputs["valid"].numpy() if "valid" in outputs else None
        for i, ((ticker, date, close, path), row) in enumerate(
            zip(self._predicted, outputs["forecast"].numpy(), strict=True)
        ):
            if valid is not None and not valid[i]:  # the loader refuses such files first
                raise DataError(path, f"{ticker}: the model cannot forecast from these prices")
            line = f"{ticker}\tlast {date} {close:.2f}\tnext {self.cfg.horizon}: " + " ".join(
                f"{v:.2f}" for v in row
            )
            if bands is not None:
                lo, hi = self.cfg.quantile_levels[0], self.cfg.quantile_levels[-1]
                line += f"\tq{lo:g}..q{hi:g}: " + " ".join(
                    f"{a:.2f}..{b:.2f}"
                    for a, b in zip(bands[i, :, 0], bands[i, :, -1], strict=True)
                )
            lines.append(line)
        return lines


__all__ = ["ForecastingConfig", "ForecastingTask", "PinballLoss", "PriceData", "forecast_scores"]
