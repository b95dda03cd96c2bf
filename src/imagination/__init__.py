"""imagination: the library behind the book "On Training in Imagination" (arXiv:2605.06732).

``import imagination as im`` gives the whole public API, flat (design.md §3). Modules that
need only numpy/scipy are imported here; names from modules that need plotly or torch are
resolved lazily on first use, so ``import imagination`` stays fast and works where plotly
or torch are absent.
"""

from __future__ import annotations

import importlib
from typing import Any

from .allocation import (
    Allocation,
    allocation_kappa,
    budget_line_objective,
    optimal_allocation,
    split_cost_elasticity,
)
from .bounds import (
    compounding_rate,
    dynamics_coefficient,
    dynamics_coefficient_gradient,
    dynamics_multiplier,
    finite_horizon_multiplier,
    return_error_bound,
    return_error_bound_finite,
)
from .fidelity import (
    NOISE_COST_REGIMES,
    BoundedFidelity,
    BudgetedMSE,
    BudgetedTraining,
    NoiseFloor,
    PowerLawNoise,
    budgeted_gradient_mse,
    budgeted_gradient_variance,
    budgeted_training,
    clean_estimator_variance,
    label_cost_grid,
    label_cost_objective,
    noise_cost_regime,
    optimal_label_cost,
    optimal_label_cost_full,
    per_rollout_estimates,
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
from .straightening import (
    FIELD_KINDS,
    VelocityFields,
    curvature_bound,
    curvature_bound_sharp,
    curvature_loss,
    extremal_velocity_field,
    max_observed_curvature,
    one_step_curvature,
    random_velocity_fields,
)
from .systems import (
    FIGURE3_FAMILIES,
    PENDULUM,
    VALUE_FAMILIES,
    AlignedLQGSystems,
    AllocationBatch,
    Figure3Batch,
    RealisedSplit,
    ValueFamilySystems,
    discounted_return,
    extremal_gaps,
    figure3_ratio,
    figure4_configurations,
    linear_value_configurations,
    lqg_configurations,
    pendulum_step,
    realised_optimal_split,
    realised_sensitivities,
    rotation_rollout,
    scalar_nonlinear_gaps,
    simulate_gap,
    synthetic_configurations,
    value_family_grid,
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
    "lipschitz": "imagination.lipschitz",
    "CapacityTradeoff": "imagination.lipschitz",
    "SaturatedRotation": "imagination.lipschitz",
    "CurvaturePenalty": "imagination.lipschitz",
    "capacity_tradeoff": "imagination.lipschitz",
    "curvature_penalty_experiment": "imagination.lipschitz",
    "jacobian_norm_lower": "imagination.lipschitz",
    "lipschitz_upper_bound": "imagination.lipschitz",
    "spectral_norms": "imagination.lipschitz",
    "train_velocity_ensemble": "imagination.lipschitz",
}

__all__ = [
    "AlignedLQGSystems",
    "Allocation",
    "AllocationBatch",
    "BoundedFidelity",
    "BudgetedMSE",
    "BudgetedTraining",
    "FIELD_KINDS",
    "FIGURE3_FAMILIES",
    "Figure3Batch",
    "LinearGaussianSystem",
    "NOISE_COST_REGIMES",
    "NOISE_DISTRIBUTIONS",
    "NoiseFloor",
    "PENDULUM",
    "PowerLaw",
    "PowerLawFit",
    "PowerLawNoise",
    "RealisedSplit",
    "Rollouts",
    "SCALES",
    "TabularMDP",
    "VALUE_FAMILIES",
    "ValueFamilySystems",
    "VelocityFields",
    "allocation_kappa",
    "best_time",
    "bias_gradient",
    "budget_line_objective",
    "budgeted_gradient_mse",
    "budgeted_gradient_variance",
    "budgeted_training",
    "by_scale",
    "clean_estimator_variance",
    "compounding_rate",
    "current_scale",
    "curvature_bound",
    "curvature_bound_sharp",
    "curvature_loss",
    "discounted_return",
    "dynamics_coefficient",
    "dynamics_coefficient_gradient",
    "dynamics_multiplier",
    "exact_added_variance",
    "exact_estimator_mean",
    "exact_gradient",
    "exact_objective",
    "exact_w2",
    "extremal_gaps",
    "extremal_velocity_field",
    "figure3_ratio",
    "figure4_configurations",
    "finite_horizon_multiplier",
    "fit_power_law",
    "is_static",
    "label_cost_grid",
    "label_cost_objective",
    "linear_exact_added_variance",
    "linear_exact_gradient",
    "linear_exact_objective",
    "linear_value_configurations",
    "load_records",
    "lqg_configurations",
    "machine_record",
    "max_observed_curvature",
    "noise_cost_regime",
    "noise_variance_bound",
    "one_step_curvature",
    "optimal_allocation",
    "optimal_label_cost",
    "optimal_label_cost_full",
    "pendulum_step",
    "per_rollout_estimates",
    "random_linear_gaussian_system",
    "random_tabular_mdp",
    "random_velocity_fields",
    "realised_optimal_split",
    "realised_sensitivities",
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
    "split_cost_elasticity",
    "synthetic_configurations",
    "value_family_grid",
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
