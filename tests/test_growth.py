"""The growth chapter's upper-bound check: its runs in the grid, and its reading against hand-worked intervals."""

import dataclasses

import pandas as pd
import pytest

from dpe.errors import ConfigError
from dpe.study import grids, growth


def test_the_growth_grid_trains_each_upper_bound_again_twice_as_long():
    grid = grids.growth_grid("quick", "fashion-mnist", 3)
    upper = [c for label, c in grid if label == "Upper bound"]
    doubled = [c for label, c in grid if label == "Upper bound | x2"]
    assert len(grid) == 18 and [c.trial for c in doubled] == [0, 1, 2]
    for short, long in zip(upper, doubled):  # quick: 50 epochs and a floor of 500 steps a round
        assert (long.max_epochs, long.min_steps) == (100, 1000) == (2 * short.max_epochs, 2 * short.min_steps)
        assert dataclasses.replace(long, max_epochs=short.max_epochs, min_steps=short.min_steps) == short
    assert [label for label, _ in grids.growth_grid("quick", "fashion-mnist", 3, upper_check_trials=0)].count("Upper bound | x2") == 0
    assert [c.trial for label, c in grids.growth_grid("quick", "fashion-mnist", 3, upper_check_trials=1)
            if label == "Upper bound | x2"] == [0]
    with pytest.raises(ConfigError, match="upper_check_trials=-1 is invalid"):
        grids.growth_grid("quick", "fashion-mnist", 3, upper_check_trials=-1)
    with pytest.raises(ConfigError, match="size_trials=0 is invalid"):  # the ensembles chapter's like parameter
        grids.ensembles_grid("quick", "fashion-mnist", 3, [2], [], size_trials=0)


def _bounds(short, long):
    """The upper bound's accuracy per trial at the profile's length (500 steps) and twice it (1000),
    beside a Linear-8 run the check must ignore."""
    rows = [{"label": "Upper bound", "trial": t, "labeled": 2000, "accuracy": a, "steps": 500} for t, a in enumerate(short)]
    rows += [{"label": "Upper bound | x2", "trial": t, "labeled": 2000, "accuracy": a, "steps": 1000} for t, a in enumerate(long)]
    rows += [{"label": "Linear-8", "trial": 0, "labeled": 800, "accuracy": 0.88, "steps": 500}]
    return pd.DataFrame(rows).assign(machine="Intel", engine="fast", dtype="float32")


def test_upper_check_reads_the_paired_change_and_says_what_it_means_for_the_shares():
    # changes +0.5, +0.4, +0.7 points: mean 0.5333, sd 0.15275, half-width t(.975, 2) = 4.302653 x sd / sqrt 3 = 0.37946
    rounds = _bounds([0.870, 0.880, 0.875], [0.875, 0.884, 0.882])
    assert list(growth.schedules(rounds)["label"]) == ["Linear-8"]
    table = growth.upper_check(rounds, 3)
    assert len(table) == 1 and table.iloc[0]["change"] == pytest.approx(0.016 / 3)
    assert (table.iloc[0]["ci_low"], table.iloc[0]["ci_high"]) == (pytest.approx(0.0015387, abs=1e-6), pytest.approx(0.0091279, abs=1e-6))
    text = growth.upper_check_text(table, 3)
    assert text.startswith("Trained twice as long (1000 steps instead of 500), the upper bound's test accuracy moves by "
                           "+0.53 points (95 % CI [+0.15, +0.91] over 3 paired trials): the interval lies within ±1 point")
    assert text.endswith("read against a converged upper bound.")

    more = growth.upper_check_text(growth.upper_check(_bounds([0.85, 0.86, 0.87], [0.87, 0.885, 0.90]), 3), 3)
    assert "beyond ±1 point; more training raises it, so **the shares above overstate" in more
    less = growth.upper_check_text(growth.upper_check(_bounds([0.87, 0.885, 0.90], [0.85, 0.86, 0.87]), 3), 3)
    assert "more training lowers it, so **the shares above understate" in less
    # changes +0.5, +1.5, -0.2 points: the interval crosses +1 point
    open_cell = growth.upper_check_text(growth.upper_check(_bounds([0.870, 0.880, 0.875], [0.875, 0.895, 0.873]), 3), 3)
    assert "crosses the ±1 point edge" in open_cell and open_cell.endswith("**the shares above are provisional.**")


def test_an_upper_bound_not_yet_doubled_is_said_to_be_unchecked():
    unchecked = "**the shares above rest on an unchecked upper bound.**"
    two = growth.upper_check_text(growth.upper_check(_bounds([0.87, 0.88, 0.875], [0.875, 0.884]), 3), 3)
    assert two == ("Trained twice as long (1000 steps instead of 500), the upper bound's test accuracy moves by +0.45 points "
                   f"over 2 paired trials: the check reads 3, so {unchecked}")
    none = growth.upper_check(_bounds([0.87, 0.88, 0.875], []), 3)
    assert none.empty and growth.upper_check_text(none, 3) == f"No run of the upper bound trained twice as long has finished yet: {unchecked}"
    assert growth.upper_check_text(none, 0).startswith("This profile does not check the upper bound's training")
    apart = _bounds([0.87, 0.88, 0.875], [0.875, 0.884, 0.88]).assign(
        numerics=lambda r: ["fast bf16" if label.endswith("x2") else "fast float32" for label in r["label"]])
    assert growth.upper_check_text(growth.upper_check(apart, 3), 3) == (
        "The upper bound trained twice as long has finished, but none of its 3 trial(s) pairs: each ran on another "
        f"machine or dtype than its run at the profile's length, so {unchecked}")
