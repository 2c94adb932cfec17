"""Pruner registry: classes, behaviour in a real in-memory study, option errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest

from service.errors import SpecError, UnknownNameError
from service.tuning import PRUNERS, build_pruner, parse_pruner_options
from service.tuning._plateau_asha import PlateauAwareASHAPruner

optuna.logging.set_verbosity(optuna.logging.WARNING)

EXPECTED_CLASS: dict[str, tuple[dict[str, Any], type[optuna.pruners.BasePruner]]] = {
    "median": ({}, optuna.pruners.MedianPruner),
    "percentile": ({"percentile": 10.0}, optuna.pruners.PercentilePruner),
    "successive_halving": ({}, optuna.pruners.SuccessiveHalvingPruner),
    "hyperband": ({}, optuna.pruners.HyperbandPruner),
    "threshold": ({"upper": 1.0}, optuna.pruners.ThresholdPruner),
    "patient": ({}, optuna.pruners.PatientPruner),
    "wilcoxon": ({}, optuna.pruners.WilcoxonPruner),
    "none": ({}, optuna.pruners.NopPruner),
    "plateau_asha": ({}, PlateauAwareASHAPruner),
}


def test_registry_is_complete() -> None:
    assert set(PRUNERS) == set(EXPECTED_CLASS)


@pytest.mark.parametrize("name", sorted(EXPECTED_CLASS))
def test_build_pruner_class(name: str) -> None:
    options, cls = EXPECTED_CLASS[name]
    assert type(build_pruner(name, options, max_epochs=10)) is cls


def test_median_options_reach_the_pruner() -> None:
    pruner = build_pruner("median", {"n_startup_trials": 2, "n_warmup_steps": 4}, max_epochs=10)
    assert pruner._n_startup_trials == 2  # type: ignore[attr-defined]


def test_hyperband_max_resource_defaults_to_max_epochs() -> None:
    pruner = build_pruner("hyperband", {"min_resource": 2}, max_epochs=27)
    assert pruner._min_resource == 2  # type: ignore[attr-defined]
    assert pruner._max_resource == 27  # type: ignore[attr-defined]
    explicit = build_pruner("hyperband", {"max_resource": 9}, max_epochs=27)
    assert explicit._max_resource == 9  # type: ignore[attr-defined]


def test_patient_wrapping_median() -> None:
    pruner = build_pruner(
        "patient",
        {"patience": 2, "wrapped": {"name": "median", "n_startup_trials": 1}},
        max_epochs=10,
    )
    assert isinstance(pruner, optuna.pruners.PatientPruner)
    assert pruner._patience == 2  # type: ignore[attr-defined]
    inner = pruner._wrapped_pruner  # type: ignore[attr-defined]
    assert isinstance(inner, optuna.pruners.MedianPruner)
    assert inner._n_startup_trials == 1
    alone = build_pruner("patient", {}, max_epochs=10)
    assert alone._wrapped_pruner is None  # type: ignore[attr-defined]


# --- behaviour in a study ------------------------------------------------------------------


def _study(pruner: optuna.pruners.BasePruner) -> optuna.Study:
    return optuna.create_study(direction="minimize", pruner=pruner)


def _complete(study: optuna.Study, curve: list[float]) -> None:
    trial = study.ask()
    for epoch, value in enumerate(curve, start=1):
        trial.report(value, epoch)
    study.tell(trial, curve[-1])


def _pruned_at(study: optuna.Study, curve: list[float]) -> int | None:
    """Report ``curve`` epoch by epoch; the epoch at which the pruner stops it, or None."""
    trial = study.ask()
    for epoch, value in enumerate(curve, start=1):
        trial.report(value, epoch)
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return epoch
    study.tell(trial, curve[-1])
    return None


def test_median_prunes_a_clearly_worse_curve() -> None:
    pruner = build_pruner("median", {"n_startup_trials": 1, "n_warmup_steps": 0}, max_epochs=5)
    study = _study(pruner)
    _complete(study, [1.0, 0.8, 0.6, 0.5, 0.4])
    assert _pruned_at(study, [0.9, 0.7, 0.5, 0.4, 0.3]) is None  # better: kept
    assert _pruned_at(study, [5.0, 5.0, 5.0, 5.0, 5.0]) == 1


def test_median_waits_for_startup_trials_and_warmup() -> None:
    study = _study(build_pruner("median", {"n_startup_trials": 2, "n_warmup_steps": 0},
                                max_epochs=5))
    _complete(study, [1.0, 0.8, 0.6])
    assert _pruned_at(study, [5.0, 5.0, 5.0]) is None  # only one complete trial so far
    warm = _study(build_pruner("median", {"n_startup_trials": 1, "n_warmup_steps": 2},
                               max_epochs=5))
    _complete(warm, [1.0, 0.8, 0.6, 0.5])
    assert _pruned_at(warm, [5.0, 5.0, 5.0, 5.0]) == 3  # epochs 1 and 2 are warm-up


def test_threshold_prunes_above_upper() -> None:
    study = _study(build_pruner("threshold", {"upper": 1.0}, max_epochs=5))
    assert _pruned_at(study, [0.9, 0.8, 0.7]) is None
    assert _pruned_at(study, [0.9, 1.5, 0.7]) == 2


@pytest.mark.parametrize("name", ["median", "percentile", "threshold"])
@pytest.mark.parametrize("warmup", [0, 1, 3])
def test_warmup_epochs_are_never_pruned(name: str, warmup: int) -> None:
    # n_warmup_steps counts epochs (steps are 1-based): epochs 1..n are never judged.
    options: dict[str, Any] = {"n_warmup_steps": warmup}
    if name == "threshold":
        options["upper"] = 1.0
    else:
        options["n_startup_trials"] = 1
    study = _study(build_pruner(name, options, max_epochs=10))
    _complete(study, [0.5] * 6)
    assert _pruned_at(study, [5.0] * 6) == warmup + 1


def test_threshold_prunes_below_lower() -> None:
    study = _study(build_pruner("threshold", {"lower": 0.1}, max_epochs=5))
    assert _pruned_at(study, [0.5, 0.2]) is None
    assert _pruned_at(study, [0.5, 0.05]) == 2


def test_none_never_prunes() -> None:
    study = _study(build_pruner("none", {}, max_epochs=5))
    for _ in range(3):
        _complete(study, [0.1, 0.05, 0.01])
    assert _pruned_at(study, [1e9, float("nan"), 1e12]) is None


def test_patient_prunes_a_stalled_curve() -> None:
    study = _study(build_pruner("patient", {"patience": 1}, max_epochs=10))
    assert _pruned_at(study, [1.0, 0.9, 0.8, 0.7]) is None
    assert _pruned_at(study, [1.0, 1.1, 1.2, 1.3]) == 3


# --- plateau_asha: constructed recurrent learning curves -----------------------------------

PLATEAU = 1 / 6  # the adding problem's trivial loss: where recurrent nets sit before they learn
SOLVED = [0.03, 0.01, 0.005, 0.003, 0.002, 0.0015, 0.001, 0.001, 0.001]


def _on_plateau(jitter: float) -> list[float]:
    return [PLATEAU + jitter] * 9


def _asha(**options: Any) -> optuna.Study:
    return _study(build_pruner("plateau_asha", {"min_resource": 1, **options}, max_epochs=9))


def test_plateau_asha_rungs_follow_the_reduction_factor() -> None:
    pruner = build_pruner("plateau_asha", {"min_resource": 1, "reduction_factor": 3},
                          max_epochs=27)
    assert isinstance(pruner, PlateauAwareASHAPruner)
    assert sorted(pruner.rungs) == [1, 3, 9]  # 27 is the end of a trial, not a rung
    assert pruner.min_trials == 2
    # By default the first rung is at max_epochs / 27: at most four judgements per trial.
    long = build_pruner("plateau_asha", {}, max_epochs=100)
    assert sorted(long.rungs) == [3, 9, 27]  # type: ignore[attr-defined]
    assert sorted(build_pruner("plateau_asha", {}, max_epochs=8).rungs) == [  # type: ignore[attr-defined]
        1, 3]


def test_plateau_asha_puts_no_rung_in_the_last_third_of_training() -> None:
    # A rung there saves less than a third of the trial it stops: at 10 epochs the rung at 9
    # saved one epoch. Such a rung is left out; what the rung before keeps runs to the end.
    def rungs(max_epochs: int, **options: Any) -> list[int]:
        pruner = build_pruner("plateau_asha", {"min_resource": 1, **options},
                              max_epochs=max_epochs)
        return sorted(pruner.rungs)  # type: ignore[attr-defined]

    assert rungs(10) == [1, 3]  # 9 would leave one epoch of ten
    assert rungs(20) == [1, 3, 9]  # 9 leaves 11 of 20
    assert rungs(30) == [1, 3, 9]  # 27 would leave 3 of 30
    assert rungs(10, reduction_factor=2) == [1, 2, 4]  # 8 would leave 2 of 10 (a half needed)
    assert rungs(1) == []
    # A first rung the user sets inside that last third would leave no rung: refused.
    with pytest.raises(SpecError) as info:
        build_pruner("plateau_asha", {"min_resource": 7}, max_epochs=10)
    assert info.value.loc == ("pruner", "min_resource")
    assert "at most 6" in info.value.message
    assert rungs(10, min_resource=6) == [6]  # the latest first rung 10 epochs allow
    # A trial judged at rung 3 and kept is not stopped at epoch 9 by later, better trials.
    study = _study(build_pruner("plateau_asha", {"min_resource": 1}, max_epochs=10))
    for _ in range(3):
        _complete(study, [0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001, 0.001])
    slow = [0.5, 0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.04, 0.03, 0.0005]
    assert _pruned_at(study, slow) is None  # within 5% of the kept at rung 3; its last epoch best


def test_plateau_asha_on_a_plateau_keeps_what_moves_and_stops_what_stalls() -> None:
    # Values that differ only by noise: the rank decides nothing. The first rung keeps every
    # trial near the plateau; past it, a flat curve outside the kept third makes room for a
    # fresh configuration, while a noisy run above the plateau that is still improving (the
    # kind that breaks through) is kept.
    study = _asha()
    flat = [_pruned_at(study, _on_plateau(jitter)) for jitter in (-0.002, -0.001, 0.0, 0.001)]
    assert flat == [None, 3, 3, 3]  # the first: alone at its rungs
    assert _pruned_at(study, [0.19, 0.18, 0.17, *SOLVED[:6]]) is None  # moving: 0.18 -> 0.17
    assert _pruned_at(study, [0.19, 0.185, 0.184] + [0.184] * 6) == 3  # 0.5%: stalled
    assert _pruned_at(study, [0.4] * 9) == 1  # far above the plateau (plateau_margin)


def test_plateau_asha_keeps_the_top_of_a_plateau_going_so_a_late_break_can_come() -> None:
    # Every trial flat on one plateau: the kept third still goes on (the luckiest noise, but
    # the only way a trial gets the epochs a late break needs); the others make room.
    study = _asha()
    for _ in range(2):
        _complete(study, _on_plateau(0.0))
    assert _pruned_at(study, _on_plateau(-0.002)) is None  # best at every rung: kept, flat
    assert _pruned_at(study, _on_plateau(0.001)) == 3  # outside the kept third: stopped


def test_plateau_asha_lets_a_study_of_late_bloomers_find_one() -> None:
    # Trials that sit on the plateau for ten epochs, then half of them drop (the motif-style
    # classification where a GRU learns only after epoch 8-12). With the first rungs inside
    # the plateau, some trials must run past them, or the study ends with nothing.
    pruner = build_pruner("plateau_asha", {}, max_epochs=60)  # rungs 2, 6, 18
    study = _study(pruner)
    rng = np.random.default_rng(0)
    finished = []
    for number in range(24):
        plateau = list(1.0986 + rng.normal(0, 0.001, size=10))
        after = [0.4] * 50 if number % 2 else [1.0986] * 50
        finished.append(_pruned_at(study, plateau + after) is None)
    assert any(finished)
    assert study.best_value < 0.5  # a late bloomer got past the plateau and was kept


def test_plateau_asha_decides_with_two_trials_at_a_rung() -> None:
    # With one worker per core on two cores, the first two trials run side by side: the
    # second trial at a rung is judged against the first, not only once a third arrives.
    study = _asha()
    _complete(study, SOLVED)
    assert _pruned_at(study, _on_plateau(0.0)) == 1


def test_plateau_asha_prunes_a_dead_flat_curve_once_others_broke_away() -> None:
    study = _asha()
    for _ in range(3):
        _complete(study, SOLVED)
    assert _pruned_at(study, _on_plateau(0.0)) == 1  # the first rung has signal: stopped


def test_plateau_asha_decides_before_any_trial_finished() -> None:
    # Asynchronous: running trials that reached the rung count, finished or not.
    study = _asha()
    running = [study.ask() for _ in range(3)]
    for trial in running:
        trial.report(SOLVED[0], 1)
    assert all(t.state == optuna.trial.TrialState.RUNNING
               for t in study.get_trials(deepcopy=False))
    assert _pruned_at(study, _on_plateau(0.0)) == 1


def test_plateau_asha_judges_a_trial_again_once_others_reach_its_rung() -> None:
    # The first trial of a study passes its rungs before anyone else reaches them; it is
    # judged again at its next epochs, its best so far against the others' rung scores.
    study = _asha()
    first = study.ask()
    for epoch in range(1, 6):
        first.report(PLATEAU, epoch)
        assert not first.should_prune()  # alone at every rung
    for _ in range(3):
        _complete(study, SOLVED)
    first.report(PLATEAU, 6)
    assert first.should_prune()
    # One that has trained longer and is as good as the others were at the rung stays.
    early = study.ask()
    for epoch, value in enumerate([0.2, 0.05, 0.01, 0.005, 0.004], start=1):
        early.report(value, epoch)
    assert not early.should_prune()


def test_plateau_asha_keeps_a_plateau_that_is_breaking() -> None:
    study = _asha(min_resource=3)  # one rung, at epoch 3
    for _ in range(3):
        _complete(study, SOLVED)
    for value in (0.2, 0.25, 0.3):
        _complete(study, [value] * 9)
    # At epoch 3 far above the kept third, but it fell 60% in its last epoch.
    late_bloomer = [PLATEAU, PLATEAU, 0.066, 0.01, 0.004, 0.002, 0.001, 0.001, 0.0008]
    assert _pruned_at(study, late_bloomer) is None
    assert _pruned_at(study, [PLATEAU] * 9) == 3  # the same start without the drop


def test_plateau_asha_keeps_a_curve_whose_training_loss_is_falling() -> None:
    study = _asha()
    for _ in range(3):
        _complete(study, SOLVED)
    trial = study.ask()
    trial.set_user_attr("epochs", [{"epoch": 1, "train_loss": 0.17},
                                   {"epoch": 2, "train_loss": 0.17},
                                   {"epoch": 3, "train_loss": 0.05}])
    for epoch in (1, 2, 3):
        trial.report(PLATEAU, epoch)
    # Epoch 1 was judged without the loss log; judge epoch 3 (a rung) now.
    assert not trial.should_prune()
    trial.set_user_attr("epochs", [{"epoch": e, "train_loss": 0.17} for e in (1, 2, 3)])
    assert trial.should_prune()  # the same scores with a flat training loss: stopped


def test_plateau_asha_prunes_a_diverging_curve() -> None:
    study = _asha()
    for _ in range(3):
        _complete(study, SOLVED)
    assert _pruned_at(study, [float("nan")] * 9) == 1
    assert _pruned_at(study, [5.0, 50.0, 500.0, 5e3, 5e4, 5e5, 5e6, 5e7, 5e8]) == 1


def test_plateau_asha_waits_for_min_trials_at_a_rung() -> None:
    study = _asha(min_trials=4)
    for _ in range(2):
        _complete(study, SOLVED)
    assert _pruned_at(study, _on_plateau(0.0)) is None  # 3 at the rung, 4 needed
    assert _pruned_at(study, _on_plateau(0.0)) == 1  # now 4 (the kept one counts)


def test_plateau_asha_min_improvement_sets_what_counts_as_signal() -> None:
    # The kept third beats the median by about 10%: signal at 0.05, a plateau at 0.2.
    curves = [[0.9] * 9, [0.9] * 9, [1.0] * 9, [1.0] * 9, [1.0] * 9]
    strict, loose = _asha(min_improvement=0.05), _asha(min_improvement=0.2)
    for study in (strict, loose):
        for curve in curves:
            _complete(study, curve)
    assert _pruned_at(strict, [1.0] * 9) == 1
    # Without signal the first rung keeps it; the next one stops it as stalled.
    assert _pruned_at(loose, [1.0] * 9) == 3


def test_plateau_asha_maximizes_too() -> None:
    study = optuna.create_study(direction="maximize",
                                pruner=build_pruner("plateau_asha", {}, max_epochs=9))
    for _ in range(3):
        _complete(study, [0.9] * 9)
    assert _pruned_at(study, [0.95] * 9) is None
    assert _pruned_at(study, [0.1] * 9) == 1


# --- errors --------------------------------------------------------------------------------


def test_unknown_pruner_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        build_pruner("asha", {}, max_epochs=10)
    error = info.value
    assert error.loc == ("pruner", "name")
    assert "asha" in error.message
    for name in PRUNERS:
        assert name in error.message


def test_unknown_wrapped_pruner() -> None:
    with pytest.raises(UnknownNameError) as info:
        build_pruner("patient", {"wrapped": {"name": "asha"}}, max_epochs=10)
    assert info.value.loc == ("pruner", "wrapped", "name")
    assert "median" in info.value.message


def test_threshold_needs_a_bound() -> None:
    with pytest.raises(SpecError) as info:
        build_pruner("threshold", {}, max_epochs=10)
    assert info.value.loc == ("pruner",)
    assert "lower" in info.value.message and "upper" in info.value.message


def test_threshold_lower_above_upper() -> None:
    with pytest.raises(SpecError) as info:
        build_pruner("threshold", {"lower": 2.0, "upper": 1.0}, max_epochs=10)
    assert "2.0" in info.value.message and "1.0" in info.value.message


@pytest.mark.parametrize("name", ["hyperband", "successive_halving", "plateau_asha"])
def test_min_resource_above_max_epochs(name: str) -> None:
    with pytest.raises(SpecError) as info:
        build_pruner(name, {"min_resource": 12}, max_epochs=10)
    assert info.value.loc == ("pruner", "min_resource")
    assert "12" in info.value.message and "10" in info.value.message


def test_hyperband_max_resource_above_max_epochs() -> None:
    with pytest.raises(SpecError) as info:
        build_pruner("hyperband", {"max_resource": 20}, max_epochs=10)
    assert info.value.loc == ("pruner", "max_resource")
    assert "20" in info.value.message and "10" in info.value.message


def test_hyperband_max_resource_not_above_min_resource() -> None:
    with pytest.raises(SpecError) as info:
        build_pruner("hyperband", {"min_resource": 5, "max_resource": 5}, max_epochs=10)
    assert info.value.loc == ("pruner", "max_resource")
    with pytest.raises(SpecError) as info:
        build_pruner("hyperband", {"min_resource": 3}, max_epochs=3)
    assert info.value.loc == ("pruner", "max_resource")


def test_patient_cannot_wrap_patient() -> None:
    with pytest.raises(SpecError) as info:
        build_pruner("patient", {"wrapped": {"name": "patient"}}, max_epochs=10)
    assert info.value.loc == ("pruner", "wrapped", "name")
    assert "patient" in info.value.message


def test_wrapped_pruner_options_are_checked() -> None:
    with pytest.raises(SpecError) as info:
        build_pruner(
            "patient", {"wrapped": {"name": "hyperband", "min_resource": 20}}, max_epochs=10
        )
    assert info.value.loc == ("pruner", "wrapped", "min_resource")
    with pytest.raises(SpecError) as info:
        build_pruner("patient", {"wrapped": {"name": "median", "warmup": 1}}, max_epochs=10)
    assert info.value.loc == ("pruner", "wrapped", "warmup")


def test_unknown_option_lists_allowed_options() -> None:
    with pytest.raises(SpecError) as info:
        build_pruner("median", {"warmup_steps": 2}, max_epochs=10)
    error = info.value
    assert not isinstance(error, UnknownNameError)
    assert error.loc == ("pruner", "warmup_steps")
    for option in ("n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"):
        assert option in error.message


@pytest.mark.parametrize(
    ("name", "options", "loc", "word"),
    [
        ("median", {"n_warmup_steps": -1}, ("pruner", "n_warmup_steps"), "-1"),
        ("median", {"interval_steps": 0}, ("pruner", "interval_steps"), "0"),
        ("percentile", {"percentile": 150}, ("pruner", "percentile"), "150"),
        ("successive_halving", {"reduction_factor": 1}, ("pruner", "reduction_factor"), "1"),
        ("wilcoxon", {"p_threshold": 1.0}, ("pruner", "p_threshold"), "1.0"),
        ("patient", {"patience": -2}, ("pruner", "patience"), "-2"),
        ("none", {"patience": 2}, ("pruner", "patience"), "none"),
    ],
)
def test_bad_option_values(
    name: str, options: dict[str, Any], loc: tuple[str, ...], word: str
) -> None:
    with pytest.raises(SpecError) as info:
        parse_pruner_options(name, options, max_epochs=10)
    assert info.value.loc == loc
    assert word in info.value.message
