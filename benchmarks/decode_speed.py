"""Decoding speed of an exported translator beside KerasHub's samplers
driving the same Keras model.

For a trained `apps.translate` run, sentences per second on the run's
test split at batch 64 and batch 1, greedy and beam 4:

- ours: the run's exported SavedModel (`export/<latest>`, written by
  `python -m apps.translate export` if missing), loaded with plain
  `tf.saved_model.load`; signatures `translate_greedy` and `translate`
  (beam search with the cheatsheet's length normalization, alpha from
  the run's config). Tokenizing and detokenizing happen inside.
- ours with `decoding.stop: heuristic` (the same translator function,
  in process): the search ends when no alive beam beats the finished
  ones at its current length, instead of the exact bound.
- KerasHub 0.32: `keras_hub.samplers.GreedySampler` and
  `BeamSampler(num_beams=4)` (no length normalization) driving the same
  model's `encode` / `initial_cache` / `next` step, inside one
  `tf.function` that also tokenizes and detokenizes with the same
  tensorflow-text tokenizers, stopping at the end token, with the same
  maximum length (`decoding.max_length_a * S + max_length_b`).

Each function is traced once on a warm-up batch before the clock starts;
then the systems with the same decoder and batch size take turns for
`--repeats` rounds and each keeps its fastest, so a change in the load of
a shared machine falls on all of them alike.
sacreBLEU of each system's output on the same sentences is printed beside
its speed. KerasHub is a peer, never a dependency; run with an
interpreter that has it (the bench venv):

    /tmp/benchvenv/bin/python benchmarks/decode_speed.py --run RUN_DIR
        [--sentences 512] [--single 64] [--beam 4] [--repeats 3]
        [--output FILE.json]
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import _env

REPO = Path(__file__).resolve().parent.parent


def _latest_export(run_dir: Path):
    exports = sorted(
        (p for p in (run_dir / "export").glob("*") if p.name.isdigit()),
        key=lambda p: int(p.name),
    )
    return exports[-1] if exports else None


def _hub_translator(cfg, model, tokenizers, sampler):
    """strings -> best translations, with a KerasHub sampler."""
    import tensorflow as tf

    from apps.translate.inference import max_source_tokens

    source_tok, target_tok = tokenizers
    limit = max_source_tokens(cfg)
    dec = cfg.decoding

    def step(prompt, state, index):
        position = index - 1  # the token fed in is the previous one
        last = tf.gather(prompt, position, axis=1)
        logits, cache, _ = model.next(
            tf.cast(last, tf.int32), state["cache"], state["encoded"], position
        )
        return logits, None, {"cache": cache, "encoded": state["encoded"]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def translate(strings):
        dense = source_tok.tokenize(strings)[:, :limit].to_tensor(0)
        dense = tf.cast(dense, tf.int32)
        lengths = tf.reduce_max(
            tf.reduce_sum(tf.cast(dense > 0, tf.float32), axis=1)
        )
        max_length = tf.cast(
            dec.max_length_a * lengths + dec.max_length_b, tf.int32
        )
        encoded = model.encode(dense, training=False)
        state = {
            "cache": model.initial_cache(encoded, max_length),
            "encoded": encoded,
        }
        batch = tf.shape(dense)[0]
        prompt = tf.concat(
            [
                tf.fill([batch, 1], model.bos_id),
                tf.zeros([batch, max_length], tf.int32),
            ],
            axis=1,
        )
        mask = tf.concat(
            [
                tf.ones([batch, 1], tf.bool),
                tf.zeros([batch, max_length], tf.bool),
            ],
            axis=1,
        )
        out = sampler(
            next=step,
            prompt=prompt,
            cache=state,
            index=1,
            mask=mask,
            stop_token_ids=[model.eos_id],
        )
        return target_tok.detokenize_ids(tf.cast(out[:, 1:], tf.int32))

    return translate


def _run_once(fn, sentences, batch_size):
    """(seconds, outputs) of translating `sentences` in batches."""
    import tensorflow as tf

    outputs = []
    start = time.perf_counter()
    for i in range(0, len(sentences), batch_size):
        out = fn(tf.constant(sentences[i : i + batch_size]))
        outputs += [t.decode("utf-8") for t in out.numpy().tolist()]
    return time.perf_counter() - start, outputs


def _time_interleaved(systems, sentences, batch_size, repeats):
    """Per system, (sentences per second of its fastest round, outputs).

    Every function is traced and warmed up first; then the systems take
    turns, `repeats` rounds, so a change in the machine's load falls on
    all of them alike, and each keeps its fastest round.
    """
    import tensorflow as tf

    for fn in systems.values():
        fn(tf.constant(sentences[:batch_size]))  # trace and warm up
    best, outputs = {}, {}
    for _ in range(repeats):
        for key, fn in systems.items():
            seconds, outputs[key] = _run_once(fn, sentences, batch_size)
            best[key] = min(best.get(key, seconds), seconds)
    return {key: (len(sentences) / best[key], outputs[key]) for key in systems}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--single", type=int, default=64)
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved timing rounds"
    )
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if str(REPO) not in sys.path:  # run as a script: import this checkout
        sys.path.insert(0, str(REPO))
    from apps.common.runtime import quiet_tensorflow

    quiet_tensorflow()
    import keras_hub
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the export's ops)

    from apps.translate import app
    from apps.translate.data import load_pairs
    from apps.translate.inference import load_run
    from apps.translate.inference import make_translator
    from layers.metrics.text import sacrebleu_score

    _env.header("Translation decoding speed: ours (export) vs KerasHub")
    run_dir = args.run.resolve()
    cfg, model, tokenizers = load_run(run_dir)
    if cfg.decoding.beam_size != args.beam:
        raise SystemExit(
            f"{run_dir}/config.yaml: decoding.beam_size is "
            f"{cfg.decoding.beam_size}; expected --beam {args.beam}"
        )
    export = _latest_export(run_dir)
    loaded = tf.saved_model.load(str(export)) if export else None
    if loaded is None or "translate_greedy" not in loaded.signatures:
        export = Path(app.export(run_dir)["path"])
        loaded = tf.saved_model.load(str(export))
    print(f"export: {export}")
    sources, references = load_pairs(cfg.data, ("test",))["test"]
    sources = sources[: args.sentences]
    references = references[: args.sentences]

    def signature(name):
        fn = loaded.signatures[name]
        return lambda s: fn(strings=s)["translations"][:, 0]

    heuristic = dataclasses.replace(
        cfg, decoding=dataclasses.replace(cfg.decoding, stop="heuristic")
    )
    quick = make_translator(heuristic, model, tokenizers)
    systems = {
        ("ours (SavedModel)", "greedy"): signature("translate_greedy"),
        ("ours (SavedModel)", f"beam {args.beam}"): signature("translate"),
        ("ours, heuristic stop", f"beam {args.beam}"): lambda s: quick(s)[
            "translations"
        ][:, 0],
        ("KerasHub 0.32", "greedy"): _hub_translator(
            cfg, model, tokenizers, keras_hub.samplers.GreedySampler()
        ),
        ("KerasHub 0.32", f"beam {args.beam}"): _hub_translator(
            cfg,
            model,
            tokenizers,
            keras_hub.samplers.BeamSampler(num_beams=args.beam),
        ),
    }
    rows = []
    for batch_size, count in ((64, len(sources)), (1, args.single)):
        for decoder in ("greedy", f"beam {args.beam}"):
            same = {k: fn for k, fn in systems.items() if k[1] == decoder}
            timed = _time_interleaved(
                same, sources[:count], batch_size, args.repeats
            )
            for (system, _), (speed, outputs) in timed.items():
                bleu = sacrebleu_score(outputs, references[:count])["bleu"]
                row = {
                    "system": system,
                    "decoder": decoder,
                    "batch": batch_size,
                    "sentences": count,
                    "sentences_per_second": round(speed, 1),
                    "bleu": round(bleu, 2),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    print()
    print("| system | decoder | batch | sentences/s | BLEU (same sentences) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['system']} | {r['decoder']} | {r['batch']} | "
            f"{r['sentences_per_second']} | {r['bleu']} |"
        )
    speed = {(r["system"], r["decoder"], r["batch"]): r for r in rows}
    print()
    for decoder in ("greedy", f"beam {args.beam}"):
        for batch_size in (64, 1):
            hub = speed[("KerasHub 0.32", decoder, batch_size)]
            for system in ("ours (SavedModel)", "ours, heuristic stop"):
                ours = speed.get((system, decoder, batch_size))
                if ours is None:
                    continue
                ratio = (
                    ours["sentences_per_second"] / hub["sentences_per_second"]
                )
                print(
                    f"{decoder}, batch {batch_size}: {system} / KerasHub "
                    f"{ratio:.2f}x"
                )
    if args.output:
        args.output.write_text(
            json.dumps(
                {
                    "command": " ".join(
                        ["benchmarks/decode_speed.py", *sys.argv[1:]]
                    ),
                    "run": str(run_dir),
                    "rows": rows,
                    "versions": {p: _env.version(p) for p in _env.PACKAGES},
                },
                indent=2,
            )
        )
    _env.footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
