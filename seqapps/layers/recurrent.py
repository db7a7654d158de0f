"""The recurrent block every task builds: cell, units, depth, direction, dropout.

Defaults keep Keras on the fused cuDNN kernel when a GPU is present: tanh/sigmoid
activations, ``recurrent_dropout=0``, ``unroll=False``, ``use_bias=True`` and GRU
``reset_after=True`` are the layer defaults and are never changed here; dropout is applied
*between* layers instead of inside the cell. cuDNN also needs right-padded masks, which the
data pipelines guarantee.
"""

from __future__ import annotations

import keras

CELLS: dict[str, type[keras.layers.Layer]] = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}


def recurrent_layer(
    cell: str,
    units: int,
    *,
    return_sequences: bool = False,
    return_state: bool = False,
    bidirectional: bool = False,
    name: str | None = None,
) -> keras.layers.Layer:
    """Return one recurrent layer of type ``cell``, optionally wrapped in ``Bidirectional``.

    Args:
        cell: ``simple_rnn``, ``lstm`` or ``gru``.
        units: hidden size (per direction when bidirectional).
        return_sequences: output every step ``(batch, time, units)`` instead of the last.
        return_state: also return the final state(s).
        bidirectional: run forward and backward and concatenate.
        name: layer name; fetch the layer later with ``model.get_layer(name)``.

    Example:
        >>> layer = recurrent_layer("gru", 16, bidirectional=True, name="encoder_rnn")
    """
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    inner = CELLS[cell](
        units,
        return_sequences=return_sequences,
        return_state=return_state,
        name=None if bidirectional else name,
    )
    if bidirectional:
        return keras.layers.Bidirectional(inner, name=name)
    return inner


def recurrent_stack(
    x: keras.KerasTensor,
    *,
    cell: str,
    units: int,
    layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    return_sequences: bool = False,
    name: str = "rnn",
) -> keras.KerasTensor:
    """Apply ``layers`` stacked recurrent layers to ``x`` (functional API).

    Layers are named ``{name}_1`` … ``{name}_{layers}``, each followed by a ``Dropout`` named
    ``{name}_{i}_dropout`` when ``dropout > 0``. Masks from an ``Embedding(mask_zero=True)``
    flow through.

    Args:
        x: ``(batch, time, features)`` input tensor.
        cell: ``simple_rnn``, ``lstm`` or ``gru``.
        units: hidden size per layer (per direction when bidirectional).
        layers: number of stacked layers.
        bidirectional: wrap every layer in ``Bidirectional``.
        dropout: rate of the ``Dropout`` after each layer.
        return_sequences: whether the *last* layer returns every step (inner layers always do).
        name: prefix for the layer names.

    Returns:
        ``(batch, time, d)`` if ``return_sequences`` else ``(batch, d)``, where ``d`` is
        ``units`` or ``2 * units`` when bidirectional.
    """
    for i in range(1, layers + 1):
        last = i == layers
        x = recurrent_layer(
            cell,
            units,
            return_sequences=return_sequences or not last,
            bidirectional=bidirectional,
            name=f"{name}_{i}",
        )(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"{name}_{i}_dropout")(x)
    return x
