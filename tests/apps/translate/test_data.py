"""Tokenizers of `apps.translate`: the source is lower-cased, the target
keeps its case (cased sacreBLEU would otherwise lose every German noun)."""

import pytest

from apps.common.config import resolve
from apps.translate.config import TranslateConfig
from apps.translate.data import build_tokenizers

SOURCES = ["A Man rides a Bike .", "Two Dogs play ."] * 20
TARGETS = ["Ein Mann fährt Fahrrad .", "Zwei Hunde spielen ."] * 20


def _text(tokenizer, ids) -> str:
    # WordPiece output is re-spaced around punctuation, characters not.
    return tokenizer.detokenize(ids).numpy()[0].decode().replace(" .", ".")


@pytest.mark.parametrize("tokenizer", ["wordpiece", "characters"])
def test_target_keeps_its_case_unless_asked(tokenizer):
    sets = [f"data.tokenizer={tokenizer}", "data.vocab_size=64"]
    cfg = resolve(TranslateConfig, sets=sets)
    source, target = build_tokenizers(cfg.data, SOURCES, TARGETS)
    ids = target.tokenize(["Ein Mann ."]).to_tensor()
    assert _text(target, ids) == "Ein Mann."
    ids = source.tokenize(["A Man"]).to_tensor()
    assert _text(source, ids) == "a man"
    cfg = resolve(TranslateConfig, sets=[*sets, "data.target_lower_case=true"])
    _, target = build_tokenizers(cfg.data, SOURCES, TARGETS)
    ids = target.tokenize(["Ein Mann ."]).to_tensor()
    assert _text(target, ids) == "ein mann."
