"""The embedding network f(x) and the training models around it.

`build_embedder` is the Siamese network's shared tower: pixels in [0, 1]
-> residual stages (optionally with inception modules, the cheatsheet's 1x1
trick) -> global average pooling -> a dense layer -> a unit-norm
embedding, so that `||f(x1) - f(x2)||^2` lies in [0, 4] and equals
`2 - 2 cos`. Both images of a pair go through the same weights.

`loss: triplet` trains the embedder directly (labels in, triplets mined
in the batch); `loss: arcface` puts an ArcFace head on top during training
and keeps only the embedder afterwards. `build_model` assembles and
compiles either from the config (`train`, the tuner and the probes).
"""

import keras

from apps.common import optimizers
from apps.common import transfer
from apps.face.config import FaceConfig
from layers.blocks.inception import inception_block
from layers.blocks.residual import conv_bn_act
from layers.blocks.residual import residual_block
from layers.heads.arcface import ArcFace
from layers.losses.triplet import TripletLoss

EMBEDDER = "embedder"
# Layer-name prefixes for transfer learning's freeze policies.
BACKBONE_PREFIXES = ("stem", "stage")
EARLY_PREFIXES = ("stem", "stage1")


def build_embedder(
    *,
    image_size: int,
    channels: int,
    embedding_dim: int,
    width: int = 16,
    depth: int = 1,
    architecture: str = "residual",
    dropout: float = 0.0,
    activation: str = "relu",
    kernel_regularizer=None,
    kernel_initializer="glorot_uniform",
    norm: str = "before",
) -> keras.Model:
    """The embedding network `f`: `(batch, S, S, C)` in [0, 1] ->
    `(batch, embedding_dim)` with unit L2 norm.

    Four stages at strides 2, 4, 8 and 16 with `width * 2^i` channels and
    `depth` residual blocks each; `architecture="inception"` adds an
    inception module (1x1 reductions) at the end of stages 2 to 4.

    Args:
        image_size: S, a multiple of 8.
        channels: C, 1 (grey) or 3 (RGB).
        embedding_dim: length of the embedding.
        width: channels of the first stage.
        depth: residual blocks per stage.
        architecture: `"residual"` or `"inception"`.
        dropout: dropout rate before the embedding layer.
        activation: activation of every convolution.
        kernel_regularizer: optional Keras regularizer on every kernel.
        kernel_initializer: every kernel's initializer (`conv_bn_act`).
        norm: the batch norm's place (`conv_bn_act`).

    Returns:
        A Functional `keras.Model` named `embedder`.
    """
    if architecture not in ("residual", "inception"):
        raise ValueError(
            "Expected architecture to be 'residual' or 'inception'. "
            f"Received: architecture={architecture}"
        )
    common = dict(
        activation=activation,
        kernel_regularizer=kernel_regularizer,
        kernel_initializer=kernel_initializer,
        norm=norm,
    )
    inputs = keras.Input((image_size, image_size, channels), name="pixels")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="scale")(inputs)
    x = conv_bn_act(x, width, 3, strides=2, name="stem", **common)
    for stage in range(1, 5):
        filters = width * 2 ** (stage - 1)
        if stage > 1:
            x = conv_bn_act(
                x, filters, 3, strides=2, name=f"stage{stage}_down", **common
            )
        for block in range(1, depth + 1):
            x = residual_block(
                x, filters, name=f"stage{stage}_block{block}", **common
            )
        if architecture == "inception" and stage > 1:
            quarter = max(1, filters // 4)
            x = inception_block(
                x,
                filters_1x1=quarter,
                reduce_3x3=max(1, quarter // 2),
                filters_3x3=quarter,
                reduce_5x5=max(1, quarter // 4),
                filters_5x5=quarter,
                pool_proj=filters - 3 * quarter,
                name=f"stage{stage}_inception",
                **common,
            )
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(
        embedding_dim, kernel_regularizer=kernel_regularizer, name="embedding"
    )(x)
    # Unit norm in float32 even under mixed precision.
    outputs = keras.layers.UnitNormalization(name="l2norm", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=EMBEDDER)


def build_arcface_trainer(
    embedder: keras.Model,
    num_classes: int,
    *,
    scale: float,
    margin: float,
) -> keras.Model:
    """`[pixels, labels] -> logits`: the embedder under an ArcFace head.

    The labels input only shifts the target logit by the angular margin
    during training; `get_layer("embedder")` is the model to keep.
    """
    pixels = keras.Input(embedder.input_shape[1:], name="pixels")
    labels = keras.Input((), dtype="int32", name="labels")
    embedding = embedder(pixels)
    logits = ArcFace(num_classes, scale=scale, margin=margin, name="arcface")(
        [embedding, labels]
    )
    return keras.Model([pixels, labels], logits, name="arcface_trainer")


def embed(embedder: keras.Model, pixels, *, flip_tta: bool = False):
    """Embeds `(batch, S, S, C)` pixels in [0, 1] in inference mode.

    With `flip_tta`, the embedding of the mirrored face is added before
    re-normalising (test-time augmentation, as face benchmarks do): a face
    and its mirror image are the same person.

    Returns:
        `(batch, D)` unit vectors.
    """
    out = embedder(pixels, training=False)
    if flip_tta:
        mirrored = embedder(keras.ops.flip(pixels, axis=2), training=False)
        out = keras.ops.normalize(out + mirrored, axis=-1)
    return out


def embedder_of(model: keras.Model) -> keras.Model:
    """The embedder inside a training model (or the model itself)."""
    if model.name == EMBEDDER:
        return model
    return model.get_layer(EMBEDDER)


def build_model(
    cfg: FaceConfig,
    *,
    num_classes: int,
    steps_per_epoch: int | None = None,
    num_train_images: int = 0,
) -> keras.Model:
    """The compiled training model; `train`, the tuner and the probes all
    call this.

    `loss: triplet` returns the embedder itself, compiled with the triplet
    loss (labels as targets); `loss: arcface` returns `[pixels, labels] ->
    logits` compiled with sparse cross-entropy. With
    `model.backbone_weights`, weights are loaded by layer name and layers
    are frozen by `model.freeze` before compiling.
    """
    d, m = cfg.data, cfg.model
    embedder = build_embedder(
        image_size=d.image_size,
        channels=d.channels,
        embedding_dim=m.embedding_dim,
        width=m.width,
        depth=m.depth,
        architecture=m.architecture,
        dropout=cfg.regularization.dropout,
        kernel_regularizer=optimizers.make_regularizer(cfg.regularization),
        kernel_initializer=m.initializer,
        norm=m.norm,
    )
    transfer.transfer(
        embedder,
        m,
        num_train_images,
        backbone=BACKBONE_PREFIXES,
        early=EARLY_PREFIXES,
    )
    optimizer = optimizers.run_optimizer(cfg, steps_per_epoch)
    if m.loss == "arcface":
        model = build_arcface_trainer(
            embedder,
            num_classes,
            scale=m.arcface_scale,
            margin=m.arcface_margin,
        )
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
        )
        return model
    embedder.compile(
        optimizer=optimizer,
        loss=TripletLoss(margin=m.margin, mining=m.mining, squared=m.squared),
    )
    return embedder


def inspect_model(cfg: FaceConfig) -> tuple[keras.Model, list[str]]:
    """The untrained training model of `cfg`, for `python -m apps.inspect`.

    Built without data: an ArcFace head is sized for the training
    identities the config implies (`data.num_identities -
    data.num_test_identities`, at least 2).

    Returns:
        `(model, notes)`: the model and notes on what was assumed.
    """
    d = cfg.data
    classes = max(2, d.num_identities - d.num_test_identities)
    model = build_model(cfg, num_classes=classes)
    notes = []
    if cfg.model.loss == "arcface":
        notes.append(
            f"ArcFace head sized for {classes} training identities "
            "(data.num_identities - data.num_test_identities)"
        )
    return model, notes
