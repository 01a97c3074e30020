"""Tests of apps/inspect/formulas.py: the cheatsheet's formulas by hand."""

from apps.inspect.formulas import output_size
from apps.inspect.formulas import receptive_field
from apps.inspect.formulas import same_padding


def test_receptive_field_formula_with_strides():
    # R = 1 + (3-1) + (2-1)*1 + (3-1)*1*2 = 8.
    assert receptive_field([3, 2, 3], [1, 2, 1]) == 8


def test_output_size_and_same_padding_by_hand():
    assert output_size(32, 5, 1, 0, 0) == 28
    assert output_size(7, 3, 2, 1, 1) == 4
    # same at stride 2 on 14: P = (7 - 1) * 2 + 3 - 14 = 1, at the end.
    assert same_padding(14, 3, 2) == (0, 1)
    assert same_padding(5, 3, 1) == (1, 1)
