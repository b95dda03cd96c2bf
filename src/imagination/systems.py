r"""Deterministic test systems with exact rollouts (the chapters' common ground).

This module starts with the system of the overview; chapter 1 ("The simulation lemma")
adds the synthetic and LQG families of Figure 3.

The overview's system is a damped rotation in the plane, without actions
(:math:`L_\pi = 0`):

.. math::

   f(s) = \rho\,R(\theta)\,s, \qquad \hat f(s) = f(s) + \varepsilon_{\rm dyn}\,e,
   \qquad r(s) = -\|s\|_2,

with :math:`R(\theta)` a rotation and :math:`e` a unit vector, so that :math:`L_f = \rho`,
:math:`L_r = 1` (Euclidean norm on states) and
:math:`\sup_s\|\hat f(s)-f(s)\| = \varepsilon_{\rm dyn}` exactly: the constants of Lemma 1
are known in closed form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .bounds import return_error_bound_finite

__all__ = [
    "FIGURE3_FAMILIES",
    "PENDULUM",
    "VALUE_FAMILIES",
    "AlignedLQGSystems",
    "AllocationBatch",
    "Figure3Batch",
    "Figure3Trajectories",
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


def rotation_rollout(
    rho: float, theta: float, s0: ArrayLike, horizon: int, *, eps_dyn: float = 0.0,
    direction: ArrayLike = (1.0, 0.0),
) -> NDArray[np.float64]:
    r"""States :math:`s_0,\dots,s_H` of :math:`s_{t+1}=\rho R(\theta)s_t+\varepsilon_{\rm dyn}e`.

    With ``eps_dyn = 0`` this is the true system of the overview; with ``eps_dyn > 0`` the
    imagined one, whose one-step error is exactly ``eps_dyn`` everywhere.

    Parameters
    ----------
    rho
        Contraction of one step, :math:`L_f = \rho \ge 0`.
    theta
        Rotation angle per step (radians).
    s0
        Start state(s), shape ``(..., 2)``: leading axes are independent rollouts.
    horizon
        Number of steps :math:`H \ge 0`.
    eps_dyn
        Constant model error added at every step, >= 0.
    direction
        The error direction :math:`e` (normalised here), shape ``(2,)``, non-zero.

    Returns
    -------
    ndarray, shape ``(H + 1, ..., 2)``
        The trajectory, time first.
    """
    s0 = np.asarray(s0, dtype=float)
    e = np.asarray(direction, dtype=float)
    if s0.shape[-1:] != (2,):
        raise ValueError(f"s0 must have shape (..., 2), got {s0.shape}")
    if e.shape != (2,) or not np.any(e):
        raise ValueError(f"direction must be a non-zero vector of shape (2,), got {e!r}")
    if not (np.isfinite(rho) and rho >= 0):
        raise ValueError(f"rho must be finite and >= 0, got {rho!r}")
    if not (np.isfinite(eps_dyn) and eps_dyn >= 0):
        raise ValueError(f"eps_dyn must be finite and >= 0, got {eps_dyn!r}")
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 0:
        raise ValueError(f"horizon must be an integer >= 0, got {horizon!r}")
    c, s = np.cos(theta), np.sin(theta)
    step = rho * np.array([[c, -s], [s, c]])
    offset = eps_dyn * e / np.linalg.norm(e)
    states = np.empty((horizon + 1, *s0.shape))
    states[0] = s0
    for t in range(horizon):  # a recursion: each state needs the previous one
        states[t + 1] = states[t] @ step.T + offset
    return states


def discounted_return(rewards: ArrayLike, gamma: float) -> NDArray[np.float64] | float:
    r""":math:`\sum_{t<H}\gamma^t r_t` over the first (time) axis of ``rewards``.

    Parameters
    ----------
    rewards
        Rewards, shape ``(H, ...)``, time first.
    gamma
        Discount factor, ``0 <= gamma <= 1``.

    Returns
    -------
    float or ndarray of shape ``(...)``
    """
    r = np.asarray(rewards, dtype=float)
    if not 0 <= gamma <= 1:
        raise ValueError(f"gamma must satisfy 0 <= gamma <= 1, got {gamma!r}")
    if r.ndim == 0:
        raise ValueError("rewards must have a time axis (shape (H, ...))")
    weights = gamma ** np.arange(r.shape[0], dtype=float)
    out = np.tensordot(weights, r, axes=(0, 0))
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------------------------------
# Figure 3: many deterministic systems whose model errors and Lipschitz constants are known
# ---------------------------------------------------------------------------------------------

FIGURE3_FAMILIES = ("synthetic", "lqg")

# Output dimension m of the synthetic reward w . sin(C s + D a) (ours; the paper's is unknown).
_M_REWARD = 4

# Fields that hold one entry per configuration (leading axis n); the rest are per family.
_COMMON_ARRAYS = (
    "gamma", "eps_dyn", "eps_rew", "L_f", "L_r", "L_pi", "gap", "A", "B", "K", "s0", "e1", "e2",
    "q_dyn", "q_rew",
)
_FAMILY_ARRAYS = {"synthetic": ("C", "D", "w"), "lqg": ("Q", "R", "radius")}


def _batched_matvec(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    # X has shape (n, i, j), v shape (..., n, j): one matrix per configuration, applied to any
    # number of leading sample axes, so that no Python loop runs over configurations.
    return np.einsum("nij,...nj->...ni", X, v)


def _spectral_norm(X: np.ndarray) -> np.ndarray:
    return np.linalg.norm(X, ord=2, axis=(-2, -1))


@dataclass(frozen=True, eq=False)
class Figure3Batch:
    r"""A batch of ``n`` deterministic systems with learned models, for Figure 3 (paper §3.1).

    Configuration ``i`` is a deterministic MDP with dynamics :math:`f`, reward :math:`r`, policy
    :math:`\pi` and a learned model :math:`\hat f = f + \varepsilon_{\rm dyn} u`,
    :math:`\hat r = r + \varepsilon_{\rm rew}\cos(q'\cdot[s,a])`, where

    .. math::

       u(s, a) = e_1\cos(q\cdot[s,a]) + e_2\sin(q\cdot[s,a]),\qquad e_1\perp e_2,\quad
       \|e_1\|=\|e_2\|=1,

    is a unit vector field that is not constant, so that
    :math:`\|\hat f(s,a)-f(s,a)\|_2=\varepsilon_{\rm dyn}` exactly at every :math:`(s,a)` and
    :math:`\sup|\hat r-r|=\varepsilon_{\rm rew}` (the cosine reaches 1): the sup-norm errors of
    Lemma 1 are known exactly, not estimated. Real and imagined trajectories start at the same
    :math:`s_0`, with :math:`a_t=\pi(s_t)` and :math:`\hat a_t=\pi(\hat s_t)` (paper §1).

    The two families (built by :func:`synthetic_configurations` and :func:`lqg_configurations`):

    - ``"synthetic"``: :math:`f=\tanh(As+Ba)`, :math:`\pi=\tanh(Ks)`,
      :math:`r=w\cdot\sin(Cs+Da)`, globally Lipschitz;
    - ``"lqg"`` (deterministic, LQR-like): :math:`f=As+Ba`, :math:`\pi=-Ks`,
      :math:`r=-(s^\top Qs+a^\top Ra)`, Lipschitz on a ball of radius ``radius`` that contains
      both trajectories.

    Norms are Euclidean; Lipschitz constants are taken w.r.t. the sum metric on
    :math:`\mathcal S\times\mathcal A`, as in Lemma 1. Instances are immutable (arrays are
    read-only copies) and compare by identity: compare fields to compare batches.

    Attributes
    ----------
    family : str
        ``"synthetic"`` or ``"lqg"``.
    gamma, eps_dyn, eps_rew : ndarray, shape ``(n,)``
        Discount factor and exact sup-norm model errors.
    L_f, L_r, L_pi : ndarray, shape ``(n,)``
        Valid Lipschitz constants (upper bounds) of :math:`f, r, \pi`; for ``"lqg"`` the constant
        of :math:`r` holds on the ball of radius ``radius``.
    horizon : int
        Number of simulated steps :math:`H`.
    gap : ndarray, shape ``(n,)``
        :math:`|J_H-\hat J_H| = |\sum_{t<H}\gamma^t(r(s_t,a_t)-\hat r(\hat s_t,\hat a_t))|`, from
        exact simulation (:func:`simulate_gap`).
    A : ndarray, shape ``(n, d_s, d_s)``
    B : ndarray, shape ``(n, d_s, d_a)``
    K : ndarray, shape ``(n, d_a, d_s)``
        Dynamics and policy matrices.
    s0 : ndarray, shape ``(n, d_s)``
        Common start state of the real and the imagined trajectory.
    e1, e2 : ndarray, shape ``(n, d_s)``
        Orthonormal directions of the dynamics error field :math:`u`.
    q_dyn, q_rew : ndarray, shape ``(n, d_s + d_a)``
        Frequencies :math:`q` of :math:`u` and :math:`q'` of the reward error.
    C, D, w : ndarray or None
        Synthetic reward, shapes ``(n, m, d_s)``, ``(n, m, d_a)``, ``(n, m)``; None for ``"lqg"``.
    Q, R, radius : ndarray or None
        LQG cost weights, shapes ``(n, d_s, d_s)`` and ``(n, d_a, d_a)`` (symmetric positive
        semi-definite), and the radius :math:`\rho` of the state ball, shape ``(n,)``; None for
        ``"synthetic"``.
    """

    family: str
    gamma: np.ndarray
    eps_dyn: np.ndarray
    eps_rew: np.ndarray
    L_f: np.ndarray
    L_r: np.ndarray
    L_pi: np.ndarray
    horizon: int
    gap: np.ndarray
    A: np.ndarray
    B: np.ndarray
    K: np.ndarray
    s0: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    q_dyn: np.ndarray
    q_rew: np.ndarray
    C: np.ndarray | None = None
    D: np.ndarray | None = None
    w: np.ndarray | None = None
    Q: np.ndarray | None = None
    R: np.ndarray | None = None
    radius: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.family not in FIGURE3_FAMILIES:
            raise ValueError(f"family must be one of {FIGURE3_FAMILIES}, got {self.family!r}")
        _check_int("horizon", self.horizon, 1)
        own = _FAMILY_ARRAYS[self.family]
        for name, value in ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self)):
            if name in ("family", "horizon"):
                continue
            if value is None:
                if name in _COMMON_ARRAYS or name in own:
                    raise ValueError(f"{name} is required for family {self.family!r}")
                continue
            # A private read-only copy: "frozen" then also protects the arrays, so a batch
            # cannot drift away from the gap that was simulated for it.
            arr = np.array(value, dtype=float)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        n, d_s, d_a = self.B.shape
        if self.A.shape != (n, d_s, d_s) or self.K.shape != (n, d_a, d_s):
            raise ValueError(
                f"A, B, K must have shapes (n, d_s, d_s), (n, d_s, d_a), (n, d_a, d_s), got "
                f"{self.A.shape}, {self.B.shape}, {self.K.shape}"
            )
        for name in ("gamma", "eps_dyn", "eps_rew", "L_f", "L_r", "L_pi", "gap"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape (n,) = ({n},)")

    @property
    def n(self) -> int:
        """Number of configurations."""
        return int(self.B.shape[0])

    @property
    def d_s(self) -> int:
        """State dimension."""
        return int(self.B.shape[1])

    @property
    def d_a(self) -> int:
        """Action dimension."""
        return int(self.B.shape[2])

    # Every map below takes s of shape (..., n, d_s) and a of shape (..., n, d_a): the axis n
    # pairs each point with its configuration, and leading axes are independent points.

    def policy(self, s: ArrayLike) -> NDArray[np.float64]:
        r"""The policy :math:`\pi(s)`: :math:`\tanh(Ks)` (synthetic) or :math:`-Ks` (LQG)."""
        z = _batched_matvec(self.K, np.asarray(s, dtype=float))
        return np.tanh(z) if self.family == "synthetic" else -z

    def dynamics(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        r"""The true dynamics :math:`f(s,a)`: :math:`\tanh(As+Ba)` or :math:`As+Ba`."""
        z = _batched_matvec(self.A, np.asarray(s, dtype=float)) + _batched_matvec(
            self.B, np.asarray(a, dtype=float)
        )
        return np.tanh(z) if self.family == "synthetic" else z

    def reward(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        r"""The true reward :math:`r(s,a)`.

        :math:`w\cdot\sin(Cs+Da)` (synthetic) or :math:`-(s^\top Qs+a^\top Ra)` (LQG).
        """
        s = np.asarray(s, dtype=float)
        a = np.asarray(a, dtype=float)
        if self.family == "synthetic":
            z = _batched_matvec(self.C, s) + _batched_matvec(self.D, a)
            return np.einsum("nm,...nm->...n", self.w, np.sin(z))
        cost = np.einsum("...ni,...ni->...n", s, _batched_matvec(self.Q, s))
        return -(cost + np.einsum("...ni,...ni->...n", a, _batched_matvec(self.R, a)))

    def _phase(self, q: np.ndarray, s: np.ndarray, a: np.ndarray) -> np.ndarray:
        # q . [s, a] without concatenating, so that s and a may carry different leading axes.
        d_s = self.d_s
        return np.einsum("nk,...nk->...n", q[:, :d_s], s) + np.einsum(
            "nk,...nk->...n", q[:, d_s:], a
        )

    def model_dynamics(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        r"""The learned dynamics :math:`\hat f = f + \varepsilon_{\rm dyn}u` (:math:`\|u\|_2=1`)."""
        s = np.asarray(s, dtype=float)
        a = np.asarray(a, dtype=float)
        phase = self._phase(self.q_dyn, s, a)[..., None]
        u = self.e1 * np.cos(phase) + self.e2 * np.sin(phase)
        return self.dynamics(s, a) + self.eps_dyn[:, None] * u

    def model_reward(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        r"""The learned reward :math:`\hat r = r + \varepsilon_{\rm rew}\cos(q'\cdot[s,a])`."""
        s = np.asarray(s, dtype=float)
        a = np.asarray(a, dtype=float)
        return self.reward(s, a) + self.eps_rew * np.cos(self._phase(self.q_rew, s, a))


class Figure3Trajectories(NamedTuple):
    r"""Real and imagined trajectories of a :class:`Figure3Batch`, time first.

    ``states``/``model_states`` have shape ``(H + 1, n, d_s)``, ``actions``/``model_actions``
    shape ``(H + 1, n, d_a)``, ``rewards``/``model_rewards`` (:math:`r(s_t,a_t)` and
    :math:`\hat r(\hat s_t,\hat a_t)`, :math:`t<H`) shape ``(H, n)``.
    """

    states: NDArray[np.float64]
    actions: NDArray[np.float64]
    model_states: NDArray[np.float64]
    model_actions: NDArray[np.float64]
    rewards: NDArray[np.float64]
    model_rewards: NDArray[np.float64]


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)), got "
            f"{type(rng).__name__}"
        )
    return rng


def _resolve_horizon(batch: Figure3Batch, horizon: int | None) -> int:
    if not isinstance(batch, Figure3Batch):
        raise ValueError(f"batch must be a Figure3Batch, got {type(batch).__name__}")
    return batch.horizon if horizon is None else _check_int("horizon", horizon, 1)


def _steps(batch: Figure3Batch, steps: int) -> Iterator[tuple[np.ndarray, ...]]:
    # (s_t, a_t, s^_t, a^_t) for t < steps, all n configurations at once. The loop runs over
    # time only: each state needs the previous one, configurations are independent.
    s = np.array(batch.s0)
    s_hat = np.array(batch.s0)  # the same start state for the real and the imagined rollout
    for t in range(steps):
        a, a_hat = batch.policy(s), batch.policy(s_hat)
        yield s, a, s_hat, a_hat
        if t + 1 < steps:
            s, s_hat = batch.dynamics(s, a), batch.model_dynamics(s_hat, a_hat)


def simulate_gap(batch: Figure3Batch, horizon: int | None = None) -> NDArray[np.float64]:
    r"""Realised return gap :math:`|J_H-\hat J_H|` of every configuration, by exact simulation.

    .. math::

       |J_H-\hat J_H| = \Bigl|\sum_{t<H}\gamma^t\bigl(r(s_t,a_t)-\hat r(\hat s_t,\hat a_t)\bigr)
       \Bigr|,

    the left-hand side of the finite-horizon form of Lemma 1 (paper Eq. (1)). Vectorised over
    configurations; memory does not grow with ``horizon``.

    Parameters
    ----------
    batch
        The configurations.
    horizon
        Number of steps :math:`H \ge 1`; default ``batch.horizon``.

    Returns
    -------
    ndarray, shape ``(n,)``
    """
    horizon = _resolve_horizon(batch, horizon)
    total = np.zeros(batch.n)
    for t, (s, a, s_hat, a_hat) in enumerate(_steps(batch, horizon)):
        diff = batch.reward(s, a) - batch.model_reward(s_hat, a_hat)
        total += batch.gamma**t * diff
    return np.abs(total)


def figure3_rollout(batch: Figure3Batch, horizon: int | None = None) -> Figure3Trajectories:
    """Real and imagined trajectories of every configuration (for plots and checks).

    Parameters
    ----------
    batch
        The configurations.
    horizon
        Number of steps :math:`H \\ge 1`; default ``batch.horizon``.

    Returns
    -------
    Figure3Trajectories
        States and actions for :math:`t \\le H`, rewards for :math:`t < H`.
    """
    horizon = _resolve_horizon(batch, horizon)
    s, a, s_hat, a_hat = (np.stack(x) for x in zip(*_steps(batch, horizon + 1), strict=True))
    rewards = batch.reward(s[:-1], a[:-1])
    model_rewards = batch.model_reward(s_hat[:-1], a_hat[:-1])
    return Figure3Trajectories(s, a, s_hat, a_hat, rewards, model_rewards)


def figure3_ratio(batch: Figure3Batch) -> NDArray[np.float64]:
    r"""The ratio :math:`R=\text{gap}/\text{bound}` of Figure 3, one per configuration.

    The bound is the finite-horizon form of Lemma 1 (Eq. (1) summed over :math:`t<H`,
    :func:`~imagination.bounds.return_error_bound_finite`) at the *same* horizon as the
    simulated gap: comparing an :math:`H`-step gap with the infinite-horizon Eq. (1) could only
    lower :math:`R`, so such a check could not fail. Lemma 1 says :math:`R\le1`.

    Parameters
    ----------
    batch
        The configurations.

    Returns
    -------
    ndarray, shape ``(n,)``
    """
    if not isinstance(batch, Figure3Batch):
        raise ValueError(f"batch must be a Figure3Batch, got {type(batch).__name__}")
    bound = return_error_bound_finite(
        batch.eps_dyn, batch.eps_rew, batch.gamma, batch.L_f, batch.L_r, batch.L_pi, batch.horizon
    )
    return batch.gap / np.asarray(bound)


def _check_configuration_args(
    n: Any, horizon: Any, rng: Any, d_s: Any, d_a: Any
) -> tuple[int, int, np.random.Generator, int, int]:
    n = _check_int("n", n, 1)
    horizon = _check_int("horizon", horizon, 1)
    rng = _check_rng(rng)
    # Two orthonormal error directions e1, e2 need d_s >= 2.
    d_s = _check_int("d_s", d_s, 2)
    d_a = _check_int("d_a", d_a, 1)
    return n, horizon, rng, d_s, d_a


def _with_norms(rng: np.random.Generator, shape: tuple[int, ...], norms: np.ndarray) -> np.ndarray:
    # Gaussian matrices (random singular directions) rescaled to prescribed spectral norms.
    g = rng.standard_normal(shape)
    return g * (norms / _spectral_norm(g))[:, None, None]


def _with_norms_psd(P: np.ndarray, norms: np.ndarray) -> np.ndarray:
    # Symmetric PSD matrices rescaled to prescribed spectral norms; symmetrised after scaling so
    # that rounding cannot break the symmetry that x^T Q x - y^T Q y = (x-y)^T Q (x+y) needs.
    P = P * (norms / _spectral_norm(P))[:, None, None]
    return 0.5 * (P + np.swapaxes(P, -1, -2))

def _error_model(
    rng: np.random.Generator, n: int, d_s: int, d_a: int
) -> dict[str, np.ndarray]:
    # The learned-model part shared by both families: e1 ⟂ e2 from a QR factorisation, the
    # frequencies q, q' with O(1) phase variation over states and actions of size O(1)
    # (N(0, I/(d_s + d_a))), and errors log-uniform over three decades.
    basis, _ = np.linalg.qr(rng.standard_normal((n, d_s, 2)))
    scale = 1.0 / np.sqrt(d_s + d_a)
    return {
        "e1": basis[..., 0],
        "e2": basis[..., 1],
        "q_dyn": scale * rng.standard_normal((n, d_s + d_a)),
        "q_rew": scale * rng.standard_normal((n, d_s + d_a)),
        "eps_dyn": 10.0 ** rng.uniform(-4.0, -1.0, n),
        "eps_rew": 10.0 ** rng.uniform(-4.0, -1.0, n),
        "s0": rng.uniform(-1.0, 1.0, (n, d_s)),
    }


def _contraction_factor(
    rng: np.random.Generator, gamma: np.ndarray, L_f: np.ndarray, L_pi: np.ndarray
) -> np.ndarray:
    # Factor c <= 1 on (A, B) that caps gamma L_f (1 + L_pi) at kappa ~ U[0.1, 0.95]: Eq. (1)
    # needs the contraction, and a drawn cap (not one fixed value) keeps the rate spread out.
    kappa = rng.uniform(0.1, 0.95, gamma.shape)
    return np.minimum(1.0, kappa / (gamma * L_f * (1.0 + L_pi)))


def _finish(family: str, horizon: int, params: dict[str, Any]) -> Figure3Batch:
    batch = Figure3Batch(family=family, horizon=horizon, gap=np.zeros(len(params["gamma"])),
                         **params)
    return dataclasses.replace(batch, gap=simulate_gap(batch))


def synthetic_configurations(
    n: int, *, horizon: int, rng: np.random.Generator, d_s: int = 4, d_a: int = 2
) -> Figure3Batch:
    r"""``n`` "synthetic" configurations of Figure 3: globally Lipschitz nonlinear f, r, π.

    .. math::

       f(s,a)=\tanh(As+Ba),\quad \pi(s)=\tanh(Ks),\quad r(s,a)=w\cdot\sin(Cs+Da),

    with :math:`C\in\mathbb R^{m\times d_s}`, :math:`D\in\mathbb R^{m\times d_a}`, :math:`m=4`,
    and the learned model of :class:`Figure3Batch` (exact errors :math:`\varepsilon_{\rm dyn}`,
    :math:`\varepsilon_{\rm rew}`). Lipschitz constants, global, w.r.t. the sum metric (paper §1):

    - :math:`L_f=\max(\|A\|_2,\|B\|_2)`: :math:`\tanh` is 1-Lipschitz componentwise, hence in
      the Euclidean norm, and :math:`\|A\delta_s+B\delta_a\|\le\|A\|\|\delta_s\|+\|B\|\|\delta_a\|`;
    - :math:`L_\pi=\|K\|_2`, by the same argument;
    - :math:`L_r=\|w\|_2\max(\|C\|_2,\|D\|_2)`: Cauchy–Schwarz, then :math:`\sin` is
      1-Lipschitz componentwise.

    How the paper generated its configurations is not known; every distribution below is ours
    (paper.md §2), chosen a priori, not fitted to the paper's reported ratios:

    - :math:`\gamma\sim U[0.5,0.99]`;
    - :math:`A, B, K, C, D`: Gaussian matrices rescaled to spectral norms
      :math:`\|A\|_2,\|B\|_2\sim U[0.2,1]`, :math:`\|K\|_2\sim U[0.1,1]`,
      :math:`\|C\|_2,\|D\|_2\sim U[0.25,1]`; :math:`w` Gaussian rescaled to
      :math:`\|w\|_2\sim U[0.5,2]`;
    - contraction: with :math:`\kappa\sim U[0.1,0.95]`, :math:`A` and :math:`B` are multiplied by
      :math:`\min(1,\kappa/(\gamma L_f(1+L_\pi)))`, so :math:`\gamma L_f(1+L_\pi)\le0.95<1` in every
      configuration (Eq. (1) needs it) and stays spread over :math:`[0.1, 0.95]`;
    - :math:`\varepsilon_{\rm dyn},\varepsilon_{\rm rew}` independent, log-uniform on
      :math:`[10^{-4},10^{-1}]`;
    - error field: :math:`e_1\perp e_2` uniformly random (QR of a Gaussian),
      :math:`q,q'\sim N(0,I/(d_s+d_a))`;
    - :math:`s_0\sim U[-1,1]^{d_s}`.

    Parameters
    ----------
    n
        Number of configurations, >= 1 (the paper uses 150).
    horizon
        Number of simulated steps :math:`H\ge1`.
    rng
        Source of every random draw.
    d_s, d_a
        State (>= 2, for the two error directions) and action (>= 1) dimensions.

    Returns
    -------
    Figure3Batch
        With ``family="synthetic"`` and ``gap`` simulated at ``horizon``.

    Raises
    ------
    ValueError
        If ``n < 1``, ``horizon < 1``, ``d_s < 2``, ``d_a < 1`` (or not integers), or ``rng`` is
        not a ``numpy.random.Generator``.
    """
    n, horizon, rng, d_s, d_a = _check_configuration_args(n, horizon, rng, d_s, d_a)
    gamma = rng.uniform(0.5, 0.99, n)
    A = _with_norms(rng, (n, d_s, d_s), rng.uniform(0.2, 1.0, n))
    B = _with_norms(rng, (n, d_s, d_a), rng.uniform(0.2, 1.0, n))
    K = _with_norms(rng, (n, d_a, d_s), rng.uniform(0.1, 1.0, n))
    C = _with_norms(rng, (n, _M_REWARD, d_s), rng.uniform(0.25, 1.0, n))
    D = _with_norms(rng, (n, _M_REWARD, d_a), rng.uniform(0.25, 1.0, n))
    w = rng.standard_normal((n, _M_REWARD))
    w *= (rng.uniform(0.5, 2.0, n) / np.linalg.norm(w, axis=-1))[:, None]
    L_pi = _spectral_norm(K)
    c = _contraction_factor(rng, gamma, np.maximum(_spectral_norm(A), _spectral_norm(B)), L_pi)
    A, B = A * c[:, None, None], B * c[:, None, None]
    # Constants from the final matrices (not from the drawn targets), so they are what they claim.
    L_f = np.maximum(_spectral_norm(A), _spectral_norm(B))
    L_r = np.linalg.norm(w, axis=-1) * np.maximum(_spectral_norm(C), _spectral_norm(D))
    params = dict(gamma=gamma, L_f=L_f, L_r=L_r, L_pi=L_pi, A=A, B=B, K=K, C=C, D=D, w=w)
    return _finish("synthetic", horizon, {**params, **_error_model(rng, n, d_s, d_a)})


def lqg_configurations(
    n: int, *, horizon: int, rng: np.random.Generator, d_s: int = 4, d_a: int = 2
) -> Figure3Batch:
    r"""``n`` "LQG" configurations of Figure 3 (deterministic, LQR-like, quadratic reward).

    .. math::

       f(s,a)=As+Ba,\quad \pi(s)=-Ks,\quad r(s,a)=-(s^\top Qs+a^\top Ra),

    :math:`Q, R` symmetric positive semi-definite, closed loop :math:`M=A-BK` with spectral
    *norm* :math:`\|M\|_2<1`, and the learned model of :class:`Figure3Batch`.

    The reward is not globally Lipschitz, so its constant is taken on a ball that provably holds
    both trajectories. Let :math:`\rho=\max(\|s_0\|,\varepsilon_{\rm dyn}/(1-\|M\|_2))`. By
    induction :math:`\|s_{t+1}\|=\|Ms_t\|\le\|M\|\|s_t\|\le\rho` and
    :math:`\|\hat s_{t+1}\|=\|M\hat s_t+\varepsilon_{\rm dyn}u\|\le\|M\|\rho+\varepsilon_{\rm dyn}
    \le\rho`, and the actions satisfy :math:`\|a\|=\|Ks\|\le\|K\|_2\rho`. Then:

    - :math:`L_f=\max(\|A\|_2,\|B\|_2)` and :math:`L_\pi=\|K\|_2` (linear maps, global);
    - on the ball, :math:`L_r=\max(2\|Q\|_2\rho,\,2\|R\|_2\|K\|_2\rho)`, since
      :math:`|x^\top Qx-y^\top Qy|=|(x-y)^\top Q(x+y)|\le\|Q\|(\|x\|+\|y\|)\|x-y\|`.

    Lemma 1 only evaluates :math:`r` at :math:`(s_t,a_t)` and :math:`(\hat s_t,\hat a_t)`, all in
    the ball, so these constants make it valid. The radius is the field ``radius``.

    Distributions, ours (the paper's generator is unknown; paper.md §2), chosen a priori:

    - :math:`\gamma\sim U[0.5,0.99]`;
    - :math:`M, B, K` Gaussian matrices rescaled to :math:`\|M\|_2\sim U[0.2,0.95]`,
      :math:`\|B\|_2\sim U[0.2,1]`, :math:`\|K\|_2\sim U[0.1,1]`, and :math:`A=M+BK`, so that the
      closed loop is a contraction in norm by construction;
    - contraction of Eq. (1): with :math:`\kappa\sim U[0.1,0.95]`, :math:`A` and :math:`B` are
      multiplied by :math:`c=\min(1,\kappa/(\gamma L_f(1+L_\pi)))`, which multiplies :math:`M` by
      :math:`c\le1` too, so :math:`\gamma L_f(1+L_\pi)\le0.95` and :math:`\|M\|_2<1` still hold;
    - :math:`Q=GG^\top`, :math:`R=HH^\top` (Gaussian square :math:`G, H`) rescaled to
      :math:`\|Q\|_2,\|R\|_2\sim U[0.1,1]`;
    - :math:`\varepsilon_{\rm dyn},\varepsilon_{\rm rew}`, :math:`e_1, e_2, q, q'` and
      :math:`s_0` as in :func:`synthetic_configurations`.

    Parameters
    ----------
    n
        Number of configurations, >= 1 (the paper uses 375).
    horizon
        Number of simulated steps :math:`H\ge1`.
    rng
        Source of every random draw.
    d_s, d_a
        State (>= 2) and action (>= 1) dimensions.

    Returns
    -------
    Figure3Batch
        With ``family="lqg"``, ``radius`` :math:`=\rho` and ``gap`` simulated at ``horizon``.

    Raises
    ------
    ValueError
        If ``n < 1``, ``horizon < 1``, ``d_s < 2``, ``d_a < 1`` (or not integers), or ``rng`` is
        not a ``numpy.random.Generator``.
    """
    n, horizon, rng, d_s, d_a = _check_configuration_args(n, horizon, rng, d_s, d_a)
    gamma = rng.uniform(0.5, 0.99, n)
    M = _with_norms(rng, (n, d_s, d_s), rng.uniform(0.2, 0.95, n))
    B = _with_norms(rng, (n, d_s, d_a), rng.uniform(0.2, 1.0, n))
    K = _with_norms(rng, (n, d_a, d_s), rng.uniform(0.1, 1.0, n))
    A = M + B @ K
    G = rng.standard_normal((n, d_s, d_s))
    H = rng.standard_normal((n, d_a, d_a))
    # G G^T and H H^T are symmetric PSD by construction; the rescaling keeps them so.
    Q = _with_norms_psd(G @ np.swapaxes(G, -1, -2), rng.uniform(0.1, 1.0, n))
    R = _with_norms_psd(H @ np.swapaxes(H, -1, -2), rng.uniform(0.1, 1.0, n))
    L_pi = _spectral_norm(K)
    c = _contraction_factor(rng, gamma, np.maximum(_spectral_norm(A), _spectral_norm(B)), L_pi)
    A, B = A * c[:, None, None], B * c[:, None, None]
    L_f = np.maximum(_spectral_norm(A), _spectral_norm(B))
    error_model = _error_model(rng, n, d_s, d_a)
    # ||M|| of the final closed loop A - B K, the quantity the induction above uses.
    m_norm = _spectral_norm(A - B @ K)
    radius = np.maximum(
        np.linalg.norm(error_model["s0"], axis=-1), error_model["eps_dyn"] / (1.0 - m_norm)
    )
    L_r = 2.0 * radius * np.maximum(_spectral_norm(Q), _spectral_norm(R) * L_pi)
    params = dict(gamma=gamma, L_f=L_f, L_r=L_r, L_pi=L_pi, A=A, B=B, K=K, Q=Q, R=R, radius=radius)
    return _finish("lqg", horizon, {**params, **error_model})



def _check_lemma1_args(eps_dyn: float, eps_rew: float, gamma: float, L_f: float, L_r: float,
                       L_pi: float, horizon: int) -> None:
    for name, value in (("eps_dyn", eps_dyn), ("eps_rew", eps_rew), ("L_f", L_f), ("L_r", L_r),
                        ("L_pi", L_pi)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    if not 0 <= gamma <= 1:
        raise ValueError(f"gamma must satisfy 0 <= gamma <= 1, got {gamma!r}")
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")


def extremal_gaps(eps_dyn: float, eps_rew: float, gamma: float, L_f: float, L_r: float,
                  L_pi: float, horizon: int) -> NDArray[np.float64]:
    r"""Return gaps of the system on which Lemma 1 is attained (paper.md §2), for every horizon.

    Scalar :math:`f(s,a)=L_f(s+a)`, :math:`\pi(s)=L_\pi s`, :math:`r(s,a)=L_r(s+a)`, learned
    :math:`\hat f=f+\varepsilon_{\rm dyn}`, :math:`\hat r=r+\varepsilon_{\rm rew}`, both from
    :math:`s_0=1`. Every inequality of the proof of Lemma 1 holds with equality, so the gap of
    the :math:`h`-step returns equals the finite-horizon bound at :math:`h` term by term.

    Parameters
    ----------
    eps_dyn, eps_rew
        Model errors, >= 0.
    gamma
        Discount factor, ``0 <= gamma <= 1``.
    L_f, L_r, L_pi
        Lipschitz constants of the construction, >= 0.
    horizon
        Number of steps :math:`H \ge 1`.

    Returns
    -------
    ndarray, shape ``(H,)``
        ``gaps[h - 1]`` = :math:`|J_h - \hat J_h|` for :math:`h = 1, \dots, H`.
    """
    _check_lemma1_args(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, horizon)
    return _scalar_gaps(
        f=lambda s, a: L_f * (s + a), f_hat=lambda s, a: L_f * (s + a) + eps_dyn,
        pi=lambda s: L_pi * s,
        r=lambda s, a: L_r * (s + a), r_hat=lambda s, a: L_r * (s + a) + eps_rew,
        gamma=gamma, horizon=horizon, s0=1.0)


def scalar_nonlinear_gaps(eps_dyn: float, eps_rew: float, gamma: float, L_f: float, L_r: float,
                          L_pi: float, horizon: int, *, s0: float = 0.5) -> NDArray[np.float64]:
    r"""Return gaps of a scalar nonlinear system with the given constants, for every horizon.

    :math:`f(s,a)=L_f\tanh(s+a)`, :math:`\pi(s)=L_\pi\sin s`, :math:`r(s,a)=L_r\sin(s+a)`;
    learned :math:`\hat f=f+\varepsilon_{\rm dyn}\cos s` and
    :math:`\hat r=r+\varepsilon_{\rm rew}\cos(s-a)`. Since :math:`\tanh` and :math:`\sin` are
    1-Lipschitz, :math:`|g(s+a)-g(s'+a')|\le|s-s'|+|a-a'|`: the constants are exactly
    :math:`L_f, L_r, L_\pi` (sum metric), and the sup-norm errors are
    :math:`\varepsilon_{\rm dyn}, \varepsilon_{\rm rew}` (attained where the cosine is
    :math:`\pm1`). Unlike :func:`extremal_gaps`, the errors need not line up, so the gap is
    usually well below the bound.

    Parameters
    ----------
    eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, horizon
        As in :func:`extremal_gaps`.
    s0
        Common start state.

    Returns
    -------
    ndarray, shape ``(H,)``
        ``gaps[h - 1]`` = :math:`|J_h - \hat J_h|` for :math:`h = 1, \dots, H`.
    """
    _check_lemma1_args(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, horizon)
    return _scalar_gaps(
        f=lambda s, a: L_f * np.tanh(s + a),
        f_hat=lambda s, a: L_f * np.tanh(s + a) + eps_dyn * np.cos(s),
        pi=lambda s: L_pi * np.sin(s),
        r=lambda s, a: L_r * np.sin(s + a),
        r_hat=lambda s, a: L_r * np.sin(s + a) + eps_rew * np.cos(s - a),
        gamma=gamma, horizon=horizon, s0=float(s0))


def _scalar_gaps(*, f: Any, f_hat: Any, pi: Any, r: Any, r_hat: Any, gamma: float,
                 horizon: int, s0: float) -> NDArray[np.float64]:
    # |J_h - Ĵ_h| for h = 1..H of a scalar system and its model, both from s0.
    s = s_hat = s0
    gaps = np.empty(horizon)
    partial = 0.0
    for t in range(horizon):  # a recursion in t; scalar, so no batching to gain
        a, a_hat = pi(s), pi(s_hat)
        partial += gamma**t * (r(s, a) - r_hat(s_hat, a_hat))
        gaps[t] = abs(partial)
        s, s_hat = f(s, a), f_hat(s_hat, a_hat)
    return gaps


# ------------------------------------------------------------------ Pendulum-v1 (chapter 7)
#: Gymnasium's Pendulum-v1 constants (gymnasium/envs/classic_control/pendulum.py).
PENDULUM = {"g": 10.0, "m": 1.0, "l": 1.0, "dt": 0.05, "max_speed": 8.0, "max_torque": 2.0}


def pendulum_step(
    theta: ArrayLike, theta_dot: ArrayLike, torque: ArrayLike, *, g: float = PENDULUM["g"]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    r"""One step of Gymnasium's ``Pendulum-v1``, vectorised: the true dynamics and reward of ch. 7.

    With :math:`\bar u=\mathrm{clip}(u,\pm2)`, :math:`\Delta t=0.05`, :math:`m=l=1`,

    .. math::

       \dot\theta'=\mathrm{clip}\Bigl(\dot\theta
       +\bigl(\tfrac{3g}{2l}\sin\theta+\tfrac{3}{ml^2}\bar u\bigr)\Delta t,\ \pm8\Bigr),\qquad
       \theta'=\theta+\dot\theta'\Delta t,\qquad
       r=-\bigl(\mathrm{wrap}(\theta)^2+0.1\,\dot\theta^2+0.001\,\bar u^2\bigr),

    computed in the environment's own order of operations, so it equals ``env.step`` (tested
    against ``gymnasium``: states exactly, rewards to a few ulps, since numpy squares arrays and
    scalars with different roundings). ``theta`` is the environment's internal, unwrapped angle.

    Returns
    -------
    theta_next, theta_dot_next, reward : ndarray
        Broadcast over the inputs.
    """
    th = np.asarray(theta, dtype=float)
    thdot = np.asarray(theta_dot, dtype=float)
    u = np.clip(np.asarray(torque, dtype=float), -PENDULUM["max_torque"], PENDULUM["max_torque"])
    if not (np.all(np.isfinite(th)) and np.all(np.isfinite(thdot)) and np.all(np.isfinite(u))):
        raise ValueError("pendulum_step: theta, theta_dot and torque must be finite")
    m, length, dt = PENDULUM["m"], PENDULUM["l"], PENDULUM["dt"]
    wrapped = ((th + np.pi) % (2 * np.pi)) - np.pi
    costs = wrapped**2 + 0.1 * thdot**2 + 0.001 * (u**2)
    new_thdot = thdot + (3 * g / (2 * length) * np.sin(th) + 3.0 / (m * length**2) * u) * dt
    new_thdot = np.clip(new_thdot, -PENDULUM["max_speed"], PENDULUM["max_speed"])
    return th + new_thdot * dt, new_thdot, -costs


# ---------------------------------------------------------------------------------------------
# Figures 2 and 4 (chapter 4): realised sensitivities and realised optimal splits
# ---------------------------------------------------------------------------------------------

#: Value-function families of Figure 2 (paper §4.2); the constructions are ours.
VALUE_FAMILIES = ("linear", "tanh", "sin", "quadratic")


def _discount_horizon(gamma: np.ndarray, tail: float = 1e-18) -> int:
    # Steps after which gamma^t (and t gamma^t, t^2 gamma^t) no longer change a float64 sum.
    g = float(np.max(gamma))
    return int(np.ceil(np.log(tail) / np.log(g))) + int(np.ceil(3.0 / (1.0 - g)))


def _float_array(name: str, value: ArrayLike, n: int | None = None, *, positive: bool = True,
                 upper: float = np.inf) -> np.ndarray:
    arr = np.array(value, dtype=float, ndmin=1)
    if arr.ndim != 1 or (n is not None and arr.shape != (n,)):
        raise ValueError(f"{name} must have shape (n,){'' if n is None else f' = ({n},)'}, "
                         f"got {arr.shape}")
    ok = np.isfinite(arr) & (arr > 0 if positive else arr >= 0) & (arr < upper)
    if not np.all(ok):
        bound = "> 0" if positive else ">= 0"
        extra = f" and < {upper}" if np.isfinite(upper) else ""
        raise ValueError(f"every {name} must be finite, {bound}{extra}; got {value!r}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class ValueFamilySystems:
    r"""Scalar systems whose value function has a prescribed shape (Figure 2; ours).

    The paper's value-function families are not recoverable (paper.md §4); ours are the simplest
    systems whose value function *is* the family's shape. State :math:`s\in\mathbb R`, no action
    (:math:`L_\pi=0`), identity dynamics :math:`f(s)=s` (so :math:`L_f=1`), and reward

    .. math::

       r(s)=L_r\,s,\quad \frac{L_r}{\lambda}\tanh(\lambda s),\quad
       \frac{L_r}{\lambda}\sin(\lambda s),\quad \frac{L_r\lambda}{2}\,s^2

    for the families ``"linear"``, ``"tanh"``, ``"sin"``, ``"quadratic"``. Then
    :math:`V^\pi(s)=r(s)/(1-\gamma)`: a linear, tanh, sine or quadratic value function.
    :math:`\lambda` is the scale of its nonlinearity: :math:`|r''|\le L_r\lambda` in every
    family, the slope of ``tanh`` and ``sin`` is at most :math:`L_r` everywhere, and that of the
    quadratic is at most :math:`L_r` on :math:`|s|\le1/\lambda`.

    The learned model perturbs both maps in sign-aligned directions,
    :math:`\hat f(s)=f(s)+\varepsilon_{\rm dyn}\Delta f` and
    :math:`\hat r(s)=r(s)+\varepsilon_{\rm rew}\Delta r` with :math:`\Delta f=\Delta r=+1`, from a
    start state where :math:`r'(s_0)>0`: both errors raise the imagined return, so they add up
    instead of cancelling, and the reward part of the gap is exactly
    :math:`\varepsilon_{\rm rew}\sum_{t<H}\gamma^t` (:math:`S_r=1/(1-\gamma)` as
    :math:`H\to\infty`). The imagined trajectory is :math:`\hat s_t=s_0+t\,\varepsilon_{\rm dyn}`.

    Attributes
    ----------
    family : str
        One of :data:`VALUE_FAMILIES`.
    gamma, s0, L_r, lam : ndarray, shape ``(n,)``
        Discount factor, start state, Lipschitz scale :math:`L_r` and nonlinearity scale
        :math:`\lambda` of each configuration.
    horizon : int
        Simulated steps :math:`H`; the default of the generators makes :math:`\gamma^H` and
        :math:`H^2\gamma^H` negligible in float64.
    """

    family: str
    gamma: np.ndarray
    s0: np.ndarray
    L_r: np.ndarray
    lam: np.ndarray
    horizon: int

    def __post_init__(self) -> None:
        if self.family not in VALUE_FAMILIES:
            raise ValueError(f"family must be one of {VALUE_FAMILIES}, got {self.family!r}")
        n = np.size(self.gamma)
        object.__setattr__(self, "gamma", _float_array("gamma", self.gamma, n, upper=1.0))
        object.__setattr__(self, "s0", np.array(self.s0, dtype=float, ndmin=1))
        if self.s0.shape != (n,) or not np.all(np.isfinite(self.s0)):
            raise ValueError(f"s0 must be finite with shape ({n},), got {self.s0!r}")
        self.s0.setflags(write=False)
        object.__setattr__(self, "L_r", _float_array("L_r", self.L_r, n))
        object.__setattr__(self, "lam", _float_array("lam", self.lam, n))
        _check_int("horizon", self.horizon, 1)
        slope = self.reward(self.s0 + 1e-7) - self.reward(self.s0)
        if np.any(slope <= 0):
            raise ValueError("the reward must increase at s0 (r'(s0) > 0) so that the dynamics "
                             "and reward perturbations are sign-aligned")

    @property
    def n(self) -> int:
        """Number of configurations."""
        return int(self.gamma.size)

    def reward(self, s: ArrayLike) -> np.ndarray:
        r"""The reward :math:`r(s)`, broadcast over leading axes (last axis: configurations).

        Works on complex input too (every family is analytic), which
        :func:`realised_optimal_split` uses for exact derivatives.
        """
        s = np.asarray(s)
        L_r, lam = self.L_r, self.lam
        if self.family == "linear":
            return L_r * s
        if self.family == "tanh":
            return L_r / lam * np.tanh(lam * s)
        if self.family == "sin":
            return L_r / lam * np.sin(lam * s)
        return 0.5 * L_r * lam * s * s

    def value_gap(self, eps_dyn: ArrayLike, eps_rew: ArrayLike) -> np.ndarray:
        r"""Signed gap :math:`\hat J_H-J_H` of the model with the given errors, by simulation.

        .. math::

           \hat J_H-J_H=\sum_{t<H}\gamma^t\bigl(\hat r(\hat s_t)-r(s_t)\bigr),\qquad
           \hat s_{t+1}=\hat f(\hat s_t)=\hat s_t+\varepsilon_{\rm dyn},\quad s_t=s_0 .

        Parameters
        ----------
        eps_dyn, eps_rew
            Perturbation sizes, broadcast to ``(..., n)`` (last axis: configurations); real or
            complex.

        Returns
        -------
        ndarray, shape ``(..., n)``
        """
        eps_dyn, eps_rew = np.broadcast_arrays(np.asarray(eps_dyn), np.asarray(eps_rew))
        base = self.reward(self.s0)  # the real trajectory stays at s0
        s_hat = np.broadcast_to(self.s0, eps_dyn.shape) + 0 * eps_dyn
        total = np.zeros(eps_dyn.shape, dtype=np.result_type(eps_dyn, float))
        discount = np.ones(self.n)
        for _ in range(self.horizon):  # a recursion in t; vectorised over everything else
            total = total + discount * (self.reward(s_hat) + eps_rew - base)
            s_hat = s_hat + eps_dyn
            discount = discount * self.gamma
        return total


@dataclass(frozen=True, eq=False)
class AlignedLQGSystems:
    r"""Deterministic LQG-type systems with sign-aligned constant model errors (Figure 4; ours).

    :math:`f(s,a)=As+Ba`, :math:`\pi(s)=-Ks`, :math:`r(s,a)=-(s^\top Qs+a^\top Ra)`, closed
    loop :math:`M=A-BK`, and the learned model :math:`\hat f=f+\varepsilon_{\rm dyn}e`,
    :math:`\hat r=r-\varepsilon_{\rm rew}` with a constant unit vector :math:`e`. Both errors lower
    the imagined return: the reward one by :math:`\varepsilon_{\rm rew}\sum_{t<H}\gamma^t`, the
    dynamics one by :math:`a\,\varepsilon_{\rm dyn}+b\,\varepsilon_{\rm dyn}^2` with
    :math:`b\ge0` (the shift of the trajectory is linear in :math:`\varepsilon_{\rm dyn}`, the cost
    quadratic) and :math:`a=\|g\|\ge0`, because :math:`e=-g/\|g\|` is the direction in which the
    return falls fastest, :math:`g=\nabla_w\hat J|_{w=0}` for a constant shift :math:`w`.

    The global constants of Lemma 1 hold on the ball of radius ``radius``
    :math:`\rho=\max(\|s_0\|,\varepsilon_{\rm cap}/(1-\|M\|_2))`, which contains the real and the
    imagined trajectory whenever :math:`\varepsilon_{\rm dyn}\le\varepsilon_{\rm cap}`
    (:func:`lqg_configurations` gives the induction): :math:`L_f=\max(\|A\|_2,\|B\|_2)`,
    :math:`L_\pi=\|K\|_2`, :math:`L_r=2\rho\max(\|Q\|_2,\|R\|_2\|K\|_2)`.

    Attributes
    ----------
    gamma : ndarray, shape ``(n,)``
    A, B, K, Q, R : ndarray
        Shapes ``(n, d_s, d_s)``, ``(n, d_s, d_a)``, ``(n, d_a, d_s)``, ``(n, d_s, d_s)``,
        ``(n, d_a, d_a)``.
    s0, e : ndarray, shape ``(n, d_s)``
        Start state and the unit direction of the dynamics error.
    eps_cap, radius, L_f, L_r, L_pi : ndarray, shape ``(n,)``
        Largest dynamics error for which the constants are valid, the ball's radius and the
        constants.
    horizon : int
    """

    gamma: np.ndarray
    A: np.ndarray
    B: np.ndarray
    K: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    s0: np.ndarray
    e: np.ndarray
    eps_cap: np.ndarray
    radius: np.ndarray
    L_f: np.ndarray
    L_r: np.ndarray
    L_pi: np.ndarray
    horizon: int

    @property
    def n(self) -> int:
        """Number of configurations."""
        return int(self.gamma.size)

    def _reward(self, s: np.ndarray, a: np.ndarray) -> np.ndarray:
        return -(np.einsum("...ni,...ni->...n", s, _batched_matvec(self.Q, s))
                 + np.einsum("...ni,...ni->...n", a, _batched_matvec(self.R, a)))

    def value_gap(self, eps_dyn: ArrayLike, eps_rew: ArrayLike) -> np.ndarray:
        r"""Signed gap :math:`\hat J_H-J_H` (negative: both errors lower the return), by simulation.

        Parameters
        ----------
        eps_dyn, eps_rew
            Perturbation sizes, broadcast to ``(..., n)``; real or complex.

        Returns
        -------
        ndarray, shape ``(..., n)``
        """
        eps_dyn, eps_rew = np.broadcast_arrays(np.asarray(eps_dyn), np.asarray(eps_rew))
        shift = eps_dyn[..., None] * self.e
        # With a = -K s, the closed loop is s' = M s and the reward -s^T W s: one product per step.
        M = self.A - self.B @ self.K
        W = self.Q + np.swapaxes(self.K, -1, -2) @ self.R @ self.K
        s = np.array(self.s0)
        s_hat = s + 0 * shift
        total = np.zeros(eps_dyn.shape, dtype=np.result_type(eps_dyn, float))
        discount = np.ones(self.n)
        for _ in range(self.horizon):  # a recursion in t; configurations are independent
            cost, cost_hat = (np.einsum("...ni,...ni->...n", x, _batched_matvec(W, x))
                              for x in (s, s_hat))
            total = total + discount * (cost - cost_hat - eps_rew)
            s, s_hat = _batched_matvec(M, s), _batched_matvec(M, s_hat) + shift
            discount = discount * self.gamma
        return total


@dataclass(frozen=True, eq=False)
class AllocationBatch:
    r"""``n`` allocation problems on simulated systems (Figures 2 and 4, paper §4.2).

    Configuration ``i`` is a system (``system``, whose ``value_gap`` gives the simulated return
    error), a budget line :math:`c_{\rm dyn}N_{\rm dyn}+c_{\rm rew}N_{\rm rew}=B` and the power
    laws (3) that turn sample sizes into the perturbation sizes
    :math:`\varepsilon_{\rm dyn}=A_dN_{\rm dyn}^{-\alpha}`,
    :math:`\varepsilon_{\rm rew}=A_rN_{\rm rew}^{-\beta}`.

    Attributes
    ----------
    system : ValueFamilySystems or AlignedLQGSystems
    budget, cost_dyn, cost_rew, dyn_coef, alpha, rew_coef, beta : ndarray, shape ``(n,)``
    global_multiplier : ndarray, shape ``(n,)``
        The multiplier of Eq. (4) with the global (sup-norm) constants of Lemma 1:
        :func:`~imagination.bounds.dynamics_multiplier` of the system's constants.
    max_error : float
        :func:`realised_optimal_split` searches the part of the budget line where both errors
        are at most this (``inf``: the whole line, log-odds of the dynamics share in ±40).
    info : dict
        Generator parameters per configuration (e.g. ``sigma_ratio``, ``cost_ratio``).
    """

    system: Any
    budget: np.ndarray
    cost_dyn: np.ndarray
    cost_rew: np.ndarray
    dyn_coef: np.ndarray
    alpha: np.ndarray
    rew_coef: np.ndarray
    beta: np.ndarray
    global_multiplier: np.ndarray
    max_error: float = np.inf
    info: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not hasattr(self.system, "value_gap"):
            raise ValueError("system must have a value_gap(eps_dyn, eps_rew) method")
        n = self.system.n
        for name in ("budget", "cost_dyn", "cost_rew", "dyn_coef", "alpha", "rew_coef", "beta",
                     "global_multiplier"):
            object.__setattr__(self, name, _float_array(name, getattr(self, name), n))
        if not self.max_error > 0:
            raise ValueError(f"max_error must be > 0, got {self.max_error!r}")

    @property
    def n(self) -> int:
        """Number of configurations."""
        return int(self.system.n)

    def dyn_law(self, i: int) -> Any:
        """The dynamics power law of configuration ``i`` (a :class:`~.scaling.PowerLaw`)."""
        from .scaling import PowerLaw

        return PowerLaw(float(self.dyn_coef[i]), float(self.alpha[i]))

    def rew_law(self, i: int) -> Any:
        """The reward power law of configuration ``i`` (a :class:`~.scaling.PowerLaw`)."""
        from .scaling import PowerLaw

        return PowerLaw(float(self.rew_coef[i]), float(self.beta[i]))

    def errors(self, log_odds: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        r"""The errors :math:`\varepsilon_{\rm dyn},\varepsilon_{\rm rew}` at log-odds :math:`u`.

        With :math:`x=1/(1+e^{-u})`: :math:`N_{\rm dyn}=xB/c_{\rm dyn}`,
        :math:`N_{\rm rew}=(1-x)B/c_{\rm rew}`. ``log_odds`` broadcasts to ``(..., n)``; complex
        input is allowed (for complex-step derivatives).
        """
        u = np.asarray(log_odds)
        log_x, log_1mx = -np.log1p(np.exp(-u)), -np.log1p(np.exp(u))
        log_n_dyn = np.log(self.budget / self.cost_dyn) + log_x
        log_n_rew = np.log(self.budget / self.cost_rew) + log_1mx
        return (self.dyn_coef * np.exp(-self.alpha * log_n_dyn),
                self.rew_coef * np.exp(-self.beta * log_n_rew))

    def search_interval(self) -> tuple[np.ndarray, np.ndarray]:
        """Log-odds interval searched by :func:`realised_optimal_split`, per configuration."""
        lo, hi = np.full(self.n, -40.0), np.full(self.n, 40.0)
        if np.isfinite(self.max_error):
            # eps_dyn <= E  <=>  x >= (c_d / B) (A_d / E)^(1/alpha), likewise for 1 - x.
            E = self.max_error
            x_lo = self.cost_dyn / self.budget * (self.dyn_coef / E) ** (1 / self.alpha)
            y_lo = self.cost_rew / self.budget * (self.rew_coef / E) ** (1 / self.beta)
            if np.any(x_lo + y_lo >= 1):
                raise ValueError("no point of the budget line has both errors <= max_error")
            lo = np.maximum(lo, np.log(x_lo) - np.log1p(-x_lo))
            hi = np.minimum(hi, np.log1p(-y_lo) - np.log(y_lo))
        return lo, hi


def _as_system(obj: Any) -> Any:
    system = obj.system if isinstance(obj, AllocationBatch) else obj
    if not hasattr(system, "value_gap"):
        raise ValueError("expected an AllocationBatch or a system with a value_gap method, got "
                         f"{type(obj).__name__}")
    return system


def realised_sensitivities(systems: Any, *, h: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    r"""Realised value sensitivities :math:`S_f, S_r` by finite differences (paper §4.2).

    .. math::

       S_f=\frac{|V^\pi(s_0;f+h\Delta f,r)-V^\pi(s_0;f,r)|}{h\|\Delta f\|},\qquad
       S_r=\frac{|V^\pi(s_0;f,r+h\Delta r)-V^\pi(s_0;f,r)|}{h|\Delta r|},

    one-sided, as the paper writes them, along the systems' own unit directions
    (:math:`\|\Delta f\|=|\Delta r|=1`): :math:`\Delta f=+1`, :math:`\Delta r=+1` for
    :class:`ValueFamilySystems`; :math:`\Delta f=e`, :math:`\Delta r=-1` for
    :class:`AlignedLQGSystems`. Values are the simulated :math:`H`-step returns. For the linear
    family both are exact: :math:`S_f=L_r\sum_{t<H}t\gamma^t`, :math:`S_r=\sum_{t<H}\gamma^t`.
    The realised multiplier :math:`S_f/S_r` replaces the global one in Eq. (4).

    Parameters
    ----------
    systems
        An :class:`AllocationBatch`, or a system with a ``value_gap(eps_dyn, eps_rew)`` method.
    h
        Step, > 0. The default ``1e-6`` balances the truncation error, :math:`O(h)` relative for
        a curved value, against rounding, about :math:`10^{-16}|V|/(hS)`.

    Returns
    -------
    S_f, S_r : ndarray, shape ``(n,)``
    """
    system = _as_system(systems)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"h must be finite and > 0, got {h!r}")
    zero = np.zeros(system.n)
    S_f = np.abs(system.value_gap(zero + h, zero)) / h
    S_r = np.abs(system.value_gap(zero, zero + h)) / h
    return S_f, S_r


class RealisedSplit(NamedTuple):
    r"""The minimiser of the simulated return error on the budget line, per configuration.

    ``log_odds`` is :math:`u^*` (log-odds of the dynamics budget share), ``ratio``
    :math:`N_{\rm dyn}/N_{\rm rew}`, ``error`` the simulated :math:`|\hat J_H-J_H|` there.
    """

    log_odds: NDArray[np.float64]
    n_dyn: NDArray[np.float64]
    n_rew: NDArray[np.float64]
    ratio: NDArray[np.float64]
    eps_dyn: NDArray[np.float64]
    eps_rew: NDArray[np.float64]
    error: NDArray[np.float64]


def _error_slope(batch: AllocationBatch, u: np.ndarray, sign: np.ndarray) -> np.ndarray:
    # d|gap|/du by the complex step: Im g(u + i d) / d is exact to rounding (no cancellation),
    # since every map in the simulation is analytic; sign makes it the slope of |gap|.
    step = 1e-30
    eps_dyn, eps_rew = batch.errors(u + 1j * step)
    return sign * batch.system.value_gap(eps_dyn, eps_rew).imag / step


def realised_optimal_split(batch: AllocationBatch, *, grid: int = 2001,
                           xtol: float = 1e-12) -> RealisedSplit:
    r"""Minimise the *simulated* return error along each budget line (the realised optimum).

    Minimises :math:`E(u)=|\hat J_H-J_H|` at :math:`(\varepsilon_{\rm dyn}(u),
    \varepsilon_{\rm rew}(u))` over the log-odds :math:`u` of the dynamics budget share within
    :meth:`AllocationBatch.search_interval`: a global search on a grid of ``grid`` points, then
    bisection on the sign of :math:`E'(u)` between the grid neighbours of the best point, with
    :math:`E'` exact by the complex step, until the bracket is narrower than ``xtol``. The
    result is accurate to ``xtol`` in :math:`u`, hence in :math:`\log(N_{\rm dyn}/N_{\rm rew})`
    (function values alone could not locate a minimum better than about :math:`10^{-8}`).

    Parameters
    ----------
    batch
        The allocation problems.
    grid
        Grid points of the global search, >= 3.
    xtol
        Width of the final bracket in :math:`u`, > 0 (default ``1e-12``).

    Returns
    -------
    RealisedSplit

    Raises
    ------
    ValueError
        If the best grid point is at an end of the searched interval (no interior minimum
        there), or :math:`E'` does not change sign across the bracket.
    """
    if not isinstance(batch, AllocationBatch):
        raise ValueError(f"batch must be an AllocationBatch, got {type(batch).__name__}")
    grid = _check_int("grid", grid, 3)
    if not (np.isfinite(xtol) and xtol > 0):
        raise ValueError(f"xtol must be finite and > 0, got {xtol!r}")
    lo, hi = batch.search_interval()
    u = lo + (hi - lo) * np.linspace(0.0, 1.0, grid)[:, None]  # (grid, n)
    gaps = batch.system.value_gap(*batch.errors(u))
    best = np.argmin(np.abs(gaps), axis=0)
    if np.any((best == 0) | (best == grid - 1)):
        bad = np.flatnonzero((best == 0) | (best == grid - 1)).tolist()
        raise ValueError(f"configurations {bad}: the smallest simulated error is at an end of the "
                         "searched interval, so there is no interior optimum there")
    cols = np.arange(batch.n)
    sign = np.sign(gaps[best, cols])
    left, right = u[best - 1, cols], u[best + 1, cols]
    if np.any(_error_slope(batch, left, sign) >= 0) or np.any(
            _error_slope(batch, right, sign) <= 0):
        raise ValueError("the error's slope does not change sign around the best grid point")
    while np.max(right - left) > xtol:
        mid = 0.5 * (left + right)
        if np.all((mid == left) | (mid == right)):
            break  # float resolution of u reached
        falling = _error_slope(batch, mid, sign) < 0
        left, right = np.where(falling, mid, left), np.where(falling, right, mid)
    u_star = 0.5 * (left + right)
    eps_dyn, eps_rew = batch.errors(u_star)
    x, y = 1.0 / (1.0 + np.exp(-u_star)), 1.0 / (1.0 + np.exp(u_star))
    n_dyn, n_rew = batch.budget * x / batch.cost_dyn, batch.budget * y / batch.cost_rew
    error = np.abs(batch.system.value_gap(eps_dyn, eps_rew))
    return RealisedSplit(u_star, n_dyn, n_rew, np.exp(u_star) * batch.cost_rew / batch.cost_dyn,
                         eps_dyn, eps_rew, error)


def linear_value_configurations(n: int, *, rng: np.random.Generator,
                                horizon: int | None = None) -> AllocationBatch:
    r"""``n`` random allocation problems on the linear value family (Figure 2; ours).

    :class:`ValueFamilySystems` with ``family="linear"``: the return error is exactly
    :math:`S_f\varepsilon_{\rm dyn}+S_r\varepsilon_{\rm rew}`, so Eq. (4) with the realised
    multiplier :math:`S_f/S_r` must give the realised optimum. Distributions (ours, a priori):
    :math:`\gamma\sim U[0.5,0.95]`, :math:`L_r\sim U[0.5,2]`, :math:`s_0\sim U[-1,1]`,
    :math:`\alpha,\beta\sim U[0.2,1.2]`, :math:`A_r=1`, :math:`A_d=` ``sigma_ratio``
    log-uniform on :math:`[0.3,3]`, :math:`c_{\rm rew}=1`, :math:`c_{\rm dyn}=` ``cost_ratio``
    log-uniform on :math:`[0.1,10]`, budget log-uniform on :math:`[10^2,10^5]`. The global
    multiplier is :math:`\gamma L_r/(1-\gamma)` (:math:`L_f=1`, :math:`L_\pi=0`).

    Parameters
    ----------
    n
        Number of configurations, >= 1 (the paper uses 30).
    rng
        Source of every random draw.
    horizon
        Simulated steps; default: enough for :math:`\gamma^H` to vanish in float64.

    Returns
    -------
    AllocationBatch
    """
    from .bounds import dynamics_multiplier

    n = _check_int("n", n, 1)
    rng = _check_rng(rng)
    gamma = rng.uniform(0.5, 0.95, n)
    L_r = rng.uniform(0.5, 2.0, n)
    s0 = rng.uniform(-1.0, 1.0, n)
    alpha, beta = rng.uniform(0.2, 1.2, n), rng.uniform(0.2, 1.2, n)
    sigma_ratio = 10.0 ** rng.uniform(np.log10(0.3), np.log10(3.0), n)
    cost_ratio = 10.0 ** rng.uniform(-1.0, 1.0, n)
    budget = 10.0 ** rng.uniform(2.0, 5.0, n)
    H = _discount_horizon(gamma) if horizon is None else _check_int("horizon", horizon, 1)
    system = ValueFamilySystems("linear", gamma, s0, L_r, np.ones(n), H)
    return AllocationBatch(
        system, budget, cost_ratio, np.ones(n), sigma_ratio, alpha, np.ones(n), beta,
        dynamics_multiplier(gamma, 1.0, L_r, 0.0),
        info={"sigma_ratio": sigma_ratio, "cost_ratio": cost_ratio},
    )


def value_family_grid(
    family: str, *, sigma_ratios: ArrayLike = (0.3, 1.0, 3.0),
    cost_ratios: ArrayLike = (0.1, 1.0, 10.0), gamma: float = 0.8, s0: float = 0.5,
    L_r: float = 1.0, lam: float = 1.0, sigma_rew: float = 1.0, exponent: float = 0.5,
    budget: float = 1e5, max_error: float | None = None, horizon: int | None = None,
) -> AllocationBatch:
    r"""The 3 x 3 grids of Figure 2: ``sigma_ratio`` x ``cost_ratio`` on one value family (ours).

    The paper fixes :math:`L_f=L_r=\lambda=1` and varies ``sigma_ratio`` in {0.3, 1, 3} and
    ``cost_ratio`` in {0.1, 1, 10}; what those mean is not recoverable (paper.md §4). Ours, on
    :class:`ValueFamilySystems` (:math:`L_f=1` by construction):

    - ``sigma_ratio`` :math:`=\sigma_{\rm dyn}/\sigma_{\rm rew}`, the ratio of the error scales
      of the two power laws, :math:`\varepsilon_{\rm dyn}=\sigma_{\rm dyn}N_{\rm dyn}^{-1/2}` and
      :math:`\varepsilon_{\rm rew}=\sigma_{\rm rew}N_{\rm rew}^{-1/2}` (exponent 1/2: the standard
      error of a mean of :math:`N` labels with noise :math:`\sigma`);
    - ``cost_ratio`` :math:`=c_{\rm dyn}/c_{\rm rew}` with :math:`c_{\rm rew}=1`;
    - :math:`\lambda` is the nonlinearity scale of the value function
      (:class:`ValueFamilySystems`).

    The global multiplier is :math:`\gamma L_r/(1-\gamma)`: Eq. (4) with :math:`L_f=1`,
    :math:`L_\pi=0` and :math:`L_r` the sup of :math:`|r'|` (over :math:`|s|\le1/\lambda` for the
    quadratic family).

    Parameters
    ----------
    family
        One of :data:`VALUE_FAMILIES`.
    sigma_ratios, cost_ratios
        The grid values (> 0); configurations run over ``sigma_ratio`` slowest.
    gamma, s0, L_r, lam
        The system (:math:`0<\gamma<1`; :math:`r'(s_0)>0` is required).
    sigma_rew, exponent, budget
        :math:`\sigma_{\rm rew}`, the common exponent of both laws, and :math:`B`.
    max_error
        Passed to :class:`AllocationBatch`: the realised optimum is sought where both errors are
        at most this. Default :math:`(1-\gamma)/(2\lambda)`: the imagined state drifts by
        :math:`\varepsilon_{\rm dyn}` per step, so by about :math:`\varepsilon_{\rm dyn}/(1-\gamma)`
        over the effective horizon, which this keeps within half the nonlinearity scale
        :math:`1/\lambda`. Far beyond it a sine value turns over and its dynamics part can cancel
        the reward error by chance: the cancellation the sign-aligned construction excludes.
    horizon
        Simulated steps; default: enough for :math:`\gamma^H` to vanish in float64.

    Returns
    -------
    AllocationBatch
    """
    from .bounds import dynamics_multiplier

    if family not in VALUE_FAMILIES:
        raise ValueError(f"family must be one of {VALUE_FAMILIES}, got {family!r}")
    sig = _float_array("sigma_ratios", sigma_ratios)
    cost = _float_array("cost_ratios", cost_ratios)
    sigma_ratio, cost_ratio = (a.ravel() for a in np.meshgrid(sig, cost, indexing="ij"))
    n = sigma_ratio.size
    g = _float_array("gamma", np.full(n, gamma), n, upper=1.0)
    if max_error is None:
        max_error = (1.0 - gamma) / (2.0 * lam)
    H = _discount_horizon(g) if horizon is None else _check_int("horizon", horizon, 1)
    system = ValueFamilySystems(family, g, np.full(n, s0), np.full(n, L_r), np.full(n, lam), H)
    ones = np.ones(n)
    return AllocationBatch(
        system, budget * ones, cost_ratio, ones, sigma_rew * sigma_ratio, exponent * ones,
        sigma_rew * ones, exponent * ones, dynamics_multiplier(g, 1.0, L_r, 0.0),
        max_error=max_error, info={"sigma_ratio": sigma_ratio, "cost_ratio": cost_ratio},
    )


def figure4_configurations(
    n: int, *, rng: np.random.Generator, gamma: float = 0.8,
    rate: tuple[float, float] = (0.224, 0.228), dyn_law: tuple[float, float] = (0.34, 0.11),
    rew_law: tuple[float, float] = (90.4, 0.96), budget: tuple[float, float] = (1e4, 1e6),
    cost_ratio: tuple[float, float] = (0.1, 10.0), d_s: int = 4, d_a: int = 2,
    horizon: int | None = None,
) -> AllocationBatch:
    r"""``n`` LQG-type allocation problems at the paper's Figure 4 settings (ours otherwise).

    Matrices :math:`A,B,K,Q,R` and :math:`s_0` come from :func:`lqg_configurations`; then
    :math:`A, B` are rescaled so that :math:`\gamma L_f(1+L_\pi)` is uniform on ``rate`` at the
    given :math:`\gamma` (the paper: 0.8 and [0.224, 0.228]), which also rescales the closed loop
    :math:`M=A-BK`, keeping :math:`\|M\|_2\le L_f(1+L_\pi)<1`. The model errors are the
    sign-aligned constant ones of :class:`AlignedLQGSystems`, valid up to
    :math:`\varepsilon_{\rm cap}=(1-\|M\|_2)\|s_0\|` (so the ball has radius :math:`\|s_0\|`).
    Power laws: by default the paper's Figure 1 fits, :math:`0.34N^{-0.11}` and
    :math:`90.4N^{-0.96}`; :math:`c_{\rm rew}=1`, :math:`c_{\rm dyn}` log-uniform on
    ``cost_ratio``, budget log-uniform on ``budget`` (ours).

    Parameters
    ----------
    n
        Number of configurations (the paper uses 30).
    rng
        Source of every random draw.
    gamma, rate
        Discount factor and the interval of :math:`\gamma L_f(1+L_\pi)`.
    dyn_law, rew_law
        ``(coef, exponent)`` of each power law.
    budget, cost_ratio
        Intervals of the log-uniform budget and cost ratio.
    d_s, d_a
        Dimensions.
    horizon
        Simulated steps; default: enough for :math:`\gamma^H` to vanish in float64.

    Returns
    -------
    AllocationBatch
        With ``system`` an :class:`AlignedLQGSystems` and ``global_multiplier`` the multiplier
        of Eq. (4) from its global constants.
    """
    from .bounds import dynamics_multiplier

    if not 0 < gamma < 1:
        raise ValueError(f"gamma must satisfy 0 < gamma < 1, got {gamma!r}")
    if not 0 < rate[0] <= rate[1] < 1:
        raise ValueError(f"rate must be an interval inside (0, 1), got {rate!r}")
    base = lqg_configurations(n, horizon=1, rng=rng, d_s=d_s, d_a=d_a)
    n = base.n
    L_pi = _spectral_norm(base.K)
    L_f0 = np.maximum(_spectral_norm(base.A), _spectral_norm(base.B))
    scale = rng.uniform(rate[0], rate[1], n) / (gamma * L_f0 * (1.0 + L_pi))
    A, B, K = base.A * scale[:, None, None], base.B * scale[:, None, None], np.array(base.K)
    L_f = L_f0 * scale
    M = A - B @ K
    g = np.full(n, float(gamma))
    H = _discount_horizon(g) if horizon is None else _check_int("horizon", horizon, 1)
    # Steepest-descent direction of the return for a constant shift w of the dynamics:
    # d J^/dw = sum_t gamma^t P_t^T grad_s r(s_t, -K s_t), P_{t+1} = M P_t + I, P_0 = 0.
    W = base.Q + np.swapaxes(K, -1, -2) @ base.R @ K
    s, P, grad = np.array(base.s0), np.zeros_like(M), np.zeros_like(base.s0)
    for t in range(H):
        grad += gamma**t * np.einsum("nji,nj->ni", P, -2.0 * _batched_matvec(W, s))
        s, P = _batched_matvec(M, s), M @ P + np.eye(base.d_s)
    e = -grad / np.linalg.norm(grad, axis=-1, keepdims=True)
    s0_norm = np.linalg.norm(base.s0, axis=-1)
    eps_cap = (1.0 - _spectral_norm(M)) * s0_norm
    radius = np.maximum(s0_norm, eps_cap / (1.0 - _spectral_norm(M)))
    L_r = 2.0 * radius * np.maximum(_spectral_norm(base.Q), _spectral_norm(base.R) * L_pi)
    system = AlignedLQGSystems(g, A, B, K, np.array(base.Q), np.array(base.R), np.array(base.s0),
                               e, eps_cap, radius, L_f, L_r, L_pi, H)
    cost = 10.0 ** rng.uniform(np.log10(cost_ratio[0]), np.log10(cost_ratio[1]), n)
    budgets = 10.0 ** rng.uniform(np.log10(budget[0]), np.log10(budget[1]), n)
    ones = np.ones(n)
    return AllocationBatch(
        system, budgets, cost, ones, dyn_law[0] * ones, dyn_law[1] * ones, rew_law[0] * ones,
        rew_law[1] * ones, dynamics_multiplier(g, L_f, L_r, L_pi), info={"cost_ratio": cost},
    )
