"""WordPiece vocabularies and the in-graph TextTokenizer."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.text.tokenizers import END_ID
from pipelines.text.tokenizers import RESERVED_TOKENS
from pipelines.text.tokenizers import START_ID
from pipelines.text.tokenizers import UNK_ID
from pipelines.text.tokenizers import TextTokenizer
from pipelines.text.tokenizers import build_wordpiece_vocab
from pipelines.text.tokenizers import clean_spacing
from pipelines.text.tokenizers import normalize_text

# Written with the spacing `clean_spacing` restores (module docstring).
CORPUS = [
    "A man, in a blue shirt, is sitting.",
    "Don't stop the well-known band!",
    "¿Dónde está la estación?",
    "Ein Mann fährt (schnell) Fahrrad; die Straße ist nass.",
    "It costs 3.5% of 10,000 at 10:30 on 3/3/98...",
    "Two dogs play in the snow.",
]


def _texts(values):
    return [v.decode("utf-8") for v in np.asarray(values).tolist()]


@pytest.fixture(scope="module")
def vocab():
    return build_wordpiece_vocab(CORPUS * 3, vocab_size=400, verbose=False)


@pytest.fixture(scope="module")
def tokenizer(vocab):
    return TextTokenizer(vocab)


def test_vocab_starts_with_reserved_tokens_in_order(vocab, capsys):
    assert vocab[:4] == ["[PAD]", "[START]", "[END]", "[UNK]"]
    assert len(set(vocab)) == len(vocab)
    # Accents kept, text lower-cased, inner pieces marked with ##.
    assert {"á", "ß", "ä"} <= set(vocab) and "A" not in vocab
    assert any(t.startswith("##") for t in vocab)
    build_wordpiece_vocab(["a b"], vocab_size=10)
    assert "wordpiece vocabulary:" in capsys.readouterr().out


def test_vocab_rejects_too_small_size():
    with pytest.raises(ValueError, match="vocab_size=4"):
        build_wordpiece_vocab(["a"], vocab_size=4)


def test_round_trip_equals_lower_cased_text(tokenizer):
    ids = tokenizer.tokenize(tf.constant(CORPUS))
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    assert ids.shape[0] == len(CORPUS)
    flat = ids.flat_values.numpy()
    assert flat.min() > END_ID and UNK_ID not in flat  # no bos/eos, no unk
    assert _texts(tokenizer.detokenize(ids)) == [s.lower() for s in CORPUS]


def test_unknown_characters_map_to_unk(tokenizer):
    ids = tokenizer.tokenize(tf.constant(["a ☃ man", "xqz"]))
    assert ids.to_list()[0][1] == UNK_ID
    assert ids.to_list()[1] == [UNK_ID]
    assert _texts(tokenizer.detokenize(ids)) == ["a [UNK] man", "[UNK]"]


def test_detokenize_drops_pad_start_and_stops_at_end(tokenizer):
    ids = tokenizer.tokenize(tf.constant(["two dogs play."])).to_list()[0]
    dense = np.array(
        [[START_ID] + ids + [END_ID, ids[0], 0], [START_ID, 0, 0, 0] + ids],
        np.int64,
    )
    assert _texts(tokenizer.detokenize(dense)) == ["two dogs play."] * 2


def test_spacing_rules_and_quotes():
    raw = tf.constant(
        [
            'he said " hi " ( ok ) , 1 . 2 . 3 and tarn - t - shirt .',
            "„ so “ ¿ qué ? « bien » 10 : 30 ; 5 % ... don ' t , 1 , 2",
            'a " odd quote',
        ]
    )
    assert _texts(clean_spacing(raw)) == [
        'he said "hi" (ok), 1.2.3 and tarn-t-shirt.',
        "„so“ ¿qué? «bien» 10:30; 5%... don't, 1,2",
        'a " odd quote',
    ]


def test_normalization_options():
    text = tf.constant(["Straße ÄRGER", "cafe\u0301"])  # decomposed é
    assert _texts(normalize_text(text)) == ["straße ärger", "café"]
    stripped = normalize_text(text, lower_case=False, strip_accents=True)
    assert _texts(stripped) == ["Straße ARGER", "cafe"]


def test_composed_and_decomposed_accents_give_same_ids(tokenizer):
    ids = tokenizer.tokenize(tf.constant(["está", "esta\u0301"])).to_list()
    assert ids[0] == ids[1] and UNK_ID not in ids[0]


def test_vocab_file_round_trip_and_validation(tmp_path, tokenizer):
    path = tokenizer.save_vocab(tmp_path / "vocab" / "de.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[:4] == list(RESERVED_TOKENS)
    again = TextTokenizer.from_vocab_file(path, **tokenizer.get_config())
    assert again.vocab == tokenizer.vocab
    assert again.vocab_size == len(lines)
    batch = tf.constant(CORPUS[:2])
    assert (
        again.tokenize(batch).to_list() == tokenizer.tokenize(batch).to_list()
    )
    with pytest.raises(ValueError, match=r"must start with \['\[PAD\]'"):
        TextTokenizer(["[UNK]", "[PAD]", "[START]", "[END]", "a"])
    with pytest.raises(ValueError, match=r"duplicated=\['a'\]"):
        TextTokenizer([*RESERVED_TOKENS, "a", "a"])


def test_character_tokenizer_for_dates():
    chars = TextTokenizer.characters("abcdefghijklmnopqrstuvwxyz0123456789-/.")
    assert chars.vocab[:4] == RESERVED_TOKENS and "##9" in chars.vocab
    ids = chars.tokenize(tf.constant(["1998-03-03", "3 March 98"]))
    # One id per character (spaces excepted), `-` split out by punctuation.
    assert ids.row_lengths().numpy().tolist() == [10, 8]
    assert _texts(chars.detokenize(ids)) == ["1998-03-03", "3 march 98"]


class _Exported(tf.Module):
    """What an app exports: raw strings in, ids and text out."""

    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def round_trip(self, strings):
        ids = self.tokenizer.tokenize(strings)
        return {
            "ids": ids.to_tensor(),
            "text": self.tokenizer.detokenize(ids),
        }


def test_saved_model_round_trip(tmp_path, tokenizer):
    tf.saved_model.save(_Exported(tokenizer), str(tmp_path / "wrapped"))
    tf.saved_model.save(tokenizer, str(tmp_path / "plain"))
    wrapped = tf.saved_model.load(str(tmp_path / "wrapped"))
    plain = tf.saved_model.load(str(tmp_path / "plain"))
    batch = tf.constant(CORPUS + ["a ☃"])
    expected_ids = tokenizer.tokenize(batch)
    expected_text = _texts(tokenizer.detokenize(expected_ids))
    out = wrapped.round_trip(batch)
    np.testing.assert_array_equal(out["ids"], expected_ids.to_tensor())
    assert _texts(out["text"]) == expected_text
    ids = plain.tokenize(batch)
    assert ids.to_list() == expected_ids.to_list()
    assert _texts(plain.detokenize_ids(ids.to_tensor())) == expected_text
