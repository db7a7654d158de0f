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
