"""Command-line argument order: key=value pairs may come before or after the options."""

import pytest

from seqapps.cli import main


def test_overrides_after_options_are_read(tmp_path, capsys):
    # The unknown key is reported, so the pair after --run-dir reached the config.
    assert main(["train", "sentiment", "--run-dir", str(tmp_path / "r"), "epoch=2"]) == 2
    assert "unknown key epoch; valid keys: data," in capsys.readouterr().err


def test_overrides_before_and_after_a_config_file(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("cell: gru\n")
    args = ["train", "sentiment", "units=0", "--config", str(config), "cell=lstm"]
    assert main([*args, "--run-dir", str(tmp_path / "r")]) == 2
    assert "units must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["evaluate", "/no/run", "epochs=3"], ["train", "sentiment", "--run-dir", "r", "stray"]]
)
def test_stray_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_predict_refuses_non_utf8_arguments_in_one_line(capsys):
    # Python hands undecodable argv bytes over as surrogates ("\udcff" for byte 0xff).
    assert main(["predict", "/no/model", "fine", "bad \udcff byte"]) == 2
    err = capsys.readouterr().err
    assert err == "seqapps: error: predict: input 2 is not valid UTF-8 (at character 5)\n"


def test_predict_refuses_non_utf8_stdin_naming_the_line(monkeypatch, capsys):
    import io
    import sys

    raw = io.BytesIO(b"\xef\xbb\xbfline one\n\nbad \xff byte\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw))
    assert main(["predict", "/no/model"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "seqapps: error: predict: stdin line 3 is not valid UTF-8 (byte 0xff at column 5)\n"
    )


def test_stdin_lines_drop_a_bom_and_blank_lines(monkeypatch):
    import io
    import sys

    from seqapps.cli import _stdin_lines

    raw = io.BytesIO(b"\xef\xbb\xbfline one\r\n\n  \nline two\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw))
    assert _stdin_lines() == ["line one", "line two"]


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_out_of_range_seed_is_one_line(seed, tmp_path, capsys):
    assert main(["train", "sentiment", f"seed={seed}", "--run-dir", str(tmp_path / "r")]) == 2
    assert "seed must be an integer in [0, 4294967295]" in capsys.readouterr().err
