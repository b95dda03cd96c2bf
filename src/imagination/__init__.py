"""imagination: the library behind the book "On Training in Imagination" (arXiv:2605.06732).

``import imagination as im`` gives the whole public API, flat (design.md §3). Modules that
need only numpy/scipy are imported here; names from modules that need plotly or torch are
resolved lazily on first use, so ``import imagination`` stays fast and works where plotly
or torch are absent.
"""

from __future__ import annotations

import importlib
from typing import Any

from .bounds import (
    compounding_rate,
    dynamics_multiplier,
    finite_horizon_multiplier,
    return_error_bound,
    return_error_bound_finite,
)
from .reinforce import (
    NOISE_DISTRIBUTIONS,
    LinearGaussianSystem,
    Rollouts,
    TabularMDP,
    bias_gradient,
    exact_added_variance,
    exact_estimator_mean,
    exact_gradient,
    exact_objective,
    exact_w2,
    linear_exact_added_variance,
    linear_exact_gradient,
    linear_exact_objective,
    noise_variance_bound,
    random_linear_gaussian_system,
    random_tabular_mdp,
    reinforce_estimates,
    reinforce_estimates_loop,
    reward_noise,
    sample_linear_rollouts,
    sample_rollouts,
    softmax_policy,
)
from .scale import SCALES, by_scale, current_scale, is_static
from .scaling import PowerLaw, PowerLawFit, fit_power_law
from .systems import (
    FIGURE3_FAMILIES,
    PENDULUM,
    Figure3Batch,
    discounted_return,
    extremal_gaps,
    figure3_ratio,
    lqg_configurations,
    pendulum_step,
    rotation_rollout,
    scalar_nonlinear_gaps,
    simulate_gap,
    synthetic_configurations,
)
from .timing import best_time, load_records, machine_record, write_record

__version__ = "0.1.0"

# name -> module for the lazily imported parts (plotly / torch).
_LAZY: dict[str, str] = {
    "viz": "imagination.viz",
    "COLORS": "imagination.viz",
    "PALETTE": "imagination.viz",
    "Parameter": "imagination.viz",
    "LiveFigure": "imagination.viz",
    "interactive_figure": "imagination.viz",
    "figure_from_traces": "imagination.viz",
    "apply_style": "imagination.viz",
    "teacher_student": "imagination.teacher_student",
    "ERROR_METRICS": "imagination.teacher_student",
    "Ensemble": "imagination.teacher_student",
    "ScalingResult": "imagination.teacher_student",
    "Teachers": "imagination.teacher_student",
    "collect_transitions": "imagination.teacher_student",
    "heldout_errors": "imagination.teacher_student",
    "make_teachers": "imagination.teacher_student",
    "member_generators": "imagination.teacher_student",
    "mlp_forward": "imagination.teacher_student",
    "scaling_experiment": "imagination.teacher_student",
    "train_ensemble": "imagination.teacher_student",
    "train_sequential": "imagination.teacher_student",
}

__all__ = [
    "FIGURE3_FAMILIES",
    "Figure3Batch",
    "LinearGaussianSystem",
    "NOISE_DISTRIBUTIONS",
    "PENDULUM",
    "PowerLaw",
    "PowerLawFit",
    "Rollouts",
    "SCALES",
    "TabularMDP",
    "best_time",
    "bias_gradient",
    "by_scale",
    "compounding_rate",
    "current_scale",
    "discounted_return",
    "dynamics_multiplier",
    "exact_added_variance",
    "exact_estimator_mean",
    "exact_gradient",
    "exact_objective",
    "exact_w2",
    "extremal_gaps",
    "figure3_ratio",
    "finite_horizon_multiplier",
    "fit_power_law",
    "is_static",
    "linear_exact_added_variance",
    "linear_exact_gradient",
    "linear_exact_objective",
    "load_records",
    "lqg_configurations",
    "machine_record",
    "noise_variance_bound",
    "pendulum_step",
    "random_linear_gaussian_system",
    "random_tabular_mdp",
    "reinforce_estimates",
    "reinforce_estimates_loop",
    "return_error_bound",
    "return_error_bound_finite",
    "reward_noise",
    "rotation_rollout",
    "sample_linear_rollouts",
    "sample_rollouts",
    "scalar_nonlinear_gaps",
    "simulate_gap",
    "softmax_policy",
    "synthetic_configurations",
    "write_record",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'imagination' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
