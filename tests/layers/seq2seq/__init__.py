"""Checks of the decoding interface shared by both seq2seq models.

`test_rnn.py` and `test_transformer.py` run each check on their model:
`next` step by step equals teacher-forced `call` (eagerly and inside a
`tf.function` / `tf.while_loop`), tiling and gathering the batch axis of
`encoded` and the cache, the `.keras` round trip, source padding, and a
few `fit` steps on a copy task.
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

SOURCE_VOCAB = 11
TARGET_VOCAB = 13
BOS = 1
EOS = 2


def batch(seed=0, size=3, source_length=6, target_length=5):
    """Random `(source_ids, target_in)` with source padding at the end of
    rows 0 and 2; `target_in` starts with `BOS`."""
    rng = np.random.default_rng(seed)
    source = rng.integers(3, SOURCE_VOCAB, (size, source_length))
    source[0, 4:] = 0
    source[-1, 2:] = 0
    target = rng.integers(3, TARGET_VOCAB, (size, target_length))
    target[:, 0] = BOS
    return source.astype("int32"), target.astype("int32")


def step_by_step(model, source, target_in, max_length=None):
    """Teacher forcing through `encode`, `initial_cache` and `next`;
    returns `(logits (B, T, V), attention (B, T, S))` as numpy."""
    length = target_in.shape[1]
    encoded = model.encode(source)
    cache = model.initial_cache(encoded, max_length or length)
    logits, attention = [], []
    for step in range(length):
        out, cache, weights = model.next(
            tf.constant(target_in[:, step]), cache, encoded, tf.constant(step)
        )
        logits.append(out.numpy())
        attention.append(weights.numpy())
    return np.stack(logits, 1), np.stack(attention, 1)


def check_next_matches_call(model):
    source, target_in = batch()
    want = model((source, target_in), training=False).numpy()
    assert want.shape == (3, 5, TARGET_VOCAB)
    logits, attention = step_by_step(model, source, target_in, max_length=7)
    np.testing.assert_allclose(logits, want, atol=1e-4)
    # Attention: a distribution over the real source tokens only.
    assert attention.shape == (3, 5, 6)
    padding = np.broadcast_to((source == 0)[:, None], attention.shape)
    np.testing.assert_array_equal(attention[padding], 0.0)
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)


def check_next_in_while_loop(model):
    source, target_in = batch(seed=1)
    want = model((source, target_in)).numpy()

    @tf.function
    def run(source, target_in):
        encoded = model.encode(source)
        cache = model.initial_cache(encoded, 5)
        logits = tf.TensorArray(tf.float32, size=5)

        def body(step, cache, logits):
            out, cache, _ = model.next(target_in[:, step], cache, encoded, step)
            return step + 1, cache, logits.write(step, out)

        _, _, logits = tf.while_loop(
            lambda step, *_: step < 5, body, (tf.constant(0), cache, logits)
        )
        return tf.transpose(logits.stack(), [1, 0, 2])

    got = run(tf.constant(source), tf.constant(target_in)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def check_tile_and_gather(model, beam=3):
    source, target_in = batch(seed=2)
    encoded = model.encode(source)
    cache = model.initial_cache(encoded, 4)
    for value in tf.nest.flatten([encoded, cache]):
        assert value.shape[0] == 3, "batch must be axis 0 of every tensor"
    tiled_encoded, tiled_cache = tf.nest.map_structure(
        lambda x: tf.repeat(x, beam, axis=0), (encoded, cache)
    )
    tokens = target_in[:, 0]
    tiled_tokens = np.repeat(tokens, beam)
    for step in range(3):
        logits, cache, attention = model.next(tokens, cache, encoded, step)
        tiled_logits, tiled_cache, tiled_attention = model.next(
            tiled_tokens, tiled_cache, tiled_encoded, step
        )
        np.testing.assert_allclose(
            tiled_logits.numpy(), np.repeat(logits.numpy(), beam, 0), atol=1e-5
        )
        np.testing.assert_allclose(
            tiled_attention.numpy(),
            np.repeat(attention.numpy(), beam, 0),
            atol=1e-6,
        )
        tokens = target_in[:, step + 1]
        tiled_tokens = np.repeat(tokens, beam)
    # Reordering the batch (a beam search's gather) reorders the results.
    order = np.array([2, 0, 0, 1])
    gathered = tf.nest.map_structure(
        lambda x: tf.gather(x, order, axis=0), (encoded, cache)
    )
    logits, _, _ = model.next(tokens, cache, encoded, 3)
    got, _, _ = model.next(tokens[order], gathered[1], gathered[0], 3)
    np.testing.assert_allclose(got.numpy(), logits.numpy()[order], atol=1e-5)


def check_keras_round_trip(model):
    source, target_in = batch(seed=3)
    want = model((source, target_in)).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded((source, target_in)), want, atol=1e-6)
    logits, _ = step_by_step(loaded, source, target_in)
    np.testing.assert_allclose(logits, want, atol=1e-4)


def check_source_padding(model):
    source, target_in = batch(seed=4)
    source[:, 4:] = 0
    want = model((source, target_in)).numpy()
    longer = np.concatenate([source, np.zeros((3, 3), "int32")], axis=1)
    shorter = source[:, :4]
    for padded in (longer, shorter):
        got = model((padded, target_in)).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5)
    _, attention = step_by_step(model, longer, target_in)
    np.testing.assert_array_equal(attention[:, :, 4:], 0.0)


def copy_task(size=16, length=5):
    """Targets repeat the source: `(source, target_in), target_out`."""
    rng = np.random.default_rng(5)
    tokens = rng.integers(3, SOURCE_VOCAB, (size, length)).astype("int32")
    target_in = np.concatenate([np.full((size, 1), BOS, "int32"), tokens], 1)
    target_out = np.concatenate([tokens, np.full((size, 1), EOS, "int32")], 1)
    target_out[: size // 2, -2:] = 0  # padding, ignored by the loss
    return (tokens, target_in), target_out


def check_fit_reduces_loss(model, learning_rate=1e-2, epochs=6):
    """`fit` on the copy task: the last epoch's loss is below 90 % of the
    first's (each epoch is two steps)."""
    x, y = copy_task()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=0
        ),
    )
    losses = model.fit(x, y, batch_size=8, epochs=epochs, verbose=0)
    losses = losses.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.9 * losses[0], losses
