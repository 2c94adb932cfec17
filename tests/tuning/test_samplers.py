"""Sampler registry: classes, runs on a compiled space, per-slot seeding, option errors."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from service.errors import SpecError, UnknownNameError
from service.spaces import SearchSpace, compile_space
from service.tuning import SAMPLERS, build_sampler, parse_sampler_options
from service.tuning._guarded import SignalGuardedSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = compile_space({"params": {
    "cell": {"type": "categorical", "choices": ["lstm", "gru"]},
    "num_layers": {"type": "int", "low": 1, "high": 3},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "when": {"num_layers": {"gt": 1}}},
    "hidden_size": {"type": "int", "low": 16, "high": 256, "log": True},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "batch_size": 64,
}})

GRID_SPACE = compile_space({"params": {
    "cell": {"type": "categorical", "choices": ["lstm", "gru"]},
    "num_layers": {"type": "int", "low": 1, "high": 3},
    "dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
    "batch_size": 64,
}})

EXPECTED_CLASS = {
    "tpe": SignalGuardedSampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "grid": optuna.samplers.GridSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,
}

# Small start-up counts so that the model-based samplers really use their models in a few trials.
FAST_OPTIONS: dict[str, dict[str, Any]] = {
    "tpe": {"n_startup_trials": 2},
    "cmaes": {"n_startup_trials": 1},
    "gp": {"n_startup_trials": 3},
    "nsgaii": {"population_size": 2},
}


def _space_for(name: str) -> SearchSpace:
    return GRID_SPACE if name == "grid" else SPACE


def _objective(space: SearchSpace) -> Any:
    def objective(trial: optuna.Trial) -> float:
        values = space.suggest(trial)
        return float(values.get("lr", values.get("dropout", 0.0))) + values["num_layers"]

    return objective


def test_registry_is_complete() -> None:
    assert set(SAMPLERS) == set(EXPECTED_CLASS)


@pytest.mark.parametrize("name", sorted(EXPECTED_CLASS))
def test_build_sampler_class(name: str) -> None:
    sampler = build_sampler(name, {}, seed=0, slot=0, space=_space_for(name))
    assert type(sampler) is EXPECTED_CLASS[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_CLASS))
def test_sampler_runs_a_study(name: str) -> None:
    space = _space_for(name)
    sampler = build_sampler(name, FAST_OPTIONS.get(name, {}), seed=0, slot=0, space=space)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_objective(space), n_trials=5)
    trials = study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 5
    for trial in trials:
        assert set(trial.params) <= set(space.names)
        # The grid space searches dropout unconditionally; the other one only when stacked.
        expects_dropout = name == "grid" or trial.params["num_layers"] > 1
        assert ("dropout" in trial.params) == expects_dropout
        if "lr" in trial.params:
            assert 1e-4 <= trial.params["lr"] <= 1e-1


def test_grid_sampler_visits_distinct_points_and_stops() -> None:
    grid = GRID_SPACE.grid()
    size = GRID_SPACE.grid_size(grid)
    assert size == 2 * 3 * 4
    study = optuna.create_study(
        sampler=build_sampler("grid", {}, seed=3, slot=0, space=GRID_SPACE)
    )
    study.optimize(_objective(GRID_SPACE), n_trials=size + 5)  # stops once the grid is walked
    points = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(points) == size
    assert len(set(points)) == size
    for params in (t.params for t in study.trials):
        for key, value in params.items():
            assert any(value == pytest.approx(point) for point in grid[key]), (key, value)


def _first_suggestions(name: str, *, seed: int | None, slot: int, n: int = 3) -> list[Any]:
    """Run ``n`` trials in a fresh study, one sampler per slot as the workers do."""
    space = _space_for(name)
    study = optuna.create_study(sampler=build_sampler(name, {}, seed=seed, slot=slot, space=space))
    out = []
    for i in range(n):
        study.sampler = build_sampler(name, {}, seed=seed, slot=slot + i, space=space)
        trial = study.ask()
        values = space.suggest(trial)
        study.tell(trial, _objective(space)(optuna.trial.FixedTrial(values)))
        out.append(values)
    return out


@pytest.mark.parametrize("name", ["random", "tpe", "cmaes", "nsgaii", "qmc", "grid"])
def test_same_seed_and_slot_repeat(name: str) -> None:
    assert _first_suggestions(name, seed=7, slot=4) == _first_suggestions(name, seed=7, slot=4)


@pytest.mark.parametrize("name", ["random", "tpe"])
def test_different_slots_draw_different_configs(name: str) -> None:
    # Two workers that start at once on the same study must not draw the same configuration.
    slot0 = _first_suggestions(name, seed=7, slot=0, n=1)[0]
    slot1 = _first_suggestions(name, seed=7, slot=1, n=1)[0]
    assert slot0["lr"] != slot1["lr"]
    assert slot0["hidden_size"] != slot1["hidden_size"] or slot0["cell"] != slot1["cell"]


def test_different_seeds_differ() -> None:
    a = _first_suggestions("random", seed=1, slot=0, n=1)[0]
    b = _first_suggestions("random", seed=2, slot=0, n=1)[0]
    assert a["lr"] != b["lr"]


@pytest.mark.parametrize("name", ["qmc", "grid"])
def test_shared_sequence_samplers_ignore_the_slot(name: str) -> None:
    # QMC and grid walk one sequence for the whole study: every worker must use the same seed.
    assert _first_suggestions(name, seed=7, slot=0, n=4) == _first_suggestions(
        name, seed=7, slot=11, n=4
    )


def test_shared_sequence_samplers_still_follow_the_seed() -> None:
    a = _first_suggestions("qmc", seed=1, slot=0, n=2)
    b = _first_suggestions("qmc", seed=2, slot=0, n=2)
    assert a != b


def test_unknown_sampler_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        build_sampler("bayes", {}, seed=0, slot=0, space=SPACE)
    error = info.value
    assert error.loc == ("sampler", "name")
    assert "bayes" in error.message
    for name in SAMPLERS:
        assert name in error.message
    with pytest.raises(UnknownNameError):
        parse_sampler_options("bayes", {})


def test_unknown_option_lists_allowed_options() -> None:
    with pytest.raises(SpecError) as info:
        build_sampler("tpe", {"n_startup": 3}, seed=0, slot=0, space=SPACE)
    error = info.value
    assert not isinstance(error, UnknownNameError)
    assert error.loc == ("sampler", "n_startup")
    for option in ("n_startup_trials", "n_ei_candidates", "multivariate", "constant_liar"):
        assert option in error.message


def test_sampler_without_options_rejects_any_option() -> None:
    with pytest.raises(SpecError) as info:
        parse_sampler_options("random", {"n_startup_trials": 3})
    assert info.value.loc == ("sampler", "n_startup_trials")
    assert "none" in info.value.message


@pytest.mark.parametrize(
    ("name", "options", "loc", "word"),
    [
        ("tpe", {"n_startup_trials": -1}, ("sampler", "n_startup_trials"), "-1"),
        ("tpe", {"n_ei_candidates": 0}, ("sampler", "n_ei_candidates"), "0"),
        ("tpe", {"random_fraction": 1}, ("sampler", "random_fraction"), "1"),
        ("cmaes", {"sigma0": 0}, ("sampler", "sigma0"), "0"),
        ("qmc", {"qmc_type": "lhs"}, ("sampler", "qmc_type"), "lhs"),
        ("nsgaii", {"population_size": 1}, ("sampler", "population_size"), "1"),
        ("nsgaii", {"crossover_prob": 1.5}, ("sampler", "crossover_prob"), "1.5"),
    ],
)
def test_bad_option_values(
    name: str, options: dict[str, Any], loc: tuple[str, ...], word: str
) -> None:
    with pytest.raises(SpecError) as info:
        build_sampler(name, options, seed=0, slot=0, space=SPACE)
    assert info.value.loc == loc
    assert word in info.value.message
    with pytest.raises(SpecError):
        parse_sampler_options(name, options)


def test_several_bad_options_are_all_reported() -> None:
    with pytest.raises(SpecError) as info:
        parse_sampler_options("tpe", {"n_startup_trials": -1, "n_ei_candidates": 0, "x": 1})
    locs = {loc for loc, _ in info.value.details}
    assert locs == {
        ("sampler", "n_startup_trials"), ("sampler", "n_ei_candidates"), ("sampler", "x")
    }


def test_options_reach_the_sampler() -> None:
    options = parse_sampler_options("tpe", {"n_startup_trials": 3, "multivariate": False})
    assert options.n_startup_trials == 3  # type: ignore[attr-defined]
    sampler = build_sampler("tpe", {"n_startup_trials": 3}, seed=0, slot=0, space=SPACE)
    assert isinstance(sampler, SignalGuardedSampler)
    assert sampler.model._n_startup_trials == 3  # type: ignore[attr-defined]
    plain = build_sampler("tpe", {"explore_without_signal": False, "random_fraction": 0},
                          seed=0, slot=0, space=SPACE)
    assert type(plain) is optuna.samplers.TPESampler
    interleaving = build_sampler("tpe", {"explore_without_signal": False}, seed=0, slot=0,
                                 space=SPACE)
    assert isinstance(interleaving, SignalGuardedSampler)
    assert not interleaving.guard and interleaving.random_fraction == pytest.approx(1 / 3)


def test_grid_sampler_needs_a_gridable_space() -> None:
    with pytest.raises(SpecError) as info:
        build_sampler("grid", {}, seed=0, slot=0, space=SPACE)
    assert info.value.loc == ("search_space", "params", "dropout", "step")


# --- tpe: exploring while the finished trials carry no signal -------------------------------

PLATEAU_SPACE = compile_space({"params": {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "cell": {"type": "categorical", "choices": ["rnn", "lstm", "gru"]},
}})


def _study_with(values: list[float]) -> optuna.Study:
    """Finished trials with ``values``; the best ones all in one corner (low lr, rnn)."""
    study = optuna.create_study(direction="minimize")
    for i, value in enumerate(sorted(values)):
        lr = 1e-4 * (1.1 ** i)
        study.add_trial(optuna.trial.create_trial(
            params={"lr": lr, "cell": "rnn"},
            distributions={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
                           "cell": optuna.distributions.CategoricalDistribution(
                               ["rnn", "lstm", "gru"])},
            value=value))
    return study


def _next_draw(study: optuna.Study, sampler: optuna.samplers.BaseSampler) -> dict[str, Any]:
    study.sampler = sampler
    trial = study.ask()
    values = PLATEAU_SPACE.suggest(trial)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return values


MODEL_ONLY = {"explore_without_signal": False, "random_fraction": 0}


def _draws(values: list[float], options: dict[str, Any], n: int = 6) -> list[dict[str, Any]]:
    study = _study_with(values)
    return [_next_draw(study, build_sampler("tpe", options, seed=5, slot=i, space=PLATEAU_SPACE))
            for i in range(n)]


def _random_draws(values: list[float], n: int = 6) -> list[dict[str, Any]]:
    study = _study_with(values)
    out = []
    for i in range(n):
        seed = (5 * 1_000_003 + i) % (2**31 - 1)  # the per-slot seed build_sampler derives
        out.append(_next_draw(study, optuna.samplers.RandomSampler(seed=seed)))
    return out


ON_A_PLATEAU = [0.1667 + 0.0001 * (i % 5) for i in range(12)]  # noise only
BROKE_AWAY = [0.01, 0.02, *ON_A_PLATEAU[2:]]


def test_tpe_draws_at_random_while_every_trial_sits_on_a_plateau() -> None:
    options = {"n_startup_trials": 2}
    assert _draws(ON_A_PLATEAU, options) == _random_draws(ON_A_PLATEAU)
    # Without the guard, TPE models the noise: its draws are not the random ones.
    unguarded = _draws(ON_A_PLATEAU, {**options, **MODEL_ONLY})
    assert unguarded != _random_draws(ON_A_PLATEAU)


def test_tpe_uses_its_model_once_a_trial_stands_out() -> None:
    options = {"n_startup_trials": 2, "random_fraction": 0}
    assert _draws(BROKE_AWAY, options) == _draws(BROKE_AWAY, {**options, **MODEL_ONLY})
    assert _draws(BROKE_AWAY, options) != _random_draws(BROKE_AWAY)


def test_tpe_interleaves_random_draws_with_its_model() -> None:
    n = 45
    default = _draws(BROKE_AWAY, {"n_startup_trials": 2}, n=n)
    model = _draws(BROKE_AWAY, {"n_startup_trials": 2, **MODEL_ONLY}, n=n)
    at_random = _random_draws(BROKE_AWAY, n=n)
    from_model = [i for i in range(n) if default[i] == model[i] != at_random[i]]
    interleaved = [i for i in range(n) if default[i] == at_random[i] != model[i]]
    assert len(from_model) + len(interleaved) == n  # every draw is one or the other
    # A third by default: 15 expected of 45; the coin flips are fixed by the seed.
    assert 8 <= len(interleaved) <= 22
    # Which trials are interleaved is fixed by each trial's seed, not by the study: on a
    # plateau with the guard off, the same trials are drawn at random.
    plateau = _draws(ON_A_PLATEAU, {"n_startup_trials": 2, "explore_without_signal": False},
                     n=n)
    plateau_model = _draws(ON_A_PLATEAU, {"n_startup_trials": 2, **MODEL_ONLY}, n=n)
    assert plateau == [at_random[i] if i in interleaved else plateau_model[i] for i in range(n)]


def test_signal_counts_a_pruned_trials_best_report() -> None:
    study = _study_with(ON_A_PLATEAU)
    sampler = build_sampler("tpe", {}, seed=0, slot=0, space=PLATEAU_SPACE)
    assert isinstance(sampler, SignalGuardedSampler)
    assert not sampler.signal(study)
    trial = study.ask()
    trial.report(0.1667, 1)
    trial.report(0.005, 2)  # broke away, then was stopped
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    assert sampler.signal(study)


def test_min_improvement_sets_what_counts_as_signal() -> None:
    values = [0.9, *[1.0] * 9]  # the best is 10% below the median
    study = _study_with(values)
    strict = build_sampler("tpe", {"min_improvement": 0.05}, seed=0, slot=0, space=PLATEAU_SPACE)
    loose = build_sampler("tpe", {"min_improvement": 0.2}, seed=0, slot=0, space=PLATEAU_SPACE)
    assert isinstance(strict, SignalGuardedSampler) and isinstance(loose, SignalGuardedSampler)
    assert strict.signal(study) and not loose.signal(study)
