"""Tests of apps/embed/data.py: the language-model batches."""

import numpy as np
import pytest

from apps.embed.data import lm_dataset
from apps.embed.data import lm_steps


@pytest.mark.parametrize("tokens", [0, 1, 2, 17, 33, 100])
def test_lm_steps_is_the_cardinality_of_lm_dataset(tokens):
    ds = lm_dataset(np.arange(tokens), 4, 3, shuffle=False)
    assert lm_steps(tokens, 4, 3) == int(ds.cardinality())
