"""Inference latency at batch 1: our YOLOv8n-class detector on every engine
against Ultralytics YOLOv8n in ONNX Runtime.

Ours: the `n`-size anchor-free detector built from `layers/`
(`csp_backbone` + `pan_neck` + `anchor_free_head` + `DFLDecode`, 80
classes, random weights: weights do not change latency), mapping float
pixels `(1, S, S, 3)` in [0, 255] to decoded `boxes` and `scores`, run as
- (a) the Keras model under one `tf.function` (not `model.predict`),
- (b) a SavedModel with a fixed-size float signature (written by
  `apps.detect.raw.write_raw_saved_model`), called through
  `tf.saved_model.load(...).signatures["serving_default"]`,
- (c) TFLite float32 and int8 (`TFLiteConverter.from_saved_model` on that
  SavedModel, through `apps.detect.tflite`; int8 calibrated on a few
  random images, which is enough for latency), in `ai_edge_litert`,
- (d) ONNX Runtime on the tf2onnx conversion of that SavedModel.
Peer: Ultralytics YOLOv8n built from `yolov8n.yaml` (no pretrained
weights), exported by Ultralytics to ONNX (its defaults: onnxslim, opset
17 here, fixed size) and run in ONNX Runtime: `(1, 3, S, S)` in [0, 1] to
its decoded `(1, 84, A)` output. Neither side includes NMS or
preprocessing. Ultralytics is exported in a subprocess, so that PyTorch
is never loaded beside TensorFlow in the process that measures.

Threads: the same intra-op thread count for every engine, `--threads`
(default 2; TensorFlow: intra-op N, inter-op 1; TFLite: `num_threads=N`;
ONNX Runtime: `intra_op_num_threads=N`, sequential execution, no
spin-waiting unless `--ort-spinning`, for both ONNX sessions).

Timing: the engines take turns (`--rounds` rounds of `--repeat` calls
each, after `--warmup` calls), so the load of other jobs falls on all of
them alike; the table gives the median of all calls.

    python benchmarks/latency.py [--quick] [--sizes 320 640]
        [--repeat 20] [--rounds 5] [--threads 2]

Needs tf2onnx, onnxruntime and ai_edge_litert (else tf.lite); the peer row
needs `ultralytics` and `torch` (left out, with the reason, otherwise).
Ultralytics reads the torchvision version at import and uses torchvision
only for NMS and classification transforms; where torchvision is not
installed (PyPI's build does not load beside torch 2.13.0's CPU wheel)
the subprocess puts a metadata-only stub for it on its path.
"""

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEFAULT_THREADS = 2
NUM_CLASSES = 80
ULTRALYTICS = "Ultralytics YOLOv8n, ONNX Runtime"


def _ultralytics_export(out_dir: Path, sizes: list[int]) -> None:
    """Subprocess: exports YOLOv8n (from yolov8n.yaml) to ONNX per size and
    writes `info.json` with its parameter count and GFLOPs."""
    import torch
    import ultralytics
    from ultralytics import YOLO
    from ultralytics.utils.torch_utils import get_flops

    torch.manual_seed(0)
    torch.set_num_threads(DEFAULT_THREADS)
    info = {"ultralytics": ultralytics.__version__, "torch": torch.__version__}
    os.chdir(out_dir)
    model = YOLO("yolov8n.yaml")
    net = model.model
    info["params"] = sum(p.numel() for p in net.parameters())
    info["gflops_ultralytics"] = {}
    info["gflops_conv"] = {}
    for size in sizes:
        info["gflops_ultralytics"][size] = get_flops(net, size)
        macs = []

        def hook(module, _, output, macs=macs):
            kernel = module.weight[0].numel()  # in/groups * kh * kw
            macs.append(output[0].numel() * kernel)

        handles = [
            m.register_forward_hook(hook)
            for m in net.modules()
            if isinstance(m, torch.nn.Conv2d)
        ]
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, size, size))
        for h in handles:
            h.remove()
        info["gflops_conv"][size] = 2 * sum(macs) / 1e9
    for size in sizes:
        path = model.export(
            format="onnx",
            imgsz=size,
            batch=1,
            dynamic=False,
            simplify=True,
            opset=17,
            device="cpu",
        )
        os.replace(path, out_dir / f"yolov8n_{size}.onnx")
    (out_dir / "info.json").write_text(json.dumps(info))


def _run_ultralytics_export(out_dir: Path, sizes: list[int]):
    """Runs `_ultralytics_export` in a subprocess; returns its info dict, or
    the reason it failed as a string."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        YOLO_OFFLINE="1",
        YOLO_AUTOINSTALL="false",
        YOLO_VERBOSE="false",
        YOLO_CONFIG_DIR=str(out_dir / "config"),
        OMP_NUM_THREADS=str(DEFAULT_THREADS),
    )
    try:
        importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        stub = out_dir / "stub" / "torchvision-0.28.0.dist-info"
        stub.mkdir(parents=True)
        (stub / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: torchvision\nVersion: 0.28.0\n"
        )
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(stub.parent), env.get("PYTHONPATH")])
        )
    command = [
        sys.executable,
        __file__,
        "--ultralytics-export",
        str(out_dir),
        "--sizes",
        *map(str, sizes),
    ]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=1800
    )
    info_path = out_dir / "info.json"
    if result.returncode or not info_path.exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        return f"export failed (exit {result.returncode}): " + " / ".join(tail)
    return json.loads(info_path.read_text())


def _build_ours(size: int):
    """Our n-size anchor-free detector: pixels -> decoded boxes, scores."""
    import keras

    from layers.blocks.csp import SIZES
    from layers.blocks.csp import csp_backbone
    from layers.blocks.csp import pan_neck
    from layers.heads.anchor_free import DFLDecode
    from layers.heads.anchor_free import anchor_free_head

    keras.utils.set_random_seed(0)
    depth, width = SIZES["n"]
    inputs = keras.Input((size, size, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    features = csp_backbone(x, width=width, depth=depth)
    features = pan_neck(features, width=width, depth=depth)
    raw = anchor_free_head(features, NUM_CLASSES)
    boxes, scores = DFLDecode(NUM_CLASSES, size, name="decode")(raw)
    return keras.Model(
        inputs, {"boxes": boxes, "scores": scores}, name="yolov8n_ours"
    )


def _conv_gflops(model) -> float:
    """2 x multiply-adds of the model's Conv2D layers, in G."""
    import keras

    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            c_in = layer.input.shape[-1] // layer.groups
            macs += h * w * c_out * kh * kw * c_in
    return 2 * macs / 1e9


def _engines_for_size(model, size, folder: Path, args, log):
    """Converts our model for one size; returns {engine: (call, outputs)}
    where `call()` runs one inference and `outputs()` gives the boxes and
    scores as numpy arrays, plus the reasons of the engines that failed."""
    import numpy as np
    import tensorflow as tf

    from apps.detect import onnx
    from apps.detect import raw
    from apps.detect import tflite

    pixels = np.random.default_rng(1).uniform(0, 255, (1, size, size, 3))
    pixels = pixels.astype(np.float32)
    engines, failed = {}, {}

    def numpy_out(out):
        return (np.asarray(out["boxes"]), np.asarray(out["scores"]))

    spec = tf.TensorSpec((1, size, size, 3), tf.float32, name="pixels")
    keras_fn = tf.function(
        lambda x: model(x, training=False), input_signature=[spec]
    )
    engines["(a) Keras model in one tf.function"] = (
        lambda: keras_fn(pixels),
        lambda: numpy_out(keras_fn(pixels)),
    )

    saved = folder / f"saved_model_{size}"
    start = time.perf_counter()
    raw.write_raw_saved_model(model, saved, image_size=size)
    loaded = tf.saved_model.load(str(saved))
    signature = loaded.signatures["serving_default"]
    log(f"SavedModel {size}: {time.perf_counter() - start:.0f} s")
    engines["(b) SavedModel, tf.saved_model.load"] = (
        lambda: signature(pixels=tf.constant(pixels)),
        lambda: numpy_out(signature(pixels=tf.constant(pixels))),
    )

    rng = np.random.default_rng(2)
    representative = rng.uniform(
        0, 255, (args.representative, size, size, 3)
    ).astype(np.float32)
    for quantization in ("float32", "int8"):
        name = f"(c) TFLite {quantization}, {tflite.tflite_runtime()}"
        path = folder / f"ours_{size}_{quantization}.tflite"
        try:
            start = time.perf_counter()
            path.write_bytes(
                tflite.convert_saved_model(saved, quantization, representative)
            )
            runner = tflite.load_tflite(path, num_threads=args.threads)
            log(
                f"TFLite {quantization} {size}: "
                f"{time.perf_counter() - start:.0f} s, "
                f"{path.stat().st_size / 1e6:.1f} MB"
            )
        except Exception as err:  # noqa: BLE001 - reported in the table
            failed[name] = f"{type(err).__name__}: {err}"[:200]
            continue
        engines[name] = (
            lambda runner=runner: runner(pixels=pixels),
            lambda runner=runner: numpy_out(runner(pixels=pixels)),
        )

    name = "(d) ONNX Runtime (tf2onnx)"
    try:
        import tf2onnx

        path = folder / f"ours_{size}.onnx"
        start = time.perf_counter()
        tf2onnx.convert.from_function(
            tf.function(lambda pixels: signature(pixels=pixels)),
            input_signature=[spec],
            opset=onnx.DEFAULT_OPSET,
            output_path=str(path),
        )
        session = _ort_session(path, args.threads, args.ort_spinning)
        log(
            f"tf2onnx {size}: {time.perf_counter() - start:.0f} s, "
            f"{path.stat().st_size / 1e6:.1f} MB"
        )
        names = [o.name for o in session.get_outputs()]
        engines[name] = (
            lambda: session.run(None, {"pixels": pixels}),
            lambda: numpy_out(
                dict(zip(names, session.run(names, {"pixels": pixels})))
            ),
        )
    except Exception as err:  # noqa: BLE001 - reported in the table
        failed[name] = f"{type(err).__name__}: {err}"[:200]
    return engines, failed


def _ort_session(path: Path, threads: int, spinning: bool):
    """An ONNX Runtime CPU session: `threads` intra-op threads, sequential
    execution, with or without spin-waiting intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if spinning else "0"
    )
    return ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"]
    )


def _ultralytics_engine(path: Path, size: int, args):
    import numpy as np

    session = _ort_session(path, args.threads, args.ort_spinning)
    images = np.random.default_rng(1).uniform(0, 1, (1, 3, size, size))
    images = images.astype(np.float32)
    feed = {session.get_inputs()[0].name: images}
    return lambda: session.run(None, feed)


def _time_rounds(engines, repeat, rounds, warmup):
    """(median, fastest) ms per call of each engine, taking turns."""
    for call in engines.values():
        for _ in range(warmup):
            call()
    times = {name: [] for name in engines}
    for _ in range(rounds):
        for name, call in engines.items():
            for _ in range(repeat):
                start = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 640])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help="intra-op threads of every engine",
    )
    parser.add_argument(
        "--ort-spinning",
        action="store_true",
        help="let ONNX Runtime's intra-op threads spin-wait (its default; "
        "off here: on a loaded machine spinning threads slow every ONNX "
        "Runtime call several times over)",
    )
    parser.add_argument(
        "--representative",
        type=int,
        default=8,
        help="random images calibrating int8",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 320 px only, 3 calls, 1 round, 2 calibration images",
    )
    parser.add_argument(
        "--ultralytics-export", type=Path, help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.ultralytics_export:
        _ultralytics_export(args.ultralytics_export, args.sizes)
        return
    if args.quick:
        args.sizes, args.repeat, args.rounds = [320], 3, 1
        args.warmup, args.representative = 1, 2

    import numpy as np
    import tensorflow as tf
    from _env import footer
    from _env import header

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.get_logger().setLevel("ERROR")
    header("Inference latency, batch 1 (benchmarks/latency.py)")

    def log(line):
        print(f"  {line}", flush=True)

    print(
        f"threads: {args.threads} intra-op for every engine (TF inter-op 1, "
        f"ONNX Runtime sequential); median of {args.rounds} rounds x "
        f"{args.repeat} calls per engine, taking turns, after "
        f"{args.warmup} warm-up calls; no NMS, no preprocessing"
    )
    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        folder = Path(tmp)
        print("exporting Ultralytics YOLOv8n (subprocess) ...", flush=True)
        start = time.perf_counter()
        peer = _run_ultralytics_export(folder / "ultralytics", args.sizes)
        if isinstance(peer, str):
            log(f"Ultralytics left out: {peer}")
        else:
            log(
                f"done in {time.perf_counter() - start:.0f} s "
                f"(ultralytics {peer['ultralytics']}, torch {peer['torch']})"
            )
        ms, best_ms, errors, diffs, stats = {}, {}, {}, {}, {}
        for size in args.sizes:
            print(f"building and converting ours at {size} px ...", flush=True)
            model = _build_ours(size)
            stats[size] = (
                int(sum(np.prod(w.shape) for w in model.trainable_weights)),
                model.count_params(),
                _conv_gflops(model),
            )
            engines, failed = _engines_for_size(model, size, folder, args, log)
            errors.update(failed)
            want = engines["(a) Keras model in one tf.function"][1]()
            for name, (_, outputs) in engines.items():
                got = outputs()
                diffs[name] = max(
                    diffs.get(name, 0.0),
                    *(float(np.max(np.abs(g - w))) for g, w in zip(got, want)),
                )
            calls = {name: call for name, (call, _) in engines.items()}
            if not isinstance(peer, str):
                onnx_path = folder / "ultralytics" / f"yolov8n_{size}.onnx"
                calls[ULTRALYTICS] = _ultralytics_engine(onnx_path, size, args)
            print(f"timing at {size} px ...", flush=True)
            for name, (median, fastest) in _time_rounds(
                calls, args.repeat, args.rounds, args.warmup
            ).items():
                ms.setdefault(name, {})[size] = median
                best_ms.setdefault(name, {})[size] = fastest
            del engines, calls, model
            tf.keras.backend.clear_session()

    print()
    for size, (trainable, total, gflops) in stats.items():
        print(
            f"ours at {size} px: {trainable:,} parameters "
            f"({total:,} with BN moving statistics), "
            f"{gflops:.2f} GFLOPs (2 x conv multiply-adds)"
        )
    if not isinstance(peer, str):
        for size in args.sizes:
            print(
                f"Ultralytics YOLOv8n at {size} px: {peer['params']:,} "
                f"parameters, {peer['gflops_conv'][str(size)]:.2f} GFLOPs "
                "(2 x conv multiply-adds), "
                f"{peer['gflops_ultralytics'][str(size)]:.2f} GFLOPs "
                "(Ultralytics' own count)"
            )
    print()
    sizes = args.sizes
    have_peer = ULTRALYTICS in ms
    head = " | ".join(f"{s} px ms" for s in sizes)
    ratio_head = " | ".join(f"x Ultralytics {s}" for s in sizes)
    fast_head = " | ".join(f"{s} px fastest ms" for s in sizes)
    print(
        f"| engine | {head} | {ratio_head} | {fast_head} "
        "| max abs diff vs (a) |"
    )
    print("|---" * (2 + 3 * len(sizes)) + "|")
    for name, row in ms.items():
        cells = " | ".join(f"{row[s]:.1f}" for s in sizes)
        ratios = " | ".join(
            f"{row[s] / ms[ULTRALYTICS][s]:.2f}" if have_peer else "-"
            for s in sizes
        )
        fastest = " | ".join(f"{best_ms[name][s]:.1f}" for s in sizes)
        diff = f"{diffs[name]:.2g}" if name in diffs else "-"
        print(f"| {name} | {cells} | {ratios} | {fastest} | {diff} |")
    for name, reason in errors.items():
        dashes = " | ".join("-" for _ in range(3 * len(sizes)))
        print(f"| {name} | {dashes} | failed: {reason} |")
    print()
    print(
        "ms: median of all timed calls; fastest: the fastest call, closest "
        "to the unloaded machine; ratios from the medians"
    )
    if not have_peer:
        print(f"target not evaluated: Ultralytics left out ({peer})")
    for size in sizes if have_peer else ():
        peer_ms = ms[ULTRALYTICS][size]
        for label, keep in (
            ("any precision", lambda n: True),
            ("float32 only", lambda n: "int8" not in n),
        ):
            ours = {
                n: r[size]
                for n, r in ms.items()
                if n != ULTRALYTICS and keep(n)
            }
            best = min(ours, key=ours.get)
            ratio = ours[best] / peer_ms
            verdict = "met" if ratio <= 0.8 else "NOT met"
            print(
                f"target at {size} px, our best engine ({label}) <= 0.8x "
                f"Ultralytics ONNX float32: {best} {ratio:.2f}x ({verdict})"
            )
    footer()


if __name__ == "__main__":
    main()
