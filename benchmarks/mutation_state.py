"""mutmut's results, carried between machines: ``make mutate`` restores them before it runs and
saves them after, so a run that a session ends (or a fresh clone) goes on from the mutants
already tested instead of from zero.

    python benchmarks/mutation_state.py restore   # benchmarks/results/mutmut-state -> mutants/
    python benchmarks/mutation_state.py save      # mutants/ -> benchmarks/results/mutmut-state

mutmut keeps a verdict per mutant in ``mutants/<module>.meta`` beside the hash of the function it
mutates, and the test-to-function map in ``mutants/mutmut-stats.json``; it resets a verdict itself
when its function's source changes. Only those files travel (not the mutated sources, which
mutmut regenerates). ``restore`` never overwrites a file already in ``mutants/`` (a local run is
newer than the committed state).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / "mutants"
STATE = ROOT / "benchmarks" / "results" / "mutmut-state"


def state_files(folder: Path) -> list[Path]:
    """The result files under ``folder``, relative to it."""
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder) for p in folder.rglob("*")
                  if p.is_file() and (p.suffix == ".meta" or p.name == "mutmut-stats.json"))


def copy(source: Path, target: Path, overwrite: bool) -> int:
    copied = 0
    for relative in state_files(source):
        destination = target / relative
        if destination.exists() and not overwrite:
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, destination)
        copied += 1
    return copied


def main(argv: list[str]) -> int:
    if argv not in (["restore"], ["save"]):
        print("usage: python benchmarks/mutation_state.py restore|save", file=sys.stderr)
        return 2
    if argv == ["restore"]:
        print(f"restored {copy(STATE, LOCAL, overwrite=False)} mutmut state file(s) from {STATE.relative_to(ROOT)}")
    else:
        print(f"saved {copy(LOCAL, STATE, overwrite=True)} mutmut state file(s) to {STATE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
