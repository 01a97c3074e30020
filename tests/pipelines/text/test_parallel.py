"""Parallel corpora read from files: aligned files and TSV pairs."""

import gzip
import zipfile

import pytest

from pipelines.errors import DataError
from pipelines.text.parallel import ParallelCorpus
from pipelines.text.parallel import decode_line
from pipelines.text.parallel import read_parallel_files
from pipelines.text.parallel import read_tsv_pairs
from pipelines.text.parallel import summary

EN = ["A dog runs.", "Two men talk.", "", "A bad line.", "Kids play."]
DE = ["Ein Hund rennt.", "Zwei Männer reden.", "Leer?", "BAD", "Kinder."]


def _write(path, lines, *, gz=False, bad_line=None):
    data = [line.encode("utf-8") for line in lines]
    if bad_line is not None:
        data[bad_line] = b"caf\xe9 au lait"  # Latin-1, not UTF-8
    blob = b"\n".join(data) + b"\n"
    if gz:
        blob = gzip.compress(blob)
    path.write_bytes(blob)
    return path


def test_aligned_files_skip_bad_and_empty_lines_by_file_and_line(tmp_path):
    en = _write(tmp_path / "x.en.gz", EN, gz=True)
    de = _write(tmp_path / "x.de", DE, bad_line=3)
    corpus = read_parallel_files(en, de)
    assert corpus.sources == ["A dog runs.", "Two men talk.", "Kids play."]
    assert corpus.targets == [
        "Ein Hund rennt.",
        "Zwei Männer reden.",
        "Kinder.",
    ]
    assert [(f, n) for f, n, _ in corpus.skipped] == [
        (str(en), 3),
        (str(de), 4),
    ]
    assert corpus.skipped[0][2] == "empty line"
    assert corpus.skipped[1][2].startswith("invalid UTF-8 (byte 0xe9")


def test_gzip_found_by_magic_bytes_without_suffix(tmp_path):
    en = _write(tmp_path / "en.txt", ["Hello.", "Bye."], gz=True)
    de = _write(tmp_path / "de.txt", ["Hallo.", "Tschüss."])
    corpus = read_parallel_files(en, de, max_pairs=1)
    assert (corpus.sources, corpus.targets) == (["Hello."], ["Hallo."])


def test_strict_raises_naming_file_and_line(tmp_path):
    en = _write(tmp_path / "x.en", EN[:2] + ["ok"])
    de = _write(tmp_path / "x.de", DE[:3], bad_line=1)
    with pytest.raises(DataError, match=r"x\.de:2: invalid UTF-8"):
        read_parallel_files(en, de, strict=True)


@pytest.mark.parametrize("n_en, n_de", [(5, 3), (2, 4)])
def test_mismatched_line_counts_name_both_files_and_counts(
    tmp_path, n_en, n_de
):
    en = _write(tmp_path / "a.en", ["x"] * n_en)
    de = _write(tmp_path / "a.de.gz", ["y"] * n_de, gz=True)
    with pytest.raises(
        DataError, match=rf"a\.en has {n_en} lines but .*a\.de\.gz has {n_de}"
    ):
        read_parallel_files(en, de)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.en: file not found"):
        read_parallel_files(tmp_path / "nope.en", tmp_path / "nope.de")


def _zip_tsv(tmp_path):
    lines = [
        "Go.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org",
        "Run!\t¡Corre!",
        "only one column",
        "Wait.\t",
        "I see.\tYa veo.",
    ]
    path = tmp_path / "spa-eng.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("spa-eng/spa.txt", "\n".join(lines) + "\n")
        archive.writestr("spa-eng/_about.txt", "about")
    return path


def test_tsv_in_zip_by_path_colon_member_and_member_arg(tmp_path):
    path = _zip_tsv(tmp_path)
    corpus = read_tsv_pairs(f"{path}:spa-eng/spa.txt")
    assert corpus.sources == ["Go.", "Run!", "I see."]
    assert corpus.targets == ["Ve.", "¡Corre!", "Ya veo."]
    assert [(n, r) for _, n, r in corpus.skipped] == [
        (3, "expected at least 2 tab-separated columns, found 1"),
        (4, "empty source or target column"),
    ]
    assert corpus.skipped[0][0] == f"{path}:spa-eng/spa.txt"
    same = read_tsv_pairs(path, member="spa-eng/spa.txt", max_pairs=2)
    assert same.sources == ["Go.", "Run!"]
    swapped = read_tsv_pairs(
        path, member="spa-eng/spa.txt", source_column=1, target_column=0
    )
    assert swapped.sources[1] == "¡Corre!" and swapped.targets[1] == "Run!"


def test_tsv_zip_without_member_lists_members(tmp_path):
    path = _zip_tsv(tmp_path)
    with pytest.raises(DataError, match="spa-eng/_about.txt, spa-eng/spa.txt"):
        read_tsv_pairs(path)
    with pytest.raises(DataError, match=r"spa\.txt:3: expected at least 2"):
        read_tsv_pairs(path, member="spa-eng/spa.txt", strict=True)


def test_plain_gzip_tsv(tmp_path):
    path = _write(tmp_path / "p.tsv.gz", ["a\tb", "c\td"], gz=True)
    corpus = read_tsv_pairs(path)
    assert (corpus.sources, corpus.targets) == (["a", "c"], ["b", "d"])


def test_corpus_checks_lengths_and_summarizes():
    with pytest.raises(ValueError, match="2 sources, 1 targets"):
        ParallelCorpus(["a", "b"], ["c"])
    corpus = ParallelCorpus(
        ["a b c", "d"], ["x y", "z"], [("f", 3, "empty line")]
    )
    text = summary(corpus)
    assert text.splitlines()[0] == "2 pairs"
    assert "source: 4 words (mean 2.0, max 3)" in text
    assert "skipped: 1 empty line" in text


def test_decode_line_strips_bom_and_line_ending_and_names_bad_bytes():
    assert decode_line("\ufeffHallo.\r\n".encode(), 1) == ("Hallo.", "")
    assert decode_line("\ufeffx".encode(), 2) == ("\ufeffx", "")
    assert decode_line(b"  \n", 3) == (None, "empty line")
    assert decode_line(b"caf\xe9", 4) == (
        None,
        "invalid UTF-8 (byte 0xe9 at offset 3)",
    )
