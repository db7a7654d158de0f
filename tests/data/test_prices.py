import numpy as np
import pytest

from seqapps.data.prices import load_prices
from seqapps.errors import DataError

HEADER = "date,open,high,low,close,volume,Name\n"


def write(tmp_path, text, name="p.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def rows(ticker, closes, start=1):
    return "".join(
        f"2020-01-{d:02d},{c},{c + 1},{c - 1},{c},100,{ticker}\n"
        for d, c in enumerate(closes, start=start)
    )


def test_long_layout_interleaved_tickers(tmp_path):
    text = HEADER + rows("A", [10, 11]) + rows("B", [5, 6, 7]) + rows("A", [12], start=3)
    series = {s.ticker: s for s in load_prices(write(tmp_path, text))}
    assert sorted(series) == ["A", "B"]
    np.testing.assert_array_equal(series["A"].values[:, 3], [10, 11, 12])
    assert str(series["B"].dates[-1]) == "2020-01-03"


def test_wide_layout_and_directory(tmp_path):
    wide = write(tmp_path, "date,AAA,BBB\n2020-01-01,1,2\n2020-01-02,1.5,2.5\n", "w.csv")
    series = load_prices(wide)
    assert [s.ticker for s in series] == ["AAA", "BBB"]
    np.testing.assert_array_equal(series[1].values[:, 3], [2, 2.5])
    d = tmp_path / "dir"
    d.mkdir()
    (d / "XYZ.csv").write_text("date,close\n2020-01-01,3\n2020-01-02,4\n")
    (d / "QQQ.csv").write_text("date,close\n2020-01-01,7\n")
    assert sorted(s.ticker for s in load_prices(d)) == ["QQQ", "XYZ"]


@pytest.mark.parametrize(
    "body, message",
    [
        ("2020-13-01,1,1,1,1,1,A\n", r"p.csv:2: unparseable date '2020-13-01'"),
        ("2020-01-01,1,1,1,abc,1,A\n", r"p.csv:2: A: unparseable close 'abc'"),
        ("2020-01-01,1,1,1,1,1,A\n2020-01-01,1,1,1,1,1,A\n", r"p.csv:3: A: duplicate date"),
        ("2020-01-02,1,1,1,1,1,A\n2020-01-01,1,1,1,1,1,A\n", r"p.csv:3: A: date 2020-01-01 comes"),
        ("2020-01-01,1,1,1,-2,1,A\n", r"p.csv:2: A: non-positive close -2$"),
        ("2020-01-01,,1,1,1,1,A\n", r"p.csv:2: A: missing open \(set fill=ffill"),
        ("2020-01-01,1,1,1\n", r"p.csv:2: expected 7 columns, got 4"),
    ],
)
def test_validation_errors_name_file_and_line(tmp_path, body, message):
    with pytest.raises(DataError, match=message):
        load_prices(write(tmp_path, HEADER + body))


def test_fill_policies(tmp_path):
    text = HEADER + "2020-01-01,1,2,1,1.5,9,A\n2020-01-02,,2,1,1.6,9,A\n"
    text += "2020-01-03,1.7,2,1,1.8,9,A\n"
    path = write(tmp_path, text)
    ffill = load_prices(path, fill="ffill")[0]
    assert ffill.values[1, 0] == 1.0 and len(ffill) == 3
    drop = load_prices(path, fill="drop")[0]
    assert len(drop) == 2 and not np.isnan(drop.values).any()


def test_missing_close_column(tmp_path):
    with pytest.raises(DataError, match="no 'close' column"):
        load_prices(write(tmp_path, "date,open,Name\n2020-01-01,1,A\n"), layout="long")


def late_starter(tmp_path, late=200, days=300):
    """A wide file of closes: AAA from the first day, LATE from row ``late`` on."""
    start = np.datetime64("2020-01-01")
    lines = ["date,AAA,LATE"]
    for i in range(days):
        lines.append(f"{start + i},{10 + i * 0.01:.2f},{'' if i < late else f'{50 + i:.2f}'}")
    return write(tmp_path, "\n".join(lines) + "\n", "wide.csv")


@pytest.mark.parametrize("fill", ["ffill", "drop"])
def test_wide_ticker_listed_later_starts_at_its_first_price(tmp_path, fill):
    """Issue #15: under fill=ffill a late ticker kept 200 NaN closes."""
    series = {s.ticker: s for s in load_prices(late_starter(tmp_path), fill=fill)}
    late, full = series["LATE"], series["AAA"]
    assert len(full) == 300 and len(late) == 100
    assert str(late.dates[0]) == str(np.datetime64("2020-01-01") + 200)
    assert late.values[0, 3] == 250.0
    np.testing.assert_array_equal(late.dates, full.dates[200:])
    assert np.isfinite(late.values[:, 3]).all()
    assert np.isnan(late.values[:, [0, 1, 2, 4]]).all()  # fields a wide file does not have


def test_wide_ticker_listed_later_is_an_error_without_a_fill_policy(tmp_path):
    with pytest.raises(DataError, match=r"wide.csv:2: LATE: missing close \(set fill="):
        load_prices(late_starter(tmp_path))


def test_ffill_keeps_a_ticker_between_its_first_and_last_close(tmp_path):
    text = "date,AAA,GONE\n2020-01-01,1,\n2020-01-02,2,5\n2020-01-03,3,\n2020-01-04,4,6\n"
    text += "2020-01-05,5,\n2020-01-06,6,\n"
    gone = load_prices(write(tmp_path, text), fill="ffill")[1]
    assert [str(d) for d in gone.dates] == ["2020-01-02", "2020-01-03", "2020-01-04"]
    np.testing.assert_array_equal(gone.values[:, 3], [5, 5, 6])  # the inside gap carried


def test_ffill_leading_gaps_of_other_fields(tmp_path):
    text = HEADER + "2020-01-01,,,,,,A\n2020-01-02,,11,9,10,,A\n2020-01-03,10.5,12,10,11,70,A\n"
    text += "2020-01-04,,12,10,11.5,80,A\n"
    a = load_prices(write(tmp_path, text), fill="ffill")[0]
    assert str(a.dates[0]) == "2020-01-02"  # the history starts at the first close
    np.testing.assert_array_equal(
        a.values,
        [[10, 11, 9, 10, 70], [10.5, 12, 10, 11, 70], [10.5, 12, 10, 11.5, 80]],
    )  # open before its first value: that day's close; volume: the first volume


def test_ffill_field_a_ticker_never_has_stays_missing(tmp_path):
    text = HEADER + "2020-01-01,1,2,1,1.5,,A\n2020-01-02,1,2,1,1.6,,A\n"
    for fill in ("ffill", "drop"):
        a = load_prices(write(tmp_path, text), fill=fill)[0]
        assert len(a) == 2 and np.isnan(a.values[:, 4]).all(), fill


@pytest.mark.parametrize("text", ["inf", "-inf", "Infinity", "1e999"])
def test_infinite_prices_are_errors_naming_file_line_and_ticker(tmp_path, text):
    body = rows("A", [10, 11]) + f"2020-01-03,10,11,9,{text},100,A\n"
    with pytest.raises(DataError, match=rf"p.csv:4: A: close '{text}' is not a finite number"):
        load_prices(write(tmp_path, HEADER + body), fill="ffill")
    wide = f"date,AAA,BBB\n2020-01-01,1,2\n2020-01-02,3,{text}\n"
    with pytest.raises(DataError, match=rf"w.csv:3: BBB: close '{text}' is not a finite"):
        load_prices(write(tmp_path, wide, "w.csv"), fill="ffill")


@pytest.mark.parametrize(
    "body, message",
    [
        ("2020-01-03,10,11,9,10,-5,A\n", r"p.csv:4: A: negative volume -5"),
        ("2020-01-03,10,11,9,0,5,A\n", r"p.csv:4: A: non-positive close 0"),
        ("2020-01-03,10,11,-9,10,5,A\n", r"p.csv:4: A: non-positive low -9"),
    ],
)
def test_impossible_values_are_errors_under_every_fill_policy(tmp_path, body, message):
    path = write(tmp_path, HEADER + rows("A", [10, 11]) + body)
    for fill in ("error", "ffill", "drop"):
        with pytest.raises(DataError, match=message):
            load_prices(path, fill=fill)


def test_high_below_low_is_an_error_when_ranges_are_checked(tmp_path):
    path = write(tmp_path, HEADER + rows("A", [10, 11]) + "2020-01-03,10,9,11,10,5,A\n")
    assert len(load_prices(path)[0]) == 3  # a model of closes does not read the range
    with pytest.raises(DataError, match=r"p.csv:4: A: high 9 is below low 11"):
        load_prices(path, check_ranges=True)


def test_zero_volume_and_missing_markers_are_accepted(tmp_path):
    text = HEADER + "2020-01-01,1,2,1,1.5,0,A\n2020-01-02,1,2,1,NaN,0,A\n2020-01-03,1,2,1,1.7,0,A\n"
    a = load_prices(write(tmp_path, text), fill="ffill")[0]
    np.testing.assert_array_equal(a.values[:, 3], [1.5, 1.5, 1.7])
    with pytest.raises(DataError, match=r"p.csv:3: A: missing close"):
        load_prices(write(tmp_path, text))
