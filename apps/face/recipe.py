"""What the shared lifecycle (`apps.common.lifecycle`) needs from face:
its identity splits, its compiled model, its P x K batches and its tuning
objective."""

from apps.common import config as config_lib
from apps.common.config import ConfigError
from apps.common.lifecycle import Recipe
from apps.face.config import FaceConfig
from apps.face.data import epoch_steps
from apps.face.data import load_splits
from apps.face.data import make_datasets
from apps.face.inference import val_verification_accuracy
from apps.face.model import build_model
from apps.face.model import embedder_of


def check_global_batch(cfg: FaceConfig, dist) -> None:
    """The P x K batch is global: with triplets each replica must get
    whole identities (batches are identity-major), at least two of them
    (negatives need another identity); ArcFace needs P x K divisible."""
    d = cfg.data
    if cfg.model.loss == "arcface":
        dist.check_batch(
            d.identities_per_batch * d.images_per_identity,
            "data.identities_per_batch",
        )
        return
    per_replica = dist.check_batch(
        d.identities_per_batch, "data.identities_per_batch"
    )
    config_lib.check(
        per_replica >= 2,
        "data.identities_per_batch",
        f"at least 2 identities per replica ({dist.replicas} replicas)",
        d.identities_per_batch,
    )


class FaceRecipe(Recipe):
    """Faces split by identity from `data.source`; the trained run keeps
    only the embedder (an ArcFace head is dropped); the tuner scores
    verification accuracy on the validation people."""

    app = "face"
    config_cls = FaceConfig

    def check(self, cfg, dist):
        check_global_batch(cfg, dist)

    def load(self, cfg, splits, *, progress=False):
        return load_splits(cfg.data, splits, progress=progress)

    def describe_data(self, cfg):
        return f"Preparing faces ({cfg.data.source})"

    def steps_per_epoch(self, cfg, data):
        return epoch_steps(cfg, len(data["train"]))

    def build(self, cfg, data, *, steps_per_epoch=None):
        train = data["train"]
        return build_model(
            cfg,
            num_classes=len(train.names),
            steps_per_epoch=steps_per_epoch,
            num_train_images=len(train),
        )

    def datasets(self, cfg, data):
        return make_datasets(cfg, data["train"], data["val"])

    def describe(self, cfg, data, model, steps):
        train = data["train"]
        return (
            f"Training {model.count_params():,} parameters "
            f"({cfg.model.loss}) on {len(train)} images of "
            f"{len(train.names)} people, {cfg.train.epochs} epochs x "
            f"{steps} steps"
        )

    def trained(self, model):
        return embedder_of(model)

    def check_tune(self, cfg, data):
        if len(data["val"].names) < 2:
            raise ConfigError(
                "data.num_val_identities: expected >= 2 for tune (the "
                "objective is measured on them), received "
                f"{cfg.data.num_val_identities}"
            )

    def score(self, cfg, model, data):
        return {
            "val_verification_accuracy": val_verification_accuracy(
                cfg, model, data["val"]
            )
        }
