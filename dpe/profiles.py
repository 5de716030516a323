"""Every profile in one place: named sets of settings, each a dict of overrides of a config's
defaults (``RunConfig``, ``SegConfig``) or of a notebook's parameters. One line per setting,
with its unit and, where a measurement chose it, the chapter of the book that shows it.

- ``PROFILES``: classification runs (``dpe.config.make_config``).
- ``ROUND_SCALE``: per profile, models whose rounds train longer than the profile says.
- ``SEG_PROFILES``: segmentation runs (``dpe.segmentation.make_seg_config``), same names.
- ``STUDY_PROFILES``: per profile, each notebook's parameters (``"*"``: every notebook) for
  ``python -m dpe.study``; ``STUDY_NOTEBOOKS``: the notebooks a profile runs, where fewer than all.
"""

from __future__ import annotations

__all__ = ["NOTEBOOKS", "OPTIONAL_NOTEBOOKS", "PROFILES", "ROUND_SCALE", "SEG_PROFILES", "STUDY_NOTEBOOKS", "STUDY_PROFILES", "round_scale"]

_FAST_CPU = dict(protocol="fast", lr=0.1, batch_size=32, augment=True)

PROFILES: dict[str, dict] = {
    "smoke": dict(  # seconds: plumbing for tests and CI, not a result
        _FAST_CPU,
        pool_size=600, val_size=200, test_size=500,  # images
        width=4, members=3,  # channels of the first stage; ensemble members E
        initial=20, step=20, budget=80,  # labels
        max_epochs=2, min_steps=8, batch_size=16,  # a round: epochs, at least this many SGD steps; images per member
    ),
    "quick": dict(  # minutes a run on one CPU core
        _FAST_CPU,
        pool_size=2000, val_size=500, test_size=1000,  # images
        width=8, members=4,  # channels of the first stage; ensemble members E
        initial=100, step=100, budget=800,  # labels: 100 -> 200 -> 400 -> 800 (Exponential-4)
        batch_size=64,  # images per member per step
        max_epochs=50, min_steps=500,  # a round: epochs, and at least this many steps (chapter "Training to convergence")
    ),
    "paper": dict(  # the paper's protocol (Sec. 5): for GPUs
        pool_size=None, val_size=5000, test_size=None,  # images: the whole training split less 5k; the whole test split
        width=64, members=8,  # the paper's ResNet-18 and E
        initial=2000, step=2000, budget=16000,  # labels
        protocol="paper", lr=0.1, momentum=0.9, batch_size=32,  # SGD; images per member per step
        max_epochs=400, patience=25,  # epochs; epochs without a validation gain before the lr drops (then 2x to stop)
    ),
}
PROFILES["paper-fast"] = dict(  # the paper's data, network and schedule, the fast protocol: for GPUs
    PROFILES["paper"], protocol="fast",
    max_epochs=15,  # epochs a round: too short alone at 2k labels (+3.5 points when doubled, H200, benchmarks/README.md)
    min_steps=7500,  # steps a round at least (the 16k round's length); not yet checked (issue: GPU, paper-fast)
)
PROFILES["paper-cpu"] = dict(  # the paper's label counts on a 2-core CPU (chapter "L2 ensembles vs DPEs")
    _FAST_CPU,
    pool_size=None, val_size=5000, test_size=None,  # images: Fashion-MNIST's 55k training less 5k; all 10k test
    width=8, members=4,  # the paper's: width 64, E = 8
    initial=2000, step=2000, budget=16000,  # labels: the paper's Exponential-4
    batch_size=64,  # images per member per step
    max_epochs=15, min_steps=1500,  # a round (x2 for Table 4's models: ROUND_SCALE, chapter "Training to convergence")
)

# Models whose rounds train longer to converge at a profile: each multiplies the profile's
# max_epochs and min_steps (unless given explicitly), as the paper's patience gives each model its
# own length. Each factor was chosen from the convergence check's records of its day (a model with a
# failing cell moved to the next length); the chapter "Training to convergence" reads the check from
# today's records, and says where a model's own length does not pass (undetermined or unpaired).
ROUND_SCALE: dict[str, dict[str, int]] = {
    "quick": {"l2-ensemble": 2, "deterministic": 4, "mc-dropout": 4},
    "paper-cpu": {"dpe": 2, "l2-ensemble": 2, "deterministic": 2},  # all three failed x1 -> x2 at 4k and 8k labels (2026-12-03)
}


def round_scale(profile: str, model: str) -> int:
    """How many times the profile's round ``model`` trains for (``ROUND_SCALE``; 1 if not listed)."""
    return ROUND_SCALE.get(profile, {}).get(model, 1)


SEG_PROFILES: dict[str, dict] = {
    "smoke": dict(  # seconds: tests and CI
        height=48, width=64,  # pixels
        pool_images=16, eval_images=8, pretrain_images=16,  # images (12 crops each)
        pretrain_epochs=2, encoder_width=8, members=3,  # encoder pre-training; channels; decoder heads
        initial=16, step=16, budget=64,  # labelled crops
        batch_size=4, max_epochs=2, min_steps=6,  # images per step; a round's epochs and least steps
        lr=0.01,  # 0.05 blew the fine-tuned encoder up (loss 1e21)
    ),
    # the SegConfig defaults: 96 x 128 scenes, the encoder fine-tuned with the heads, at least 1 000
    # steps a round (chapter "Active semantic segmentation": 500 failed its convergence check)
    "quick": {},
    "paper": dict(  # the paper's BDD100k setting and protocol (Sec. 6): for GPUs
        dataset="bdd100k", height=720, width=1280,  # pixels
        pool_images=None, eval_images=None,  # every image: 84k crops of 7 000 images
        pretrain="cityscapes", pretrain_images=None, pretrain_epochs=100, pretrain_lr=0.01,  # the encoder's source
        encoder_width=64, members=8,  # ResNet-18; decoder heads
        initial=3360, step=3360, budget=26880,  # labelled crops: 4 / 8 / 16 / 32 % of the pool
        protocol="paper", optimizer="adam", lr=1e-4,  # Adam
        patience=10, val_images=500,  # epochs; training images held out (the paper names no validation set)
        encoder_lr_scale=1.0, max_epochs=100, min_steps=0,  # the whole network fine-tuned; epochs at most
    ),
}

STUDY_PROFILES: dict[str, dict[str, dict]] = {
    "smoke": {  # every notebook in seconds: CI executes all of them and builds the book
        "*": {"trials": 1},
        "l2_vs_dpe": {"trials": 2, "upper_bound": True, "other_scales": {"quick": "results/quick"}},  # every path
        "ensembles": {"members": [2, 3], "betas": [1e-5, 1e-4]},
        "acquisition": {"acquisitions": ["R", "H_ens", "VR"]},
        "robustness": {"trials": 2, "starts": [40]},
        "baselines": {"trials": 2},
        "convergence": {"trials": 2, "scales": [1, 2], "models": ["dpe", "deterministic"],
                        "other_profiles": {"quick": "results/quick"}},  # a complete check as the second profile
    },
    "quick": {  # the main job
        "*": {"trials": 3},
        "l2_vs_dpe": {"trials": 5},
        # 5 sizes' trials: whether E = 2 diverges more is counted on one machine, and 3 runs a side
        # cannot reach Fisher's p < 0.05 (at best 1/20)
        "ensembles": {"members": [2, 4, 8], "betas": [1e-6, 1e-5, 1e-4], "size_trials": 5},
        "robustness": {"trials": 10, "starts": [50, 200]},  # optional (--only robustness)
        "baselines": {"trials": 10},  # optional (--only baselines): the robustness chapter's design
        "segmentation": {"trials": 5, "check_trials": 5},  # 3 left every Table 5 comparison inconclusive
    },
    "paper-cpu": {  # tens of CPU hours: only the notebooks of STUDY_NOTEBOOKS; shown in the quick book
        "*": {"trials": 3},
        "convergence": {"models": ["dpe", "l2-ensemble", "deterministic"]},  # Table 4's models
        "l2_vs_dpe": {"trials": 5, "upper_bound": True},  # 3 left most Holm-adjusted cells inconclusive
        "acquisition": {"trials": 5},  # its R and H_ens are Table 4's DPE runs: each trial pairs on one machine
        # its Exponential-4 is Table 4's DPE + H_ens, likewise; its upper bounds ran on AMD, where a
        # doubled one (~2.3 h each) would have to run to pair with them: not checked yet
        "growth": {"trials": 5, "upper_check_trials": 0},
    },
    "paper": {  # for GPUs
        "*": {"trials": 3},
        "segmentation": {"dataset": "bdd100k", "target_class": "traffic sign"},
        "ensembles": {"members": [2, 4, 8, 16], "betas": [1e-6, 1e-5, 1e-4]},
        "robustness": {"trials": 10, "starts": [1000, 4000]},
    },
}

NOTEBOOKS = ["convergence", "growth", "acquisition", "l2_vs_dpe", "ensembles", "segmentation", "findings"]  # the main job
OPTIONAL_NOTEBOOKS = ["robustness", "baselines"]  # run only with --only (long)
# the notebooks `python -m dpe.study --profile P` runs without --only, where fewer than NOTEBOOKS;
# the convergence check first
STUDY_NOTEBOOKS: dict[str, list[str]] = {
    "paper-cpu": ["convergence", "l2_vs_dpe", "acquisition", "growth"],  # Table 4, then Table 3, then Fig. 1
}
