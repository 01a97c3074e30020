"""One-shot face recognition on AT&T/ORL: our embedding against eigenfaces,
fisherfaces, raw pixels and dlib's pretrained encoder, then embedding
throughput of our exported SavedModel against dlib's.

Protocol, the same for every method and seed: `apps.face.data.load_splits`
splits the 40 ORL people by identity with `data.seed` (30 to train on, the
`data.num_test_identities` = 10 others never seen); every method embeds
the 100 images of the 10 unseen people and is scored by `apps.face.pairs`,
`apps.face.verification` and `apps.face.identification` exactly as
`python -m apps.face evaluate` scores ours:
- one-shot identification: each of 10 trials enrolls one random image per
  person and probes with the 90 others; rank-1 rate, mean of the trials;
- verification: `make_pairs` (all 450 genuine pairs and as many impostor
  pairs, drawn with the seed), squared L2 distances, the 10-fold protocol
  (threshold chosen on 9 folds, accuracy on the tenth), ROC AUC, EER.
Tables give mean +- std over seeds (`--seeds N`: seeds 0..N-1).

Methods (features are L2-normalised, so squared L2 ranks like cosine):
- ours: `apps.face.app.train` per seed with `--config` (default
  `apps/face/configs/orl.yaml`) plus `--set` overrides, `data.seed` and
  `runtime.seed` set to the seed; test images embedded with the trained
  Keras embedder (already unit-norm);
- classical methods, on the full 92x112 grey images in [0, 1]
  (`--classical-input prepared`: on the `S x S` centre crops ours gets,
  which cost them about 4 points), every model fitted on the 300 images
  of the 30 training people only:
  - raw pixels, minus the training mean;
  - eigenfaces: scikit-learn `PCA(0.95 of the variance, whiten=True)`;
  - fisherfaces: `PCA(0.95 of the variance)` then
    `LinearDiscriminantAnalysis(c - 1)` (c = 30 people);
  - textbook fisherfaces: `PCA(N - c)` (N = 300 images) then the same LDA;
    with exactly N - c dimensions the within-class scatter is barely
    invertible and LDA overfits the training people (reported, not the
    baseline to beat);
- dlib (`face_recognition` 1.3, `dlib-bin`, ResNet encoder of
  `face_recognition_models`; pretrained on millions of other faces, so the
  30 training people are unused): `face_encodings(rgb, known_face_locations=
  [(0, w, h, 0)])` on the full 92x112 ORL image (already a cropped face),
  grey copied to RGB; and, for reference, the same with the box of dlib's
  HOG detector (upsample 1; the full image where it finds none).
dlib runs in subprocesses of a separate venv (`--venv`, default
`/tmp/facevenv`):

    python -m venv /tmp/facevenv
    /tmp/facevenv/bin/pip install dlib-bin face_recognition_models \
        numpy pillow click
    /tmp/facevenv/bin/pip install --no-deps face_recognition

Throughput (needs ours and dlib): the last seed's run is exported
(`app.export`) and long-lived worker processes time, in turns (`--rounds`
rounds of about `--seconds` s each), on the 100 test images: our
SavedModel (`tf.saved_model.load` in a fresh process that does not import
this repository) through `embed_uint8` (prepared pixels) at batch 1 and 32
and through `embed` (PNG bytes of the original images: decode, crop,
resize, embed) at batch 1 and 32; dlib's `face_encodings` on decoded RGB
arrays with the full-image box (landmarks, aligned chip, ResNet; no
decode). "1 core": one process pinned to CPU 0, one TF intra-op thread;
"2 cores": ours with two intra-op threads on CPUs 0-1, dlib as two
processes pinned to CPU 0 and CPU 1 working at once (and one unpinned
process). The median images/s of the rounds is reported.

    python benchmarks/face_orl.py [--seeds 5] [--set KEY=VALUE ...]
        [--skip-ours] [--skip-dlib] [--output FILE.json]

scikit-learn is needed (a benchmark-only dependency, not the package's).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parent.parent
CONFIG = "apps/face/configs/orl.yaml"
TRIALS = 10
EIGEN_VARIANCE = 0.95
OURS = "ours (apps.face, orl.yaml)"
DLIB = "dlib face_recognition, full-image box"
DLIB_HOG = "dlib face_recognition, HOG-detector box"
CLASSICAL = (
    "raw pixels (centred)",
    "eigenfaces (PCA 0.95, whitened)",
    "fisherfaces (PCA 0.95 + LDA)",
    "fisherfaces, textbook (PCA N - c + LDA)",
)
PROTOCOL_TAG = "@@"


# ---------------------------------------------------------------- workers
# Run in other processes; they import nothing from this repository (the
# dlib ones run in the venv, which has numpy, Pillow and face_recognition).


def _pin(cpus: str) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})


def _dlib_embed(list_file: Path, out_file: Path) -> None:
    """Embeds every listed image with the full-image box and with the box
    of the HOG detector; writes `full`, `hog`, `found` to an npz."""
    import face_recognition
    import numpy as np
    from PIL import Image

    full, hog, found = [], [], []
    start = time.perf_counter()
    for path in list_file.read_text().split("\n"):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        h, w = rgb.shape[:2]
        box = (0, w, h, 0)
        full.append(face_recognition.face_encodings(rgb, [box])[0])
        boxes = face_recognition.face_locations(rgb, 1, model="hog")
        found.append(bool(boxes))
        if boxes:
            box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        hog.append(face_recognition.face_encodings(rgb, [box])[0])
    seconds = time.perf_counter() - start
    np.savez(out_file, full=full, hog=hog, found=found, seconds=seconds)


def _worker(args) -> None:
    """Answers `<mode> <seconds>` lines with `{"images", "seconds"}`: runs
    the mode's calls over the inputs until `seconds` have passed."""
    _pin(args.cpus)
    import numpy as np

    if args.worker == "dlib":
        import face_recognition
        from PIL import Image

        paths = Path(args.inputs).read_text().split("\n")
        images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]

        def call(k, batch):
            rgb = images[k % len(images)]
            h, w = rgb.shape[:2]
            face_recognition.face_encodings(rgb, [(0, w, h, 0)])
            return 1

    else:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        data = np.load(args.inputs)
        pixels = data["pixels"]
        ends = np.cumsum(data["png_sizes"])
        blob = data["png"].tobytes()
        pngs = np.array(
            [blob[e - n : e] for e, n in zip(ends, data["png_sizes"])],
            dtype=object,
        )
        loaded = tf.saved_model.load(args.export)
        embed_uint8 = loaded.signatures["embed_uint8"]
        embed = loaded.signatures["embed"]

        def take(array, k, batch):
            idx = np.arange(k * batch, (k + 1) * batch) % len(array)
            return array[idx]

        def call(k, batch, kind="uint8"):
            if kind == "uint8":
                x = tf.constant(take(pixels, k, batch))
                embed_uint8(pixels=x)["embeddings"].numpy()
            else:
                x = tf.constant(list(take(pngs, k, batch)), tf.string)
                embed(images=x)["embeddings"].numpy()
            return batch

    def run(mode, seconds):
        kind, batch = mode.split(":")
        extra = () if args.worker == "dlib" else (kind,)
        count, k = 0, 0
        start = time.perf_counter()
        while True:
            count += call(k, int(batch), *extra)
            k += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return count, elapsed

    for mode in args.warmup_modes.split(","):
        run(mode, 0.5)
    print(PROTOCOL_TAG, "ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            return
        mode, seconds = line.split()
        count, elapsed = run(mode, float(seconds))
        reply = json.dumps({"images": count, "seconds": elapsed})
        print(PROTOCOL_TAG, reply, flush=True)


class Worker:
    """A `_worker` subprocess and its line protocol."""

    def __init__(self, python, kind, inputs, cpus, threads=1, export=""):
        modes = "encode:1" if kind == "dlib" else "uint8:1,uint8:32,png:32"
        env = dict(os.environ)
        for name in ("OMP", "OPENBLAS", "MKL"):
            env[f"{name}_NUM_THREADS"] = str(threads)
        command = [python, __file__, "--worker", kind, "--inputs", inputs]
        command += ["--cpus", cpus, "--threads", str(threads)]
        command += ["--export", export, "--warmup-modes", modes]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._read()

    def _read(self):
        for line in self.process.stdout:
            if line.startswith(PROTOCOL_TAG):
                return line[len(PROTOCOL_TAG) :].strip()
        raise RuntimeError(f"worker exited ({self.process.wait()})")

    def send(self, mode, seconds):
        self.process.stdin.write(f"{mode} {seconds}\n")
        self.process.stdin.flush()

    def receive(self) -> float:
        reply = json.loads(self._read())
        return reply["images"] / reply["seconds"]

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)


# ---------------------------------------------------------------- methods


def _unit(x):
    import numpy as np

    x = np.asarray(x, np.float64).reshape(len(x), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _classical(x_train, y_train, x_test) -> tuple[dict, dict]:
    """{method: unit test features}, {method: notes}; every model is
    fitted on the training people's images only."""
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    n, c = len(x_train), len(np.unique(y_train))
    eigen = PCA(EIGEN_VARIANCE, whiten=True, svd_solver="full")
    eigen.fit(x_train)
    features, notes = {CLASSICAL[0]: x_test - x_train.mean(axis=0)}, {}
    features[CLASSICAL[1]] = eigen.transform(x_test)
    notes[CLASSICAL[1]] = f"{eigen.n_components_} whitened components"
    for name, dims in ((CLASSICAL[2], EIGEN_VARIANCE), (CLASSICAL[3], n - c)):
        pca = PCA(dims, svd_solver="full").fit(x_train)
        lda = LinearDiscriminantAnalysis(n_components=c - 1)
        lda.fit(pca.transform(x_train), y_train)
        features[name] = lda.transform(pca.transform(x_test))
        notes[name] = f"PCA {pca.n_components_}, LDA {c - 1}"
    return {k: _unit(v) for k, v in features.items()}, notes


def _score(embeddings, labels, cfg) -> dict:
    from apps.face.identification import one_shot_identification
    from apps.face.pairs import make_pairs
    from apps.face.pairs import pair_distances
    from apps.face.verification import ten_fold_verification

    seed, v = cfg.data.seed, cfg.verification
    i, j, same = make_pairs(labels, num_pairs=v.num_pairs, seed=seed)
    distances = pair_distances(embeddings, i, j)
    report = ten_fold_verification(distances, same, folds=v.folds, seed=seed)
    rank1, rank1_std = one_shot_identification(
        embeddings, labels, trials=TRIALS, seed=seed
    )
    return {
        "rank1": rank1,
        "rank1_std_trials": rank1_std,
        "verification": report.accuracy_mean,
        "verification_std_folds": report.accuracy_std,
        "auc": report.auc,
        "eer": report.eer,
        "pairs": [report.num_genuine, report.num_impostor],
    }


def _train_ours(cfg, run_dir: Path):
    import keras

    from apps.face import app
    from apps.face.inference import load_run

    keras.backend.clear_session()
    summary = app.train(cfg, run_dir)
    _, embedder = load_run(run_dir)
    return embedder, summary


def _run_dlib(python: str, paths, folder: Path):
    """dlib embeddings of every path, or the reason it failed (a str)."""
    list_file, out = folder / "dlib_paths.txt", folder / "dlib.npz"
    list_file.write_text("\n".join(paths))
    command = [python, __file__, "--dlib-embed", str(list_file), str(out)]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=3600
        )
    except OSError as err:
        return f"{python}: {err}"
    if result.returncode or not out.exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        return f"exit {result.returncode}: " + " / ".join(tail)
    import numpy as np

    return dict(np.load(out))


def _dlib_versions(python: str) -> dict:
    code = (
        "import importlib.metadata as m, json\n"
        "names = ['dlib-bin', 'face_recognition', 'face_recognition_models',"
        " 'numpy', 'pillow']\n"
        "print(json.dumps({n: m.version(n) for n in names}))"
    )
    try:
        out = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=60
        )
        return json.loads(out.stdout)
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------- throughput


def _throughput(args, export_dir: Path, test_paths, pixels, folder: Path):
    """{row: {"images_per_s": median, "rounds": [...]}} for every engine."""
    import io

    import numpy as np
    from PIL import Image

    pngs = []
    for path in test_paths:
        buffer = io.BytesIO()
        Image.open(path).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    inputs = folder / "throughput_inputs.npz"
    np.savez(
        inputs,
        pixels=pixels,
        png=np.frombuffer(b"".join(pngs), np.uint8),
        png_sizes=np.array([len(p) for p in pngs]),
    )
    list_file = folder / "throughput_paths.txt"
    list_file.write_text("\n".join(test_paths))
    dlib_python = str(Path(args.venv) / "bin" / "python")
    workers = {}
    try:
        workers["ours1"] = Worker(
            sys.executable, "ours", str(inputs), "0", 1, str(export_dir)
        )
        workers["ours2"] = Worker(
            sys.executable, "ours", str(inputs), "0,1", 2, str(export_dir)
        )
        for name, cpus in (("dlib0", "0"), ("dlib1", "1"), ("dlib01", "")):
            workers[name] = Worker(dlib_python, "dlib", str(list_file), cpus)
        rows = {
            "dlib, 1 core (1 process)": (["dlib0"], "encode:1"),
            "dlib, 2 cores (2 processes)": (["dlib0", "dlib1"], "encode:1"),
            "dlib, 1 process, 2 cores allowed": (["dlib01"], "encode:1"),
        }
        for cores in (1, 2):
            for kind, label in (("uint8", "embed_uint8"), ("png", "embed PNG")):
                for batch in (1, 32):
                    name = f"ours {label}, batch {batch}, {cores} core"
                    name += "s" if cores == 2 else ""
                    rows[name] = ([f"ours{cores}"], f"{kind}:{batch}")
        rates = {name: [] for name in rows}
        for r in range(args.rounds):
            print(f"  throughput round {r + 1}/{args.rounds}", flush=True)
            for name, (names, mode) in rows.items():
                for w in names:
                    workers[w].send(mode, args.seconds)
                rates[name].append(sum(workers[w].receive() for w in names))
    finally:
        for worker in workers.values():
            worker.close()
    return {
        name: {"images_per_s": statistics.median(r), "rounds": r}
        for name, r in rates.items()
    }


# ---------------------------------------------------------------- report


def _mean_std(values) -> tuple[float, float]:
    values = list(values)
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std


def _summarise(results: dict) -> dict:
    summary = {}
    for method, per_seed in results.items():
        row = {}
        for key in ("rank1", "verification", "auc", "eer"):
            row[key] = _mean_std(s[key] for s in per_seed.values())
        row["seeds"] = len(per_seed)
        summary[method] = row
    return summary


def _print_tables(summary: dict, results: dict) -> None:
    print(
        "| method | one-shot rank-1 % | 10-fold verification % | ROC AUC "
        "| EER % | seeds |"
    )
    print("|---|---|---|---|---|---|")
    for method, row in summary.items():
        r, v, auc, eer = (
            row[k] for k in ("rank1", "verification", "auc", "eer")
        )
        print(
            f"| {method} | {100 * r[0]:.1f} +- {100 * r[1]:.1f} "
            f"| {100 * v[0]:.1f} +- {100 * v[1]:.1f} | {auc[0]:.4f} "
            f"| {100 * eer[0]:.1f} | {row['seeds']} |"
        )
    print()
    seeds = sorted({s for per in results.values() for s in per})
    head = " | ".join(f"seed {s}" for s in seeds)
    print(f"per seed, rank-1 % / verification %:\n\n| method | {head} |")
    print("|---" * (1 + len(seeds)) + "|")
    for method, per_seed in results.items():
        cells = " | ".join(
            f"{100 * per_seed[s]['rank1']:.1f} / "
            f"{100 * per_seed[s]['verification']:.1f}"
            if s in per_seed
            else "-"
            for s in seeds
        )
        print(f"| {method} | {cells} |")


def _targets(summary: dict, throughput: dict | None) -> list[str]:
    lines = []
    if OURS not in summary:
        return ["targets not evaluated: ours was skipped"]
    ours = summary[OURS]
    r, v = ours["rank1"][0], ours["verification"][0]
    for label, value, goal in (("rank-1", r, 0.97), ("verification", v, 0.99)):
        verdict = "met" if value >= goal else "NOT met"
        lines.append(
            f"{label} >= {100 * goal:.0f} %: {100 * value:.1f} % ({verdict})"
        )
    classical = {m: summary[m] for m in CLASSICAL if m in summary}
    for key in ("rank1", "verification"):
        best = max(classical, key=lambda m: classical[m][key][0])
        gap = ours[key][0] - classical[best][key][0]
        verdict = "met" if gap > 0 else "NOT met"
        lines.append(
            f"beat classical on {key}: ours - {best} = {100 * gap:+.1f} "
            f"points ({verdict})"
        )
    for peer in (DLIB, DLIB_HOG):
        for key in ("rank1", "verification") if peer in summary else ():
            gap = ours[key][0] - summary[peer][key][0]
            verdict = "met" if gap >= -0.01 else "NOT met"
            lines.append(
                f"match {peer} on {key} (ours >= it - 1 point): "
                f"{100 * gap:+.1f} points ({verdict})"
            )
    if DLIB not in summary:
        lines.append("match dlib: not evaluated (dlib left out)")
    if throughput:
        for cores, dlib_rows in (
            (1, ["dlib, 1 core (1 process)"]),
            (
                2,
                [
                    "dlib, 2 cores (2 processes)",
                    "dlib, 1 process, 2 cores allowed",
                ],
            ),
        ):
            peer = max(throughput[d]["images_per_s"] for d in dlib_rows)
            suffix = " cores" if cores == 2 else " core"
            for name, row in throughput.items():
                if name.startswith("ours") and name.endswith(
                    f"{cores}{suffix}"
                ):
                    ratio = row["images_per_s"] / peer
                    verdict = "met" if ratio >= 10 else "NOT met"
                    lines.append(
                        f"throughput >= 10x dlib, {name}: {ratio:.1f}x "
                        f"({verdict})"
                    )
    else:
        lines.append("throughput: not evaluated")
    return lines


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--config", default=CONFIG)
    parser.add_argument(
        "--set", action="append", default=[], help="config override of ours"
    )
    parser.add_argument(
        "--classical-input",
        choices=("full", "prepared"),
        default="full",
        help="classical methods on the full 92x112 grey images (default) "
        "or on the prepared S x S crops that ours gets",
    )
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--skip-dlib", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--venv", default="/tmp/facevenv")
    parser.add_argument("--workdir", help="run folders (default: a temp dir)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--worker", choices=("ours", "dlib"), help=argparse.SUPPRESS
    )
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--cpus", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--threads", type=int, default=1, help=argparse.SUPPRESS
    )
    parser.add_argument("--export", default="", help=argparse.SUPPRESS)
    parser.add_argument("--warmup-modes", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--dlib-embed", nargs=2, type=Path, help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.dlib_embed:
        _dlib_embed(*args.dlib_embed)
        return
    if args.worker:
        _worker(args)
        return
    if str(REPO) not in sys.path:  # run as a script: import this checkout
        sys.path.insert(0, str(REPO))
    os.chdir(REPO)
    from apps.common.runtime import quiet_tensorflow

    quiet_tensorflow()
    import numpy as np
    import yaml
    from _env import footer
    from _env import header
    from _env import version

    from apps.common import config as config_lib
    from apps.face import app
    from apps.face.config import FaceConfig
    from apps.face.data import load_splits
    from apps.face.data import split_identities
    from apps.face.inference import embed_arrays
    from apps.face.inference import embed_fn
    from pipelines.datasets.spec import expand_data_path
    from pipelines.faces.folders import read_faces

    header("Face recognition on AT&T/ORL (benchmarks/face_orl.py)")
    dlib_python = str(Path(args.venv) / "bin" / "python")
    dlib_versions = {} if args.skip_dlib else _dlib_versions(dlib_python)
    print(
        f"bench-only versions: scikit-learn {version('scikit-learn')}; "
        f"dlib venv {args.venv}: {dlib_versions or 'unavailable'}"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")

    def resolve(seed):
        sets = ["train.verbose=2", *args.set]
        sets += [f"data.seed={seed}", f"runtime.seed={seed}"]
        return config_lib.resolve(
            FaceConfig, config_file=args.config, sets=sets
        )

    config_text = Path(args.config).read_text()
    resolved = config_lib.to_dict(resolve(0))
    print(f"\n{args.config} as read at the start:\n{config_text}")
    print("resolved config of seed 0 (each seed sets data/runtime.seed):")
    print(yaml.safe_dump(resolved, sort_keys=False))
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="face_orl-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {workdir}", flush=True)

    cfg0 = resolve(0)
    root = expand_data_path(cfg0.data.path, "data.path")
    index = read_faces(root, min_images=2, strict=cfg0.data.strict)
    dlib = None
    if not args.skip_dlib:
        print("dlib: embedding all images (venv subprocess) ...", flush=True)
        dlib = _run_dlib(dlib_python, index.paths, workdir)
        if isinstance(dlib, str):
            print(f"  dlib left out: {dlib}")
        else:
            print(
                f"  {len(index)} images in {float(dlib['seconds']):.0f} s; "
                f"HOG detector found a face in {int(dlib['found'].sum())}"
            )

    if args.classical_input == "full":
        from PIL import Image

        originals = np.stack(
            [
                np.asarray(Image.open(p).convert("L")).ravel()
                for p in index.paths
            ]
        ) / np.float64(255.0)
        print(f"classical methods: full images {originals.shape[1]} pixels")
    results, notes, train_info = {}, {}, {}
    all_labels = np.asarray(index.labels)
    test_paths, test_pixels, last_run = [], None, None
    for seed in range(args.seeds):
        cfg = resolve(seed)
        print(f"\n== seed {seed} ==", flush=True)
        splits = load_splits(cfg.data, ("train", "test"))
        train, test = splits["train"], splits["test"]
        split_ids = split_identities(len(index.names), cfg.data)
        ids = split_ids["test"]
        mask = np.isin(all_labels, ids)
        train_mask = np.isin(all_labels, split_ids["train"])
        remap = {old: new for new, old in enumerate(ids)}
        labels = np.array([remap[int(v)] for v in all_labels[mask]])
        if not np.array_equal(labels, test.labels) or [
            index.names[i] for i in ids
        ] != list(test.names):
            raise RuntimeError("the folder index and load_splits disagree")
        test_paths = [p for p, m in zip(index.paths, mask) if m]
        test_pixels = test.images
        if args.classical_input == "full":
            x_train, x_test = originals[train_mask], originals[mask]
        else:
            x_train = train.images.reshape(len(train), -1) / 255.0
            x_test = test.images.reshape(len(test), -1) / 255.0
        features, seed_notes = _classical(
            x_train, all_labels[train_mask], x_test
        )
        notes.update(seed_notes)
        if isinstance(dlib, dict):
            features[DLIB] = _unit(dlib["full"][mask])
            features[DLIB_HOG] = _unit(dlib["hog"][mask])
        if not args.skip_ours:
            run_dir = workdir / f"seed{seed}"
            embedder, summary = _train_ours(cfg, run_dir)
            train_info[seed] = summary
            features = {
                OURS: embed_arrays(embed_fn(embedder), test.images),
                **features,
            }
            last_run = run_dir
        for method, emb in features.items():
            score = _score(emb, test.labels, cfg)
            results.setdefault(method, {})[seed] = score
            print(
                f"  {method}: rank-1 {100 * score['rank1']:.1f} %, "
                f"verification {100 * score['verification']:.1f} %, "
                f"AUC {score['auc']:.4f}",
                flush=True,
            )

    throughput, export_info = None, None
    if last_run and isinstance(dlib, dict) and not args.skip_throughput:
        print("\nexporting the last seed's run ...", flush=True)
        export_info = app.export(last_run)
        print(f"  {export_info['path']}, parity {export_info['max_abs_diff']}")
        print("timing (workers in turns) ...", flush=True)
        throughput = _throughput(
            args, Path(export_info["path"]), test_paths, test_pixels, workdir
        )

    summary = _summarise(results)
    print(
        f"\n{len(test_pixels)} test images of {cfg0.data.num_test_identities} "
        f"unseen people per seed; rank-1: one-shot, {TRIALS} enrolments per "
        "seed; verification: 10-fold on all genuine pairs + as many "
        "impostors; mean +- std over seeds; squared L2 of unit vectors\n"
    )
    _print_tables(summary, results)
    for method, note in notes.items():
        print(f"{method}: {note} (last seed)")
    if train_info:
        seconds = [s["train_seconds"] for s in train_info.values()]
        print(f"ours: training {statistics.fmean(seconds):.0f} s per seed")
    if throughput:
        print("\n| engine | images/s (median) | rounds |\n|---|---|---|")
        for name, row in throughput.items():
            rounds = ", ".join(f"{x:.1f}" for x in row["rounds"])
            print(f"| {name} | {row['images_per_s']:.1f} | {rounds} |")
    print()
    target_lines = _targets(summary, throughput)
    for line in target_lines:
        print(f"target {line}")
    if args.output:
        args.output.write_text(
            json.dumps(
                {
                    "command": sys.argv,
                    "config_file": args.config,
                    "config_text": config_text,
                    "resolved_config_seed0": resolved,
                    "versions": {
                        n: version(n)
                        for n in (
                            "tensorflow",
                            "keras",
                            "numpy",
                            "scikit-learn",
                        )
                    },
                    "dlib_versions": dlib_versions,
                    "dlib_error": dlib if isinstance(dlib, str) else None,
                    "summary": summary,
                    "per_seed": results,
                    "notes": notes,
                    "train": train_info,
                    "export": export_info,
                    "throughput": throughput,
                    "targets": target_lines,
                    "workdir": str(workdir),
                },
                indent=2,
                default=str,
            )
        )
        print(f"wrote {args.output}")
    footer()


if __name__ == "__main__":
    main()
