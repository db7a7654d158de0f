"""Daily price loaders with validation.

Layouts: a long CSV (one row per ticker and day), a directory of per-ticker files, or a wide
file of closes (one column per ticker).

Every problem names the file and line: unparseable dates or numbers, duplicate or unsorted
dates within a ticker, non-positive prices, missing values (unless a fill policy is set).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from pathlib import Path

import numpy as np

from seqapps.data.io import read_lines
from seqapps.errors import DataError

PRICE_FIELDS = ("open", "high", "low", "close", "volume")


@dataclasses.dataclass
class Series:
    """One ticker: sorted trading dates and its daily values.

    ``values`` is ``(n, 5)``: open, high, low, close, volume; NaN in the fields the file
    does not have.
    """

    ticker: str
    dates: np.ndarray  # (n,) datetime64[D], strictly increasing
    values: np.ndarray  # (n, 5) float64

    def __len__(self) -> int:
        return len(self.dates)


@dataclasses.dataclass
class Columns:
    """Column names in the user's files (configurable per data set)."""

    date: str = "date"
    ticker: str = "Name"
    open: str = "open"
    high: str = "high"
    low: str = "low"
    close: str = "close"
    volume: str = "volume"


DEFAULT_COLUMNS = Columns()


def _parse_date(text: str, path: Path, line: int) -> np.datetime64:
    try:
        return np.datetime64(dt.date.fromisoformat(text.strip()[:10]), "D")
    except ValueError:
        raise DataError(
            path, f"unparseable date {text!r} (expected YYYY-MM-DD)", line=line
        ) from None


def _parse_number(text: str, field: str, path: Path, line: int) -> float:
    text = text.strip()
    if text == "" or text.lower() in ("nan", "na", "null"):
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise DataError(path, f"unparseable {field} {text!r}", line=line) from None


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and ``(line number, cells)`` rows of a CSV/TSV file (``.gz`` accepted)."""
    lines = read_lines(path)
    if not lines:
        raise DataError(path, "file is empty")
    delimiter = "\t" if "\t" in lines[0] else ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    header = [c.strip() for c in next(reader)]
    rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    return header, rows


def _finish(
    ticker: str,
    dates: list,
    values: list,
    lines: list[int],
    path: Path,
    fill: str,
    provided: list[bool],
) -> Series:
    """Validate one ticker's rows and apply the fill policy to the fields the file has."""
    dates_a = np.array(dates, dtype="datetime64[D]")
    values_a = np.array(values, dtype=np.float64).reshape(-1, len(PRICE_FIELDS))
    steps = np.diff(dates_a).astype(np.int64)
    if (steps == 0).any():
        i = int(np.argmax(steps == 0)) + 1
        raise DataError(path, f"{ticker}: duplicate date {dates_a[i]}", line=lines[i])
    if (steps < 0).any():
        i = int(np.argmax(steps < 0)) + 1
        raise DataError(
            path,
            f"{ticker}: date {dates_a[i]} comes after {dates_a[i - 1]}",
            line=lines[i],
            hint="rows must be sorted by date within a ticker",
        )
    prices = values_a[:, :4]
    bad = ~np.isnan(prices) & (prices <= 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(
            path, f"{ticker}: non-positive {PRICE_FIELDS[j]} {prices[i, j]}", line=lines[i]
        )
    if np.isnan(values_a[:, 3]).all():
        raise DataError(path, f"{ticker}: no close prices")
    missing = np.isnan(values_a) & np.array(provided)
    if missing.any():
        i, j = np.argwhere(missing)[0]
        if fill == "error":
            raise DataError(
                path,
                f"{ticker}: missing {PRICE_FIELDS[j]}",
                line=lines[i],
                hint="set fill=ffill or fill=drop to accept gaps",
            )
        if fill == "drop":
            keep = ~missing.any(axis=1)
            dates_a, values_a = dates_a[keep], values_a[keep]
        else:  # ffill: carry the previous day's value; a leading gap takes the close
            for j in np.flatnonzero(provided):  # noqa: B007 (col is a view into values_a)
                col = values_a[:, j]
                for i in range(len(col)):
                    if np.isnan(col[i]):
                        col[i] = col[i - 1] if i > 0 and not np.isnan(col[i - 1]) else np.nan
                if np.isnan(col).any():  # leading gap: fall back to the close
                    col[np.isnan(col)] = values_a[np.isnan(col), 3]
    return Series(ticker, dates_a, values_a)


def load_long(
    path: str | Path, columns: Columns = DEFAULT_COLUMNS, fill: str = "error"
) -> list[Series]:
    """Load a long CSV: one row per (ticker, date).

    Without a ticker column the file is one ticker, named after the file. Rows of a ticker
    must be sorted by date; tickers may be interleaved.
    """
    path = Path(path)
    header, rows = _rows(path)
    for key in ("date", "close"):
        if getattr(columns, key) not in header:
            raise DataError(
                path,
                f"no {getattr(columns, key)!r} column in the header",
                line=1,
                hint=f"set {key}_column= to the name of the {key} column",
            )
    d_col = header.index(columns.date)
    t_col = header.index(columns.ticker) if columns.ticker in header else None
    field_cols = [
        header.index(getattr(columns, f)) if getattr(columns, f) in header else None
        for f in PRICE_FIELDS
    ]
    default_ticker = path.name.split(".")[0]
    per: dict[str, tuple[list, list, list]] = {}
    for line, row in rows:
        if len(row) < len(header):
            raise DataError(path, f"expected {len(header)} columns, got {len(row)}", line=line)
        ticker = row[t_col].strip() if t_col is not None else default_ticker
        dates, values, lines = per.setdefault(ticker, ([], [], []))
        dates.append(_parse_date(row[d_col], path, line))
        values.append(
            [
                float("nan") if c is None else _parse_number(row[c], f, path, line)
                for f, c in zip(PRICE_FIELDS, field_cols, strict=True)
            ]
        )
        lines.append(line)
    if not per:
        raise DataError(path, "no rows after the header")
    provided = [c is not None for c in field_cols]
    return [_finish(t, d, v, ln, path, fill, provided) for t, (d, v, ln) in per.items()]


def load_wide(
    path: str | Path, columns: Columns = DEFAULT_COLUMNS, fill: str = "error"
) -> list[Series]:
    """Load a wide file of closes: a date column, then one column of closes per ticker."""
    path = Path(path)
    header, rows = _rows(path)
    if columns.date not in header:
        raise DataError(path, f"no {columns.date!r} column in the header", line=1)
    d_col = header.index(columns.date)
    series = []
    for j, ticker in enumerate(header):
        if j == d_col:
            continue
        dates, values, lines = [], [], []
        for line, row in rows:
            close = _parse_number(row[j] if j < len(row) else "", "close", path, line)
            if np.isnan(close) and fill == "drop":
                continue
            dates.append(_parse_date(row[d_col], path, line))
            values.append([float("nan")] * 3 + [close, float("nan")])
            lines.append(line)
        series.append(
            _finish(ticker, dates, values, lines, path, fill, [False, False, False, True, False])
        )
    return series


def load_prices(
    source: str | Path,
    layout: str = "auto",
    columns: Columns = DEFAULT_COLUMNS,
    fill: str = "error",
) -> list[Series]:
    """Load a long or wide file, or a directory of per-ticker files (``*.csv``, ``*.csv.gz``).

    ``layout="auto"`` reads a file as long when its header has the close column, else wide.
    """
    source = Path(source)
    if source.is_dir():
        files = sorted(
            p for p in source.iterdir() if p.name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz"))
        )
        if not files:
            raise DataError(source, "no .csv or .csv.gz files in this directory")
        out: list[Series] = []
        for f in files:
            out.extend(load_prices(f, layout, columns, fill))
        return out
    if not source.is_file():
        raise DataError(source, "no such file or directory")
    if layout == "auto":
        header, _ = _rows(source)
        layout = "long" if columns.close in header else "wide"
    return (load_long if layout == "long" else load_wide)(source, columns, fill)
