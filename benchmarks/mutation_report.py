"""The report of ``make mutate``: mutmut's result for every mutant of the modules that carry the
science, as a kill rate per module, with the surviving mutants listed (each either to be killed
by a new test or explained here as equivalent).

    .venv/bin/python benchmarks/mutation_report.py > benchmarks/results/mutation.md

Reads ``mutmut results --all true`` in the current folder (after ``mutmut run`` there). A mutant
counts as killed when a test failed on it (mutmut also counts a timeout: see KILLED); "no tests" means
no selected test reached the function; ``EQUIVALENT`` names mutants that cannot change
behaviour, and why, and leaves them out of the rate.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path

# Only a failing test counts as a kill. mutmut also counts "timeout"; here its forked children hung
# in torch.cdist (every core-set mutant timed out) until tests/conftest.py stopped starting a
# 2-thread OpenMP pool under OMP_NUM_THREADS=1, so a timeout is listed with the survivors, to check by hand.
KILLED = {"killed"}
_R = "dpe.study.robustness.x_"
_FALSY_SORT = "groupby(sort=None) is groupby(sort=False): pandas reads the flag's truth"
_K = "dpe.acquisition.x_k_center_greedy__mutmut_"
_ON_CPU = "device=None (or dropped) is the CPU, where the tests' tensors are (on a GPU it would fail loudly)"
C = "dpe.active.xǁClassificationTaskǁ"
_LAYOUT = "channels_last left at the default (or off) changes the memory layout only, never what is computed"
_CACHE = "autocast's weight-cast cache only saves re-casting inside one eager forward: the same values either way"
_NUMERIC = ("np.asarray without dtype=float: labels and accuracies are numbers, which sort the same as ints or floats, "
            "and every later step (differences, division, np.where against a float target) gives floats")
_RESORTED = "the groups are put back in grid order right after, so how groupby sorts them changes nothing"
EQUIVALENT: dict[str, str] = {  # mutant -> why no test can tell it from the original
    "dpe.study.stats.x_paired_test__mutmut_107": "drops zero_method='wilcox', which is scipy's default",
    "dpe.acquisition.x_variance__mutmut_9": ".sum(+1) is .sum(1)",
    "dpe.acquisition.x_weighted_variance__mutmut_6": "device=None puts the weights on the CPU, where the tests' probabilities are too (on a GPU it would fail loudly)",
    "dpe.acquisition.x_weighted_variance__mutmut_9": "as __mutmut_6: the device argument dropped",
    _R + "labels_to_reach__mutmut_23": "range(len(x)): i = 0 is reached only when y[0] < target, which fails the loop's test too",
    _R + "mean_interval__mutmut_5": "n = 1: Student t with 0 degrees of freedom is NaN anyway; n = 0: the sd is NaN",
    _R + "mean_interval__mutmut_20": "n >= 1: for n = 1 Student t with 0 degrees of freedom is NaN anyway",
    _R + "mean_interval__mutmut_24": 'float("NAN") is float("nan")',
    _R + "curve_summary__mutmut_4": _RESORTED, _R + "curve_summary__mutmut_6": _RESORTED, _R + "curve_summary__mutmut_13": _RESORTED,
    _R + "label_efficiency__mutmut_22": _FALSY_SORT, _R + "class_shares__mutmut_30": _FALSY_SORT,
    _R + "class_shares__mutmut_39": "numeric_only=False: every column but the group keys (trial, the class shares) is numeric",
    _K + "1": "chunk=4097: how many centres a cdist call takes changes nothing but memory",
    _K + "23": "dtype float32 for the start (inf): torch.minimum promotes to cdist's float64 at the first update",
    _K + "27": "as __mutmut_23: the dtype argument dropped",
    _K + "24": _ON_CPU, _K + "28": _ON_CPU, _K + "67": _ON_CPU, _K + "70": _ON_CPU,
    _K + "43": "-2.0 for a labelled point: any sentinel below 0 is below every distance", _K + "64": "as __mutmut_43, for a picked point",
    _K + "66": "dtype=None: a tensor of Python ints is int64 (torch.long) anyway", _K + "69": "as __mutmut_66: the dtype argument dropped",
    "dpe.acquisition.x_variation_ratio__mutmut_13": "one_hot without K is as wide as the largest vote + 1: it drops only columns of zero votes, and the modal count is the same",
    "dpe.acquisition.x_variation_ratio__mutmut_19": "counts is (N, K): .max(+1) is .max(-1)",
    "dpe.acquisition.x_top_k__mutmut_7": _ON_CPU,
    "dpe.study.stats.x_paired_test__mutmut_109": "scipy lower-cases zero_method: 'WILCOX' is 'wilcox'",
    "dpe.train.xǁPlateauǁ__init____mutmut_3": "since starts at 1: the first accuracy always beats -inf, which sets since to 0",
    "dpe.train.x_training_step__mutmut_19": "zero_grad(set_to_none=None) is set_to_none=False: zeroed gradients, which the next backward overwrites as it would fill None ones",
    "dpe.train.x_training_step__mutmut_20": "as __mutmut_19",
    "dpe.train.x_training_step__mutmut_3": _CACHE, "dpe.train.x_training_step__mutmut_5": _CACHE, "dpe.train.x_training_step__mutmut_6": _CACHE,
    "dpe.train.x_member_batches__mutmut_7": _ON_CPU, "dpe.train.x_member_batches__mutmut_11": _ON_CPU,
    "dpe.active.x_algorithm_1__mutmut_22": _ON_CPU, "dpe.active.x_algorithm_1__mutmut_25": _ON_CPU, "dpe.active.x_algorithm_1__mutmut_78": _ON_CPU,
    "dpe.active.x_algorithm_1__mutmut_81": _ON_CPU, "dpe.active.xǁClassificationTaskǁ__init____mutmut_22": _ON_CPU, "dpe.active.xǁClassificationTaskǁ__init____mutmut_24": _ON_CPU,
    "dpe.active.xǁClassificationTaskǁ__init____mutmut_27": _ON_CPU, "dpe.active.xǁClassificationTaskǁ__init____mutmut_29": _ON_CPU, "dpe.active.xǁClassificationTaskǁ__init____mutmut_31": _ON_CPU,
    "dpe.active.xǁClassificationTaskǁ__init____mutmut_32": _ON_CPU, "dpe.active.xǁClassificationTaskǁ__init____mutmut_38": _ON_CPU, "dpe.active.xǁClassificationTaskǁ__init____mutmut_39": _ON_CPU,
    "dpe.active.xǁClassificationTaskǁpositions__mutmut_1": _ON_CPU, "dpe.active.xǁClassificationTaskǁtrain__mutmut_3": _ON_CPU, "dpe.active.xǁClassificationTaskǁtrain__mutmut_30": _ON_CPU,
    "dpe.active.xǁClassificationTaskǁacquire__mutmut_38": _ON_CPU, "dpe.active.xǁClassificationTaskǁacquire__mutmut_41": _ON_CPU, "dpe.train.x__train__mutmut_66": _ON_CPU,
    "dpe.train.x__train__mutmut_94": _ON_CPU, "dpe.train.x__train__mutmut_96": _ON_CPU, "dpe.ensemble.xǁEnsembleǁprior_vectors__mutmut_9": _ON_CPU,
    "dpe.ensemble.xǁEnsembleǁprior_vectors__mutmut_11": _ON_CPU, "dpe.regularizers.x_kl_penalty__mutmut_11": _ON_CPU,
    C + "positions__mutmut_7": "torch.tensor of int ids is int64 without the dtype; an empty one is float32, which searchsorted takes and answers with int64 (no) positions",
    C + "positions__mutmut_9": "as __mutmut_7: the dtype argument dropped",
    C + "train__mutmut_10": _LAYOUT, C + "train__mutmut_18": _LAYOUT, "dpe.ensemble.xǁEnsembleǁ__init____mutmut_1": _LAYOUT,
    "dpe.ensemble.x__cat__mutmut_6": "every caller checks for None first (a bias-free conv, a non-affine batch norm): the None branch is never reached",
    "dpe.ensemble.x__cat__mutmut_13": "torch.cat's default dim is 0",
    "dpe.ensemble.x_pack__mutmut_15": "recurse=None is falsy: recurse=False", "dpe.ensemble.x_pack__mutmut_29": "recurse=None is falsy: recurse=False",
    "dpe.ensemble.x_pack__mutmut_30": "a packed Conv2d, BatchNorm2d or Linear has no submodules: recurse=True lists the same parameters",
    "dpe.config.x_make_config__mutmut_5": "model None gets round_scale 1 and no single-member or dropout default: exactly what the default model 'dpe' gets",
    "dpe.config.x_make_config__mutmut_7": "as __mutmut_5",
    _R + "_sorted_curve__mutmut_3": _NUMERIC, _R + "_sorted_curve__mutmut_5": _NUMERIC,
    _R + "_sorted_curve__mutmut_7": _NUMERIC, _R + "_sorted_curve__mutmut_9": _NUMERIC,
}
# functions that run only on a GPU: their mutants are left out of the CPU rate. The GPU test
# tests/test_engine.py::test_cuda_graph_replays_train_the_same_network_as_eager_steps covers
# them (passed on an NVIDIA H200, 2026-11-29, benchmarks/gpu_paper_fast.py's phase 0).
GPU_ONLY = ("dpe.train.xǁGraphedStepsǁ",) + tuple(  # and _train's torch.compile and CUDA-graph branches (CUDA engines only)
    f"dpe.train.x__train__mutmut_{n}" for n in (38, 39, 40, 41, 42, *range(44, 54), *range(128, 135)))


def results() -> list[tuple[str, str]]:
    out = subprocess.run([str(Path(sys.executable).parent / "mutmut"), "results", "--all", "true"], cwd=Path.cwd(),
                         capture_output=True, text=True, check=True).stdout
    return re.findall(r"^\s*(\S+__mutmut_\d+): (.+)$", out, re.M)


def module_of(mutant: str) -> str:
    return mutant.rsplit(".", 1)[0]


def main() -> int:
    rows = results()
    if not rows:
        print("no mutmut results: run `make mutate` first", file=sys.stderr)
        return 1
    by_module = collections.defaultdict(collections.Counter)
    survivors = collections.defaultdict(list)
    for mutant, status in rows:
        status = "equivalent" if mutant in EQUIVALENT else "gpu only" if mutant.startswith(GPU_ONLY) else status
        by_module[module_of(mutant)][status] += 1
        if status not in KILLED | {"equivalent", "gpu only", "not checked"}:
            survivors[module_of(mutant)].append((mutant, status))
    print("# Mutation testing (`make mutate`)\n")
    print("| module | mutants | not yet run | killed | equivalent | GPU only | survived | no tests | other | kill rate of those run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for module, c in sorted(by_module.items()):
        killed = sum(c[s] for s in KILLED)
        counted = sum(c.values()) - c["equivalent"] - c["gpu only"] - c["not checked"]
        other = counted - killed - c["survived"] - c["no tests"]
        rate = f"{100 * killed / counted:.0f} %" if counted else "-"
        print(f"| `{module}` | {sum(c.values())} | {c['not checked']} | {killed} | {c['equivalent']} | {c['gpu only']} | {c['survived']} | {c['no tests']} | {other} | {rate} |")
    print("\n## Not killed\n")
    for module, items in sorted(survivors.items()):
        print(f"- `{module}`: " + ", ".join(f"`{m.rsplit('.', 1)[1]}` ({s})" for m, s in items))
    if EQUIVALENT:
        print("\n## Equivalent mutants\n")
        for mutant, why in sorted(EQUIVALENT.items()):
            print(f"- `{mutant}`: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
