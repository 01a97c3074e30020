"""Accuracy under a fixed CPU budget on BCCD: ours against Ultralytics
YOLOv8n, both from scratch, side by side.

Both train on BCCD trainval (292 images; val, 87 of them, is used for
their per-epoch validation, as Ultralytics does it) for the same wall
time, `--minutes`, then both final models are scored on the 72 test
images by one evaluator (`layers.metrics.coco.coco_evaluate`, i.e.
pycocotools) against the same ground truth:

- ours: `python -m apps.detect train --config apps/detect/configs/bccd.yaml
  --set data.dataset=<trainval yaml> --set train.time_budget_minutes=M
  --set train.epochs=1000` (the budget stops it and fits its cosine
  schedule; 1000 epochs is only an upper bound), then `python -m
  apps.detect evaluate` on the test split (its `model.keras`);
- Ultralytics 8.4: `YOLO("yolov8n.yaml").train(imgsz=320, batch=16,
  time=M/60, optimizer="auto", pretrained=False, amp=False, cache="ram",
  seed=0, deterministic=False, val=True, plots=False)` on a YOLO-format
  copy of the same split (written under `--workdir`, images linked), in
  the bench venv. Its `best.pt` (and `last.pt`) predict the test images
  at conf 0.001, IoU 0.7 (its val defaults); the boxes are mapped into
  the 320 px letterbox square that our ground truth uses (a scale and a
  shift: IoU unchanged) and scored by `coco_evaluate`. Its own
  `val(split="test")` mAP is recorded beside it for reference.

Fairness: by default the two trainings run at the same time, each pinned
to its own core (`taskset -c 0` ours, `taskset -c 1` Ultralytics;
`--cores 1,0` swaps them), with one compute thread each
(`runtime.threads=1`; Ultralytics already uses
`torch.set_num_threads(cpu_count - 1)` = 1 here) and no data-loading
workers for Ultralytics (our tf.data runs in the same pinned core), so
both see the same machine for the same wall clock. `--sequential` runs
them one after the other, each with both cores (TensorFlow's default
threads; Ultralytics 2 torch threads and 2 workers). The load average,
the CPU used by other jobs and the CPU seconds each training process
got (`os.wait4`) are recorded.

The bench venv (peers are never dependencies of the package):

    python -m venv --system-site-packages /tmp/benchvenv
    /tmp/benchvenv/bin/pip install torch==2.13.0+cpu ultralytics==8.4.190

(torch's CPU wheel from its own index or a local wheel). PyPI's
torchvision 0.28.0 wheel links libtorch_cuda and does not load beside
the CPU torch. Ultralytics 8.4 reads torchvision's version at import,
imports it in its validator and then calls only `torchvision.ops.nms`;
so when the venv cannot import torchvision, the worker gets a stand-in
0.28.0 on its path whose `ops.nms` is Ultralytics' own `TorchNMS.nms`
(the same kept boxes, in a Python loop over kept boxes: slower).

    python benchmarks/bccd_budget.py [--minutes 30] [--output FILE.json]
        [--sequential | --cores 0,1] [--workdir /tmp/bccd_budget]
        [--bench-python /tmp/benchvenv/bin/python]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _env

REPO = Path(__file__).resolve().parent.parent
CONFIG = "apps/detect/configs/bccd.yaml"
DATASET = REPO / "apps" / "detect" / "configs" / "datasets" / "bccd.yaml"
IMAGE_SIZE = 320
BATCH = 16
SPLITS = ("trainval", "val", "test")  # ImageSets/Main names


def prepare_data(workdir: Path) -> tuple[Path, Path, list[str]]:
    """Writes our trainval dataset YAML and the YOLO-format copy.

    Returns:
        `(our dataset yaml, Ultralytics data yaml, class names)`.
    """
    from PIL import Image

    from pipelines.datasets.spec import read_dataset_spec
    from pipelines.datasets.voc import parse_voc_xml
    from pipelines.datasets.voc import read_split_file
    from pipelines.datasets.voc import voc_box_to_pixels

    spec = read_dataset_spec(DATASET)
    root, names = spec.root.resolve(), spec.names
    ours = workdir / "bccd_trainval.yaml"
    ours.write_text(
        f"path: {root}\nformat: voc\nlayout: devkit\ntrain: trainval\n"
        f"val: val\ntest: test\nnames: {json.dumps(names)}\n"
    )
    yolo = workdir / "yolo"
    shutil.rmtree(yolo, ignore_errors=True)
    index = {name: i for i, name in enumerate(names)}
    for split in SPLITS:
        images, labels = yolo / "images" / split, yolo / "labels" / split
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        for stem in read_split_file(
            root / "ImageSets" / "Main" / f"{split}.txt"
        ):
            ann = parse_voc_xml(root / "Annotations" / f"{stem}.xml")
            image = root / "JPEGImages" / ann.filename
            width, height = Image.open(image).size
            rows = []
            for obj in ann.objects:
                x0, y0, x1, y1 = voc_box_to_pixels(obj.box)
                x0, x1 = max(x0, 0.0), min(x1, float(width))
                y0, y1 = max(y0, 0.0), min(y1, float(height))
                if x1 <= x0 or y1 <= y0:
                    continue  # the two zero-area boxes; ours drops them too
                rows.append(
                    f"{index[obj.name]} {(x0 + x1) / 2 / width:.6f} "
                    f"{(y0 + y1) / 2 / height:.6f} {(x1 - x0) / width:.6f} "
                    f"{(y1 - y0) / height:.6f}"
                )
            (images / image.name).symlink_to(image)
            (labels / f"{image.stem}.txt").write_text("\n".join(rows) + "\n")
    data = yolo / "bccd.yaml"
    data.write_text(
        f"path: {yolo}\ntrain: images/trainval\nval: images/val\n"
        f"test: images/test\nnames: {json.dumps(dict(enumerate(names)))}\n"
    )
    return ours, data, names


def _ultralytics_worker(args) -> None:
    """Bench venv: trains YOLOv8n, predicts and validates on test, and
    writes `ultralytics.json` into the work folder."""
    import torch
    import ultralytics
    from ultralytics import YOLO

    workdir = Path(args.workdir)
    data = workdir / "yolo" / "bccd.yaml"
    os.chdir(workdir)
    torch.manual_seed(0)
    out = {
        "torch": torch.__version__,
        "ultralytics": ultralytics.__version__,
        "torchvision": _env.version("torchvision"),
        "threads": args.threads,
        "workers": args.workers,
    }
    model = YOLO("yolov8n.yaml")

    def set_threads(trainer):  # select_device() set cpu_count - 1 = 1
        torch.set_num_threads(args.threads)

    model.add_callback("on_train_start", set_threads)
    start = time.time()
    model.train(
        data=str(data),
        imgsz=IMAGE_SIZE,
        batch=BATCH,
        time=args.minutes / 60.0,
        optimizer="auto",
        workers=args.workers,
        pretrained=False,
        amp=False,
        device="cpu",
        seed=0,
        deterministic=False,
        val=True,
        plots=False,
        cache="ram",
        project=str(workdir),
        name="ultralytics",
        exist_ok=True,
    )
    out["train_call_seconds"] = time.time() - start
    trainer = model.trainer
    out["optimizer"] = type(trainer.optimizer).__name__
    out["lr0"] = trainer.optimizer.param_groups[0].get("initial_lr")
    rows = (Path(trainer.save_dir) / "results.csv").read_text().splitlines()
    last = dict(zip(rows[0].split(","), rows[-1].split(",")))
    out["epochs"] = len(rows) - 1
    out["train_loop_seconds"] = float(last["time"])
    tests = sorted((workdir / "yolo" / "images" / "test").iterdir())
    for tag in ("best", "last"):
        weights = Path(trainer.save_dir) / "weights" / f"{tag}.pt"
        net = YOLO(str(weights))
        predictions = {}
        results = net.predict(
            source=[str(p) for p in tests],
            imgsz=IMAGE_SIZE,
            conf=0.001,
            iou=0.7,
            max_det=300,
            device="cpu",
            stream=True,
            verbose=False,
        )
        for r in results:
            predictions[Path(r.path).stem] = {
                "boxes": r.boxes.xyxy.tolist(),
                "scores": r.boxes.conf.tolist(),
                "classes": r.boxes.cls.int().tolist(),
                "height_width": list(r.orig_shape),
            }
        val = net.val(
            data=str(data),
            split="test",
            imgsz=IMAGE_SIZE,
            batch=BATCH,
            conf=0.001,
            iou=0.7,
            device="cpu",
            workers=args.workers,
            plots=False,
            verbose=False,
            project=str(workdir),
            name=f"val_{tag}",
            exist_ok=True,
        )
        names = val.names
        out[tag] = {
            "predictions": predictions,
            "own_val": {
                "map50": float(val.box.map50),
                "map50_95": float(val.box.map),
                "ap50": {
                    names[int(c)]: float(ap)
                    for c, ap in zip(val.box.ap_class_index, val.box.ap50)
                },
            },
        }
    (workdir / "ultralytics.json").write_text(json.dumps(out))


STUB_OPS = """def nms(boxes, scores, iou_threshold):
    from ultralytics.utils.nms import TorchNMS

    return TorchNMS.nms(boxes, scores, iou_threshold)
"""


def _stub_torchvision(workdir: Path, env: dict, python: str) -> bool:
    """Puts a stand-in torchvision 0.28.0 on the worker's path when the
    bench venv cannot import one; returns whether it did.

    Ultralytics reads torchvision's version at import, imports it in its
    validator, and then calls only `torchvision.ops.nms`: the stand-in's
    `ops.nms` is Ultralytics' own pure-torch `TorchNMS.nms` (the same
    kept boxes as torchvision's).
    """
    probe = "import torchvision"
    if not subprocess.run(
        [python, "-c", probe], capture_output=True
    ).returncode:
        return False
    stub = workdir / "stub"
    shutil.rmtree(stub, ignore_errors=True)
    (stub / "torchvision-0.28.0.dist-info").mkdir(parents=True)
    (stub / "torchvision-0.28.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: torchvision\nVersion: 0.28.0\n"
    )
    (stub / "torchvision").mkdir()
    (stub / "torchvision" / "__init__.py").write_text(
        '__version__ = "0.28.0"\nfrom torchvision import ops  # noqa\n'
    )
    (stub / "torchvision" / "ops.py").write_text(STUB_OPS)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(stub), env.get("PYTHONPATH")])
    )
    return True


def _commands(args, workdir: Path, dataset: Path):
    """`{name: (command, env, log)}` of the two trainings."""
    threads = 1 if not args.sequential else 2
    sets = [
        f"data.dataset={dataset}",
        f"train.time_budget_minutes={args.minutes}",
        "train.epochs=1000",
        "train.verbose=2",
    ]
    if not args.sequential:
        sets.append("runtime.threads=1")
    ours = [sys.executable, "-m", "apps.detect", "train", "--config", CONFIG]
    for item in sets:
        ours += ["--set", item]
    ours += ["--run", "ours"]
    ours_env = dict(os.environ, DLSUITE_RUNS=str(workdir / "runs"))
    theirs = [
        args.bench_python,
        str(Path(__file__).resolve()),
        "--ultralytics-worker",
        "--workdir",
        str(workdir),
        "--minutes",
        str(args.minutes),
        "--threads",
        str(threads),
        "--workers",
        str(0 if not args.sequential else 2),
    ]
    theirs_env = dict(
        os.environ,
        YOLO_OFFLINE="1",
        YOLO_AUTOINSTALL="false",
        YOLO_CONFIG_DIR=str(workdir / "ultralytics_config"),
        OMP_NUM_THREADS=str(threads),
        MPLBACKEND="Agg",
    )
    stubbed = _stub_torchvision(workdir, theirs_env, args.bench_python)
    if not args.sequential:
        core_ours, core_theirs = args.cores.split(",")
        ours = ["taskset", "-c", core_ours, *ours]
        theirs = ["taskset", "-c", core_theirs, *theirs]
    return {
        "ours": (ours, ours_env, workdir / "ours.log"),
        "ultralytics": (theirs, theirs_env, workdir / "ultralytics.log"),
    }, stubbed


def _test_ground_truth(dataset: Path):
    """Our test split exactly as `evaluate` reads it, and its image ids."""
    from apps.common import config as config_lib
    from apps.detect.config import DetectConfig
    from apps.detect.data import class_names
    from apps.detect.data import load_split
    from pipelines.datasets.spec import read_dataset_spec
    from pipelines.datasets.voc import read_split_file

    cfg = config_lib.resolve(
        DetectConfig,
        config_file=REPO / CONFIG,
        sets=[f"data.dataset={dataset}"],
    )
    source = load_split(cfg.data, "test")
    root = read_dataset_spec(dataset).root
    stems = read_split_file(root / "ImageSets" / "Main" / "test.txt")
    if len(stems) != len(source["images"]):
        raise RuntimeError("test images skipped: cannot align predictions")
    size = cfg.data.image_size
    truth = []
    for i in range(len(stems)):
        valid = source["classes"][i] >= 0
        truth.append(
            {
                "width": size,
                "height": size,
                "boxes": source["boxes"][i][valid] * size,
                "classes": source["classes"][i][valid],
            }
        )
    return truth, stems, class_names(cfg.data), size


def _score_ultralytics(predictions: dict, truth, stems, names, size) -> dict:
    """Maps Ultralytics' pixel boxes into our letterbox square (the same
    scale and padding as `pipelines.letterbox`) and runs coco_evaluate."""
    import numpy as np

    from layers.metrics.coco import coco_evaluate

    detections = []
    for stem in stems:
        p = predictions[stem]
        height, width = p["height_width"]
        scale = size / max(height, width)
        pad_y = (size - round(height * scale)) // 2
        pad_x = (size - round(width * scale)) // 2
        boxes = np.asarray(p["boxes"], "float64").reshape(-1, 4)
        boxes = boxes * scale + np.array([pad_x, pad_y, pad_x, pad_y])
        detections.append(
            {
                "boxes": boxes,
                "scores": np.asarray(p["scores"]),
                "classes": np.asarray(p["classes"]),
            }
        )
    result = coco_evaluate(truth, detections, names)
    result.pop("pr_curves")
    return result


def _row(name, metrics, names, epochs, train_s, run: dict) -> dict:
    return {
        "system": name,
        "map50": metrics["map50"],
        "map50_95": metrics["map50_95"],
        "ap50": {n: metrics["per_class"][n]["ap50"] for n in names},
        "epochs": epochs,
        "train_seconds": train_s,
        "process_wall_seconds": run["wall_seconds"],
        "process_cpu_seconds": run["cpu_seconds"],
    }


def _print_table(rows: list[dict], names) -> None:
    head = ["system", "mAP@0.5", "mAP@0.5:0.95", *[f"AP50 {n}" for n in names]]
    head += ["epochs", "train s", "process wall s", "process CPU s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["system"], f"{r['map50']:.3f}", f"{r['map50_95']:.3f}"]
        cells += [f"{r['ap50'][n]:.3f}" for n in names]
        cells += [str(r["epochs"]), f"{r['train_seconds']:.0f}"]
        cells += [f"{r['process_wall_seconds']:.0f}"]
        cells += [f"{r['process_cpu_seconds']:.0f}"]
        print("| " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--sequential", action="store_true")
    parser.add_argument(
        "--cores", default="0,1", help="cores of ours,theirs (concurrent)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("/tmp/bccd_budget")
    )
    parser.add_argument("--bench-python", default="/tmp/benchvenv/bin/python")
    parser.add_argument("--ultralytics-worker", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args(argv)
    if args.ultralytics_worker:
        _ultralytics_worker(args)
        return 0
    if str(REPO) not in sys.path:  # run as a script: import this checkout
        sys.path.insert(0, str(REPO))
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for old in ("runs", "ultralytics", "ultralytics.json"):
        path = workdir / old
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    mode = "sequential" if args.sequential else "concurrent, one core each"
    _env.header(f"BCCD, {args.minutes:g} min CPU budget each ({mode})")
    command = " ".join(["python", "benchmarks/bccd_budget.py", *sys.argv[1:]])
    load_before = _env.load()
    dataset, _, names = prepare_data(workdir)
    jobs, stubbed = _commands(args, workdir, dataset)
    if stubbed:
        print("torchvision: stand-in whose ops.nms is Ultralytics' TorchNMS")
    timeout = args.minutes * 60 * 1.5 + 1800
    runs = _env.run_jobs(jobs, args.sequential, timeout, cwd=REPO)
    load_after = _env.load()
    report = {
        "command": command,
        "mode": mode,
        "minutes": args.minutes,
        "load_before": load_before,
        "load_after": load_after,
        "machine": f"nproc={os.cpu_count()}, cpu={_env.cpu_model()}",
        "versions": {p: _env.version(p) for p in _env.PACKAGES},
        "processes": runs,
        "commands": {k: " ".join(v[0]) for k, v in jobs.items()},
    }
    rows = []
    run_dir = workdir / "runs" / "detect" / "ours"
    if runs["ours"]["exit"] == 0:
        evaluate = [sys.executable, "-m", "apps.detect", "evaluate"]
        subprocess.run([*evaluate, "--run", str(run_dir)], cwd=REPO, check=True)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        summary = json.loads((run_dir / "train_summary.json").read_text())
        rows.append(
            _row(
                "dlsuite (anchor grid head)",
                metrics,
                names,
                summary["epochs_run"],
                summary["train_seconds"],
                runs["ours"],
            )
        )
    theirs_file = workdir / "ultralytics.json"
    if theirs_file.exists():
        theirs = json.loads(theirs_file.read_text())
        report["versions"].update(
            {k: theirs[k] for k in ("torch", "ultralytics", "torchvision")}
        )
        report["ultralytics_optimizer"] = [theirs["optimizer"], theirs["lr0"]]
        truth, stems, _, size = _test_ground_truth(dataset)
        for tag in ("best", "last"):
            scored = _score_ultralytics(
                theirs[tag]["predictions"], truth, stems, names, size
            )
            rows.append(
                _row(
                    f"Ultralytics YOLOv8n {tag}.pt",
                    scored,
                    names,
                    theirs["epochs"],
                    theirs["train_loop_seconds"],
                    runs["ultralytics"],
                )
            )
            own = theirs[tag]["own_val"]
            report[f"ultralytics_own_val_{tag}"] = own
    print()
    _print_table(rows, names)
    report["rows"] = rows
    if len(rows) == 3 and rows[1]["map50"] and rows[1]["map50_95"]:
        ours, best = rows[0], rows[1]
        report["ratio_ours_over_theirs"] = {
            "map50": ours["map50"] / best["map50"],
            "map50_95": ours["map50_95"] / best["map50_95"],
        }
        print(
            f"\nours / Ultralytics best.pt: mAP@0.5 "
            f"{report['ratio_ours_over_theirs']['map50']:.3f}, mAP@0.5:0.95 "
            f"{report['ratio_ours_over_theirs']['map50_95']:.3f}"
        )
    for tag in ("best", "last"):
        own = report.get(f"ultralytics_own_val_{tag}")
        if own:
            print(
                f"Ultralytics' own val on test ({tag}.pt): mAP50 "
                f"{own['map50']:.3f}, mAP50-95 {own['map50_95']:.3f}"
            )
    _env.footer()
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.output}")
    failed = [k for k, v in runs.items() if v["exit"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
