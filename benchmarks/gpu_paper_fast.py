"""One GPU lease, one call: is `paper-fast` converged, and how many runs at once fill the GPU?

Issue #23's first step, as one prepared script for a short lease (15 minutes of device time,
10 a command). In order, each phase only if the deadline leaves time for it:

0. **CUDA works**: the CUDA tests of tests/test_engine.py (graph replays train the same network
   as eager steps) and a `smoke` run on the GPU through ``python -m dpe run``; stops here if
   either fails, so a broken GPU path costs a minute, not the lease.
1. **Throughput and convergence at 2k labels**: single-round DPE runs on 2 000 random labels
   (``--schedule sizes --sizes 2000``), at the profile's round length (x1: its epochs and step
   floor) and twice it (x2: both doubled), in waves of 1, 2 and 4 processes at once: the waves give the
   aggregate training rate of 1, 2 and 4 runs sharing the GPU, the runs give the check.
2. **Convergence at 16k labels**: x1 and x2 on 16 000 random labels, one trial each, beside the
   last x1 run at 2k.

Every run writes its record (config + provenance) under ``RESULTS/runs``; at the end (or at the
deadline, when runs still going are stopped) the records, the logs and ``probe.json`` (waves,
rates) are packed into ``OUT/paper-fast-probe.tar.gz``. Usage on the device::

    PYTHONPATH=. python3 benchmarks/gpu_paper_fast.py --data-root .data --results results/paper-fast \\
        --out $OUT --budget 520

a report of what came back (markdown tables, from the records and probe.json)::

    .venv/bin/python benchmarks/gpu_paper_fast.py --report results/paper-fast

and a CPU dry run of the same phases at the smoke profile (seconds)::

    .venv/bin/python benchmarks/gpu_paper_fast.py --dry-run --device cpu --results /tmp/probe --out /tmp/probe-out
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_command(profile: str, labels: int, scale: int, trial: int, args) -> list[str]:
    """One single-round DPE run on ``labels`` random labels, its round ``scale`` times the
    profile's (epochs and step floor both multiplied, as ``dpe.study.grids.convergence_grid`` does)."""
    from dpe.profiles import PROFILES

    epochs, floor = PROFILES[profile]["max_epochs"], PROFILES[profile].get("min_steps", 0)
    return [sys.executable, "-m", "dpe", "run", "--profile", profile, "--model", "dpe", "--acquisition", "R",
            "--schedule", "sizes", "--sizes", str(labels), "--max-epochs", str(epochs * scale),
            "--min-steps", str(floor * scale), "--trial", str(trial),
            "--device", args.device, "--results", str(args.results), "--no-progress",
            *(["--data-root", str(args.data_root)] if args.data_root else [])]


def launch(jobs: list[dict], args, deadline: float, logs: Path) -> dict:
    """Start ``jobs`` at once, wait for all (or the deadline), and say what each did."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="2", PYTHONUNBUFFERED="1")
    started = time.time()
    procs = []
    for job in jobs:
        log = open(logs / f"{job['name']}.log", "w")
        procs.append((job, subprocess.Popen(job["cmd"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT), log))
    for job, proc, log in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=30)
        log.close()
        job["returncode"] = proc.returncode
        job["wall_seconds"] = round(time.time() - started, 1)
        lines = (logs / f"{job['name']}.log").read_text().strip().splitlines()
        record = ROOT / lines[-1] if lines and lines[-1].endswith(".json") else None
        if proc.returncode == 0 and record and record.exists():
            r = json.loads(record.read_text())["rounds"][-1]
            job.update(record=record.name, accuracy=r["accuracy"], steps=r["steps"], train_seconds=round(r["train_seconds"], 1))
        print(f"  {job['name']:>16}: rc {proc.returncode}, {job.get('accuracy', float('nan')):.4f} acc, "
              f"{job.get('steps', 0)} steps in {job.get('train_seconds', float('nan'))} s, wall {job['wall_seconds']} s", flush=True)
        job.pop("cmd")
    wave = {"processes": len(jobs), "wall_seconds": round(time.time() - started, 1), "runs": jobs}
    done = [j for j in jobs if "steps" in j]
    if len(done) == len(jobs):
        # aggregate training rate: the sum of each process's steps per second while all ran together
        wave["steps_per_second"] = round(sum(j["steps"] / j["train_seconds"] for j in done), 2)
    return wave


def report(results: Path) -> None:
    """The convergence check (x2 - x1 per trial, paired) and the waves, as markdown tables."""
    from dpe.study.stats import paired_test

    rows = {}
    for path in sorted((results / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        c, last = record["config"], record["rounds"][-1]
        rows[(last["labeled"], last["steps"], c["trial"])] = (last["accuracy"], c["max_epochs"], record["provenance"]["device"])
    print("| labels | steps (epochs) | trial | test accuracy | device |\n|---:|---|---:|---:|---|")
    for (labels, steps, trial), (acc, epochs, device) in sorted(rows.items()):
        print(f"| {labels} | {steps} ({epochs}) | {trial} | {100 * acc:.2f} % | {device} |")
    for labels in sorted({k[0] for k in rows}):
        lengths = sorted({k[1] for k in rows if k[0] == labels})
        for short, long in zip(lengths, lengths[1:]):
            trials = sorted(t for (l, e, t) in rows if l == labels and e == short and (l, long, t) in rows)
            if len(trials) >= 2:
                test = paired_test([100 * rows[(labels, long, t)][0] for t in trials], [100 * rows[(labels, short, t)][0] for t in trials])
                print(f"\n{labels} labels, {long} - {short} steps over trials {trials}: {test.mean_difference:+.2f} points, "
                      f"95 % CI [{test.ci_low:+.2f}, {test.ci_high:+.2f}], paired t p = {test.p:.2g}")
    probe = json.loads((results / "probe.json").read_text())
    print("\n| runs at once | wall s | training steps/s (sum over processes) | vs 1 |\n|---:|---:|---:|---:|")
    rates = [w for w in probe["waves"] if "steps_per_second" in w and w["name"].endswith(("process", "processes"))]
    for w in rates:
        print(f"| {w['processes']} | {w['wall_seconds']} | {w['steps_per_second']} | {w['steps_per_second'] / rates[0]['steps_per_second']:.2f}x |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--report", type=Path, metavar="RESULTS", help="print the tables of a results folder, run nothing")
    p.add_argument("--device", default="cuda")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--results", type=Path, default=ROOT / "results" / "paper-fast")
    p.add_argument("--out", type=Path, help="where the archive goes (required unless --report)")
    p.add_argument("--budget", type=float, default=520, help="seconds until runs still going are stopped")
    p.add_argument("--dry-run", action="store_true", help="the same phases at the smoke profile (CPU, seconds)")
    p.add_argument("--wave", default=None, metavar="LABELSxSCALE:TRIALS",
                   help="instead of phases 1-2, one wave: e.g. 2000x4:0-3 (trials 0 to 3 of x4 at 2k labels at once); "
                        "several parts joined by commas run together")
    p.add_argument("--skip-checks", action="store_true", help="skip phase 0 (CUDA already checked on this code)")
    args = p.parse_args()
    if args.report:
        report(args.report)
        return 0
    if args.out is None:
        p.error("--out is required (the folder the archive goes to)")
    deadline = time.time() + args.budget
    args.out.mkdir(parents=True, exist_ok=True)
    logs = args.results / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    profile, small, large = ("smoke", 40, 160) if args.dry_run else ("paper-fast", 2000, 16000)
    summary = {"profile": profile, "device": args.device, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "commit": os.environ.get("DPE_GIT_COMMIT"), "waves": []}

    def job(name, labels, scale, trial):
        return {"name": name, "labels": labels, "scale": scale, "trial": trial,
                "cmd": run_command(profile, labels, scale, trial, args)}

    print("phase 0: CUDA tests and a smoke run", flush=True)
    checks = []
    if args.device.startswith("cuda"):
        checks.append([sys.executable, "-m", "pytest", "-q", "-x", "-k", "cuda", "tests/test_engine.py", "-p", "no:cacheprovider"])
    smoke = run_command("smoke", 40, 1, 0, args)
    smoke[smoke.index("--results") + 1] = str(args.results / "smoke")
    checks.append(smoke)
    for cmd in [] if args.skip_checks else checks:
        t = time.time()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        print(f"  {' '.join(cmd[1:4])}...: rc {done.returncode} in {time.time() - t:.1f} s", flush=True)
        summary.setdefault("checks", []).append({"cmd": cmd[1:], "returncode": done.returncode, "tail": done.stdout[-2000:] + done.stderr[-3000:]})
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:], flush=True)
            return finish(summary, args, 3)

    phases = [
        ("1 process", [job("x1-2k-t0", small, 1, 0)]),
        ("2 processes", [job("x1-2k-t1", small, 1, 1), job("x1-2k-t2", small, 1, 2)]),
        ("4 processes", [job(f"x2-2k-t{t}", small, 2, t) for t in range(4)]),
        ("16k", [job("x1-16k-t0", large, 1, 0), job("x2-16k-t0", large, 2, 0), job("x1-2k-t3", small, 1, 3)]),
    ]
    if args.wave:  # e.g. "2000x1:0-0,2000x2:0-0": all of these at once, one process each
        jobs = []
        for part in args.wave.split(","):
            size, rest = part.split("x")
            scale, trials = rest.split(":")
            first, last = (int(t) for t in trials.split("-"))
            labels = small if args.dry_run else int(size)
            jobs += [job(f"x{scale}-{size}-t{t}", labels, int(scale), t) for t in range(first, last + 1)]
        phases = [(args.wave, jobs)]
    for name, jobs in phases:
        if time.time() > deadline - 20:
            print(f"phase {name}: skipped, the deadline is near", flush=True)
            break
        print(f"phase {name}: {', '.join(j['name'] for j in jobs)}", flush=True)
        summary["waves"].append({"name": name, **launch(jobs, args, deadline, logs)})
        (args.out / "probe.json").write_text(json.dumps(summary, indent=1))
    return finish(summary, args, 0)


def finish(summary: dict, args, code: int) -> int:
    summary["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    (args.results / "probe.json").write_text(json.dumps(summary, indent=1))
    with tarfile.open(args.out / "paper-fast-probe.tar.gz", "w:gz") as tar:
        tar.add(args.results, arcname=args.results.name)
    print("\nwave          processes  wall s  steps/s (sum over processes)")
    for w in summary["waves"]:
        print(f"{w['name']:<13} {w['processes']:>9}  {w['wall_seconds']:>6}  {w.get('steps_per_second', '-')}")
    return code


if __name__ == "__main__":
    sys.exit(main())
