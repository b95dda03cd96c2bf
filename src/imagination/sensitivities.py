r"""Figures 2 and 4 of the paper (§4.2): does Eq. (4) predict the realised optimal split?

Eq. (4) predicts the split of a budget between dynamics and reward samples from a multiplier built
from global Lipschitz constants. Figure 2 asks whether it predicts the split that actually
minimises a *simulated* return error once that multiplier is replaced by the *realised*
sensitivities :math:`S_f, S_r` of the value to each model's error (:func:`realised_sensitivities`);
Figure 4 shows the global multiplier over-shooting. This module holds the test beds (the
value-function families of Figure 2, :class:`ValueFamilySystems`; the LQG-type systems of Figure 4,
:class:`AlignedLQGSystems`), the allocation problems on them (:class:`AllocationProblems` and its
generators :func:`linear_value_configurations`, :func:`value_family_grid`,
:func:`figure4_configurations`) and the realised optimum (:func:`realised_optimal_split`). Used by
chapter 4 ("The optimal split"). The families and their parameters are ours: the paper's are not
recoverable (paper.md §4).

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Theorem 1, Eq. (4), Figures 2 and 4.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binomtest

from ._checks import check_float_array, check_int, check_positive, check_positive_array, check_rng
from ._linalg import batched_matvec, spectral_norm
from .allocation import ELL_READINGS, EllReadings, budget_line, ell_readings, optimal_allocation
from .bounds import dynamics_multiplier
from .figure3 import lqg_configurations
from .scaling import PowerLaw

__all__ = [
    "ERROR_DIRECTIONS",
    "VALUE_FAMILIES",
    "AlignedLQGSystems",
    "AllocationBatch",
    "AllocationProblems",
    "BatchReadings",
    "PhaseFieldLQGSystems",
    "PredictedSplit",
    "RealisedOptimum",
    "RealisedSplit",
    "SignTest",
    "SignedOptimum",
    "ValueFamilySystems",
    "evaluate_readings",
    "figure2_ell_cell",
    "figure4_configurations",
    "figure4_ell_cell",
    "linear_value_configurations",
    "predicted_split",
    "realised_optimal_split",
    "realised_optimal_split_signed",
    "realised_sensitivities",
    "sign_test",
    "summarise_readings",
    "value_family_grid",
]

#: Value-function families of Figure 2 (paper §4.2); the constructions are ours.
VALUE_FAMILIES = ("linear", "tanh", "sin", "quadratic")


def _discount_horizon(gamma: np.ndarray, tail: float = 1e-18) -> int:
    # Steps after which gamma^t (and t gamma^t, t^2 gamma^t) no longer change a float64 sum.
    g = float(np.max(gamma))
    return int(np.ceil(np.log(tail) / np.log(g))) + int(np.ceil(3.0 / (1.0 - g)))



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
        object.__setattr__(self, "gamma", check_float_array("gamma", self.gamma, n, upper=1.0))
        object.__setattr__(self, "s0", np.array(self.s0, dtype=float, ndmin=1))
        if self.s0.shape != (n,) or not np.all(np.isfinite(self.s0)):
            raise ValueError(f"s0 must be finite with shape ({n},), got {self.s0!r}")
        self.s0.setflags(write=False)
        object.__setattr__(self, "L_r", check_float_array("L_r", self.L_r, n))
        object.__setattr__(self, "lam", check_float_array("lam", self.lam, n))
        check_int("horizon", self.horizon, 1)
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
    quadratic) and :math:`a=-e\cdot g\ge0` whenever :math:`e\cdot g\le0`, with
    :math:`g=\nabla_w\hat J|_{w=0}` for a constant shift :math:`w`: by default
    (:func:`figure4_configurations`) :math:`e=-g/\|g\|`, the direction in which the return falls
    fastest, so :math:`a=\|g\|`.

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
        return -(np.einsum("...ni,...ni->...n", s, batched_matvec(self.Q, s))
                 + np.einsum("...ni,...ni->...n", a, batched_matvec(self.R, a)))

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
            cost, cost_hat = (np.einsum("...ni,...ni->...n", x, batched_matvec(W, x))
                              for x in (s, s_hat))
            total = total + discount * (cost - cost_hat - eps_rew)
            s, s_hat = batched_matvec(M, s), batched_matvec(M, s_hat) + shift
            discount = discount * self.gamma
        return total


#: Error directions of :func:`figure4_configurations`.
ERROR_DIRECTIONS = ("steepest", "random", "phase")


@dataclass(frozen=True, eq=False)
class PhaseFieldLQGSystems:
    r"""LQG systems with chapter 1's rotating error fields and random phases: *not* sign-aligned.

    The systems of :class:`AlignedLQGSystems` (:math:`f(s,a)=As+Ba`, :math:`\pi(s)=-\Gamma s`,
    :math:`r(s,a)=-(s^\top Qs+a^\top Ra)`), with the learned model of chapter 1's Figure 3
    test beds and a random phase on each error:

    .. math::

       \hat f=f+\varepsilon_{\rm dyn}\bigl(e_1\cos\theta+e_2\sin\theta\bigr),\quad
       \theta=q\cdot[s,a]+\varphi,\qquad
       \hat r=r+\varepsilon_{\rm rew}\cos(q'\cdot[s,a]+\varphi'),

    with :math:`e_1\perp e_2` unit vectors, so :math:`\|\hat f-f\|=\varepsilon_{\rm dyn}`
    everywhere and :math:`\sup|\hat r-r|=\varepsilon_{\rm rew}`: Lemma 1's sup-norm errors are
    exact. The two parts of the gap can have either sign and can cancel, so no theorem fixes the
    sign of :math:`\ell`: here the sign test of Figure 4 is a test. ``value_gap`` is analytic in
    both errors (polynomials, cos and sin), so the complex step of
    :func:`realised_optimal_split` is exact. The constants of Lemma 1 are those of
    :class:`AlignedLQGSystems` on the ball of radius :math:`\|s_0\|`: its induction needs only
    :math:`\|\hat f-f\|\le\varepsilon_{\rm dyn}\le\varepsilon_{\rm cap}`.

    Attributes
    ----------
    gamma, eps_cap, radius, L_f, L_r, L_pi : ndarray, shape ``(n,)``
    A, B, K, Q, R, s0 : ndarray
        As in :class:`AlignedLQGSystems`.
    e1, e2 : ndarray, shape ``(n, d_s)``
        Orthonormal directions of the rotating dynamics error.
    q_dyn, q_rew : ndarray, shape ``(n, d_s + d_a)``
        Frequencies of the two fields.
    phase_dyn, phase_rew : ndarray, shape ``(n,)``
        Their phases.
    horizon : int
    """

    gamma: np.ndarray
    A: np.ndarray
    B: np.ndarray
    K: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    s0: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    q_dyn: np.ndarray
    q_rew: np.ndarray
    phase_dyn: np.ndarray
    phase_rew: np.ndarray
    eps_cap: np.ndarray
    radius: np.ndarray
    L_f: np.ndarray
    L_r: np.ndarray
    L_pi: np.ndarray
    horizon: int

    def __post_init__(self) -> None:
        n, d_s, d_a = np.shape(self.B)
        if not np.allclose(np.einsum("ni,ni->n", self.e1, self.e2), 0, atol=1e-12):
            raise ValueError("e1 and e2 must be orthogonal in every configuration")
        for name in ("e1", "e2"):
            if not np.allclose(np.linalg.norm(getattr(self, name), axis=-1), 1, atol=1e-12):
                raise ValueError(f"{name} must be unit vectors")
        if np.shape(self.q_dyn) != (n, d_s + d_a) or np.shape(self.q_rew) != (n, d_s + d_a):
            raise ValueError(f"q_dyn and q_rew must have shape ({n}, {d_s + d_a})")
        check_int("horizon", self.horizon, 1)

    @property
    def n(self) -> int:
        """Number of configurations."""
        return int(self.gamma.size)

    def value_gap(self, eps_dyn: ArrayLike, eps_rew: ArrayLike) -> np.ndarray:
        r"""Signed gap :math:`\hat J_H-J_H`, by simulation; real or complex errors.

        Parameters
        ----------
        eps_dyn, eps_rew
            Perturbation sizes, broadcast to ``(..., n)``.

        Returns
        -------
        ndarray, shape ``(..., n)``
        """
        eps_dyn, eps_rew = np.broadcast_arrays(np.asarray(eps_dyn), np.asarray(eps_rew))
        d_s = self.s0.shape[-1]
        M = self.A - self.B @ self.K
        KT = np.swapaxes(self.K, -1, -2)
        W = self.Q + KT @ self.R @ self.K
        # q . [s, -K s] = (q_s - K^T q_a) . s: the phases along the closed loop.
        p_dyn = self.q_dyn[:, :d_s] - np.einsum("nij,nj->ni", KT, self.q_dyn[:, d_s:])
        p_rew = self.q_rew[:, :d_s] - np.einsum("nij,nj->ni", KT, self.q_rew[:, d_s:])
        s = np.array(self.s0, dtype=float)
        s_hat = s + 0 * eps_dyn[..., None]
        total = np.zeros(eps_dyn.shape, dtype=np.result_type(eps_dyn, eps_rew, float))
        discount = np.ones(self.n)
        for _ in range(self.horizon):  # a recursion in t; configurations are independent
            cost = np.einsum("ni,ni->n", s, batched_matvec(W, s))
            cost_hat = np.einsum("...ni,...ni->...n", s_hat, batched_matvec(W, s_hat))
            theta_r = np.einsum("ni,...ni->...n", p_rew, s_hat) + self.phase_rew
            total = total + discount * (cost - cost_hat + eps_rew * np.cos(theta_r))
            theta = (np.einsum("ni,...ni->...n", p_dyn, s_hat) + self.phase_dyn)[..., None]
            field = self.e1 * np.cos(theta) + self.e2 * np.sin(theta)
            s, s_hat = batched_matvec(M, s), batched_matvec(M, s_hat) + eps_dyn[..., None] * field
            discount = discount * self.gamma
        return total



@dataclass(frozen=True, eq=False)
class AllocationProblems:
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
            object.__setattr__(self, name, check_float_array(name, getattr(self, name), n))
        if not self.max_error > 0:
            raise ValueError(f"max_error must be > 0, got {self.max_error!r}")

    @property
    def n(self) -> int:
        """Number of configurations."""
        return int(self.system.n)

    def line_keywords(self) -> dict[str, np.ndarray]:
        r"""The budget lines and power laws as the keywords of
        :func:`~imagination.allocation.optimal_log_odds` and the readings of :math:`\ell`
        (``budget, cost_dyn, cost_rew, dyn_coef, alpha, rew_coef, beta``)."""
        return {k: getattr(self, k) for k in ("budget", "cost_dyn", "cost_rew", "dyn_coef",
                                              "alpha", "rew_coef", "beta")}

    def dyn_law(self, i: int) -> Any:
        """The dynamics power law of configuration ``i`` (a :class:`~.scaling.PowerLaw`)."""
        return PowerLaw(float(self.dyn_coef[i]), float(self.alpha[i]))

    def rew_law(self, i: int) -> Any:
        """The reward power law of configuration ``i`` (a :class:`~.scaling.PowerLaw`)."""
        return PowerLaw(float(self.rew_coef[i]), float(self.beta[i]))

    def errors(self, log_odds: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        r"""The errors :math:`\varepsilon_{\rm dyn},\varepsilon_{\rm rew}` at log-odds :math:`u`.

        With :math:`x=1/(1+e^{-u})`: :math:`N_{\rm dyn}=xB/c_{\rm dyn}`,
        :math:`N_{\rm rew}=(1-x)B/c_{\rm rew}`. ``log_odds`` broadcasts to ``(..., n)``; complex
        input is allowed (for complex-step derivatives).
        """
        log_n_dyn, log_n_rew = budget_line(self.budget, self.cost_dyn, self.cost_rew,
                                           log_odds=log_odds, log=True)
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
    system = obj.system if isinstance(obj, AllocationProblems) else obj
    if not hasattr(system, "value_gap"):
        raise ValueError("expected an AllocationProblems or a system with a value_gap method, got "
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
    :class:`AlignedLQGSystems`; the rotating unit fields for :class:`PhaseFieldLQGSystems`.
    Values are the simulated :math:`H`-step returns. For the linear family both are exact:
    :math:`S_f=L_r\sum_{t<H}t\gamma^t`, :math:`S_r=\sum_{t<H}\gamma^t`.
    The realised multiplier :math:`S_f/S_r` replaces the global one in Eq. (4).

    Parameters
    ----------
    systems
        An :class:`AllocationProblems`, or a system with a ``value_gap(eps_dyn, eps_rew)`` method.
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


class RealisedOptimum(NamedTuple):
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


class SignedOptimum(NamedTuple):
    r""":class:`RealisedOptimum` plus ``crossing``: whether the minimum of
    :math:`|\hat J_H-J_H|` is a zero of the signed gap (the two errors cancel there).

    With ``on_boundary="nan"`` the configurations without an interior minimum are ``nan``
    (and ``crossing`` is ``False`` there).
    """

    log_odds: NDArray[np.float64]
    n_dyn: NDArray[np.float64]
    n_rew: NDArray[np.float64]
    ratio: NDArray[np.float64]
    eps_dyn: NDArray[np.float64]
    eps_rew: NDArray[np.float64]
    error: NDArray[np.float64]
    crossing: NDArray[np.bool_]


def realised_optimal_split_signed(batch: AllocationProblems, *, grid: int = 2001,
                                  xtol: float = 1e-12, on_boundary: str = "raise"
                                  ) -> SignedOptimum:
    r"""Minimise :math:`|\hat J_H-J_H|` on each budget line, also where the gap changes sign.

    A global search on a grid of ``grid`` points, then a bisection between the grid neighbours
    of the best point until the bracket is narrower than ``xtol`` in the log-odds :math:`u`:

    - where the signed gap keeps its sign around the best point (always, for sign-aligned
      errors), on the sign of the slope of :math:`|{\rm gap}|`, exact by the complex step;
    - where it changes sign between the best point and a neighbour (non-aligned errors that
      cancel, e.g. :class:`PhaseFieldLQGSystems`), on the sign of the gap: the minimum of
      :math:`|{\rm gap}|` is then a zero of the gap, a kink, and ``crossing`` is ``True``.

    One complex evaluation per step gives both (real part: the gap; imaginary part over the
    step: its slope). On sign-aligned batches the result is :func:`realised_optimal_split`'s
    bit for bit (it is that function; tested against a freeze of its earlier outputs).

    Parameters
    ----------
    batch
        The allocation problems (any system with an analytic ``value_gap``).
    grid
        Grid points of the global search, >= 3.
    xtol
        Width of the final bracket in :math:`u`, > 0.
    on_boundary
        ``"raise"``, or ``"nan"``: configurations whose best grid point is an end of the searched
        interval, or whose slope does not change sign around it, get ``nan`` (for sweeps).

    Returns
    -------
    SignedOptimum

    Raises
    ------
    ValueError
        With ``on_boundary="raise"``: if the best grid point is at an end of the searched
        interval (no interior minimum there), or the slope does not change sign across the
        bracket.
    """
    if not isinstance(batch, AllocationProblems):
        raise ValueError(f"batch must be an AllocationProblems, got {type(batch).__name__}")
    grid = check_int("grid", grid, 3)
    if not (np.isfinite(xtol) and xtol > 0):
        raise ValueError(f"xtol must be finite and > 0, got {xtol!r}")
    if on_boundary not in ("raise", "nan"):
        raise ValueError(f"on_boundary must be 'raise' or 'nan', got {on_boundary!r}")
    step = 1e-30
    lo, hi = batch.search_interval()
    u = lo + (hi - lo) * np.linspace(0.0, 1.0, grid)[:, None]  # (grid, n)
    gaps = batch.system.value_gap(*batch.errors(u))
    best = np.argmin(np.abs(gaps), axis=0)
    cols = np.arange(batch.n)
    bad = (best == 0) | (best == grid - 1)
    if np.any(bad) and on_boundary == "raise":
        raise ValueError(f"configurations {np.flatnonzero(bad).tolist()}: the smallest simulated "
                         "error is at an end of the searched interval, so there is no interior "
                         "optimum there")
    b = np.clip(best, 1, grid - 2)
    g_best, g_left, g_right = gaps[b, cols], gaps[b - 1, cols], gaps[b + 1, cols]
    cross_left = g_left * g_best <= 0
    cross_right = ~cross_left & (g_best * g_right <= 0)
    crossing = cross_left | cross_right
    left = np.where(cross_right, u[b, cols], u[b - 1, cols])
    right = np.where(cross_left, u[b, cols], u[b + 1, cols])
    sign = np.sign(g_best)
    left_sign = np.sign(np.where(cross_left, g_left, g_best))  # the gap's sign at `left`

    def gap_and_slope(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Im g(u + i d) / d is the slope exact to rounding (every map is analytic); the real
        # part is the gap to O(d^2).
        value = batch.system.value_gap(*batch.errors(x + 1j * step))
        return value.real, value.imag / step

    _, s_left = gap_and_slope(left)
    _, s_right = gap_and_slope(right)
    smooth_bad = ~crossing & ((sign * s_left >= 0) | (sign * s_right <= 0))
    if np.any(smooth_bad & ~bad) and on_boundary == "raise":
        raise ValueError("the error's slope does not change sign around the best grid point")
    bad = bad | smooth_bad
    while np.max(np.where(bad, 0.0, right - left)) > xtol:
        mid = 0.5 * (left + right)
        if np.all((mid == left) | (mid == right) | bad):
            break  # float resolution of u reached
        value, slope = gap_and_slope(mid)
        move_left = np.where(crossing, np.sign(value) == left_sign, sign * slope < 0)
        left, right = np.where(move_left, mid, left), np.where(move_left, right, mid)
    u_star = np.where(bad, np.nan, 0.5 * (left + right))
    safe = np.where(bad, 0.0, u_star)
    eps_dyn, eps_rew = batch.errors(safe)
    n_dyn, n_rew = budget_line(batch.budget, batch.cost_dyn, batch.cost_rew, log_odds=safe)
    error = np.abs(batch.system.value_gap(eps_dyn, eps_rew))
    nan = np.where(bad, np.nan, 1.0)
    return SignedOptimum(u_star, n_dyn * nan, n_rew * nan,
                         np.exp(u_star) * batch.cost_rew / batch.cost_dyn, eps_dyn * nan,
                         eps_rew * nan, error * nan, crossing & ~bad)


def realised_optimal_split(batch: AllocationProblems, *, grid: int = 2001,
                           xtol: float = 1e-12) -> RealisedOptimum:
    r"""Minimise the *simulated* return error along each budget line (the realised optimum).

    Minimises :math:`E(u)=|\hat J_H-J_H|` at :math:`(\varepsilon_{\rm dyn}(u),
    \varepsilon_{\rm rew}(u))` over the log-odds :math:`u` of the dynamics budget share within
    :meth:`AllocationProblems.search_interval`: a global search on a grid of ``grid`` points, then
    bisection on the sign of :math:`E'(u)` between the grid neighbours of the best point, with
    :math:`E'` exact by the complex step, until the bracket is narrower than ``xtol``. The
    result is accurate to ``xtol`` in :math:`u`, hence in :math:`\log(N_{\rm dyn}/N_{\rm rew})`
    (function values alone could not locate a minimum better than about :math:`10^{-8}`). Where
    the signed gap changes sign (non-aligned errors that cancel), the bisection is on the sign
    of the gap instead (:func:`realised_optimal_split_signed`, which also reports where).

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
    RealisedOptimum

    Raises
    ------
    ValueError
        If the best grid point is at an end of the searched interval (no interior minimum
        there), or :math:`E'` does not change sign across the bracket.
    """
    found = realised_optimal_split_signed(batch, grid=grid, xtol=xtol, on_boundary="raise")
    return RealisedOptimum(*found[:7])


class PredictedSplit(NamedTuple):
    r"""Eq. (4)'s split for every problem of an :class:`AllocationProblems` (arrays, shape
    ``(n,)``): sample sizes, :math:`N_{\rm dyn}/N_{\rm rew}`, errors and dynamics budget share
    at the optimum of :func:`~imagination.allocation.optimal_allocation`."""

    n_dyn: NDArray[np.float64]
    n_rew: NDArray[np.float64]
    ratio: NDArray[np.float64]
    eps_dyn: NDArray[np.float64]
    eps_rew: NDArray[np.float64]
    dyn_share: NDArray[np.float64]


def predicted_split(problems: AllocationProblems, multiplier: ArrayLike) -> PredictedSplit:
    r"""The split Eq. (4) predicts for every problem, with the given multiplier(s).

    Solves Theorem 1 exactly (:func:`~imagination.allocation.optimal_allocation`) on each
    problem's budget line and power laws, with ``multiplier[i]`` in place of the multiplier of
    Eq. (4): e.g. the global one (``problems.global_multiplier``) or a realised :math:`S_f/S_r`
    (:func:`realised_sensitivities`).

    Parameters
    ----------
    problems
        The allocation problems.
    multiplier
        One multiplier > 0 per problem, shape ``(n,)`` (or a scalar for all).

    Returns
    -------
    PredictedSplit
    """
    if not isinstance(problems, AllocationProblems):
        raise ValueError(f"problems must be an AllocationProblems, got {type(problems).__name__}")
    m = np.broadcast_to(np.asarray(multiplier, dtype=float), (problems.n,))
    out = [optimal_allocation(problems.budget[i], problems.cost_dyn[i], problems.cost_rew[i],
                              problems.dyn_law(i), problems.rew_law(i), m[i])
           for i in range(problems.n)]
    return PredictedSplit(*(np.array([getattr(a, f) for a in out])
                            for f in PredictedSplit._fields))


def linear_value_configurations(n: int, *, rng: np.random.Generator,
                                horizon: int | None = None) -> AllocationProblems:
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
    AllocationProblems
    """
    n = check_int("n", n, 1)
    rng = check_rng(rng)
    gamma = rng.uniform(0.5, 0.95, n)
    L_r = rng.uniform(0.5, 2.0, n)
    s0 = rng.uniform(-1.0, 1.0, n)
    alpha, beta = rng.uniform(0.2, 1.2, n), rng.uniform(0.2, 1.2, n)
    sigma_ratio = 10.0 ** rng.uniform(np.log10(0.3), np.log10(3.0), n)
    cost_ratio = 10.0 ** rng.uniform(-1.0, 1.0, n)
    budget = 10.0 ** rng.uniform(2.0, 5.0, n)
    H = _discount_horizon(gamma) if horizon is None else check_int("horizon", horizon, 1)
    system = ValueFamilySystems("linear", gamma, s0, L_r, np.ones(n), H)
    return AllocationProblems(
        system, budget, cost_ratio, np.ones(n), sigma_ratio, alpha, np.ones(n), beta,
        dynamics_multiplier(gamma, 1.0, L_r, 0.0),
        info={"sigma_ratio": sigma_ratio, "cost_ratio": cost_ratio},
    )


def value_family_grid(
    family: str, *, sigma_ratios: ArrayLike = (0.3, 1.0, 3.0),
    cost_ratios: ArrayLike = (0.1, 1.0, 10.0), gamma: float = 0.8, s0: float = 0.5,
    L_r: float = 1.0, lam: float = 1.0, sigma_rew: float = 1.0, exponent: float = 0.5,
    budget: float = 1e5, max_error: float | None = None, horizon: int | None = None,
) -> AllocationProblems:
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
        Passed to :class:`AllocationProblems`: the realised optimum is sought where both errors are
        at most this. Default :math:`(1-\gamma)/(2\lambda)`: the imagined state drifts by
        :math:`\varepsilon_{\rm dyn}` per step, so by about :math:`\varepsilon_{\rm dyn}/(1-\gamma)`
        over the effective horizon, which this keeps within half the nonlinearity scale
        :math:`1/\lambda`. Far beyond it a sine value turns over and its dynamics part can cancel
        the reward error by chance: the cancellation the sign-aligned construction excludes.
    horizon
        Simulated steps; default: enough for :math:`\gamma^H` to vanish in float64.

    Returns
    -------
    AllocationProblems
    """
    if family not in VALUE_FAMILIES:
        raise ValueError(f"family must be one of {VALUE_FAMILIES}, got {family!r}")
    sig = check_float_array("sigma_ratios", sigma_ratios)
    cost = check_float_array("cost_ratios", cost_ratios)
    sigma_ratio, cost_ratio = (a.ravel() for a in np.meshgrid(sig, cost, indexing="ij"))
    n = sigma_ratio.size
    g = check_float_array("gamma", np.full(n, gamma), n, upper=1.0)
    if max_error is None:
        max_error = (1.0 - gamma) / (2.0 * lam)
    H = _discount_horizon(g) if horizon is None else check_int("horizon", horizon, 1)
    system = ValueFamilySystems(family, g, np.full(n, s0), np.full(n, L_r), np.full(n, lam), H)
    ones = np.ones(n)
    return AllocationProblems(
        system, budget * ones, cost_ratio, ones, sigma_rew * sigma_ratio, exponent * ones,
        sigma_rew * ones, exponent * ones, dynamics_multiplier(g, 1.0, L_r, 0.0),
        max_error=max_error, info={"sigma_ratio": sigma_ratio, "cost_ratio": cost_ratio},
    )


def figure4_configurations(
    n: int, *, rng: np.random.Generator, gamma: float = 0.8,
    rate: tuple[float, float] = (0.224, 0.228), dyn_law: tuple[float, float] = (0.34, 0.11),
    rew_law: tuple[float, float] = (90.4, 0.96), budget: tuple[float, float] = (1e4, 1e6),
    cost_ratio: tuple[float, float] = (0.1, 10.0), d_s: int = 4, d_a: int = 2,
    horizon: int | None = None, s0_scale: float = 1.0, q_over_r: float = 1.0,
    direction: str = "steepest", field_frequency: float = 1.0,
) -> AllocationProblems:
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
    s0_scale
        :math:`k_s>0`: :math:`s_0\to k_ss_0`. The ball's radius, :math:`L_r`, the steepest
        slope :math:`a=S_f` and :math:`\varepsilon_{\rm cap}` scale with it; the curvature
        :math:`b` of :math:`D(\varepsilon)=a\varepsilon+b\varepsilon^2` does not.
    q_over_r
        :math:`k>0`: :math:`Q\to\sqrt k\,Q`, :math:`R\to R/\sqrt k` (the scale of :math:`Q`
        against :math:`R` at a fixed geometric mean).
    direction
        The dynamics error, one of :data:`ERROR_DIRECTIONS`: ``"steepest"`` (the default:
        :math:`e=-g/\|g\|`, the largest :math:`S_f` a constant shift can give),
        ``"random"`` (a uniformly random unit :math:`e`, signed so that :math:`e\cdot g\le0`:
        still sign-aligned, :math:`D` still convex and increasing) or ``"phase"``
        (:class:`PhaseFieldLQGSystems`: chapter 1's rotating fields with random phases, *not*
        sign-aligned).
    field_frequency
        :math:`k_q>0`, for ``"phase"``: frequencies :math:`q,q'\sim N(0,k_q^2I/(d_s+d_a))`.

    Returns
    -------
    AllocationProblems
        With ``system`` an :class:`AlignedLQGSystems` (or :class:`PhaseFieldLQGSystems`) and
        ``global_multiplier`` the multiplier of Eq. (4) from its global constants. ``info``
        holds ``cost_ratio`` and, for ``"random"``, ``cos_steepest`` (:math:`|e\cdot g|/\|g\|`).

    Notes
    -----
    With the default options the draws, the systems and the problems are those the function
    gave before the options existed, bit for bit (tested). The options draw what they add
    (the random direction, the phase field) after all of those draws, and a degenerate
    interval ``(v, v)`` of ``budget``, ``cost_ratio`` or ``rate`` fixes the value while drawing
    the same uniforms: two option sets on the same seed share their random numbers (common
    random numbers, for the sweeps of chapter 4).
    """
    if not 0 < gamma < 1:
        raise ValueError(f"gamma must satisfy 0 < gamma < 1, got {gamma!r}")
    if not 0 < rate[0] <= rate[1] < 1:
        raise ValueError(f"rate must be an interval inside (0, 1), got {rate!r}")
    for name, interval in (("budget", budget), ("cost_ratio", cost_ratio)):
        if not (len(interval) == 2 and 0 < interval[0] <= interval[1] < np.inf):
            raise ValueError(f"{name} must be an interval (lo, hi) with 0 < lo <= hi, got "
                             f"{interval!r}")
    for name, value in (("s0_scale", s0_scale), ("q_over_r", q_over_r),
                        ("field_frequency", field_frequency)):
        check_positive(name, value)
    if direction not in ERROR_DIRECTIONS:
        raise ValueError(f"direction must be one of {ERROR_DIRECTIONS}, got {direction!r}")
    base = lqg_configurations(n, horizon=1, rng=rng, d_s=d_s, d_a=d_a)
    n = base.n
    L_pi = spectral_norm(base.K)
    L_f0 = np.maximum(spectral_norm(base.A), spectral_norm(base.B))
    scale = rng.uniform(rate[0], rate[1], n) / (gamma * L_f0 * (1.0 + L_pi))
    A, B, K = base.A * scale[:, None, None], base.B * scale[:, None, None], np.array(base.K)
    L_f = L_f0 * scale
    M = A - B @ K
    g = np.full(n, float(gamma))
    H = _discount_horizon(g) if horizon is None else check_int("horizon", horizon, 1)
    Q, R = base.Q, base.R
    if q_over_r != 1.0:
        Q, R = Q * np.sqrt(q_over_r), R / np.sqrt(q_over_r)
    s0 = base.s0 if s0_scale == 1.0 else base.s0 * s0_scale
    # Steepest-descent direction of the return for a constant shift w of the dynamics:
    # d J^/dw = sum_t gamma^t P_t^T grad_s r(s_t, -K s_t), P_{t+1} = M P_t + I, P_0 = 0.
    W = Q + np.swapaxes(K, -1, -2) @ R @ K
    s, P, grad = np.array(s0), np.zeros_like(M), np.zeros_like(s0)
    for t in range(H):
        grad += gamma**t * np.einsum("nji,nj->ni", P, -2.0 * batched_matvec(W, s))
        s, P = batched_matvec(M, s), M @ P + np.eye(base.d_s)
    e = -grad / np.linalg.norm(grad, axis=-1, keepdims=True)
    s0_norm = np.linalg.norm(s0, axis=-1)
    eps_cap = (1.0 - spectral_norm(M)) * s0_norm
    radius = np.maximum(s0_norm, eps_cap / (1.0 - spectral_norm(M)))
    L_r = 2.0 * radius * np.maximum(spectral_norm(Q), spectral_norm(R) * L_pi)
    cost = 10.0 ** rng.uniform(np.log10(cost_ratio[0]), np.log10(cost_ratio[1]), n)
    budgets = 10.0 ** rng.uniform(np.log10(budget[0]), np.log10(budget[1]), n)
    info = {"cost_ratio": cost}
    constants = (eps_cap, radius, L_f, L_r, L_pi, H)
    if direction == "phase":
        basis, _ = np.linalg.qr(rng.standard_normal((n, base.d_s, 2)))
        freq = field_frequency / np.sqrt(base.d_s + base.d_a)
        q_dyn = freq * rng.standard_normal((n, base.d_s + base.d_a))
        q_rew = freq * rng.standard_normal((n, base.d_s + base.d_a))
        phase_dyn, phase_rew = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 2 * np.pi, n)
        system: Any = PhaseFieldLQGSystems(g, A, B, K, np.array(Q), np.array(R), np.array(s0),
                                           basis[..., 0], basis[..., 1], q_dyn, q_rew,
                                           phase_dyn, phase_rew, *constants)
    else:
        if direction == "random":
            v = rng.standard_normal((n, base.d_s))
            v /= np.linalg.norm(v, axis=-1, keepdims=True)
            cos = np.einsum("ni,ni->n", v, e)  # e = -g/|g|: cos >= 0 means v.g <= 0
            e = v * np.where(cos < 0, -1.0, 1.0)[:, None]
            info["cos_steepest"] = np.abs(cos)
        system = AlignedLQGSystems(g, A, B, K, np.array(Q), np.array(R), np.array(s0), e,
                                   *constants)
    ones = np.ones(n)
    return AllocationProblems(
        system, budgets, cost, ones, dyn_law[0] * ones, dyn_law[1] * ones, rew_law[0] * ones,
        rew_law[1] * ones, dynamics_multiplier(g, L_f, L_r, L_pi), info=info,
    )


class SignTest(NamedTuple):
    r"""One-sided sign test of :math:`H_0:\ P(\ell>0)=1/2` against over-shooting.

    ``n`` residuals, ``ties`` with :math:`|\ell|\le` ``tie_tol`` (dropped, as in the classical
    test), ``positive`` with :math:`\ell>` ``tie_tol``, ``p_value``
    :math:`=P(X\ge\text{positive})` for :math:`X\sim\mathrm{Bin}(n-\text{ties},1/2)`, and the
    ``median`` of all ``n`` residuals.
    """

    n: int
    ties: int
    positive: int
    p_value: float
    median: float


def sign_test(ell: ArrayLike, *, tie_tol: float = 0.0) -> SignTest:
    r"""One-sided sign test that :math:`\ell` over-shoots (:math:`\ell>0`) more often than not.

    The paper's Figure 4 reports "all 30 over-shoot, :math:`p=0.5^{30}`". That is a *test* only
    where :math:`\ell<0` is possible. For sign-aligned errors with the global multiplier
    :math:`\ell\ge0` is a theorem (chapter 4: :math:`S_f/S_r\le m_{\rm eff}\le m_H\le m`), so
    there it is asserted, not tested; on non-aligned errors (:class:`PhaseFieldLQGSystems`) it
    can fail.

    Parameters
    ----------
    ell
        Residuals, 1-D, finite, at least one.
    tie_tol
        :math:`|\ell|\le` ``tie_tol`` counts as a tie (default 0: exact zeros only), >= 0.

    Returns
    -------
    SignTest
    """
    x = np.asarray(ell, dtype=float)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"ell must be a non-empty 1-D array of finite numbers, got shape "
                         f"{x.shape}")
    if not (np.isfinite(tie_tol) and tie_tol >= 0):
        raise ValueError(f"tie_tol must be finite and >= 0, got {tie_tol!r}")
    ties = int(np.sum(np.abs(x) <= tie_tol))
    positive = int(np.sum(x > tie_tol))
    n_eff = x.size - ties
    p = 1.0 if n_eff == 0 else float(binomtest(positive, n_eff, 0.5,
                                               alternative="greater").pvalue)
    return SignTest(int(x.size), ties, positive, p, float(np.median(x)))


class BatchReadings(NamedTuple):
    r"""The readings of :math:`\ell` of one batch and what they were computed from (shape
    ``(n,)`` each): ``readings`` (:class:`~imagination.allocation.EllReadings`), the realised
    sensitivities ``S_f``, ``S_r``, the realised optimum's ``realised_ratio``, ``eps_dyn``,
    ``eps_rew``, the prediction's ``multiplier`` and ``crossing`` (realised optima where the
    signed gap is zero). Configurations without an interior realised optimum
    (``on_boundary="nan"``) are ``nan`` throughout."""

    readings: EllReadings
    S_f: NDArray[np.float64]
    S_r: NDArray[np.float64]
    realised_ratio: NDArray[np.float64]
    eps_dyn: NDArray[np.float64]
    eps_rew: NDArray[np.float64]
    multiplier: NDArray[np.float64]
    crossing: NDArray[np.bool_]


def evaluate_readings(problems: AllocationProblems, multiplier: ArrayLike | str = "global", *,
                      grid: int = 2001, h: float = 1e-6, on_boundary: str = "raise"
                      ) -> BatchReadings:
    r"""Realised optimum, realised sensitivities and the four readings of :math:`\ell`.

    Parameters
    ----------
    problems
        The allocation problems.
    multiplier
        ``"global"`` (``problems.global_multiplier``: the sup-norm control, Figure 4),
        ``"realised"`` (:math:`S_f/S_r`: Figure 2 (a)), or one value > 0 per problem.
    grid, on_boundary
        Passed to :func:`realised_optimal_split_signed`.
    h
        Passed to :func:`realised_sensitivities`.

    Returns
    -------
    BatchReadings
        With the reference multiplier :math:`m_{\rm ref}=S_f/S_r` in every case.
    """
    if not isinstance(problems, AllocationProblems):
        raise ValueError(f"problems must be an AllocationProblems, got {type(problems).__name__}")
    S_f, S_r = realised_sensitivities(problems, h=h)
    real = realised_optimal_split_signed(problems, grid=grid, on_boundary=on_boundary)
    if isinstance(multiplier, str):
        if multiplier == "global":
            m = np.asarray(problems.global_multiplier, dtype=float)
        elif multiplier == "realised":
            m = S_f / S_r
        else:
            raise ValueError(f"multiplier must be 'global', 'realised' or an array, got "
                             f"{multiplier!r}")
    else:
        m = np.broadcast_to(check_positive_array("multiplier", multiplier), (problems.n,))
    ok = np.isfinite(real.ratio)
    out = [np.full(problems.n, np.nan) for _ in EllReadings._fields]
    if np.any(ok):
        line = {k: v[ok] for k, v in problems.line_keywords().items()}
        part = ell_readings(m[ok], (S_f / S_r)[ok], real.ratio[ok], real.eps_dyn[ok],
                            real.eps_rew[ok], **line)
        for full, values in zip(out, part, strict=True):
            full[ok] = values
    return BatchReadings(EllReadings(*out), S_f, S_r, real.ratio, real.eps_dyn, real.eps_rew,
                         np.array(m, dtype=float), real.crossing)


def _reading_summary(values: np.ndarray, *, absolute: bool) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"median": None, "positive": 0, "n": 0, "p_value": None}
    test = sign_test(finite)
    median = float(np.median(np.abs(finite) if absolute else finite))
    return {"median": median, "positive": test.positive, "n": test.n, "p_value": test.p_value}


def summarise_readings(result: BatchReadings, *, absolute: bool = False) -> dict[str, Any]:
    r"""A JSON-ready summary of :func:`evaluate_readings`.

    Per reading (keys :data:`~imagination.allocation.ELL_READINGS`): the median of :math:`\ell`
    (of :math:`|\ell|` with ``absolute=True``, as the paper reports Figure 2), the count of
    :math:`\ell>0`, the number of finite configurations and the one-sided sign test's p-value
    (:func:`sign_test`). Then ``elasticity`` (median :math:`\bar e`), ``curvature`` (median
    :math:`\log(m_{\rm eff}/(S_f/S_r))`, the curvature at the operating point), ``crossings``
    (realised optima at a cancellation) and ``eps_dyn`` (median :math:`\varepsilon^*_{\rm dyn}`).
    """
    R = result.readings
    out: dict[str, Any] = {k: _reading_summary(np.asarray(getattr(R, k)), absolute=absolute)
                           for k in ELL_READINGS}
    ok = np.isfinite(R.resolved)
    ref = result.S_f / result.S_r
    some = bool(np.any(ok))
    out["elasticity"] = float(np.median(R.elasticity[ok])) if some else None
    out["curvature"] = float(np.median(np.log(R.m_eff[ok] / ref[ok]))) if some else None
    out["crossings"] = int(np.sum(result.crossing))
    out["eps_dyn"] = float(np.median(result.eps_dyn[ok])) if some else None
    return out


def figure4_ell_cell(*, n: int = 30, seed: int = 4242, grid: int = 2001, h: float = 1e-6,
                     **options: Any) -> dict[str, Any]:
    r"""One cell of chapter 4's Figure 4 sweep, summarised under every reading of :math:`\ell`.

    :func:`figure4_configurations` with ``options`` on a fresh
    ``numpy.random.default_rng(seed)`` (common random numbers across cells), evaluated with
    the global multiplier (:func:`evaluate_readings`, ``on_boundary="nan"``: configurations
    without an interior realised optimum are dropped and counted in ``n`` of each reading),
    summarised by :func:`summarise_readings`, with the cell's run time in ``seconds``.
    Interval options (``budget``, ``cost_ratio``, ``rate``) may be lists (JSON) and
    ``dims=(d_s, d_a)`` sets the dimensions.
    """
    import time

    opts = dict(options)
    for key in ("budget", "cost_ratio", "rate"):
        if key in opts:
            opts[key] = tuple(opts[key])
    if "dims" in opts:
        opts["d_s"], opts["d_a"] = (int(v) for v in opts.pop("dims"))
    start = time.perf_counter()
    problems = figure4_configurations(n, rng=np.random.default_rng(seed), **opts)
    out = summarise_readings(evaluate_readings(problems, "global", grid=grid, h=h,
                                               on_boundary="nan"))
    out["seconds"] = time.perf_counter() - start
    return out


def figure2_ell_cell(family: str, multiplier: str, *, grid: int = 2001, h: float = 1e-6,
                     **options: Any) -> dict[str, Any]:
    r"""One cell of chapter 4's Figure 2 sweep, summarised by median :math:`|\ell|` per reading.

    :func:`value_family_grid` of ``family`` with ``options`` (e.g. ``budget``, ``s0``,
    ``exponent``), the prediction with ``multiplier`` (``"realised"`` for Figure 2 (a),
    ``"global"`` for the sup-norm control). ``{"infeasible": reason}`` when no point of the
    budget line keeps both errors below ``max_error`` or there is no interior optimum.
    """
    import time

    start = time.perf_counter()
    try:
        problems = value_family_grid(family, **options)
        result = evaluate_readings(problems, multiplier, grid=grid, h=h)
    except ValueError as err:
        return {"infeasible": str(err)[:120], "seconds": time.perf_counter() - start}
    out = summarise_readings(result, absolute=True)
    out["seconds"] = time.perf_counter() - start
    return out


#: Former names (kept so that old code keeps working): :class:`AllocationProblems` and
#: :class:`RealisedOptimum`.
AllocationBatch = AllocationProblems
RealisedSplit = RealisedOptimum
