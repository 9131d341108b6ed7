"""What the toolkit can train and on what: one record per model and per data source.

Imports nothing heavy (no TensorFlow, no Keras), so ``gan-apps --help`` and ``--model``
validation answer instantly, and the README's tables can be checked against it. The
recipes of the plain GANs stay in :mod:`gan_apps.models.presets` (``PRESETS``, which a test
keeps equal to the presets here); a family member names its builder here, so adding a
model is one builder function plus one line in :data:`MODELS`. Where ``gan-apps train``
departs from a model's paper on a kind of data (its budget, batch, learning rates), the
departure is the entry's ``recipes``, with the reason beside it.
"""

from __future__ import annotations

import dataclasses

IMAGE = "image"
POINTS = "points"


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A model ``gan-apps train --model`` accepts.

    ``kind`` is ``"preset"`` (a plain GAN recipe of :data:`gan_apps.models.presets.PRESETS`)
    or ``"family"`` (its own model class, built by ``builder``: ``"module:function"`` under
    ``gan_apps.models``, with the signature ``build_x(*, data_kind, resolution, channels,
    num_classes, latent_dim, width, objective, seed, jit_compile, **options)`` returning a
    compiled model). ``data_kinds`` are the data it trains on (``"image"``, ``"points"``);
    ``needs_labels`` means a labelled source. ``recipes`` maps a data kind to the options
    ``gan-apps train`` uses there unless given (``epochs``, ``batch_size``, ``g_lr``,
    ``d_lr``, ``width``, ``steps_per_execution``, ...), where they depart from the command's
    defaults and the paper's rates.
    """

    name: str
    kind: str
    description: str
    paper: str
    needs_labels: bool = False
    data_kinds: tuple = (IMAGE, POINTS)
    builder: str = None
    recipes: dict = dataclasses.field(default_factory=dict)

    def recipe(self, data_kind):
        """The options of :attr:`recipes` for ``data_kind`` (empty when there are none)."""
        return dict(self.recipes.get(data_kind, {}))


# Image recipes (issue 20). The papers' recipes, run for the command's default 60 epochs at
# batch 64, fall short on the 1,437 training digits: the discriminator wins within a few
# epochs (accuracy near 1) and DCGAN's recipe levels off at FID 33-35 from epoch 150 on. A
# discriminator at half the generator's rate and batch 32 (twice the updates per epoch) take
# DCGAN to FID 31.9 +- 2.6 at epoch 150 (three seeds) and SN-GAN to 16.9-20.9 (one thread,
# three seeds), which is why sngan is the default job (its own recipe, SNGAN_IMAGE below,
# is narrower and averaged to fit 5 minutes at two threads). AC-GAN with the same
# departures is at its best from epoch 15 to 125 and loses recall after (FID 93 at epoch
# 150), hence 60 epochs. The projection cGAN (hinge, SN, five critic updates at batch 64 in
# its paper: FID 485 after 120 generator updates) takes the same departures and one critic
# update per generator update, the SN-GAN recipe's n_dis = 1 (Miyato et al. 2018, Table 1,
# setting C): FID 14.1 +- 0.9 at epoch 60 over three seeds (conditional accuracy 0.978). WGAN-GP
# keeps its paper's recipe (batch 64, five critic updates per generator update, each epoch 4
# generator updates); it needs 1,280 generator updates to reach FID 60 and 1,440 reach 50 (a
# quarter of an hour on one core), hence 360 epochs. The probes and the measured results are
# in docs/benchmarks.md, blocks `default_job` and `family_digits`, and the tables beside
# them. `--d-lr 2e-4 --batch-size 64 --epochs 60` gives a preset its paper's rates back
# (`--n-critic 5` too for cgan). The VAE (Bora et al. 2017's MNIST settings: latent 20, Adam
# 1e-3; batch 100 in Kingma & Welling 2013) is still improving where the command's 60 epochs
# stop (FID 77.6): at batch 32 it reads 65.3 at epoch 150 and 55.7 +- 0.6 at 300 (three seeds),
# a few minutes of a cheap step, hence batch 32 for 300 epochs. The 1:1 recipe runs 110
# epochs, not the 150 above: 150 took 6.3-6.7 one-core minutes (Intel Xeon, AVX-512), 110
# fit the 5-minute aim (4.5-5.0) for about 4 FID points (DCGAN 34.7 +- 1.6 over three seeds,
# worst 36.7; InfoGAN 14.6 +- 0.3, seed 0 14.2 at 150; block family_digits_all).
ONE_TO_ONE_IMAGE = {"epochs": 110, "batch_size": 32, "d_lr": 1e-4}
# GMMN (no discriminator; batch 64, Adam 1e-3 as its module says) is still improving where the
# command's 60 epochs stop: FID 49.97 / 56.30 / 61.35 over seeds 0-2 at epoch 60, each run
# a few points lower every ten epochs (docs/benchmarks.md, family_digits_seeds), hence 120
# epochs, about five one-core minutes.
GMMN_IMAGE = {"epochs": 120}
# The unrolled GAN on images: the 1:1 departures above for 80 epochs, with one unrolled step
# (the paper's 5 cost 1.7 s a step at batch 64, ~37 one-core minutes for 60 epochs), first
# order, and the non-saturating generator loss. With second order (the paper's) the
# discriminator wins from epoch 3 (FID 927 at epoch 10, K = 1 or 5): our unrolled Adam
# restarts its moments at zero, so each unrolled step is about lr * sign(g), whose derivative
# with respect to G is large wherever a weight's gradient is near zero, and G's gradient norm
# grew to 68 where the plain path's stayed near 19. With the paper's minimax loss the
# first-order run saturates the same way (FID 917 at epoch 15). First order, non-saturating,
# seed 0: FID 121, 85 and 80 at epochs 10, 20 and 30, against dcgan's 127, 84 and 67 with the
# same recipe and seed. At epoch 80: FID 43.9 +- 2.0 over three seeds (worst 45.9; at epoch 60
# one seed was still at 60.5), 15-16 one-core minutes (docs/benchmarks.md,
# family_digits_unrolled).
UNROLLED_IMAGE = {**ONE_TO_ONE_IMAGE, "epochs": 80, "objective": "non_saturating",
                  "unroll_steps": 1, "unroll_order": "first"}
# WGAN with weight clipping on images (session 13): the paper's RMSProp 5e-5 with five critic
# updates is at FID 838 after 150 generator updates; both players at 2e-4 (4x the paper's),
# one critic update a step, batch 32 and a moving average of G (decay 0.999) stall at FID
# 1,010-930 for 20-30 epochs (the clipped batch-norm critic cannot yet tell the batches
# apart), then fall to 69 at epoch 100 and under 60 from epoch ~165. The last iterate of
# the same recipe without the average oscillated between 58 and 76 and ended at 62.4 at
# epoch 150 (61.5 with the average), hence the average and 200 epochs (8,800 generator
# updates): FID 51.8 +- 2.8 over three seeds (worst 54.9), 21.6 one-core minutes
# (docs/benchmarks.md, family_digits_wgan). At width 24 (session 14; width 32's 512 KB layers
# are slow on this CPU, see SNGAN_IMAGE) the same recipe takes 10.1 one-core minutes instead of
# 21.6, inside the 15-minute aim, at FID 56.7 +- 2.9 (worst 58.9; block family_digits_wgan_24),
# hence width 24. `--g-lr 5e-5 --d-lr 5e-5 --n-critic 5 --batch-size 64 --ema 0 --epochs 60
# --width 32` is the paper's form.
WGAN_IMAGE = {**ONE_TO_ONE_IMAGE, "epochs": 200, "g_lr": 2e-4, "d_lr": 2e-4, "n_critic": 1,
              "ema": 0.999, "width": 24}
# The default job (sngan on images, session 14): width 24 (as WGAN_IMAGE; the other recipes
# keep the command's 32) and a moving average of G. On this CPU (AMD EPYC without AVX-512,
# where TensorFlow leaves its oneDNN kernels off) a transposed convolution and a
# convolution's gradients take 3-7x the time for 1.8x the arithmetic once the 4x4 kernel
# reaches about 512 KB, the core's L2 cache: width 32's 128 <-> 64-channel layers (512 KB)
# made a step 82-94 ms at two threads, width 24's (288 KB) 37-42 ms for 56 % of the
# arithmetic (docs/benchmarks.md, block `conv_kernels`). Width 24 alone learns a little slower per epoch (FID 24.3 and 21.5 at
# epoch 150, seeds 0 and 1, against 20.9 and 16.9 at width 32) and its last iterate swings by
# 3-6 points between evaluations; the moving average (decay 0.995) falls smoothly, 25.9 at
# epoch 120 and 22.4 / 22.3 at 140 for both seeds. 130 epochs took 5.2 minutes at two
# threads (seed 0: FID 24.7), hence 120 (5,280 generator updates), the same as before, to
# stay inside the 5 minutes. `--width 32 --ema 0` is the default job before.
SNGAN_IMAGE = {**ONE_TO_ONE_IMAGE, "epochs": 120, "width": 24, "ema": 0.995}
# MMD-GAN on images (session 15). The paper's form (eq. 3 with a clipped DCGAN encoder)
# stayed at FID 920-1040 (session 14); the reference code's additions (models.mmd: sqrt of
# MMD^2, the ranking term, the decoder's reconstruction term) brought it to 106-134 and no
# lower over 100-150 epochs whatever the rates, critic count (1 or 5) or averaging (0.995 or
# 0.999): the clipped encoder's features lie ~0.03 apart, where the paper's kernels (sigma 1
# ... 16) are linear, so MMD^2 matched only mean features and the samples stayed blurred
# (precision 0.35). With the sigmas taken as multiples of the features' own spread
# (`relative_bandwidths`, the image default of build_mmd_gan) the same recipe fell to FID
# 40.5 at epoch 100 (seed 0, 7.6 one-core minutes). The rest is WGAN_IMAGE's departures
# (one critic update at 2e-4 for both players, batch 32, width 24) with the default job's
# shorter average (0.995). `--g-lr 5e-5 --d-lr 5e-5 --n-critic 5 --batch-size 64 --ema 0
# --width 32 --epochs 60` is the paper's schedule; its fixed bandwidths are
# `build_mmd_gan(relative_bandwidths=False)` in Python. Three seeds: FID 40.6 +- 1.5 (worst
# 42.5) in 7.8 one-core minutes (docs/benchmarks.md, block family_digits_mmdgan).
MMDGAN_IMAGE = {"epochs": 100, "batch_size": 32, "n_critic": 1, "g_lr": 2e-4, "d_lr": 2e-4,
                "ema": 0.995, "width": 24}
# BigGAN on digits (session 15): its paper's recipe (two D steps per G step, G 5e-5, D 2e-4,
# batch 64) was at FID 577 after 10 CPU minutes at width 32 (126 generator updates; block
# progan_biggan). Its 3x3 ResNet blocks at full resolution make a step of batch 32 take 541
# ms on one core at width 16, about 8x the ~70 ms of wgan's width-24 DCGAN step (10.1
# minutes for 8,800 steps), so: width 8 (280 ms), the projection cGAN's
# departures (one D step a G step, G 2e-4, D 1e-4, batch 32) and the default job's average
# (0.995). Run for 70 epochs (three seeds, block family_digits_biggan_70) it reached FID 31.1,
# 45.2 and 55.0 in 16.5 one-core minutes, conditional accuracy 0.98-1.00, but its recall
# fell from 0.37-0.56 at epoch 35 to 0.07-0.24 at 70 (fewer distinct digits per class),
# and the FIDs at epoch 40 were as good or better (37.5, 36.7, 47.6), hence 40 epochs.
# `--width 32 --n-critic 2 --g-lr 5e-5 --d-lr 2e-4 --batch-size 64 --ema 0.9999` is the
# paper's. Measured in docs/benchmarks.md, block family_digits_biggan.
BIGGAN_IMAGE = {"epochs": 40, "batch_size": 32, "n_critic": 1, "g_lr": 2e-4, "d_lr": 1e-4,
                "ema": 0.995, "width": 8}
# ProGAN on digits (sessions 15 and 16): the paper's networks at width 32 were at FID 210
# after 10 CPU minutes (block progan_biggan). At width 16 and the paper's settings (Adam 1e-3,
# betas (0, 0.99), one critic step, phases of 8k images, batch 64) it reached 32x32 at epoch
# 28 and stalled there (FID 112-114 at epochs 40-45). Batch 32, twice the updates per phase,
# went on falling: over three seeds at 60 epochs FID 57.4, 69.3 and 84.1, swinging by 10-20
# between evaluations (block family_digits_progan). Session 16's departures:
# - ema 0.995, restarted from G during each fade (ProGAN.averaging_ready; the paper's
#   average runs throughout, over phases ~50x its memory; averaged across our short fades
#   it made FID 611 at epoch 20 against 295): the swings go, seeds 1 and 2 at 60 epochs 72.1
#   and 59.6;
# - phase_images 4000 (half the builder's 8k): the FID falls with the time spent at 32x32,
#   not with the lower stages' length (seed 1: 58.0 at 60 epochs with 4k phases, 58.1 at
#   epoch 75 of a 90-epoch run with 8k phases: both ~46 epochs at 32x32), so with shorter
#   phases 32x32 is fully faded in at epoch 17 instead of 33, for less CPU;
# - 70 epochs. Over three seeds (block family_digits_progan_16) FID 53.5, 52.9 and 54.6
#   (53.7 +- 0.7) in 13.8 one-core minutes (median; an Intel Xeon with AVX-512, where the
#   60 epochs with 8k phases took 9.2).
# DiffAugment (`--augment color,translation,cutout`) made it worse (159 at epoch 40 against
# 92). `--width 32 --batch-size 64 --ema 0 --phase-images 8000` is the form before the
# recipe (the paper's settings, its phases scaled to this data set).
PROGAN_IMAGE = {"epochs": 70, "batch_size": 32, "width": 16, "ema": 0.995, "phase_images": 4000}
# `--unroll-order`: whether the unrolled GAN's generator gradient flows through the unrolled
# discriminator updates (second, Metz et al. 2017 eq. 6) or treats them as constants (first).
UNROLL_ORDERS = ("first", "second")

# Mixture recipes (issue 20, item 2): what `gan-apps train --data ring8` / `grid25` uses
# unless given. With the papers' optimizers (Adam 2e-4 or RMSProp 5e-5, no averaging) the
# presets captured 0-5 of the 8 ring modes and 0-1.3 of the 25 grid modes after 2,000 updates
# on 3x128 MLPs (docs/benchmarks.md, "before"); PacGAN (Lin et al. 2018) gets 6.3/8 and
# 17.3/25 for a plain GAN only after ~400k updates of Adam 1e-4 on 4x400 / 3x200-maxout MLPs,
# out of reach of a CPU minute. The departures, each keeping the preset's objective:
# - learning rate 1e-3 for both players (5x-20x the papers'): 2-D points need few, large steps;
# - ema 0.999: samples, evaluation and the export use an exponential moving average of G's
#   weights (Yazici et al. 2019); the last iterate keeps rotating between modes on a toy
#   mixture while its average covers them (tools/ring_ema.py: 8/8 ring modes for 3 seeds);
# - zero_gp 1 for the 1:1 non-saturating / least-squares / f-GAN presets: a zero-centred
#   gradient penalty on real-fake interpolates (Thanh-Tung et al. 2019; Mescheder et al. 2018
#   penalise real points), which keeps the discriminator from sharpening around the modes
#   found so far; sngan keeps its spectral norm and hinge loss alone, wgan its clipping,
#   wgan_gp its own (1-centred) penalty;
# - 1,000 generator updates an epoch (steps), 7 epochs (about 50 s on an idle core at one
#   thread for the 1:1 presets), at the command's batch 256. wgan: see clip_value below.
#   Early probes at 2,000 updates found wgan_gp at 0-1 grid25 modes and sngan (one critic
#   update) at 1; what worked is below: five critic updates for sngan, the toy code's lambda
#   for wgan_gp.
# - steps_per_execution 50: a 2-D step is a few small matrix products, so at one step per
#   call into the graph most of its ~11 ms (one thread) is Python and Keras' per-step work;
#   50 steps a call run the same updates 1.6x sooner (`gan-apps train --model dcgan --data
#   grid25 --seed 0`, one thread: 111-112 s at 1, 65-72 s at 50, 19 modes either way). The
#   batches and updates are the same; the moving average of G folds in every 50th iterate
#   with weight 1 - 0.999^50 (callbacks.ExponentialMovingAverage), and the NaN check sees
#   every 50th loss (block `mixtures_spe`).
# - sngan 5 discriminator updates per generator update (n_critic 5; the image recipe keeps
#   SN-GAN's setting C, n_dis = 1): with one, sngan captured 2.67/8 and 0.33/25 (block
#   `mixtures_sngan`: ring8 seeds 1 and 2 collapsed, the hinge loss at chance on the grid);
#   with five, 8.00/8 and 24.00/25 over three seeds (block `mixtures_sngan_5`; probes, modes
#   at every epoch: 0, 0, 2, 8, 8, 8, 8 and 0, 0, 0, 7, 23, 25, 25). Miyato et al. 2018 train
#   with n_dis = 5 in most settings of their Table 1 (as we recall it: A, D, E and F; E is
#   this recipe's Adam 1e-3, betas (0.5, 0.999)). It costs five critic updates a step: about
#   2.6 minutes a run at one thread.
# - wgan_gp's gradient penalty at weight 0.1 (`gp_weight`), the value of Gulrajani et al.'s
#   own toy-data code (igul222/improved_wgan_training gan_toy.py, LAMBDA = .1; their images
#   use 10, the paper's), for 7 epochs of 1,000 generator updates like the 1:1 presets (7,000
#   generator, 35,000 critic updates): with lambda 10 it captured 0 grid25 modes at every
#   epoch up to 7,000 updates (at lr 1e-3 or 1e-4), with 0.1 1, 4, 18, 19, 25 at epochs 3-7
#   (seed 0; a throwaway probe setting the weight before the first step, one thread); over
#   three seeds 8.00/8 and 24.67/25, about 3.3 minutes a run at one thread.
# - wgan's weights clipped at 3 (`clip_value`; the paper's c = 0.01 is for DCGAN critics on
#   images in [-1, 1]) for 15 epochs of 1,000 generator updates (75,000 critic updates): at
#   c = 0.01 its critic captured 0 grid25 modes also at 7,000 generator updates, as Gulrajani
#   et al. 2017 (Fig. 1) show clipped critics missing a toy mixture's structure; at 0.05, 0.1
#   and 0.3 still 0 modes after 1,000 updates on both mixtures. The bound still binds at 3
#   (the critic's Wasserstein estimate rises to ~5,300 and then falls as G improves), but it
#   leaves the critic room to bend around modes 0.05 wide: grid25 seed 0, modes by epoch, at
#   c = 1: 0, 2, 2, 3, 6, 12, 12, 14, 15, 17, 18, 20, 20, 20, 20; at c = 3: 0, 4, 2, 3, 8, 11,
#   16, 18, 21, 23, 23, 24, 24, 24, 24 (about 3 minutes a run at one thread).
# - lsgan 10 epochs (10,000 generator updates): at 7 it captured 15-17 grid25 modes (mean 16.3,
#   under PacGAN's 17.3), at 10 21-24 (block `mixtures_lsgan_10`).
# `--g-lr 2e-4 --d-lr 2e-4 --ema 0 --zero-gp 0 --steps 100 --epochs 10 --steps-per-execution
# 1` is the paper's form (dcgan; see gan_apps.models.presets for each preset's rates).
# Measured in docs/benchmarks.md, blocks `mixtures`, `mixtures_lsgan`, `mixtures_lsgan_grid25`,
# `mixtures_lsgan_10`, `mixtures_fgan`, `mixtures_sngan`, `mixtures_wgan`, `mixtures_pack`,
# `mixtures_spe`, `mixtures_sngan_5`, `mixtures_wgan_gp_ring8` and `mixtures_wgan_gp_grid25`
# (tools/bench.py mixtures): dcgan, fgan and lsgan reach PacGAN's plain-GAN numbers (with 50
# steps per execution too: block `mixtures_spe`), sngan with five critic updates (8.00/8,
# 24.00/25), wgan_gp with lambda 0.1 (8.00/8, 24.67/25); wgan with weights clipped at 3
# (block `mixtures_wgan_clip`).
_POINTS_BASE = {"epochs": 7, "steps": 1000, "g_lr": 1e-3, "d_lr": 1e-3, "ema": 0.999,
                "steps_per_execution": 50}
POINTS_RECIPES = {
    "dcgan": {**_POINTS_BASE, "zero_gp": 1.0},
    "lsgan": {**_POINTS_BASE, "zero_gp": 1.0, "epochs": 10},
    "fgan": {**_POINTS_BASE, "zero_gp": 1.0},
    "wgan": {**_POINTS_BASE, "epochs": 15, "clip_value": 3.0},
    "wgan_gp": {**_POINTS_BASE, "gp_weight": 0.1},
    "sngan": {**_POINTS_BASE, "n_critic": 5},
}


MODELS = {
    m.name: m
    for m in (
        ModelEntry("dcgan", "preset", "non-saturating GAN, batch norm, Adam 2e-4",
                   "Radford et al. 2016",
                   recipes={IMAGE: ONE_TO_ONE_IMAGE, POINTS: POINTS_RECIPES["dcgan"]}),
        ModelEntry("lsgan", "preset", "least squares, coding (0,1,1) or --coding pearson",
                   "Mao et al. 2017",
                   recipes={IMAGE: ONE_TO_ONE_IMAGE, POINTS: POINTS_RECIPES["lsgan"]}),
        ModelEntry("fgan", "preset", "f-GAN, divergence chosen with --divergence",
                   "Nowozin et al. 2016",
                   recipes={IMAGE: ONE_TO_ONE_IMAGE, POINTS: POINTS_RECIPES["fgan"]}),
        ModelEntry("wgan", "preset", "Wasserstein critic, weight clipping 0.01, RMSProp",
                   "Arjovsky et al. 2017",
                   recipes={IMAGE: WGAN_IMAGE, POINTS: POINTS_RECIPES["wgan"]}),
        ModelEntry("wgan_gp", "preset", "Wasserstein critic, gradient penalty 10, layer norm",
                   "Gulrajani et al. 2017",
                   recipes={IMAGE: {"epochs": 360}, POINTS: POINTS_RECIPES["wgan_gp"]}),
        ModelEntry("sngan", "preset", "hinge loss, spectrally normalized discriminator",
                   "Miyato et al. 2018",
                   recipes={IMAGE: SNGAN_IMAGE, POINTS: POINTS_RECIPES["sngan"]}),
        ModelEntry("cgan", "family", "conditional GAN, projection discriminator",
                   "Mirza & Osindero 2014; Miyato & Koyama 2018", True, (IMAGE,),
                   builder="conditional:build_conditional",
                   recipes={IMAGE: {**ONE_TO_ONE_IMAGE, "epochs": 60, "n_critic": 1}}),
        ModelEntry("acgan", "family", "AC-GAN, auxiliary classifier head", "Odena et al. 2017",
                   True, (IMAGE,), builder="acgan:build_acgan",
                   recipes={IMAGE: {**ONE_TO_ONE_IMAGE, "epochs": 60}}),
        ModelEntry("infogan", "family", "InfoGAN, latent codes and a Q head", "Chen et al. 2016",
                   False, (IMAGE,), builder="infogan:build_infogan",
                   recipes={IMAGE: ONE_TO_ONE_IMAGE}),
        ModelEntry("unrolled", "family", "unrolled GAN, look-ahead critic steps",
                   "Metz et al. 2016", builder="unrolled:build_unrolled_gan",
                   recipes={IMAGE: UNROLLED_IMAGE}),
        ModelEntry("gmmn", "family", "GMMN, MMD with a mixture of RBF kernels", "Li et al. 2015",
                   builder="mmd:build_gmmn", recipes={IMAGE: GMMN_IMAGE}),
        ModelEntry("mmdgan", "family", "MMD-GAN, MMD on learned critic features",
                   "Li et al. 2017", builder="mmd:build_mmd_gan", recipes={IMAGE: MMDGAN_IMAGE}),
        ModelEntry("vae", "family", "variational autoencoder, ELBO logged",
                   "Kingma & Welling 2013", False, (IMAGE,), builder="vae:build_vae",
                   recipes={IMAGE: {"epochs": 300, "batch_size": 32}}),
        ModelEntry("progan", "family", "progressive growing, WGAN-GP + drift",
                   "Karras et al. 2018", False, (IMAGE,), builder="progan:build_progan",
                   recipes={IMAGE: PROGAN_IMAGE}),
        ModelEntry("biggan", "family", "BigGAN: CBN + skip-z, self-attention, SN, hinge",
                   "Brock et al. 2019", True, (IMAGE,), builder="biggan:build_biggan",
                   recipes={IMAGE: BIGGAN_IMAGE}),
    )
}


@dataclasses.dataclass(frozen=True)
class DataSource:
    """A form ``--data`` accepts: ``form`` as the user types it (NAME, PATH... are
    placeholders), what it yields (``kind``: image, points, unpaired or hr), whether it
    carries class labels (``"yes"``, ``"no"`` or ``"if the set has them"``), and the
    commands that read it."""

    form: str
    kind: str
    labels: str
    description: str
    commands: tuple


TRAIN, ADVERSARIAL, TRANSLATE, SUPER_RESOLVE = "train", "adversarial", "translate", "super-resolve"
DATA_SOURCES = tuple(
    (
        DataSource("digits", IMAGE, "yes", "scikit-learn's real handwritten digits (embedded)",
                   (TRAIN, ADVERSARIAL)),
        DataSource("photos", IMAGE, "no", "real photographs shipped in scikit-image and "
                   "scikit-learn (train: patches; super-resolve: whole images)",
                   (TRAIN, SUPER_RESOLVE)),
        DataSource("ring8", POINTS, "no", "2-D mixture: ring of 8 Gaussians", (TRAIN,)),
        DataSource("grid25", POINTS, "no", "2-D mixture: grid of 25 Gaussians", (TRAIN,)),
        DataSource("tfds:NAME[/CONFIG]", IMAGE, "if the set has them",
                   "a TensorFlow Datasets set prepared under --data-dir", (TRAIN, ADVERSARIAL)),
        DataSource("folder:PATH", IMAGE, "no", "your own images (anything OpenCV decodes)",
                   (TRAIN, SUPER_RESOLVE)),
        DataSource("photos:tone", "unpaired", "no", "embedded photo pair with a known answer "
                   "(B is a fixed tone map of A)", (TRANSLATE,)),
        DataSource("folder:DIR_A,DIR_B", "unpaired", "no", "two folders of unpaired images",
                   (TRANSLATE,)),
        DataSource("tfds:cycle_gan/NAME", "unpaired", "no", "a prepared TFDS cycle_gan set",
                   (TRANSLATE,)),
        DataSource("tfds:div2k/CONFIG", "hr", "no", "a prepared TFDS div2k set (HR with its LR)",
                   (SUPER_RESOLVE,)),
    )
)


def model_names():
    """Every name ``--model`` accepts, in table order (presets first)."""
    return tuple(MODELS)


def get_model(name):
    """The :class:`ModelEntry` called ``name``; ValueError naming the choices otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def source_forms(command):
    """The ``--data`` forms ``command`` reads, as text for help: ``"a, b or c"``."""
    forms = [s.form for s in DATA_SOURCES if command in s.commands]
    return forms[0] if len(forms) == 1 else f"{', '.join(forms[:-1])} or {forms[-1]}"


def models_help():
    """One line per model for ``--help`` (name, description, paper, labels)."""
    return "; ".join(
        f"{m.name} ({m.paper}{', labels' if m.needs_labels else ''})" for m in MODELS.values()
    )
