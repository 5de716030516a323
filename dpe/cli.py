"""Command line: ``python -m dpe run --profile smoke --model dpe --acquisition H_ens ...`` for
classification, ``python -m dpe segment --profile quick --acquisition V_w --class-weights ...``
for active segmentation.

Every RunConfig (or SegConfig) field is an option (``--pool-size``, ``--members``, ...) that
overrides the profile. Bad values end the program with exit code 2 and one line naming the problem.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import typing
from pathlib import Path


from dpe.config import PROFILES, RunConfig, make_config
from dpe.engine import ENGINES, make_engine, resolve_device
from dpe.errors import ConfigError, DataNotFound
from dpe.records import RecordMismatch, read_record
from dpe.train import divergence_advice

__all__ = ["main", "parse_value"]


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def parse_value(kind, text: str):
    """Parse one option's text by the RunConfig field's type."""
    args = typing.get_args(kind)
    if text.lower() in ("none", "all") and type(None) in args:
        return None
    base = next((a for a in args if a is not type(None)), kind)
    if typing.get_origin(base) is tuple:
        inner = typing.get_args(base)[0]
        return tuple(inner(v) for v in text.split(",") if v)
    if base is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    return base(text)


def _typed(kind, name: str):
    def parse(text: str):
        try:
            return parse_value(kind, text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} got {text!r}, which is not a valid {kind}") from None
    return parse


def build_parser() -> argparse.ArgumentParser:
    from dpe.segmentation import SEG_PROFILES, SegConfig

    parser = _OneLineParser(prog="python -m dpe", description="Active learning with Deep Probabilistic Ensembles")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    run = commands.add_parser("run", help="run (or resume) one active-learning run and print its record's path")
    _common_options(run, PROFILES, "folder holding the dataset files")
    run.add_argument("--engine", default="auto", choices=ENGINES,
                     help="how to compute: fast (default; bf16 on a GPU) or plain (float32 reference); see dpe.engine")
    run.add_argument("--compile", action="store_true", help="torch.compile the training forward pass (fast engine)")
    _add_fields(run, RunConfig)
    seg = commands.add_parser("segment", help="run (or resume) one active segmentation run and print its record's path")
    _common_options(seg, SEG_PROFILES, "Fashion-MNIST for the scenes, or the BDD100k / Cityscapes folder")
    _add_fields(seg, SegConfig)
    return parser


def _common_options(parser: argparse.ArgumentParser, profiles: dict, data_help: str) -> None:
    parser.add_argument("--profile", default="quick", help=f"defaults: one of {list(profiles)} (default quick)")
    parser.add_argument("--results", default="results/runs-cli", help="results folder; the record goes to RESULTS/runs/")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--data-root", default=None, help=data_help)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_fields(parser: argparse.ArgumentParser, config_class) -> None:
    """One option per field of ``config_class`` (a dataclass), parsed by the field's type."""
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        if f.name == "extra":
            continue
        option = "--" + f.name.replace("_", "-")
        parser.add_argument(option, dest=f.name, type=_typed(hints[f.name], option[2:]), default=None,
                            help=f"(default: the profile's, else {f.default!r})")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    segment = args.command == "segment"
    try:
        device = resolve_device(args.device)
        _check_results(args.results)
        if segment:  # imported late: keeps --help fast
            from dpe.segmentation import SegConfig, make_seg_config, run

            config = make_seg_config(args.profile, **_overrides(args, SegConfig))
            engine = "auto"
        else:
            from dpe.active import run

            config = make_config(args.profile, **_overrides(args, RunConfig))
            engine = make_engine(device, args.engine, compile=args.compile)
        path = run(config, args.results, device=device, data_root=args.data_root, progress=not args.no_progress,
                   engine=engine)
    except (ConfigError, DataNotFound, FloatingPointError, RecordMismatch) as error:  # anything else is a bug: keep its traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, a folder that vanished: the record keeps its last finished round
        print(f"error: cannot write under {args.results}: {error.strerror or error}; "
              "free space or choose another --results, then run again to resume", file=sys.stderr)
        return 2
    rounds = read_record(path)["rounds"]
    if rounds and all(r.get("diverged") for r in rounds):
        print(f"error: every round of {path} diverged (training cross-entropy above twice a uniform guess); "
              f"{divergence_advice(config)}, then delete the record and run again", file=sys.stderr)
        return 2
    print(path)
    return 0


def _overrides(args, config_class) -> dict:
    """The fields of ``config_class`` given on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)
            if f.name != "extra" and getattr(args, f.name) is not None}


def _check_results(results: str) -> None:
    """Fail now, in one line, if the records cannot be written under ``results``."""
    folder = Path(results) / "runs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ConfigError(f"results={results!r} is invalid: cannot write records under it ({error.strerror}); "
                          "choose a writable folder") from None
