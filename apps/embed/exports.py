"""What `export` writes for a run with word vectors.

- `export/word2vec.txt`: the word2vec text format (`V d` on the first
  line, then `word v1 ... vd`), which gensim's
  `KeyedVectors.load_word2vec_format` reads.
- `export/projector/`: `vectors.tsv`, `metadata.tsv` (one word a line, in
  the same order) and `projector_config.pbtxt` for the TensorBoard
  embedding projector (`tensorboard --logdir export/projector`).
- `export/<version>/`: the SavedModel of `serving.py`, written atomically
  and checked in a fresh process that cannot import this repository.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.common import exporting
from apps.common import runs
from apps.embed.query import WordVectors
from apps.embed.serving import EmbeddingServer
from apps.embed.serving import save_server


def write_word2vec_text(path: Path, wv: WordVectors) -> None:
    """The word2vec text format, written atomically."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"{len(wv.words)} {wv.vectors.shape[1]}\n")
            for word, row in zip(wv.words, wv.vectors):
                f.write(word + " " + " ".join(f"{v:.6g}" for v in row) + "\n")

    runs.atomic_write(path, write)


def write_projector(folder: Path, wv: WordVectors) -> Path:
    """TensorBoard projector files; returns the folder."""
    folder = Path(folder)
    runs.atomic_write(
        folder / "vectors.tsv",
        lambda tmp: np.savetxt(tmp, wv.vectors, delimiter="\t", fmt="%.6g"),
    )
    runs.atomic_write(
        folder / "metadata.tsv",
        lambda tmp: Path(tmp).write_text(
            "".join(f"{w}\n" for w in wv.words), encoding="utf-8"
        ),
    )
    config = (
        "embeddings {\n"
        '  tensor_name: "word_vectors"\n'
        '  tensor_path: "vectors.tsv"\n'
        '  metadata_path: "metadata.tsv"\n'
        "}\n"
    )
    runs.atomic_write(
        folder / "projector_config.pbtxt",
        lambda tmp: Path(tmp).write_text(config),
    )
    return folder


def probe_words(wv: WordVectors) -> list[str]:
    """Export check inputs: frequent and rare words, an upper-case one,
    an unknown one and the empty string."""
    picks = [wv.words[0], wv.words[len(wv.words) // 2], wv.words[-1]]
    upper = wv.words[1].upper() if wv.lower else wv.words[1]
    return picks + [upper, "zzqx-not-a-word", ""]


def export_all(run_dir: Path, cfg, wv: WordVectors) -> dict:
    """Writes every export of the run (module docstring) and checks the
    SavedModel against `WordVectors` in a fresh process."""
    top_k = min(cfg.evaluation.top_k, len(wv.words) - 1)
    write_word2vec_text(run_dir / "export" / "word2vec.txt", wv)
    projector = write_projector(run_dir / "export" / "projector", wv)
    server = EmbeddingServer(wv.words, wv.vectors, top_k=top_k, lower=wv.lower)
    probe = probe_words(wv)
    inputs = {"words": np.array([w.encode("utf-8") for w in probe])}
    want = {k: v.numpy() for k, v in server.lookup(tf.constant(probe)).items()}

    def check(tmp: Path) -> float:
        got, near = exporting.run_calls_in_fresh_process(
            tmp, [("lookup", inputs), ("neighbors", inputs)]
        )
        if got["known"].tolist() != want["known"].tolist():
            raise RuntimeError("export: known flags differ from the model's")
        diff = exporting.compare_outputs(
            {"vectors": want["vectors"]}, got, atol=1e-5
        )
        for word, row, known in zip(probe, near["neighbors"], near["known"]):
            if not known:
                if word in wv:
                    raise RuntimeError(f"export: {word!r} reported unknown")
                continue
            expected = [w for w, _ in wv.most_similar([word], top_k=top_k)]
            got_words = [w.decode("utf-8") for w in row]
            if got_words[:3] != expected[:3]:
                raise RuntimeError(
                    f"export: neighbours of {word!r} differ: {got_words[:3]}"
                    f" vs {expected[:3]}"
                )
        return diff

    exporting.clean_partial_exports(run_dir)
    path, diff = exporting.atomic_export(
        run_dir, lambda tmp: save_server(server, tmp), check
    )
    return {
        "path": str(path),
        "signatures": ["lookup", "neighbors", "serving_default"],
        "word2vec_text": str(run_dir / "export" / "word2vec.txt"),
        "projector": str(projector),
        "checked_words": len(probe),
        "max_abs_diff": diff,
    }
