"""Penn Treebank language models: perplexity on ptb.test of our
Kneser-Ney n-gram models and our LSTM language model, with training time
on this CPU, beside published figures.

The standard set-up (Mikolov's 10k vocabulary, `<eos>` ending every line,
one stream; 82,430 test tokens): `apps/embed/configs/ptb_rnnlm.yaml`.
Perplexity is the cheatsheet's `prod_t (1 / p(y_t))^(1/T)`
(`layers.metrics.text.perplexity`). The LSTM trains with
`train.time_budget_minutes` (`--lstm-minutes`): on two CPU cores a full
13-epoch schedule is out of reach, so the figure is what the budget buys.

Published reference points (not rerun here): interpolated Kneser-Ney
5-gram 141.2 (Mikolov et al. 2011), a small regularised LSTM (200 units,
2 layers) 114.5 and a medium one 82.7 (Zaremba et al. 2014).

    python benchmarks/ptb_lm.py [--orders 3,5] [--lstm-minutes 10]
        [--set KEY=VALUE ...] [--output FILE.json]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "apps" / "embed" / "configs" / "ptb_rnnlm.yaml"

import _env  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", default="3,5")
    parser.add_argument("--lstm-minutes", type=float, default=10.0)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from apps.common import config as config_lib
    from apps.common.runtime import quiet_tensorflow

    quiet_tensorflow()
    from apps.embed import app
    from apps.embed.config import EmbedConfig

    _env.header("Penn Treebank language models: perplexity on ptb.test")
    print(f"command: python benchmarks/ptb_lm.py {' '.join(sys.argv[1:])}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ptb_lm-") as tmp:
        for order in [int(o) for o in args.orders.split(",") if o]:
            cfg = config_lib.resolve(
                EmbedConfig,
                config_file=CONFIG,
                sets=["model.method=ngram", f"model.order={order}"],
            )
            run = Path(tmp) / f"kn{order}"
            start = time.time()
            summary = app.train(cfg, run)
            test = app.evaluate(run)
            rows.append(
                {
                    "model": f"Kneser-Ney {order}-gram (interpolated)",
                    "valid": summary["valid_perplexity"],
                    "test": test["perplexity"],
                    "tokens": test["tokens"],
                    "train_seconds": summary["train_seconds"],
                    "wall_seconds": round(time.time() - start, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        if args.lstm_minutes > 0:
            sets = [
                "train.epochs=100",
                f"train.time_budget_minutes={args.lstm_minutes}",
                "train.verbose=2",
                *args.sets,
            ]
            cfg = config_lib.resolve(EmbedConfig, config_file=CONFIG, sets=sets)
            run = Path(tmp) / "lstm"
            start = time.time()
            summary = app.train(cfg, run)
            test = app.evaluate(run)
            m = cfg.model
            rows.append(
                {
                    "model": f"{m.cell.upper()} {m.units} units, 1 layer, "
                    f"dropout {m.dropout} ({summary['epochs_run']} epochs "
                    f"in {args.lstm_minutes:g} min)",
                    "valid": summary["valid_perplexity"],
                    "test": test["perplexity"],
                    "tokens": test["tokens"],
                    "train_seconds": summary["train_seconds"],
                    "wall_seconds": round(time.time() - start, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print()
    print("| model | valid PPL | test PPL | test tokens | train s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['valid']:.1f} | {r['test']:.1f} | "
            f"{r['tokens']:,} | {r['train_seconds']:.0f} |"
        )
    _env.footer()
    if args.output:
        args.output.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
