"""Sentence pairs and tokenizers for `apps.translate`.

Every split is `(sources, targets)`, two lists of strings; the split
depends on the config only, so `evaluate` rebuilds the one `train` used.
Tokenizers are built from the training split and saved in the run as
vocabulary files (`source_vocab.txt`, `target_vocab.txt`). `make_dataset`
turns pairs into teacher-forcing batches; `read_texts` reads the
sentences `predict` translates.
"""

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.translate.config import DataConfig
from apps.translate.config import TranslateConfig
from pipelines.errors import DataError
from pipelines.text.translation import TranslationReport
from pipelines.text.translation import build_translation_dataset

SPLITS = ("train", "val", "test")


def _split_corpus(sources, targets, cfg: DataConfig):
    """Train/val/test by a seeded shuffle (for a single TSV corpus)."""
    order = np.random.default_rng(cfg.seed).permutation(len(sources))
    n_test = min(cfg.num_test, len(order) // 10)
    n_val = min(cfg.num_val, len(order) // 10)
    parts = {
        "test": order[:n_test],
        "val": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }
    return {
        name: ([sources[i] for i in idx], [targets[i] for i in idx])
        for name, idx in parts.items()
    }


def load_pairs(cfg: DataConfig, splits=SPLITS) -> dict[str, tuple]:
    """The requested splits as `(sources, targets)`; a summary of what
    was read (and skipped, by file and line) is printed."""
    from pipelines.text import parallel
    from pipelines.text.parallel_paths import multi30k_paths
    from pipelines.text.parallel_tfds import read_tfds_translation

    max_pairs = cfg.max_pairs or None
    if cfg.source == "dates":
        from pipelines.synthetic.dates import split_dates

        train, val, test = split_dates(
            cfg.num_train, cfg.num_val, cfg.num_test, seed=cfg.seed
        )
        pairs = {"train": train, "val": val, "test": test}
        return {name: pairs[name] for name in splits}
    if cfg.source == "tsv":
        from pipelines.datasets.spec import expand_data_path

        corpus = parallel.read_tsv_pairs(
            expand_data_path(cfg.tsv_path, "data.tsv_path"),
            max_pairs=max_pairs,
            strict=cfg.strict,
        )
        print(parallel.summary(corpus))
        pairs = _split_corpus(corpus.sources, corpus.targets, cfg)
        return {name: pairs[name] for name in splits}
    out = {}
    if cfg.source == "tfds":
        tfds_split = {"train": "train", "val": "validation", "test": "test"}
        for name in splits:
            corpus = read_tfds_translation(
                cfg.tfds_name,
                split=tfds_split[name],
                source_lang=cfg.source_lang,
                target_lang=cfg.target_lang,
                data_dir=cfg.tfds_data_dir or None,
                max_pairs=max_pairs if name == "train" else None,
            )
            print(f"{name}: {parallel.summary(corpus)}")
            out[name] = (corpus.sources, corpus.targets)
        return out
    for name in splits:
        if cfg.source == "multi30k":
            src, tgt = multi30k_paths(
                None, name, cfg.source_lang, cfg.target_lang
            )
        else:
            src = getattr(cfg, f"{name}_source")
            tgt = getattr(cfg, f"{name}_target")
            if not (src and tgt):
                raise DataError(
                    f"data.{name}_source / data.{name}_target: expected two "
                    "line-aligned files for data.source=parallel"
                )
        corpus = parallel.read_parallel_files(
            src,
            tgt,
            max_pairs=max_pairs if name == "train" else None,
            strict=cfg.strict,
        )
        print(f"{name}: {parallel.summary(corpus)}")
        out[name] = (corpus.sources, corpus.targets)
    return out


def _lower(cfg: DataConfig) -> tuple[bool, bool]:
    """Lower-casing of the (source, target) sides."""
    return cfg.lower_case, cfg.target_lower_case


def build_tokenizers(cfg: DataConfig, sources, targets):
    """`(source_tokenizer, target_tokenizer)` learned from training text;
    the source is lower-cased with `lower_case`, the target with
    `target_lower_case`."""
    from pipelines.text.tokenizers import TextTokenizer
    from pipelines.text.tokenizers import build_wordpiece_vocab

    made = []
    for texts, lower in zip((sources, targets), _lower(cfg)):
        if cfg.tokenizer == "characters":
            text = [s.lower() for s in texts] if lower else texts
            made.append(TextTokenizer.characters(text, lower_case=lower))
            continue
        vocab = build_wordpiece_vocab(
            texts, vocab_size=cfg.vocab_size, lower_case=lower
        )
        made.append(TextTokenizer(vocab, lower_case=lower))
    return _traced(tuple(made))


def _traced(tokenizers):
    """The tokenizers, their `tokenize` graph traced now (for its one
    signature): every verb makes or loads its own pair and tokenizes
    eagerly, and a trace on first call would count, in TensorFlow's
    retracing detector (it keys on the method's code, not the object), as
    a retrace of one function each time a run is loaded again (the demo
    loads its run once per verb)."""
    for tokenizer in tokenizers:
        tokenizer.tokenize.get_concrete_function()
    return tokenizers


def save_tokenizers(run_dir: Path, tokenizers) -> None:
    """Writes both vocabularies into the run."""
    for side, tok in zip(("source", "target"), tokenizers):
        tok.save_vocab(Path(run_dir) / f"{side}_vocab.txt")


def load_tokenizers(run_dir: Path, cfg: DataConfig):
    """The tokenizers saved by `train`."""
    from pipelines.text.tokenizers import TextTokenizer

    return _traced(
        tuple(
            TextTokenizer.from_vocab_file(
                Path(run_dir) / f"{side}_vocab.txt", lower_case=lower
            )
            for side, lower in zip(("source", "target"), _lower(cfg))
        )
    )


def make_dataset(cfg: TranslateConfig, pairs, tokenizers, *, shuffle: bool):
    """`(dataset, report)` of teacher-forcing batches for `fit`."""
    report = TranslationReport()
    ds = build_translation_dataset(
        pairs[0],
        pairs[1],
        tokenizers[0],
        tokenizers[1],
        batch_size=cfg.train.batch_size,
        max_length=cfg.data.max_length,
        shuffle=shuffle,
        seed=cfg.data.seed,
        report=report,
    )
    # Bucketing hides the number of batches from Keras (it then warns that
    # the data "ran out"); it does not depend on the shuffle: count once.
    batches = int(ds.reduce(0, lambda n, _: n + 1))
    ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    return ds, report


def read_texts(input_path: Path | None = None) -> list[str]:
    """The sentences to translate, one a line, from `input_path` (default:
    stdin), stripped.

    Raises:
        DataError: when the bytes are not UTF-8 (naming the line) or hold
            no sentence.
    """
    if input_path:
        path = Path(input_path)
        raw = path.read_bytes()
        where = str(path)
    else:
        raw = sys.stdin.buffer.read()
        where = "stdin"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{where}:{line}: not valid UTF-8")
    texts = [t.strip() for t in text.splitlines()]
    if not any(texts):
        raise DataError(f"{where}: no sentence to translate")
    return texts
