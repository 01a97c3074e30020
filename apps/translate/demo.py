"""`python -m apps.translate` with no verb: the embedded default, end to
end.

Trains an encoder-decoder with attention on the embedded dates task
(human-written dates -> ISO dates), evaluates sacreBLEU and exact match
with beam search, analyses the errors, exports a strings-in/strings-out
SavedModel (checked in a fresh process) and translates a few sentences.
"""

import time

from apps.common import runs
from apps.translate import app
from apps.translate.config import TranslateConfig
from apps.translate.report import metrics_line


def demo() -> int:
    """Train -> evaluate -> analyze -> export -> translate."""
    start = time.time()
    cfg = TranslateConfig()
    run_dir, _ = runs.run_dir_for_training(
        "translate", runs.timestamped("demo")
    )
    print(f"dlsuite translate demo: dates -> ISO, run folder {run_dir}")
    app.train(cfg, run_dir)
    result = app.evaluate(run_dir, split="test")
    print(metrics_line(result))
    for example in result["examples"]:
        print(
            f"  {example['source']!r} -> {example['output']!r} "
            f"(reference {example['reference']!r})"
        )
    analysis = app.analyze(run_dir, split="test", limit=300)
    print(
        f"Error analysis: {analysis['search_errors']} search errors, "
        f"{analysis['model_errors']} model errors, {analysis['correct']} "
        f"exact of {analysis['sentences']}"
    )
    exported = app.export(run_dir)
    print(f"Exported SavedModel {exported['path']} (fresh-process check)")
    for item in app.predict(
        run_dir,
        ["the 4th of july 1976", "12/25/99", "1 jan 2000"],
        num_return=2,
    ):
        options = "; ".join(
            f"{o['text']} ({o['score']:.3f})" for o in item["translations"]
        )
        print(f"  {item['source']!r} -> {options}")
    print(f"Done in {time.time() - start:.0f} s. Where everything went:")
    for label, path in [
        ("config", run_dir / runs.CONFIG_FILE),
        ("model", run_dir / runs.MODEL_FILE),
        ("metrics", run_dir / runs.METRICS_FILE),
        ("translations", run_dir / "translations.txt"),
        ("error analysis", run_dir / "error_analysis.json"),
        ("training curves", run_dir / "plots" / "training.png"),
        ("attention maps", run_dir / "plots" / "attention_0.png"),
        ("TensorBoard logs", run_dir / "logs"),
        ("SavedModel", exported["path"]),
    ]:
        print(f"  {label:18s} {path}")
    return 0
