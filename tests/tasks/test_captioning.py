"""The captioning task on the packaged Flickr8k sample: data, features, model, export."""

import io
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from seqapps import config as config_lib
from seqapps.cli import main
from seqapps.errors import ConfigError, DataError
from seqapps.export import export, predict
from seqapps.layers.decoding import beam_search, greedy_decode
from seqapps.layers.seq2seq import FeatureEncoder, attentive_step_fn
from seqapps.runs import evaluate_run, load_run
from seqapps.tasks.captioning import (
    AttentionPenalty,
    CaptioningConfig,
    CaptioningTask,
    caption_tokens,
)
from seqapps.trainer import train

from ..conftest import make_tiny_task, png_is_a_drawing

# Under pytest-xdist (make test), the tests of the session's captioning run share a worker.
pytestmark = pytest.mark.xdist_group("captioning")

# A random-weight MobileNetV2 at 64 px (2 x 2 feature positions) keeps the image side fast.
TINY = [
    "weights=none",
    "image_size=64",
    "cell=gru",
    "units=16",
    "feature_units=16",
    "embedding_dim=16",
    "min_count=2",
    "batch_size=32",
    "epochs=2",
    "dropout=0",
]


def make_task(tmp: Path, *overrides: str) -> CaptioningTask:
    cfg = config_lib.resolve(
        CaptioningConfig, None, [*TINY, f"feature_cache={tmp / 'features'}", *overrides]
    )
    return CaptioningTask(cfg)


def jpeg_bytes(seed: int, size: int = 80, fmt: str = "JPEG") -> bytes:
    """A random RGB image encoded with Pillow."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size + 10, 3), np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture(scope="module")
def task_and_data(tmp_path_factory):
    task = make_task(tmp_path_factory.mktemp("cap"))
    data = task.load_data()
    task.adapt(data)
    return task, data


@pytest.fixture
def run_dir(runs):
    """The session's tiny captioning run (random MobileNet 0.25 at 32 px); read only."""
    return runs.get("captioning").run_dir


def test_sample_vocabulary_and_backbone(task_and_data):
    task, data = task_and_data
    assert (len(data.train), len(data.val), len(data.test)) == (100, 25, 25)
    assert all(len(c) == 5 for c in data.train.captions)
    assert task.words[:4] == ["", "[UNK]", "[start]", "[end]"] and "dog" in task.words
    assert task.backbone.output_shape == (None, 2, 2, 1280)
    assert task.num_examples(data, "train") == 500


def test_batches_pair_features_with_shifted_captions(task_and_data):
    task, data = task_and_data
    features = task.features(data.val.images)  # (25, 4, 1280) float16 from the cache
    assert features.shape == (25, 4, 1280) and features.dtype == np.float16
    seen = 0
    for x, y in task.make_dataset(data, "val", batch_size=16, training=False):
        tokens_in, tokens_out = x["tokens_in"].numpy(), y.numpy()
        assert x["features"].dtype == tf.float32 and x["features"].shape[1:] == (4, 1280)
        for ti, to in zip(tokens_in, tokens_out, strict=True):
            m = (to > 0).sum()
            assert ti[0] == 2 and to[m - 1] == 3  # [start] first in, [end] last out
            np.testing.assert_array_equal(ti[1:m], to[: m - 1])
            assert (to[m:] == 0).all()
        # Each row's features are one of the split's images (which one: bucketing reorders).
        rows = x["features"].numpy().astype(np.float16)
        assert all(any(np.array_equal(r, f) for f in features) for r in rows), (
            "a batch row is not an image of the split"
        )
        seen += len(tokens_in)
    assert seen == 125  # five captions per image


@pytest.mark.slow  # trains its own model: over 10 s on 2 cores (make test-all)
def test_feature_cache_is_reused_and_keyed_by_the_backbone(task_and_data, tmp_path):
    task, data = task_and_data
    first = task.features(data.test.images)
    cache = Path(task.cfg.feature_cache)
    files = sorted(cache.glob("*.npy"))
    again = CaptioningTask(task.cfg)
    again.target_words, again.vectorizer = task.target_words, task.vectorizer
    again.image_encoder = task.image_encoder.with_backbone(task.backbone)  # no in-memory copy
    np.testing.assert_array_equal(again.features(data.test.images), first)
    assert sorted(cache.glob("*.npy")) == files  # read back, not extracted again
    other = make_task(tmp_path, "seed=7", f"feature_cache={cache}")  # another random backbone
    other.adapt(data)
    assert not np.array_equal(other.features(data.test.images), first)
    assert len(list(cache.glob("*.npy"))) == len(files) + 1


@pytest.mark.slow  # trains its own model: over 10 s on 2 cores (make test-all)
def test_augmented_copies_are_cached_and_mixed_into_training(tmp_path):
    task = make_task(tmp_path, "augment_copies=1")
    data = task.load_data()
    task.adapt(data)
    original, copy = task.features(data.train.images), task.features(data.train.images, 1)
    assert original.shape == copy.shape and not np.array_equal(original, copy)
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2
    rows = np.concatenate(
        [
            x["features"].numpy().astype(np.float16).reshape(len(x["features"]), -1)
            for x, _ in task.make_dataset(data, "train", batch_size=64, training=True).take(4)
        ]
    )
    flat = {"original": original.reshape(len(original), -1), "copy": copy.reshape(len(copy), -1)}
    kinds = [
        next(k for k, f in flat.items() if (f == row).all(axis=1).any()) for row in rows
    ]  # every row is an original or a copy (StopIteration otherwise)
    assert 0.3 < kinds.count("copy") / len(kinds) < 0.7


def test_serving_image_path_equals_cached_features(task_and_data):
    task, data = task_and_data
    images = data.test.images[:3]
    live = task.image_features(tf.constant([p.read_bytes() for p in images])).numpy()
    np.testing.assert_allclose(live, task.features(images).astype(np.float32), atol=2e-2, rtol=1e-2)


@pytest.mark.slow  # trains its own model: over 10 s on 2 cores (make test-all)
def test_long_captions_are_left_out_of_training_only(tmp_path):
    task = make_task(tmp_path, "max_length=8")
    data = task.load_data()
    task.adapt(data)
    assert 0 < task.dropped_long < 500
    index, _, tokens_out = task.caption_examples(data.train, training=True)
    assert len(index) == tokens_out.nrows() == 500 - task.dropped_long
    assert tokens_out.row_lengths().numpy().max() <= 8
    val = [y for _, y in task.make_dataset(data, "val", batch_size=500, training=False)]
    assert sum(len(y) for y in val) == 125 and max(y.shape[1] for y in val) == 8  # cut


def test_feature_encoder_shapes_and_padding_free_mean():
    enc = FeatureEncoder(6)
    values, summary = enc(np.random.default_rng(0).normal(size=(2, 5, 9)).astype("float32"))
    assert values.shape == (2, 5, 6) and summary.shape == (2, 6)
    np.testing.assert_allclose(summary, np.mean(values, axis=1), rtol=1e-6)


def test_attention_penalty_is_added_to_the_loss():
    attention = np.zeros((1, 3, 2), "float32")
    attention[0, :, 0] = 1.0  # every step looks at position 0
    tokens = np.array([[2, 5, 0]])  # the third step is padding: it does not count
    layer = AttentionPenalty(0.5)
    logits = np.ones((1, 3, 4), "float32")
    np.testing.assert_array_equal(layer(logits, attention, tokens), logits)
    # position 0 gets 2 (two real steps), position 1 gets 0: (1-2)^2 + (1-0)^2 = 2
    assert float(layer.losses[0]) == pytest.approx(0.5 * 2.0)


def test_caption_tokens_drop_punctuation_and_case():
    assert caption_tokens(["A dog, running.", 'Two "dogs" play !']) == [
        ["a", "dog", "running"],
        ["two", "dogs", "play"],
    ]


def test_trains_evaluates_and_writes_report_and_plots(runs, run_dir):
    metrics = runs.metrics("captioning")
    for key in ("bleu1", "bleu4", "bleu1_greedy", "bleu4_greedy", "perplexity", "distinct"):
        assert np.isfinite(metrics[key])
    assert 0 <= metrics["bleu4"] <= metrics["bleu1"] <= 100
    task, _ = load_run(run_dir)
    assert metrics["counts"] == {"images": 25}
    assert metrics["settings"] == {"beam_width": task.cfg.beam_width, "monitor": "val_loss"}
    report = (run_dir / "captioning_report_test.md").read_text()
    assert "BLEU-4" in report and "reference:" in report
    png_is_a_drawing(run_dir / "captions_test.png")
    png_is_a_drawing(run_dir / "attention_test.png")


def test_beam_of_width_one_equals_greedy_on_the_trained_decoder(run_dir):
    task, model = load_run(run_dir)
    data = task.load_data()
    features = tf.constant(np.asarray(task.features(data.test.images[:6]), np.float32))
    values, summary = model.get_layer("encoder")(features)
    mask = tf.ones(tf.shape(values)[:2], tf.bool)
    step_fn, state = attentive_step_fn(
        model.get_layer("decoder"), values, mask, summary, start_id=2, end_id=3
    )
    common = {"batch_size": 6, "start_id": 2, "end_id": 3, "max_length": task.cfg.max_length}
    greedy, lengths = greedy_decode(step_fn, state, **common)
    beam, beam_lengths, _ = beam_search(step_fn, state, **common, beam_width=1, alpha=0.0)
    np.testing.assert_array_equal(beam_lengths, lengths)
    np.testing.assert_array_equal(beam, greedy)
    np.testing.assert_array_equal(task.decode(model, features, beam_width=1)[0], greedy)


@pytest.mark.slow  # over 10 s on 2 cores; kept in make test-all
def test_export_round_trip_on_jpeg_and_png_bytes(runs, run_dir, tmp_path):
    task, model = load_run(run_dir)
    path = runs.export("captioning")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    images = [jpeg_bytes(0), jpeg_bytes(1, fmt="PNG"), jpeg_bytes(2, size=300)]
    got = [c.decode() for c in serve(images=tf.constant(images))["captions"].numpy()]
    want = task.to_text(
        task.decode(model, task.image_features(tf.constant(images)), task.cfg.beam_width)[0]
    )
    assert got == [c.decode() for c in want.numpy()]
    assert all(c and c[0] == c[0].upper() for c in got)  # capitalised
    files = []
    for i, data in enumerate(images[:2]):
        files.append(tmp_path / f"photo{i}.{'jpg' if i == 0 else 'png'}")
        files[-1].write_bytes(data)
    lines = predict(path, [str(f) for f in files])
    assert lines == [f"{files[0]}\t{got[0]}", f"{files[1]}\t{got[1]}"]
    # One image: the caption alone.
    one = task.predict_inputs([str(files[0])])
    assert task.format_predictions([str(files[0])], serve(images=one)) == got[:1]


@pytest.mark.slow  # 41 s on 2 cores: make test-all
def test_predict_names_a_missing_or_broken_image(runs, tmp_path):
    path = runs.export("captioning")
    broken = tmp_path / "notes.jpg"
    broken.write_text("not an image", encoding="utf-8")
    with pytest.raises(DataError, match=r"notes.jpg: not a JPEG, PNG, GIF or BMP image"):
        predict(path, [str(broken)])
    with pytest.raises(DataError, match=r"nothing.jpg: image not found"):
        predict(path, [str(tmp_path / "nothing.jpg")])


def broken_jpegs() -> dict[str, bytes]:
    """Issue #15's broken images: a truncated JPEG and a JPEG header followed by zeros."""
    data = jpeg_bytes(5)
    return {"truncated.jpg": data[: len(data) // 2], "zeros.jpg": data[:300] + bytes(5000)}


@pytest.mark.parametrize("name", ["truncated.jpg", "zeros.jpg"])
def test_predict_names_an_image_that_does_not_decode_in_one_line(runs, tmp_path, capfd, name):
    # capfd, not capsys: libjpeg writes its own warnings to file descriptor 2.
    path = runs.export("captioning")
    good, broken = tmp_path / "good.jpg", tmp_path / name
    good.write_bytes(jpeg_bytes(0))
    broken.write_bytes(broken_jpegs()[name])
    with pytest.raises(DataError, match=rf"{name}: cannot be decoded \(truncated or corrupt"):
        predict(path, [str(good), str(broken)])
    capfd.readouterr()
    assert main(["predict", str(path), str(good), str(broken)]) != 0
    err = capfd.readouterr().err.strip()
    assert err.count("\n") == 0 and name in err and "Traceback" not in err, err


def test_saved_model_batch_with_a_broken_image_keeps_the_other_captions(runs):
    """A broken image gets an empty caption and decoded=False; the others are unchanged."""
    serve = runs.loaded("captioning").signatures["serving_default"]
    good = [jpeg_bytes(0), jpeg_bytes(1, fmt="PNG"), jpeg_bytes(2, size=300)]
    alone = serve(images=tf.constant(good))
    assert alone["decoded"].numpy().all()
    broken = list(broken_jpegs().values())
    mixed = serve(images=tf.constant([good[0], broken[0], good[1], b"", broken[1], good[2]]))
    assert mixed["decoded"].numpy().tolist() == [True, False, True, False, False, True]
    captions = mixed["captions"].numpy().tolist()
    assert captions[1] == captions[3] == captions[4] == b""
    assert [captions[i] for i in (0, 2, 5)] == alone["captions"].numpy().tolist()
    nothing = serve(images=tf.constant(broken))  # a batch of broken images only
    assert nothing["captions"].numpy().tolist() == [b"", b""]
    assert not nothing["decoded"].numpy().any()


def test_exif_orientation_reaches_the_features_and_the_saved_model(runs, run_dir, tmp_path):
    """A photo stored landscape with Orientation=6 is encoded as its upright (viewed) copy.

    The viewed copy is a lossless PNG of the JPEG's pixels turned upright, so features and
    captions must match exactly (test_images checks the turn against Pillow).
    """
    task, model = load_run(run_dir)
    y, x = np.mgrid[0:40, 0:64]
    pixels = np.stack([x * 4, y * 6, 255 - x * 2], axis=-1).astype(np.uint8)  # smooth, lopsided
    exif = Image.Exif()
    exif[0x0112] = 6
    tagged = io.BytesIO()
    Image.fromarray(pixels).save(tagged, "JPEG", exif=exif.tobytes(), quality=95)
    tagged = tagged.getvalue()
    stored = tf.io.decode_jpeg(tagged, channels=3)  # TF ignores EXIF: as stored
    upright = tf.image.rot90(stored, 3)  # 90 degrees clockwise
    as_viewed = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(tagged))), np.float32)
    assert upright.shape == as_viewed.shape == (64, 40, 3)
    assert np.abs(upright.numpy() - as_viewed).mean() < 2  # Pillow's decoder, a few levels off
    viewed = tf.io.encode_png(upright).numpy()
    paths = [tmp_path / "tagged.jpg", tmp_path / "viewed.png", tmp_path / "stored.png"]
    for path, data in zip(paths, (tagged, viewed, tf.io.encode_png(stored).numpy()), strict=True):
        path.write_bytes(data)
    encoder = task.encoder_for(model)
    np.testing.assert_array_equal(encoder.pixels(paths[0]), encoder.pixels(paths[1]))
    assert np.abs(encoder.pixels(paths[0]) - encoder.pixels(paths[2])).mean() > 30
    cached = np.asarray(task.features(paths), np.float32)  # the feature cache's pass
    np.testing.assert_array_equal(cached[0], cached[1])
    serve = runs.loaded("captioning").signatures["serving_default"]
    out = serve(images=tf.constant([tagged, viewed]))
    np.testing.assert_array_equal(
        task.image_features(tf.constant([tagged])), task.image_features(tf.constant([viewed]))
    )
    assert out["decoded"].numpy().all() and out["captions"][0] == out["captions"][1]


def test_caption_tsv_file_is_split_by_image(tmp_path):
    images = tmp_path / "img"
    images.mkdir()
    lines = []
    for i in range(20):
        (images / f"{i}.jpg").write_bytes(jpeg_bytes(i, size=40))
        lines += [f"img/{i}.jpg\ta photo number {i}", f"img/{i}.jpg\tanother caption"]
    (tmp_path / "captions.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = make_task(tmp_path, f"data={tmp_path / 'captions.tsv'}")
    data = task.load_data()
    assert (len(data.train), len(data.val), len(data.test)) == (16, 2, 2)
    for part in (data.train, data.val, data.test):  # every image keeps its own captions
        for image, captions in zip(part.images, part.captions, strict=True):
            assert captions == [f"a photo number {image.stem}", "another caption"]
    assert len({p for s in ("train", "val", "test") for p in data.split(s).images}) == 20


def test_training_data_with_broken_images_fails_naming_one_or_skips_and_counts(tmp_path, capsys):
    """Issue #15: ``seqapps train`` on a caption file with a truncated JPEG and a JPEG
    header followed by zeros: an error naming the first, or with skip_missing two skips."""
    images = tmp_path / "img"
    images.mkdir()
    lines = []
    for i in range(12):
        (images / f"{i}.jpg").write_bytes(jpeg_bytes(i, size=40))
        lines.append(f"img/{i}.jpg\ta photo number {i}")
    for name, data in broken_jpegs().items():
        (images / name).write_bytes(data)
        lines.append(f"img/{name}\ta broken photo")
    (tmp_path / "captions.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data_arg = f"data={tmp_path / 'captions.tsv'}"
    with pytest.raises(DataError, match=r"img/truncated.jpg: cannot be decoded .*skip_missing"):
        make_task(tmp_path, data_arg).load_data()
    data = make_task(tmp_path, data_arg, "skip_missing=true").load_data()
    assert data.train.skipped_missing == 2
    assert sum(len(data.split(s)) for s in ("train", "val", "test")) == 12
    assert "captioning: skipped 2 missing or unreadable images" in capsys.readouterr().out


@pytest.mark.parametrize(
    "override, message",
    [
        ("bidirectional=true", "left to right"),
        ("backbone=vgg99", "unknown backbone"),
        ("weights=/no/such/file.h5", "expected imagenet, none or an existing weights file"),
        ("attention=none", None),
    ],
)
def test_config_errors(override, message, tmp_path):
    if message is None:  # valid alone; the penalty needs attention
        with pytest.raises(ConfigError, match="needs attention"):
            make_task(tmp_path, override, "attention_penalty=1.0")
        return
    with pytest.raises(ConfigError, match=message):
        make_task(tmp_path, override)


def test_unknown_data_path_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        make_task(tmp_path, f"data={tmp_path / 'missing'}").load_data()


def test_model_round_trips_through_keras_save(run_dir, tmp_path):
    _, model = load_run(run_dir)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    shape = (2, *model.input["features"].shape[1:])  # (batch, positions, channels)
    x = {
        "features": np.random.default_rng(0).normal(size=shape).astype("float32"),
        "tokens_in": np.array([[2, 5, 6], [2, 7, 0]], "int32"),
    }
    np.testing.assert_allclose(again(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # MobileNetV2 forward and backward on CPU
def test_fine_tuning_trains_the_last_backbone_layers_and_serves_them(tmp_path):
    # MobileNetV2 ends Conv_1, Conv_1_bn, out_relu: fine_tune=3 trains Conv_1 only (batch
    # norm stays frozen).
    task = make_task(tmp_path, "fine_tune=3", "epochs=1", "max_train_samples=20")
    train(task, tmp_path / "run")
    task, model = load_run(tmp_path / "run")
    before, after = task.backbone, model.get_layer("backbone")
    assert not np.allclose(after.get_layer("Conv_1").kernel, before.get_layer("Conv_1").kernel)
    for name in ("Conv1", "block_16_project", "Conv_1_bn"):
        for old, new in zip(
            before.get_layer(name).weights, after.get_layer(name).weights, strict=True
        ):
            np.testing.assert_array_equal(old, new)
    batch = next(iter(task.make_dataset(task.load_data(), "val", batch_size=4, training=False)))
    assert batch[0]["images"].shape == (4, 64, 64, 3) and "features" not in batch[0]

    metrics = evaluate_run(tmp_path / "run", "test")  # features from the fine-tuned backbone
    assert np.isfinite(metrics["bleu1"]) and np.isfinite(metrics["perplexity"])
    path = export(tmp_path / "run", tmp_path / "captioning")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    images = tf.constant([jpeg_bytes(0), jpeg_bytes(1)])
    # The export equals captions from the trained backbone, which the task reads off the model.
    assert task.encoder_for(model).backbone is after and task.backbone is before
    tuned = task.encoder_for(model).encode_bytes(images)
    want = task.to_text(task.decode(model, tuned, task.cfg.beam_width)[0])
    np.testing.assert_array_equal(serve(images=images)["captions"], want)
    # ... and those features are not the starting backbone's.
    pixels = tf.random.uniform((1, 64, 64, 3), -1, 1, seed=0)
    assert not np.allclose(after(pixels), before(pixels))


@pytest.mark.slow
def test_fine_tuning_on_the_tiny_backbone_trains_and_serves(tmp_path):
    """The fine-tuning path, fast: MobileNet 0.25 at 32 px, one step of 8 captions.

    Evaluation with the fine-tuned backbone: the MobileNetV2 test below (slow).

    MobileNet ends conv_pw_13, conv_pw_13_bn, conv_pw_13_relu: fine_tune=3 trains
    conv_pw_13 only (batch norm stays frozen).
    """
    extra = ["fine_tune=3", "max_train_samples=8", "batch_size=8"]
    task = make_tiny_task("captioning", *extra, feature_cache=tmp_path / "features")
    train(task, tmp_path / "run")
    task, model = load_run(tmp_path / "run")
    before, after = task.backbone, model.get_layer("backbone")
    assert [layer.name for layer in after.layers[-3:]] == [
        "conv_pw_13",
        "conv_pw_13_bn",
        "conv_pw_13_relu",
    ]
    trained = after.get_layer("conv_pw_13").kernel
    assert not np.allclose(trained, before.get_layer("conv_pw_13").kernel)
    for name in ("conv1", "conv_pw_12", "conv_pw_13_bn"):
        for old, new in zip(
            before.get_layer(name).weights, after.get_layer(name).weights, strict=True
        ):
            np.testing.assert_array_equal(old, new)
    batch = next(iter(task.make_dataset(task.load_data(), "val", batch_size=4, training=False)))
    assert batch[0]["images"].shape == (4, 32, 32, 3) and "features" not in batch[0]
    serve = tf.saved_model.load(str(export(tmp_path / "run", tmp_path / "models")))
    images = tf.constant([jpeg_bytes(0), jpeg_bytes(1)])
    # The export equals captions from the trained backbone, which the task reads off the model.
    assert task.encoder_for(model).backbone is after and task.backbone is before
    tuned = task.encoder_for(model).encode_bytes(images)
    want = task.to_text(task.decode(model, tuned, task.cfg.beam_width)[0])
    np.testing.assert_array_equal(serve.serving_default(images)["captions"], want)


def test_fine_tuning_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="leave it 0"):
        make_task(tmp_path, "fine_tune=2", "augment_copies=1")
    with pytest.raises(ConfigError, match="fine_tune must be >= 0"):
        make_task(tmp_path, "fine_tune=-1")
    task = make_task(tmp_path, "fine_tune=1000")
    task.adapt(task.load_data())
    with pytest.raises(ConfigError, match="has 15[0-9] layers"):
        task.build_model()


def test_saved_model_attention_is_masked_per_caption_and_zero_for_broken_images(runs):
    """``attention`` (batch, steps, grid h, grid w): each step up to the end token sums to 1."""
    serve = runs.loaded("captioning").signatures["serving_default"]
    broken = next(iter(broken_jpegs().values()))
    out = serve(images=tf.constant([jpeg_bytes(0), broken, jpeg_bytes(1)]))
    attention = out["attention"].numpy()
    grid = runs.get("captioning").task.encoder_for(runs.get("captioning").model).grid
    assert attention.shape[0] == 3 and attention.shape[2:] == grid
    sums = attention.sum(axis=(2, 3))
    assert not sums[1].any()  # the broken image
    for row in (0, 2):  # ones up to the caption's end token, then zeros
        steps = int(np.count_nonzero(sums[row]))
        assert steps >= 1 and np.allclose(sums[row, :steps], 1.0, atol=1e-5)
        assert not sums[row, steps:].any()


@pytest.mark.slow  # builds a model with a 2 x 2 feature grid: make test-all
def test_serving_attention_grid_is_the_feature_grid_in_row_major_order(tmp_path):
    """The served maps are the evaluation plot's weights over positions, laid out (h, w)."""
    task = make_task(tmp_path, "image_size=64", "attention=bahdanau")
    data = task.load_data()
    task.adapt(data)
    model = task.build_model()
    encoder = task.encoder_for(model)
    assert encoder.grid == (2, 2)
    images = [jpeg_bytes(0), jpeg_bytes(3)]
    served = task.serve(model, tf.constant(images))
    features, _ = encoder.encode_checked(tf.constant(images))
    tokens, lengths, weights = task.attention(model, features)
    steps = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    expected = (weights * steps[:, :, None]).reshape(2, -1, 2, 2)
    np.testing.assert_allclose(served["attention"].numpy(), expected, atol=1e-6)
