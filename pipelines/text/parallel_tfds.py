"""Parallel corpora from tensorflow-datasets translation builders.

`read_tfds_translation` loads a split (`ted_hrlr_translate/pt_to_en`,
`wmt14_translate/de-en`, ...) and `translation_examples_to_corpus` turns
its `{lang: bytes}` examples into a `pipelines.text.parallel.ParallelCorpus`,
skipping empty or invalid sentences the way the file readers do. The
conversion is pure, so tests feed it hand-made dicts and nothing is
downloaded; tensorflow-datasets is imported only by `read_tfds_translation`.
"""

from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path

from pipelines.errors import DataError
from pipelines.text.parallel import ParallelCorpus
from pipelines.text.parallel import decode_line


def translation_examples_to_corpus(
    examples: Iterable[Mapping],
    *,
    source_lang: str,
    target_lang: str,
    where: str = "tfds",
    max_pairs: int | None = None,
) -> ParallelCorpus:
    """Converts tfds `Translation` examples (`{lang: bytes or str}`).

    Args:
        examples: dicts keyed by language code, as `tfds.as_numpy` yields
            them for `ted_hrlr_translate`, `wmt14_translate`, ...
        source_lang: key of the source sentence (e.g. `"pt"`).
        target_lang: key of the target sentence (e.g. `"en"`).
        where: dataset name for `skipped` entries and messages.
        max_pairs: stop after this many kept pairs.

    Returns:
        A `ParallelCorpus`; empty or invalid sentences are skipped and
        listed as `(where, example number (1-based), reason)`.

    Raises:
        DataError: an example lacks one of the language keys (naming the
            keys it has).
    """
    sources, targets, skipped = [], [], []
    for number, example in enumerate(examples, start=1):
        missing = [k for k in (source_lang, target_lang) if k not in example]
        if missing:
            raise DataError(
                f"{where}: example {number} has no {missing[0]!r} field; "
                f"it has {sorted(example)}"
            )
        texts = []
        for lang in (source_lang, target_lang):
            value = example[lang]
            if hasattr(value, "numpy"):
                value = value.numpy()
            raw = value if isinstance(value, bytes) else str(value).encode()
            text, reason = decode_line(raw, number)
            if text is None:
                skipped.append((where, number, f"{lang}: {reason}"))
            texts.append(text and text.strip())
        if None in texts:
            continue
        sources.append(texts[0])
        targets.append(texts[1])
        if max_pairs is not None and len(sources) >= max_pairs:
            break
    return ParallelCorpus(sources, targets, skipped)


def read_tfds_translation(
    name: str,
    *,
    split: str,
    source_lang: str,
    target_lang: str,
    data_dir: str | Path | None = None,
    download: bool = True,
    max_pairs: int | None = None,
) -> ParallelCorpus:
    """Reads a tensorflow-datasets translation split.

    Args:
        name: builder and config, e.g. `"ted_hrlr_translate/pt_to_en"` or
            `"wmt14_translate/de-en"`.
        split: e.g. `"train"`, `"validation"`, `"test[:1000]"`.
        source_lang: the source feature (e.g. `"pt"`).
        target_lang: the target feature (e.g. `"en"`).
        data_dir: tfds data folder (default: tfds' own).
        download: let tfds download and prepare the data when missing.
        max_pairs: stop after this many kept pairs.

    Returns:
        A `ParallelCorpus` (see `translation_examples_to_corpus`).

    Raises:
        DataError: tfds cannot load the split (a one-line reason).
    """
    import tensorflow_datasets as tfds

    try:
        dataset = tfds.load(
            name,
            split=split,
            data_dir=None if data_dir is None else str(data_dir),
            download=download,
        )
    except Exception as err:  # tfds raises many unrelated types
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise DataError(
            f"{name}[{split}]: tfds could not load it "
            f"({type(err).__name__}: {first})"
        )
    return translation_examples_to_corpus(
        tfds.as_numpy(dataset),
        source_lang=source_lang,
        target_lang=target_lang,
        where=f"{name}[{split}]",
        max_pairs=max_pairs,
    )
