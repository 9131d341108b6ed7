"""BigGAN (Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image
Synthesis") at small scale: a class-conditional ResNet GAN with

- conditional batch normalization in G whose gains and biases are linear in a shared
  class embedding concatenated with a chunk of z (hierarchical latent, "skip-z";
  Sec. 3 and Appendix B, Fig. 15), :class:`gan_apps.layers.biggan.ConditionalBatchNormalization`;
- a self-attention block (Zhang et al. 2019) in G and D at 16x16,
  :class:`gan_apps.layers.biggan.SelfAttention`;
- spectral normalization of every weight in G and D (Zhang et al. 2019; Brock et al. Sec. 3);
- a projection discriminator (Miyato & Koyama 2018) with the hinge loss (Sec. 3);
- off-diagonal orthogonal regularization of G, beta = 1e-4 (Sec. 3.1, eq. 3), on every
  rank >= 2 weight of G except the shared class embedding, as BigGAN's reference code
  (ajbrock/BigGAN-PyTorch train_fns.py, ``blacklist=G.shared``: "Don't ortho reg shared, it
  makes no sense"), and with the code's strength: its update is the gradient of
  (beta / 2) ||W^T W o (1 - I)||_F^2 (:func:`gan_apps.penalties.orthogonal_regularization`);
- two D steps per G step, Adam with lr 5e-5 (G) / 2e-4 (D), betas (0, 0.999) (Sec. 3 and
  Appendix C);
- an exponential moving average of G's weights for sampling (Appendix C; the pipeline's
  ``--ema``) and the truncation trick at sampling time (Sec. 3.1; ``--truncation``).

The 128x128 ImageNet model of the paper has 6 up-blocks and channel multiplier 96; here the
32x32 digits model has 3 up-blocks and ``width`` channels at 32x32 (4x at 4x4 and 8x8,
2x at 16x16).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from gan_apps import penalties as penalties_lib
from gan_apps import sampling
from gan_apps.errors import UserInputError
from gan_apps.initializers import LayerSeeds, layer_seed
from gan_apps.layers.batch_norm import batch_normalization
from gan_apps.layers.biggan import ConditionalBatchNormalization, SelfAttention
from gan_apps.layers.spectral import SpectralNormalization
from gan_apps.models.conditional import ConditionalGAN, check_num_classes

START = 4
# Brock et al. 2019, Sec. 3 / Appendix C: G 5e-5, D 2e-4, betas (0, 0.999); two D steps.
G_LEARNING_RATE = 5e-5
D_LEARNING_RATE = 2e-4
BETAS = (0.0, 0.999)
N_CRITIC = 2
ORTHO_REG = 1e-4
# Shared class embedding size (128 in the paper).
EMBED_DIM = 128
# Name of G's shared class embedding layer, which orthogonal regularization skips.
SHARED_EMBEDDING = "shared_embedding"
ATTENTION_RESOLUTION = 16


def _blocks(resolution):
    doublings = 0
    size = START
    while size < resolution:
        size *= 2
        doublings += 1
    if size != resolution or doublings < 1:
        raise UserInputError(
            f"biggan grows from 4x4 by doubling; resolution {resolution} is not 4 times a power "
            "of two (use 8, 16, 32, 64, ...)"
        )
    return doublings


def _channels(size, resolution, width):
    """Channels at ``size``: ``width`` at the output resolution, x2 per halving, at most 4x."""
    return width * min(4, resolution // size)


def _orthogonal_initializers(seed):
    """Orthogonal initializers (BigGAN's "ortho" init), seeded ``seed + k`` for the k-th
    layer, k = 1, 2, ... (:class:`gan_apps.initializers.LayerSeeds`)."""
    return LayerSeeds(seed, first=1).initializers(keras.initializers.Orthogonal)


def _sn_conv(filters, kernel_size, init, name=None):
    return SpectralNormalization(
        layers.Conv2D(filters, kernel_size, padding="same", kernel_initializer=init()), name=name)


def biggan_generator(latent_dim=128, num_classes=10, resolution=32, channels=1, width=32,
                     embed_dim=EMBED_DIM, attention=ATTENTION_RESOLUTION, seed=None):
    """BigGAN generator ``[z [B, D], label int32 [B]] -> images [B, R, R, C]`` in [-1, 1].

    z is split into ``blocks + 1`` equal chunks: the first feeds the SN linear layer to the
    4x4 map, chunk i + 1 joins the shared class embedding as the conditioning vector of up
    block i (both its conditional batch norms). Up block: CBN, ReLU, nearest 2x upsample,
    SN conv3x3, CBN, ReLU, SN conv3x3, plus the upsampled input through an SN conv1x1.
    Self-attention after the block that reaches ``attention``; then BN, ReLU, SN conv3x3,
    tanh (Brock et al. 2019, Fig. 15 (a), (b); Table 4 layout).
    """
    check_num_classes(num_classes)
    blocks = _blocks(resolution)
    if latent_dim % (blocks + 1):
        raise UserInputError(
            f"biggan splits z into {blocks + 1} chunks (skip-z); --latent-dim {latent_dim} is not a "
            f"multiple of {blocks + 1}"
        )
    chunk = latent_dim // (blocks + 1)
    init = _orthogonal_initializers(seed)
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    shared = layers.Embedding(num_classes, embed_dim, embeddings_initializer=init(),
                              name=SHARED_EMBEDDING)(label)
    # Slices and sums of symbolic tensors are serializable functional ops (no Lambda layer,
    # which safe-mode loading refuses).
    chunks = [z[:, i * chunk:(i + 1) * chunk] for i in range(blocks + 1)]
    filters = _channels(START, resolution, width)
    x = SpectralNormalization(layers.Dense(START * START * filters, kernel_initializer=init()),
                              name="linear_4x4")(chunks[0])
    x = layers.Reshape((START, START, filters))(x)
    size = START
    for i in range(blocks):
        size *= 2
        out = _channels(size, resolution, width)
        condition = layers.Concatenate(name=f"condition_{size}")([shared, chunks[i + 1]])
        h = ConditionalBatchNormalization(seed=layer_seed(seed, 100 + 2 * i),
                                          name=f"cbn1_{size}")([x, condition])
        h = layers.ReLU()(h)
        h = layers.UpSampling2D(2, interpolation="nearest")(h)
        h = _sn_conv(out, 3, init, name=f"g_conv1_{size}")(h)
        h = ConditionalBatchNormalization(seed=layer_seed(seed, 101 + 2 * i),
                                          name=f"cbn2_{size}")([h, condition])
        h = layers.ReLU()(h)
        h = _sn_conv(out, 3, init, name=f"g_conv2_{size}")(h)
        skip = layers.UpSampling2D(2, interpolation="nearest")(x)
        skip = _sn_conv(out, 1, init, name=f"g_skip_{size}")(skip)
        x = layers.Add(name=f"g_block_{size}")([h, skip])
        if size == attention:
            x = SelfAttention(seed=layer_seed(seed, 200), name=f"g_attention_{size}")(x)
    x = batch_normalization()(x)
    x = layers.ReLU()(x)
    x = _sn_conv(channels, 3, init, name="g_to_image")(x)
    images = layers.Activation("tanh", dtype="float32", name="images")(x)
    return keras.Model([z, label], images, name="biggan_generator")


def biggan_discriminator(resolution=32, channels=1, num_classes=10, width=32,
                         attention=ATTENTION_RESOLUTION, seed=None):
    """BigGAN discriminator ``[images, label int32 [B]] -> logits [B, 1]``.

    Down blocks (pre-activation ReLU, SN conv3x3, ReLU, SN conv3x3, 2x2 average pool; the
    shortcut an SN conv1x1 then the pool; the first block without the leading ReLU) to 4x4,
    one more block at 4x4 without pooling, self-attention after the block that reaches
    ``attention``, then ReLU, global sum pooling and the projection head
    f(x, y) = w^T h + embed(y)^T h with SN w and embedding (Brock et al. 2019, Fig. 15 (c);
    Miyato & Koyama 2018, eq. 3).
    """
    check_num_classes(num_classes)
    blocks = _blocks(resolution)
    init = _orthogonal_initializers(layer_seed(seed, 1000))
    images = keras.Input((resolution, resolution, channels), name="images")
    label = keras.Input((), dtype="int32", name="label")
    x = images
    size = resolution
    for i in range(blocks + 1):
        downsample = i < blocks
        out = _channels(max(size // 2, START), resolution, width)
        h = x if i == 0 else layers.ReLU()(x)
        h = _sn_conv(out, 3, init, name=f"d_conv1_{size}")(h)
        h = layers.ReLU()(h)
        h = _sn_conv(out, 3, init, name=f"d_conv2_{size}")(h)
        if downsample:
            h = layers.AveragePooling2D(2)(h)
        if i == 0:
            skip = layers.AveragePooling2D(2)(x)
            skip = _sn_conv(out, 1, init, name=f"d_skip_{size}")(skip)
        else:
            skip = _sn_conv(out, 1, init, name=f"d_skip_{size}")(x)
            skip = layers.AveragePooling2D(2)(skip) if downsample else skip
        x = layers.Add()([h, skip])
        size = size // 2 if downsample else size
        if size == attention and downsample:
            x = SelfAttention(seed=layer_seed(seed, 300), name=f"d_attention_{size}")(x)
    x = layers.ReLU()(x)
    features = ops.sum(x, axis=(1, 2))
    unconditional = SpectralNormalization(layers.Dense(1, kernel_initializer=init()), name="psi")(features)
    embedded = SpectralNormalization(
        layers.Embedding(num_classes, features.shape[-1], embeddings_initializer=init()),
        name="class_embedding")(label)
    projection = layers.Dot(axes=1, name="projection")([embedded, features])
    logits = layers.Add()([unconditional, projection])
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model([images, label], logits, name="biggan_discriminator")


@keras.saving.register_keras_serializable(package="gan_apps")
class BigGAN(ConditionalGAN):
    """Class-conditional GAN with BigGAN's networks (:func:`biggan_generator`,
    :func:`biggan_discriminator`); the step is :class:`ConditionalGAN`'s (fake labels are
    the real batch's labels). Sampling with the truncation trick: :meth:`truncated_latent`.
    """

    def truncated_latent(self, batch_size, truncation):
        """z ~ N(0, I) with every entry resampled until |z_i| <= ``truncation``
        (Brock et al. 2019, Sec. 3.1), drawn from the model's seed generator."""
        if not truncation > 0:
            raise UserInputError(f"the truncation threshold must be > 0, got {truncation}")
        return sampling.truncated_normal(lambda shape: self.sample_latent(shape[0]),
                                         (batch_size, self.latent_dim), truncation)

    def generate(self, batch_size, labels=None, training=False, truncation=None):
        """``batch_size`` samples for ``labels`` (uniform when None), optionally truncated."""
        labels = self.sample_labels(batch_size) if labels is None else ops.cast(labels, "int32")
        z = self.sample_latent(batch_size) if truncation is None \
            else self.truncated_latent(batch_size, truncation)
        return self.generator([z, labels], training=training)


def _skip_shared_embedding(penalty):
    """``penalty``, or for an orthogonal regularization of G a copy that also skips the
    shared class embedding (BigGAN-PyTorch regularizes G without G.shared)."""
    if not isinstance(penalty, penalties_lib.OrthogonalRegularization) \
            or penalty.on == "discriminator" or SHARED_EMBEDDING in penalty.exclude:
        return penalty
    if penalty.on == "both":
        raise UserInputError(
            "biggan's orthogonal regularization of G skips the shared class embedding, which D "
            "lacks; pass one OrthogonalRegularization with on='generator' and one with "
            "on='discriminator'"
        )
    return penalties_lib.OrthogonalRegularization(
        penalty.weight, off_diagonal=penalty.off_diagonal, on="generator",
        exclude=(*penalty.exclude, SHARED_EMBEDDING))


def build_biggan(*, data_kind="image", resolution=32, channels=1, num_classes=None,
                 latent_dim=None, width=32, objective=None, seed=None, jit_compile="auto",
                 extra_penalties=(), embed_dim=EMBED_DIM, attention=ATTENTION_RESOLUTION,
                 ortho_reg=ORTHO_REG, n_critic=N_CRITIC, g_learning_rate=G_LEARNING_RATE,
                 d_learning_rate=D_LEARNING_RATE, betas=BETAS):
    """A compiled :class:`BigGAN` with the paper's recipe (Brock et al. 2019, Sec. 3, App. C).

    Hinge loss, SN in G and D, 2 D steps per G step, Adam(G 5e-5, D 2e-4, betas (0, 0.999)),
    off-diagonal orthogonal regularization of G with beta 1e-4 (replaced by the caller's when
    ``extra_penalties`` holds one, e.g. from ``--ortho-reg``; either way it skips the shared
    class embedding, as the reference code), z of 128 = 32 per chunk x 4 chunks at 32x32,
    shared embedding of 128. EMA of G is the pipeline's ``--ema``.

    Args:
        num_classes: K (required: BigGAN is class-conditional).
        width: channels at the output resolution.
        attention: resolution of the self-attention blocks (0 for none).
        ortho_reg: the orthogonal regularization weight (0 to turn it off).
    """
    if data_kind != "image":
        raise UserInputError(f"biggan trains on images, not {data_kind!r} data")
    check_num_classes(num_classes)
    blocks = _blocks(resolution)
    latent_dim = latent_dim or 32 * (blocks + 1)
    extra = [_skip_shared_embedding(p) for p in extra_penalties]
    generator = biggan_generator(latent_dim, num_classes, resolution, channels, width,
                                 embed_dim=embed_dim, attention=attention, seed=seed)
    discriminator = biggan_discriminator(resolution, channels, num_classes, width,
                                         attention=attention, seed=seed)
    if ortho_reg and not any(isinstance(p, penalties_lib.OrthogonalRegularization) for p in extra):
        extra.append(penalties_lib.OrthogonalRegularization(ortho_reg, off_diagonal=True,
                                                            on="generator",
                                                            exclude=(SHARED_EMBEDDING,)))
    model = BigGAN(generator, discriminator, num_classes=num_classes, latent_dim=latent_dim,
                   objective=objective or "hinge", n_critic=n_critic, penalties=extra, seed=seed,
                   name="biggan")
    model.compile(
        g_optimizer=keras.optimizers.Adam(g_learning_rate, beta_1=betas[0], beta_2=betas[1]),
        d_optimizer=keras.optimizers.Adam(d_learning_rate, beta_1=betas[0], beta_2=betas[1]),
        jit_compile=jit_compile,
    )
    return model
