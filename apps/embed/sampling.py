"""Sampling text from the RNN language model."""

import numpy as np


def sample_rnnlm(model, history, length: int, temperature: float, rng):
    """Draws `length` word ids after `history` from a `(batch, T)` ->
    `(batch, T, V)` logits model, one step at a time, from
    `softmax(logits / temperature)` (the last 100 words as context)."""
    out = list(history) or [0]
    start = len(history)
    for _ in range(length):
        context = np.array([out[-100:]], np.int32)
        logits = model(context, training=False).numpy()[0, -1]
        logits = logits.astype(np.float64) / temperature
        probs = np.exp(logits - logits.max())
        out.append(int(rng.choice(len(probs), p=probs / probs.sum())))
    return out[start:] if history else out[1:]
