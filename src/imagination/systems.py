"""Former home of the book's test systems, now one module per result (kept as a thin re-export).

- :mod:`imagination.rotation`: the overview's damped rotation;
- :mod:`imagination.lemma1_systems`: Lemma 1's scalar test beds (chapter 1);
- :mod:`imagination.figure3`: Figure 3's configurations (chapter 1);
- :mod:`imagination.sensitivities`: Figures 2 and 4 (chapter 4);
- :mod:`imagination.pendulum`: the Pendulum step (chapter 7).
"""

from .figure3 import (
    FIGURE3_FAMILIES,
    Figure3Batch,
    Figure3Systems,
    Figure3Trajectories,
    figure3_ratio,
    figure3_rollout,
    lqg_configurations,
    simulate_gap,
    synthetic_configurations,
)
from .lemma1_systems import extremal_gaps, scalar_nonlinear_gaps
from .pendulum import PENDULUM, pendulum_step
from .rotation import discounted_return, rotation_rollout
from .sensitivities import (
    VALUE_FAMILIES,
    AlignedLQGSystems,
    AllocationBatch,
    AllocationProblems,
    RealisedOptimum,
    RealisedSplit,
    ValueFamilySystems,
    figure4_configurations,
    linear_value_configurations,
    realised_optimal_split,
    realised_sensitivities,
    value_family_grid,
)

__all__ = [
    "FIGURE3_FAMILIES",
    "PENDULUM",
    "VALUE_FAMILIES",
    "AlignedLQGSystems",
    "AllocationBatch",
    "AllocationProblems",
    "Figure3Batch",
    "Figure3Systems",
    "Figure3Trajectories",
    "RealisedOptimum",
    "RealisedSplit",
    "ValueFamilySystems",
    "discounted_return",
    "extremal_gaps",
    "figure3_ratio",
    "figure3_rollout",
    "figure4_configurations",
    "linear_value_configurations",
    "lqg_configurations",
    "pendulum_step",
    "realised_optimal_split",
    "realised_sensitivities",
    "rotation_rollout",
    "scalar_nonlinear_gaps",
    "simulate_gap",
    "synthetic_configurations",
    "value_family_grid",
]
