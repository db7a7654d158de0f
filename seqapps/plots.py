"""Plots written into run directories (PNG, via matplotlib's non-interactive backend)."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_confusion_matrix(
    cm: np.ndarray, labels: list[str], path: str | Path, title: str = "Confusion matrix"
) -> None:
    """Save a confusion matrix (rows true, columns predicted) with counts and row shares."""
    shares = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(labels), 1.2 + 1.2 * len(labels)))
    im = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            color = "white" if shares[i, j] > 0.5 else "black"
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{shares[i, j]:.0%}",
                ha="center",
                va="center",
                color=color,
                fontsize=9,
            )
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_history(history_csv: str | Path, path: str | Path) -> None:
    """Plot every metric in a Keras ``CSVLogger`` file, train and validation side by side."""
    with open(history_csv, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    names = [
        k for k in rows[0] if k != "epoch" and not k.startswith("val_") and k != "learning_rate"
    ]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        ax.plot(epochs, [float(r[name]) for r in rows], "o-", label="train")
        if f"val_{name}" in rows[0]:
            ax.plot(epochs, [float(r[f"val_{name}"]) for r in rows], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_horizon_errors(
    metrics: dict[str, float], methods: tuple[str, ...], horizon: int, path: str | Path
) -> None:
    """MASE by forecast horizon, one line per method (model first, then the baselines)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    steps = list(range(1, horizon + 1))
    for method in methods:
        prefix = "" if method == "model" else f"{method}_"
        ax.plot(
            steps,
            [metrics[f"{prefix}mase_h{h}"] for h in steps],
            "o-",
            label=method.replace("_", " "),
            linewidth=2.5 if method == "model" else 1.2,
        )
    ax.set_xlabel("horizon (trading days ahead)")
    ax.set_ylabel("MASE (lower is better)")
    ax.set_xticks(steps)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Error by horizon, test windows")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_forecasts(
    forecasts: dict, names: list[str], data, tickers: list[int], path: str | Path
) -> None:
    """Actual closes against the model's 1-day-ahead forecasts, one panel per ticker index."""
    tickers = [t for t in tickers if (forecasts["ticker"] == t).any()]
    if not tickers:
        return
    fig, axes = plt.subplots(len(tickers), 1, figsize=(9, 2.6 * len(tickers)), squeeze=False)
    for ax, t in zip(axes[:, 0], tickers, strict=True):
        sel = forecasts["ticker"] == t
        local = forecasts["origin"][sel] - data.offsets[t] + 1  # first forecast day
        dates = data.series[t].dates[local]
        ax.plot(dates, forecasts["actual"][sel, 0], color="black", linewidth=1.2, label="actual")
        ax.plot(
            dates,
            forecasts["model"][sel, 0],
            color="tab:blue",
            linewidth=1,
            label="model, 1 day ahead",
        )
        ax.set_title(names[t])
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_gradient_profiles(results: dict[str, dict], path: str | Path, title: str) -> None:
    """Gradient norm vs distance from the output (log scale): at init and after training."""
    phases = [p for p in ("init", "trained") if any(p in r for r in results.values())]
    fig, axes = plt.subplots(1, len(phases), figsize=(5.5 * len(phases), 3.8), squeeze=False)
    for ax, phase in zip(axes[0], phases, strict=True):
        for cell, r in results.items():
            profile = np.array(r[phase], dtype=float)
            ax.semilogy(np.arange(len(profile)), profile, label=cell)
        ax.set_xlabel("distance from the last step (time steps)")
        ax.set_ylabel("|| d loss / d input_t ||")
        ax.set_title(f"{title}: {'at initialisation' if phase == 'init' else 'after training'}")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_attention(
    maps: list[tuple[np.ndarray, list[str], list[str]]], path: str | Path, title: str = "attention"
) -> None:
    """Save attention heat maps side by side: one ``(weights, source words, output words)`` each.

    ``weights`` is ``(len(output words), len(source words))``; each row sums to one.
    """
    widths = [max(3.0, 0.38 * len(src) + 1.5) for _, src, _ in maps]
    height = max(3.0, 0.32 * max(len(out) for _, _, out in maps) + 1.5)
    fig, axes = plt.subplots(1, len(maps), figsize=(sum(widths), height), squeeze=False)
    for ax, (weights, src, out) in zip(axes[0], maps, strict=True):
        ax.imshow(weights, cmap="Greys", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(src)), src, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(out)), out, fontsize=8)
        ax.set_xlabel("source")
    axes[0][0].set_ylabel("output")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_caption_grid(
    images: list[np.ndarray], captions: list[str], path: str | Path, columns: int = 3
) -> None:
    """Save a grid of images (``(h, w, 3)`` 0..255) with a caption text under each."""
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 5.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions, strict=False):
        ax.imshow(np.clip(image, 0, 255).astype(np.uint8))
        ax.set_title(textwrap.fill(caption, 48), fontsize=8, loc="left", y=-0.02, va="top")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_image_attention(
    examples: list[tuple[np.ndarray, list[str], np.ndarray]], path: str | Path, columns: int = 6
) -> None:
    """Save, per example, the image under each output word's attention map.

    Each example is ``(image (h, w, 3) 0..255, words, maps (len(words), gh, gw))``: a row of
    panels per example (wrapped at ``columns``), the map upsampled over the image.
    """
    rows = sum(-(-len(words) // columns) for _, words, _ in examples)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    row = 0
    for image, words, maps in examples:
        h, w = image.shape[:2]
        for i, word in enumerate(words):
            ax = axes[row + i // columns][i % columns]
            ax.imshow(np.clip(image, 0, 255).astype(np.uint8))
            ax.imshow(
                maps[i], cmap="gray", alpha=0.6, extent=(0, w, h, 0), interpolation="bilinear"
            )
            ax.set_title(word, fontsize=9)
        row += -(-len(words) // columns)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_search(
    numbers: list[int], values: list[float], maximize: bool, metric: str, path: str | Path
) -> None:
    """A hyperparameter search: each completed trial's value and the best so far."""
    best, running = [], None
    for v in values:
        running = v if running is None else (max if maximize else min)(running, v)
        best.append(running)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(numbers, values, "o", label="completed trial")
    ax.step(numbers, best, where="post", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{metric} (validation)")
    ax.legend()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
