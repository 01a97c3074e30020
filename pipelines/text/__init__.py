"""Text pipelines: parallel corpora, tokenizers and translation datasets."""
