"""The config tree of `apps.face`."""

import dataclasses

from apps.common.config import check
from apps.common.sections import OptimizerConfig
from apps.common.sections import RegularizationConfig
from apps.common.sections import RuntimeConfig
from apps.common.sections import TrainConfig
from apps.common.sections import TuneConfig
from apps.common.sections import check_conv_options
from apps.common.sections import search
from apps.common.sections import validate_common

SOURCES = ("synthetic", "folders", "tfds_lfw")
LOSSES = ("triplet", "arcface")
MINING = ("semi_hard", "batch_hard", "batch_all")
ARCHITECTURES = ("residual", "inception")


@dataclasses.dataclass
class DataConfig:
    """Where faces come from and how they are split.

    `source: synthetic` is the embedded generator of parametric faces (no
    download, same data everywhere); `source: folders` reads `path`, one
    sub-folder per identity (LFW, ORL `sN/*.pgm`) or Yale-style flat files;
    `source: tfds_lfw` reads the tensorflow-datasets `lfw` builder (network
    or a prepared `data_dir`).

    The split is by identity: `num_test_identities` people are never seen in
    training (one-shot evaluation), `num_val_identities` more are held out
    for validation during training (0 for none). Batches hold
    `identities_per_batch` (P) people with `images_per_identity` (K) images
    each, so every batch has positives and negatives to mine.
    """

    source: str = "synthetic"
    path: str = ""
    strict: bool = False
    image_size: int = 64
    channels: int = 1
    num_identities: int = 60
    images_per_person: int = 12
    num_test_identities: int = 15
    num_val_identities: int = 5
    identities_per_batch: int = 8
    images_per_identity: int = 4
    augment: bool = True
    align: bool = False
    seed: int = 0


@dataclasses.dataclass
class ModelConfig:
    """The embedding network f(x) and its loss.

    `architecture: residual` stacks residual blocks; `inception` adds an
    inception module with 1x1 reductions after each stage. The network ends
    in a unit-norm `embedding_dim`-vector. `loss: triplet` is the
    cheatsheet's triplet loss with online `mining` and `margin` (alpha);
    `loss: arcface` trains an additive angular margin head
    (`arcface_scale`, `arcface_margin`) that is dropped after training.
    `flip_tta` embeds each face and its mirror image and adds the two
    (evaluation, verbs and the export); on ORL it moved rank-1 by +1.9 and
    -0.6 points on two runs, within noise, so it is off by default.

    `initializer` sets every convolution kernel's initializer (Xavier /
    Glorot, Keras' default, or He, made for ReLU-like activations); `norm`
    puts batch norm `before` the activation (the default), `after` it, or
    nowhere (`none`).
    """

    architecture: str = "residual"
    width: int = 16
    depth: int = 1
    embedding_dim: int = 64
    loss: str = "triplet"
    mining: str = "semi_hard"
    margin: float = 0.2
    squared: bool = True
    arcface_scale: float = 30.0
    arcface_margin: float = 0.3
    backbone_weights: str = ""
    freeze: str = "auto"
    flip_tta: bool = False
    initializer: str = "glorot_uniform"
    norm: str = "before"


@dataclasses.dataclass
class VerificationConfig:
    """Same/different decisions: accept when the squared distance
    `||f(x1) - f(x2)||^2 <= threshold` (cosine `>= 1 - threshold / 2`).

    `threshold` is used until `calibrate` writes a better one into the run.
    """

    threshold: float = 1.0
    folds: int = 10
    num_pairs: int = 3000


@dataclasses.dataclass
class FaceConfig:
    """Root config of `python -m apps.face`."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    verification: VerificationConfig = dataclasses.field(
        default_factory=VerificationConfig
    )
    optimizer: OptimizerConfig = dataclasses.field(
        default_factory=lambda: OptimizerConfig(
            learning_rate=2e-3, warmup_epochs=1.0
        )
    )
    regularization: RegularizationConfig = dataclasses.field(
        default_factory=RegularizationConfig
    )
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(epochs=12, steps_per_epoch=40)
    )
    # Triplet loss against ArcFace with the margin of each, the embedding
    # size and the learning rate. The order is keras-tuner's sampling
    # order (it decides which values a seed draws); the objective is
    # verification accuracy on the validation people, since the two
    # losses are not comparable with each other.
    tune: TuneConfig = dataclasses.field(
        default_factory=lambda: TuneConfig(
            objective="val_verification_accuracy",
            direction="max",
            space=[
                search("loss", "model.loss", values=["triplet", "arcface"]),
                search(
                    "embedding_dim", "model.embedding_dim", values=[32, 64, 128]
                ),
                search(
                    "margin",
                    "model.margin",
                    values=[0.1, 0.2, 0.5],
                    parent="loss",
                    parent_values=["triplet"],
                ),
                search(
                    "learning_rate",
                    "optimizer.learning_rate",
                    low=5e-4,
                    high=5e-3,
                    sampling="log",
                ),
                search(
                    "arcface_margin",
                    "model.arcface_margin",
                    values=[0.2, 0.3, 0.5],
                    parent="loss",
                    parent_values=["arcface"],
                ),
            ],
        )
    )
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def validate(self) -> None:
        """Range checks that types alone cannot express."""
        validate_common(self)
        check_conv_options(self.model)
        d, m, v = self.data, self.model, self.verification
        check(d.source in SOURCES, "data.source", f"one of {SOURCES}", d.source)
        check(
            d.source != "folders" or bool(d.path),
            "data.path",
            "a folder of faces for data.source=folders",
            d.path,
        )
        check(
            d.image_size >= 16 and d.image_size % 8 == 0,
            "data.image_size",
            "a multiple of 8, at least 16",
            d.image_size,
        )
        check(d.channels in (1, 3), "data.channels", "1 or 3", d.channels)
        for key, low in [
            ("num_identities", 4),
            ("images_per_person", 2),
            ("num_test_identities", 2),
            ("num_val_identities", 0),
            ("identities_per_batch", 2),
            ("images_per_identity", 2),
        ]:
            value = getattr(d, key)
            check(value >= low, f"data.{key}", f">= {low}", value)
        check(
            m.architecture in ARCHITECTURES,
            "model.architecture",
            f"one of {ARCHITECTURES}",
            m.architecture,
        )
        check(m.width >= 4, "model.width", ">= 4", m.width)
        check(m.depth >= 1, "model.depth", ">= 1", m.depth)
        check(
            m.embedding_dim >= 2, "model.embedding_dim", ">= 2", m.embedding_dim
        )
        check(m.loss in LOSSES, "model.loss", f"one of {LOSSES}", m.loss)
        check(m.mining in MINING, "model.mining", f"one of {MINING}", m.mining)
        check(m.margin >= 0, "model.margin", ">= 0", m.margin)
        check(
            m.arcface_scale > 0, "model.arcface_scale", "> 0", m.arcface_scale
        )
        check(
            0 <= m.arcface_margin < 1.5,
            "model.arcface_margin",
            "in [0, 1.5) radians",
            m.arcface_margin,
        )
        check(
            m.freeze in ("auto", "none", "backbone", "early"),
            "model.freeze",
            "one of auto, none, backbone, early",
            m.freeze,
        )
        check(
            0 < v.threshold <= 4,
            "verification.threshold",
            "a squared distance of unit vectors, in (0, 4]",
            v.threshold,
        )
        check(v.folds >= 2, "verification.folds", ">= 2", v.folds)
        check(v.num_pairs >= 20, "verification.num_pairs", ">= 20", v.num_pairs)
