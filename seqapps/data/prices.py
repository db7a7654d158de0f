"""Daily price loaders with validation.

Layouts: a long CSV (one row per ticker and day), a directory of per-ticker files, or a wide
file of closes (one column per ticker).

Every problem names the file, the line and the ticker: unparseable dates or numbers,
``inf`` (or any number too large for a float), duplicate or unsorted dates within a ticker,
non-positive prices, negative volume, a high below the low (when asked to check it), missing
values (unless a fill policy is set). Empty cells and ``nan`` / ``na`` / ``null`` are missing
values.

Fill policies: ``error`` (a missing value is an error), ``drop`` (a day with a missing value
is dropped), ``ffill``. Under ``ffill`` a ticker's history runs from its first to its last
day with a close (in a wide file, a ticker listed later than the others starts at its first
price, not with filled or missing days), and gaps in between take the previous day's value;
an open, high or low missing before the ticker's first one takes that day's close, a volume
missing before the first one takes the first recorded volume. A field a ticker never has
(a column empty for that ticker) stays NaN, as a column the file lacks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np

from seqapps.data.archives import plain_suffix
from seqapps.data.io import csv_rows, read_lines
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


MISSING = ("", "nan", "na", "null")


def _parse_number(text: str, field: str, path: Path, line: int, ticker: str) -> float:
    """A number, or NaN for a missing value; ``inf`` or garbage is an error."""
    text = text.strip()
    if text.lower() in MISSING:
        return float("nan")
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, f"{ticker}: unparseable {field} {text!r}", line=line) from None
    if not np.isfinite(value):
        raise DataError(path, f"{ticker}: {field} {text!r} is not a finite number", line=line)
    return value


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and ``(line number, cells)`` rows of a CSV/TSV file (``.gz`` accepted)."""
    lines = read_lines(path)
    if not lines:
        raise DataError(path, "file is empty")
    delimiter = "\t" if "\t" in lines[0] else ","
    all_rows = csv_rows(path, lines, delimiter)
    header = [c.strip() for c in all_rows[0][1]] if all_rows else []
    rows = [(line, row) for line, row in all_rows[1:] if any(c.strip() for c in row)]
    return header, rows


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _finish(
    ticker: str,
    dates: list,
    values: list,
    lines: list[int],
    path: Path,
    fill: str,
    provided: list[bool],
    check_ranges: bool = False,
) -> Series:
    """Validate one ticker's rows and apply the fill policy to the fields the file has."""
    dates_a = np.array(dates, dtype="datetime64[D]")
    values_a = np.array(values, dtype=np.float64).reshape(-1, len(PRICE_FIELDS))
    steps = np.diff(dates_a).astype(np.int64)
    if (steps == 0).any():
        i = _first(steps == 0) + 1
        raise DataError(path, f"{ticker}: duplicate date {dates_a[i]}", line=lines[i])
    if (steps < 0).any():
        i = _first(steps < 0) + 1
        raise DataError(
            path,
            f"{ticker}: date {dates_a[i]} comes after {dates_a[i - 1]}",
            line=lines[i],
            hint="rows must be sorted by date within a ticker",
        )
    with np.errstate(invalid="ignore"):  # NaN (missing) compares False: not a problem here
        bad = values_a[:, :4] <= 0
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DataError(
                path,
                f"{ticker}: non-positive {PRICE_FIELDS[j]} {values_a[i, j]:g}",
                line=lines[i],
            )
        bad = values_a[:, 4] < 0
        if bad.any():
            i = _first(bad)
            raise DataError(path, f"{ticker}: negative volume {values_a[i, 4]:g}", line=lines[i])
        bad = values_a[:, 1] < values_a[:, 2]
        if check_ranges and bad.any():
            i = _first(bad)
            raise DataError(
                path,
                f"{ticker}: high {values_a[i, 1]:g} is below low {values_a[i, 2]:g}",
                line=lines[i],
            )
    has_close = ~np.isnan(values_a[:, 3])
    if not has_close.any():
        raise DataError(path, f"{ticker}: no close prices")
    provided_a = np.array(provided)
    if fill != "error":  # a field this ticker never has is absent for it, like a missing column
        provided_a &= ~np.isnan(values_a).all(axis=0)
    missing = np.isnan(values_a) & provided_a
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
        else:
            dates_a, values_a = _ffill(dates_a, values_a, has_close, provided_a)
    return Series(ticker, dates_a, values_a)


def _ffill(
    dates: np.ndarray, values: np.ndarray, has_close: np.ndarray, provided: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``fill=ffill``: keep the days from the first to the last close, carry values forward.

    Before a field's first value, open/high/low take that day's close and volume the first
    recorded volume.
    """
    first = _first(has_close)
    last = len(has_close) - 1 - _first(has_close[::-1])
    dates, values = dates[first : last + 1], values[first : last + 1].copy()
    rows = np.arange(len(values))
    for j in np.flatnonzero(provided):
        known = ~np.isnan(values[:, j])
        # The index of the latest known value at or before each day (0 before the first).
        latest = np.maximum.accumulate(np.where(known, rows, 0))
        values[:, j] = values[latest, j]  # NaN before the first known value
    for j in np.flatnonzero(provided):  # the close has no leading gap: it starts the history
        lead = np.isnan(values[:, j])
        if lead.any():
            values[lead, j] = values[lead, 3] if j < 4 else values[_first(~lead), j]
    return dates, values


def load_long(
    path: str | Path,
    columns: Columns = DEFAULT_COLUMNS,
    fill: str = "error",
    check_ranges: bool = False,
) -> list[Series]:
    """Load a long CSV: one row per (ticker, date).

    Without a ticker column the file is one ticker, named after the file. Rows of a ticker
    must be sorted by date; tickers may be interleaved. ``check_ranges``: a high below the
    low is an error too.
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
                float("nan") if c is None else _parse_number(row[c], f, path, line, ticker)
                for f, c in zip(PRICE_FIELDS, field_cols, strict=True)
            ]
        )
        lines.append(line)
    if not per:
        raise DataError(path, "no rows after the header")
    provided = [c is not None for c in field_cols]
    return [
        _finish(t, d, v, ln, path, fill, provided, check_ranges) for t, (d, v, ln) in per.items()
    ]


def load_wide(
    path: str | Path,
    columns: Columns = DEFAULT_COLUMNS,
    fill: str = "error",
    check_ranges: bool = False,
) -> list[Series]:
    """Load a wide file of closes: a date column, then one column of closes per ticker.

    Tickers need not share a calendar span: an empty cell before a ticker's first close (or
    after its last) is a missing value, which ``fill=ffill`` or ``fill=drop`` leave out.
    ``check_ranges`` is accepted for symmetry with :func:`load_long` (closes only: no range).
    """
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
            close = _parse_number(row[j] if j < len(row) else "", "close", path, line, ticker)
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
    check_ranges: bool = False,
) -> list[Series]:
    """Load a long or wide file, or a directory of per-ticker files (``*.csv``, ``*.tsv``).

    Files may be compressed (``.gz``, ``.bz2``, ``.xz``).

    ``layout="auto"`` reads a file as long when its header has the close column, else wide.
    ``check_ranges``: a day whose high is below its low is an error (off by default: the
    S&P 500 file has one such day, harmless to a model that reads closes only).
    """
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if plain_suffix(p) in (".csv", ".tsv"))
        if not files:
            raise DataError(
                source, "no .csv or .tsv files (plain, .gz, .bz2 or .xz) in this directory"
            )
        out: list[Series] = []
        for f in files:
            out.extend(load_prices(f, layout, columns, fill, check_ranges))
        return out
    if not source.is_file():
        raise DataError(source, "no such file or directory")
    if layout == "auto":
        header, _ = _rows(source)
        layout = "long" if columns.close in header else "wide"
    return (load_long if layout == "long" else load_wide)(source, columns, fill, check_ranges)
