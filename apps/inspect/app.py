"""The verb of `python -m apps.inspect` as a plain Python function."""

import json
from pathlib import Path

from apps.common.config import ConfigError
from apps.inspect import report as report_lib
from apps.inspect.analysis import analyze
from apps.inspect.savings import inception_savings
from apps.inspect.sources import model_from_app
from apps.inspect.sources import model_from_file
from apps.inspect.sources import saved_model_summary

FORMATS = ("table", "json")


def inspect_model(
    *,
    app: str | None = None,
    model_path: str | None = None,
    saved_model: str | None = None,
    config_file: str | None = None,
    sets=(),
    output_format: str = "table",
    plot: str | None = None,
) -> dict:
    """Analyses one model and returns what to print.

    Exactly one of `app`, `model_path` and `saved_model` names the model.

    Returns:
        `{"text": str, "result": dict, "mismatches": list}`; `text` is the
        table or the JSON, `result` the JSON-ready report.
    """
    given = [v for v in (app, model_path, saved_model) if v]
    if len(given) != 1:
        raise ConfigError(
            "expected exactly one of --app NAME, --model FILE.keras, "
            "--saved-model DIR"
        )
    if output_format not in FORMATS:
        raise ConfigError(
            f"--format: expected one of {', '.join(FORMATS)}, received "
            f"{output_format!r}"
        )
    if (config_file or sets) and not app:
        raise ConfigError("--config and --set apply to --app only")
    if saved_model:
        result = saved_model_summary(saved_model)
        if plot:
            raise ConfigError(
                "--plot: a SavedModel has no layers to plot; use --model "
                "or --app"
            )
        return {
            "text": _saved_model_text(result)
            if output_format == "table"
            else json.dumps(result, indent=2),
            "result": result,
            "mismatches": [],
        }
    notes = []
    if app:
        model, notes = model_from_app(app, config_file=config_file, sets=sets)
    else:
        model = model_from_file(model_path)
    report = analyze(model)
    report.notes.extend(notes)
    savings = inception_savings(model)
    result = report.to_dict()
    result["inception_savings"] = savings
    if plot:
        result["plot"] = str(report_lib.plot_receptive_field(report, plot))
    text = (
        report_lib.format_table(report, savings)
        if output_format == "table"
        else json.dumps(result, indent=2)
    )
    if plot and output_format == "table":
        text += f"\nReceptive field plot: {plot}"
    return {"text": text, "result": result, "mismatches": report.mismatches}


def _saved_model_text(result: dict) -> str:
    lines = [f"SavedModel {result['path']}"]
    for key, sig in result["signatures"].items():
        lines.append(f"  signature {key}:")
        for kind in ("inputs", "outputs"):
            for name, spec in sig[kind].items():
                shape = spec["shape"]
                shape = (
                    "?" if shape is None else str(shape).replace("None", "?")
                )
                lines.append(
                    f"    {kind[:-1]:6s} {name}: {spec['dtype']} {shape}"
                )
    lines.append(
        f"  variables: {result['variables']} holding {result['values']:,} "
        f"values ({result['trainable_values']:,} trainable)"
    )
    lines.append(f"  not recoverable: {result['not_recoverable']}")
    return "\n".join(lines)


def write_json(result: dict, path: Path) -> None:
    """Helper for tests and scripts: the JSON report to a file."""
    Path(path).write_text(json.dumps(result, indent=2))
