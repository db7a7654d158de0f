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
        ("2020-01-01,1,1,1,abc,1,A\n", r"p.csv:2: unparseable close 'abc'"),
        ("2020-01-01,1,1,1,1,1,A\n2020-01-01,1,1,1,1,1,A\n", r"p.csv:3: A: duplicate date"),
        ("2020-01-02,1,1,1,1,1,A\n2020-01-01,1,1,1,1,1,A\n", r"p.csv:3: A: date 2020-01-01 comes"),
        ("2020-01-01,1,1,1,-2,1,A\n", r"p.csv:2: A: non-positive close -2.0"),
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
