import dataclasses

import pytest

from seqapps import config as config_lib
from seqapps.errors import ConfigError
from seqapps.tasks.sentiment import SentimentConfig


def test_defaults_then_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 7\ncell: gru\nunits: 32\n")
    cfg = config_lib.resolve(SentimentConfig, path, ["units=16", "bidirectional=false"])
    assert (cfg.epochs, cfg.cell, cfg.units, cfg.bidirectional) == (7, "gru", 16, False)
    assert cfg.batch_size == SentimentConfig().batch_size


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as e:
        config_lib.resolve(SentimentConfig, None, ["epoch=3"])
    assert "unknown key epoch" in str(e.value)
    assert "epochs" in str(e.value) and "learning_rate" in str(e.value)


@pytest.mark.parametrize(
    "override, message",
    [
        ("epochs=three", "is not an integer"),
        ("epochs=2.5", "is not an integer"),
        ("learning_rate=fast", "is not a number"),
        ("bidirectional=maybe", "is not a boolean"),
        ("cell=transformer", "not one of: simple_rnn, lstm, gru"),
        ("dropout=1.5", "dropout must be in [0, 1)"),
        ("epochs=0", "epochs must be >= 1"),
        ("nokey", "expected key=value"),
    ],
)
def test_bad_values_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        config_lib.resolve(SentimentConfig, None, [override])


def test_optional_and_bool_parsing():
    cfg = config_lib.resolve(SentimentConfig, None, ["clipnorm=none", "bidirectional=yes"])
    assert cfg.clipnorm is None and cfg.bidirectional is True
    cfg = config_lib.resolve(SentimentConfig, None, ["clipnorm=0.5", "max_train_samples=10"])
    assert cfg.clipnorm == 0.5 and cfg.max_train_samples == 10


def test_yaml_type_error_names_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("units: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: units="):
        config_lib.resolve(SentimentConfig, path)


def test_bad_yaml_names_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\ncell: [gru\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: not valid YAML"):
        config_lib.resolve(SentimentConfig, path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config_lib.resolve(SentimentConfig, tmp_path / "nope.yaml")


def test_save_and_resolve_round_trip(tmp_path):
    cfg = config_lib.resolve(SentimentConfig, None, ["cell=simple_rnn", "clipnorm=none"])
    config_lib.save(cfg, tmp_path / "config.yaml", "sentiment")
    again = config_lib.resolve(SentimentConfig, tmp_path / "config.yaml")
    assert dataclasses.asdict(again) == dataclasses.asdict(cfg)


def test_describe_lists_every_key_with_comment_and_round_trips(tmp_path):
    text = config_lib.describe(SentimentConfig)
    assert (
        "# Vocabulary size, counting padding (id 0) and [UNK] (id 1).\nmax_tokens: 10000  # int"
        in text
    )
    assert "cell: lstm  # one of: simple_rnn, lstm, gru" in text
    (tmp_path / "c.yaml").write_text(text)
    cfg = config_lib.resolve(SentimentConfig, tmp_path / "c.yaml")
    assert dataclasses.asdict(cfg) == dataclasses.asdict(SentimentConfig())
