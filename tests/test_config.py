"""Run configs (``dpe.config``) without running anything: growth schedules by hand, every check at
its boundary (the last good value passes, the first bad one fails with its message), the hash."""

import dataclasses

import pytest

from dpe.config import (
    LATE_FIELDS, RunConfig, build, check_class_weights, check_sizes, growth_sizes, make_config, validate,
)
from dpe.errors import ConfigError
from dpe.profiles import PROFILES


@pytest.mark.parametrize("schedule, initial, step, budget, sizes, expected", [
    ("linear", 2, 3, 11, None, [2, 5, 8, 11]),
    ("linear", 2, 3, 10, None, [2, 5, 8, 10]),  # the last step is cut at the budget
    ("exponential", 2, 3, 40, None, [2, 5, 11, 23, 40]),  # b = 3, 6, 12, then cut at 40
    ("exponential", 5, 5, 5, None, [5]),  # initial = budget: one round
    ("sizes", 2, 3, 40, (4, 9), [4, 9]),  # explicit sizes ignore initial, step and budget
])
def test_growth_schedules_by_hand(schedule, initial, step, budget, sizes, expected):
    assert growth_sizes(schedule, initial, step, budget, sizes) == expected


def smoke(**overrides) -> RunConfig:
    return dataclasses.replace(make_config("smoke"), **overrides)


@pytest.mark.parametrize("good, bad, message", [
    (dict(initial=1), dict(initial=0), 'initial=0 is invalid: must be a positive integer'),
    (dict(step=1), dict(step=0), 'step=0 is invalid: must be a positive integer'),
    (dict(batch_size=1), dict(batch_size=0), 'batch_size=0 is invalid: must be a positive integer'),
    (dict(max_epochs=1), dict(max_epochs=0), 'max_epochs=0 is invalid: must be a positive integer'),
    (dict(width=1), dict(width=0), 'width=0 is invalid: must be a positive integer'),
    (dict(min_steps=0), dict(min_steps=-1), 'min_steps=-1 is invalid: must be zero or positive'),
    (dict(trial=0), dict(trial=-1), 'trial=-1 is invalid: must be zero or positive'),
    (dict(beta=0.0), dict(beta=-1e-9), 'beta=-1e-09 is invalid: must be zero or positive'),
    (dict(lr=0.0), dict(lr=-0.1), 'lr=-0.1 is invalid: must be zero or positive'),
    (dict(val_size=0), dict(val_size=-1), 'val_size=-1 is invalid: must be zero or positive'),
    (dict(patience=0), dict(patience=-1), 'patience=-1 is invalid: must be zero or positive'),
    (dict(dropout=0.99), dict(dropout=1.0), 'dropout=1.0 is invalid: must be in [0, 1)'),
    (dict(dropout=0.0), dict(dropout=-0.1), 'dropout=-0.1 is invalid: must be in [0, 1)'),
    (dict(members=2), dict(members=1), "members=1 is invalid: model 'dpe' is an ensemble: use --members 2 or more"),
    (dict(pool_size=80), dict(pool_size=79), 'budget=80 is invalid: must not exceed the pool of 79 images'),
    (dict(pool_size=1, budget=1, initial=1), dict(pool_size=0, budget=1, initial=1), 'pool_size=0 is invalid: must be positive (or None for all)'),
    (dict(initial=80), dict(initial=81), 'initial=81 is invalid: must not exceed budget=80'),
    (dict(schedule="sizes", sizes=(1, 2)), dict(schedule="sizes", sizes=(2, 2)), 'sizes=(2, 2) is invalid: give strictly increasing positive labelled-image counts'),
    (dict(schedule="sizes", sizes=(1,)), dict(schedule="sizes", sizes=(0, 2)), 'sizes=(0, 2) is invalid: give strictly increasing positive labelled-image counts'),
    (dict(schedule="sizes", sizes=(5,)), dict(schedule="sizes", sizes=()), 'sizes=() is invalid: give strictly increasing positive labelled-image counts'),
    (dict(acquisition="coreset"), dict(acquisition="BALD"), "acquisition='BALD' is invalid: choose one of ['R', 'H_ens', 'H_cat', 'MI', 'V', 'VR', 'V_w', 'margin', 'LC', 'coreset', 'BADGE', 'TypiClust']"),
    (dict(acquisition="V_w", class_weights=(1.0,)), dict(acquisition="V_w"), 'class_weights=None is invalid: V_w needs one weight per class (--class-weights 0,0,1,...)'),
    (dict(protocol="paper"), dict(protocol="slow"), "protocol='slow' is invalid: choose one of ['paper', 'fast']"),
    (dict(schedule="linear"), dict(schedule="cubic"), "schedule='cubic' is invalid: choose one of ['linear', 'exponential', 'sizes']"),
    (dict(dataset="cifar10"), dict(dataset="mnist"), "dataset='mnist' is invalid: choose one of ['fashion-mnist', 'cifar10', 'cifar100', 'imagenet']"),
    (dict(arch="resnet18"), dict(arch="vgg"), "arch='vgg' is invalid: choose one of ['preact-resnet18', 'resnet18']"),
    (dict(dropout=0.1), dict(arch="resnet18", dropout=0.1), 'dropout=0.1 is invalid: dropout is built into preact-resnet18 only (--arch preact-resnet18)'),
])
def test_each_check_passes_its_last_good_value_and_fails_its_first_bad_one(good, bad, message):
    validate(smoke(**good))
    with pytest.raises(ConfigError) as error:
        validate(smoke(**bad))
    assert str(error.value) == message  # the whole message: the setting, its value and the fix


@pytest.mark.parametrize("good, bad, message", [
    (dict(mc_samples=2), dict(mc_samples=1), "mc_samples=1 is invalid: MC dropout needs at least 2"),
    (dict(dropout=0.01), dict(dropout=0.0), "dropout=0.0 is invalid: MC dropout needs a dropout rate above 0"),
    (dict(members=1), dict(members=2), "members=2 is invalid: model 'mc-dropout' is a single network"),
])
def test_mc_dropout_checks(good, bad, message):
    validate(smoke(model="mc-dropout", **{"members": 1, "dropout": 0.25, **good}))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        validate(smoke(model="mc-dropout", **{"members": 1, "dropout": 0.25, **bad}))


def test_a_pool_known_only_at_load_time_bounds_the_budget():
    config = smoke(pool_size=None)
    validate(config, pool_available=80)
    with pytest.raises(ConfigError, match="must not exceed the pool of 79 images"):
        validate(config, pool_available=79)
    validate(config)  # nothing known: nothing to check


def test_sizes_check_names_the_unit():
    with pytest.raises(ConfigError, match="labelled-crop counts"):
        check_sizes(smoke(schedule="sizes", sizes=(3, 1)), unit="crops")


def test_class_weights_must_match_the_classes():
    check_class_weights(smoke(class_weights=(0.0, 1.0)), ["a", "b"])
    check_class_weights(smoke(), ["a", "b"])  # none given: nothing to check
    with pytest.raises(ConfigError, match=r"^class_weights=\(0.0, 1.0\) is invalid: give one weight per class: 3 \(a, b, c\)$"):
        check_class_weights(smoke(class_weights=(0.0, 1.0)), ["a", "b", "c"])


def test_make_config_defaults_by_model_and_explicit_values_win():
    assert make_config("smoke", model="deterministic").members == 1
    mc = make_config("smoke", model="mc-dropout")
    assert (mc.members, mc.dropout) == (1, 0.25)
    assert make_config("smoke", model="mc-dropout", dropout=0.1).dropout == 0.1
    assert make_config("smoke").members == PROFILES["smoke"]["members"]
    assert make_config("smoke", members=5).members == 5
    with pytest.raises(ConfigError, match="members=3 is invalid"):
        make_config("smoke", model="deterministic", members=3)


def test_build_coerces_lists_and_refuses_unknown_settings_and_profiles():
    config = build(RunConfig, PROFILES, "smoke", dict(sizes=[1, 2], class_weights=[0, 1]))
    assert config.sizes == (1, 2) and config.class_weights == (0, 1)
    assert config.width == PROFILES["smoke"]["width"]
    assert build(RunConfig, PROFILES, "smoke", dict(width=7), dict(width=5)).width == 7  # override > default
    assert build(RunConfig, PROFILES, "smoke", {}, dict(width=5)).width == 5  # default > profile
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['widht'\]"):
        build(RunConfig, PROFILES, "smoke", dict(widht=7))
    with pytest.raises(ConfigError, match="profile='huge' is invalid"):
        build(RunConfig, PROFILES, "huge", {})


def test_the_hash_sees_every_field_but_extra_and_late_fields_at_their_defaults():
    base = make_config("smoke")
    assert len(base.hash()) == 16 and base.hash() == make_config("smoke").hash()
    assert dataclasses.replace(base, extra={"note": 1}).hash() == base.hash()
    for name in LATE_FIELDS:
        assert name not in base.to_dict()
    assert "strong_augment" in dataclasses.replace(base, strong_augment=True).to_dict()
    changed = {f.name: dataclasses.replace(base, **{f.name: _other(getattr(base, f.name))}).hash()
               for f in dataclasses.fields(base) if f.name != "extra"}
    assert base.hash() not in changed.values() and len(set(changed.values())) == len(changed)


def _other(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return (1,) if value is None else None


def test_the_default_profile_is_quick_and_an_unknown_one_lists_the_choices():
    assert make_config() == make_config("quick")
    with pytest.raises(ConfigError) as error:
        make_config("fast")
    assert str(error.value) == f"profile='fast' is invalid: choose one of {list(PROFILES)}"


def test_schedule_all_has_no_initial_set_to_check_against_the_budget():
    check_sizes(smoke(schedule="all", initial=100, budget=80), unit="crops")  # one round on the whole pool
    with pytest.raises(ConfigError, match=r"^initial=100 is invalid: must not exceed budget=80"):
        check_sizes(smoke(schedule="linear", initial=100, budget=80), unit="crops")


def test_paper_cpu_is_the_papers_schedule_on_the_whole_fashion_mnist_split():
    from dpe.study.grids import pool_count

    config = make_config("paper-cpu")
    assert (config.dataset, config.width, config.members, config.protocol) == ("fashion-mnist", 8, 4, "fast")
    assert pool_count(config) == 60000 - 5000 and config.test_size is None  # the whole split less validation; all 10k test images
    assert config.labeled_sizes() == [2000, 4000, 8000, 16000]  # 2k random, then Exponential-4
