r"""Figure 3 of the paper (§3.1): how tight is Lemma 1 on many random systems?

The paper reports the ratio :math:`R=\text{gap}/\text{bound}` over 525 configurations, 150
"synthetic" (globally Lipschitz :math:`f, r`) and 375 "LQG" (quadratic reward, Lipschitz on a
bounded domain): medians 0.0035 and 0.034, maxima 0.9995 and 0.999. How it generated them is not
known; the generators here are ours, documented in :func:`synthetic_configurations` and
:func:`lqg_configurations`. Every configuration carries exact sup-norm model errors and valid
Lipschitz constants, the gap is simulated exactly (:func:`simulate_gap`, vectorised over
configurations) and compared with the finite-horizon bound at the same horizon
(:func:`figure3_ratio`). Used by chapter 1 ("The simulation lemma"); chapter 4 reuses
:func:`lqg_configurations` for Figure 4.

**The generator's factors.** Each choice a generator has to make is a keyword of the two
generators, whose default level is the book's Figure 3, draw for draw. :func:`figure3_sweep`
evaluates a factorial grid of them, to ask which choices the paper's numbers need; that is
inference about an unknown generator, not a reproduction by tuning, and the book's default stays
the documented default level of every factor (:data:`FIGURE3_DEFAULTS`).

``reward_phase``
    Shape :math:`\phi` of the reward error :math:`\hat r-r=\varepsilon_{\rm rew}\phi(s,a)`,
    with :math:`x=[s,a]`: ``"as_built"`` :math:`\cos(q'\cdot x)` (equal to
    :math:`\varepsilon_{\rm rew}` at the origin, the attractor of every configuration),
    ``"random"`` :math:`\cos(q'\cdot x+\psi)`, :math:`\psi\sim U[0,2\pi)` (error
    :math:`\varepsilon_{\rm rew}\cos\psi` there) or ``"vanishing"`` :math:`\sin(q'\cdot x)`
    (error 0 there). In every level :math:`\sup_{\mathcal S\times\mathcal A}|\phi|=1` exactly:
    :math:`q'\ne0` almost surely and :math:`\mathcal S\times\mathcal A=\mathbb R^{d_s+d_a}`, so
    :math:`q'\cdot x` takes every real value and :math:`\varepsilon_{\rm rew}` stays the exact
    sup-norm error.
``budget``
    Split of the error budget: ``"independent"`` (:math:`\log_{10}\varepsilon_{\rm dyn}` and
    :math:`\log_{10}\varepsilon_{\rm rew}` independent, uniform on :math:`[-4,-1]`), a number
    :math:`\delta` (the same draws with :math:`\varepsilon_{\rm rew}` multiplied by
    :math:`10^\delta`; 0 is ``"independent"``), ``"dyn_only"`` (:math:`\varepsilon_{\rm rew}=0`)
    or ``"rew_only"`` (:math:`\varepsilon_{\rm dyn}=0`).
``constants``
    How loose the Lipschitz constants are: ``"tight"`` (maps whose constants are attained at the
    origin) or ``"two_layer"`` (random two-layer networks whose constant is the product of the
    layer norms: valid, not attained).
``rate``
    How close :math:`\gamma L_f(1+L_\pi)` sits to the contraction limit: ``"today"`` (capped at
    :math:`\kappa\sim U[0.1,0.95]`) or ``"edge"`` (set to :math:`\kappa'\in[0.9,0.99]`).
``gamma``
    ``"U[0.5,0.99]"`` or a number in :math:`(0,1)` given to every configuration (the uniform draw
    is still made, so no other draw moves).
``d_s``
    State dimension (:math:`d_a` stays 2 in the sweep).
``reward_centre`` (LQG only)
    ``"origin"`` (:math:`r=-(s^\top Qs+a^\top Ra)`, whose gradient vanishes at the attractor) or
    :math:`\kappa>0`: a tracking cost centred at :math:`c`, :math:`\|c\|=\kappa`.
``reward_bias`` (synthetic only)
    ``"none"`` (:math:`r=w\cdot\sin(Cs+Da)`, largest gradient at the attractor), ``"random"``
    (a random phase inside the sine) or ``"cos"`` (:math:`r=w\cdot\cos(Cs+Da)`, flat at the
    attractor).
``horizon``, ``bound`` (sweep only)
    The simulated :math:`H` and the bound compared with: ``"finite"`` (the finite-horizon form of
    Lemma 1 at the same :math:`H`, the comparison that can fail) or ``"eq1"`` (Eq. (1) itself;
    an :math:`H`-step gap over it can only be lower).

Every random draw goes through an explicit ``numpy.random.Generator``: the default draws through
``rng`` in the default order, the draws of the other levels through ``extra_rng`` (the random
phase, then two-layer weights) and ``reward_rng`` (the centre's direction, the random bias), so
the default levels never touch those two and every level shares the default draws (common
random numbers).

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Lemma 1, Eq. (1) and Figure 3.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import itertools
import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import check_int, check_rng
from ._linalg import batched_matvec, spectral_norm
from .bounds import return_error_bound, return_error_bound_finite

__all__ = [
    "FIGURE3_BOUNDS",
    "FIGURE3_DEFAULTS",
    "FIGURE3_FACTORS",
    "FIGURE3_FAMILIES",
    "FIGURE3_OWN_FACTOR",
    "FIGURE3_PAPER",
    "FIGURE3_PAPER_POOLED",
    "Figure3Batch",
    "Figure3Sweep",
    "Figure3Systems",
    "Figure3Trajectories",
    "figure3_ratio",
    "figure3_rollout",
    "figure3_sweep",
    "holds_paper",
    "load_figure3_sweep",
    "lqg_configurations",
    "paper_distance",
    "simulate_gap",
    "synthetic_configurations",
]

FIGURE3_FAMILIES = ("synthetic", "lqg")
#: The paper's (median, maximum) of :math:`R` per family (§3.1, Figure 3).
FIGURE3_PAPER = {"synthetic": (0.0035, 0.9995), "lqg": (0.034, 0.999)}
#: The paper's median of :math:`R` over both families together.
FIGURE3_PAPER_POOLED = 0.015
#: The bounds a ratio can be taken against: finite-horizon at the simulated H, or Eq. (1).
FIGURE3_BOUNDS = ("finite", "eq1")
#: The factors of :func:`figure3_sweep`, in the order of its arrays' axes.
FIGURE3_FACTORS = ("reward_phase", "budget", "constants", "rate", "gamma", "d_s", "horizon",
                   "bound", "reward_centre", "reward_bias")
#: The factor that applies to one family only (the other family's numbers do not depend on it).
FIGURE3_OWN_FACTOR = {"synthetic": "reward_bias", "lqg": "reward_centre"}
#: The default level of every factor: the book's Figure 3 (chapter 1).
FIGURE3_DEFAULTS: dict[str, Any] = {
    "reward_phase": "as_built", "budget": "independent", "constants": "tight", "rate": "today",
    "gamma": "U[0.5,0.99]", "d_s": 4, "horizon": 400, "bound": "finite",
    "reward_centre": "origin", "reward_bias": "none",
}

_REWARD_PHASES = ("as_built", "random", "vanishing")
_CONSTANTS = ("tight", "two_layer")
_RATES = ("today", "edge")
_NAMED_BUDGETS = ("independent", "dyn_only", "rew_only")
_REWARD_BIASES = ("none", "random", "cos")
_GAMMA_DEFAULT = "U[0.5,0.99]"
_SHARED = FIGURE3_FACTORS[:8]  # the factors both families have

# Output dimension m of the synthetic reward w . sin(C s + D a) (ours; the paper's is unknown).
_M_REWARD = 4
# R <= 1 is checked up to rounding only: the bound is attained exactly in extremal cases.
_TOL = 1e-9

# Fields that hold one entry per configuration (leading axis n) in every level.
_COMMON_ARRAYS = ("gamma", "eps_dyn", "eps_rew", "L_f", "L_r", "L_pi", "gap", "s0", "e1", "e2",
                  "q_dyn", "q_rew")
# Fields that the tight maps need, per family; two-layer maps keep only w / radius of these.
_TIGHT_ARRAYS = {"synthetic": ("A", "B", "K", "C", "D", "w"),
                 "lqg": ("A", "B", "K", "Q", "R", "radius")}
_LAYER_NAMES = {"synthetic": ("W1", "W2", "K1", "K2", "C1", "C2"),
                "lqg": ("W1", "W2", "K1", "K2", "P1", "P2", "S1", "S2")}


# --------------------------------------------------------------------------- level checks


def _check_phase(reward_phase: Any) -> str:
    if reward_phase not in _REWARD_PHASES:
        raise ValueError(f"reward_phase must be one of {_REWARD_PHASES}, got {reward_phase!r}")
    return str(reward_phase)


def _is_number(x: Any) -> bool:
    return isinstance(x, float | int | np.floating | np.integer) and not isinstance(x, bool)


def _check_budget(budget: Any) -> Any:
    if budget in _NAMED_BUDGETS:
        return budget
    if _is_number(budget) and math.isfinite(budget):
        return float(budget)
    raise ValueError(f"budget must be one of {_NAMED_BUDGETS} or a finite shift delta (a "
                     f"number: eps_rew times 10**delta), got {budget!r}")


def _check_constants(constants: Any) -> str:
    if constants not in _CONSTANTS:
        raise ValueError(f"constants must be one of {_CONSTANTS}, got {constants!r}")
    return str(constants)


def _check_rate(rate: Any) -> str:
    if rate not in _RATES:
        raise ValueError(f"rate must be one of {_RATES}, got {rate!r}")
    return str(rate)


def _check_gamma_level(gamma: Any) -> Any:
    if gamma == _GAMMA_DEFAULT:
        return gamma
    if _is_number(gamma) and 0.0 < gamma < 1.0:
        return float(gamma)
    raise ValueError(f"gamma must be {_GAMMA_DEFAULT!r} or a number in (0, 1), got {gamma!r}")


def _check_centre(reward_centre: Any) -> Any:
    if reward_centre == "origin":
        return reward_centre
    if _is_number(reward_centre) and math.isfinite(reward_centre) and reward_centre > 0:
        return float(reward_centre)
    raise ValueError(f"reward_centre must be 'origin' or a positive finite number (the distance "
                     f"of the set-point from the origin), got {reward_centre!r}")


def _check_bias(reward_bias: Any) -> str:
    if reward_bias not in _REWARD_BIASES:
        raise ValueError(f"reward_bias must be one of {_REWARD_BIASES}, got {reward_bias!r}")
    return str(reward_bias)


def _check_bound(bound: Any) -> str:
    if bound not in FIGURE3_BOUNDS:
        raise ValueError(f"bound must be one of {FIGURE3_BOUNDS}, got {bound!r}")
    return str(bound)


def _frozen(value: Any) -> np.ndarray:
    # A private read-only copy: "frozen" then also protects the arrays, so a batch cannot drift
    # away from the gap that was simulated for it.
    arr = np.array(value, dtype=float)
    arr.setflags(write=False)
    return arr


# --------------------------------------------------------------------------- the systems


@dataclass(frozen=True, eq=False)
class Figure3Systems:
    r"""A batch of ``n`` deterministic systems with learned models, for Figure 3 (paper §3.1).

    Configuration ``i`` is a deterministic MDP with dynamics :math:`f`, reward :math:`r`, policy
    :math:`\pi` and a learned model :math:`\hat f = f + \varepsilon_{\rm dyn} u`,
    :math:`\hat r = r + \varepsilon_{\rm rew}\phi(s,a)`, where

    .. math::

       u(s, a) = e_1\cos(q\cdot[s,a]) + e_2\sin(q\cdot[s,a]),\qquad e_1\perp e_2,\quad
       \|e_1\|=\|e_2\|=1,

    is a unit vector field that is not constant, so that
    :math:`\|\hat f(s,a)-f(s,a)\|_2=\varepsilon_{\rm dyn}` exactly at every :math:`(s,a)`, and
    :math:`\phi` is the reward-error shape of ``reward_phase`` (:meth:`reward_error_shape`;
    :math:`\cos(q'\cdot[s,a])` by default) with :math:`\sup|\phi|=1`, so that
    :math:`\sup|\hat r-r|=\varepsilon_{\rm rew}`: the sup-norm errors of Lemma 1 are known
    exactly, not estimated. Real and imagined trajectories start at the same :math:`s_0`, with
    :math:`a_t=\pi(s_t)` and :math:`\hat a_t=\pi(\hat s_t)` (paper §1).

    The two families (built by :func:`synthetic_configurations` and :func:`lqg_configurations`),
    with ``constants="tight"``:

    - ``"synthetic"``: :math:`f=\tanh(As+Ba)`, :math:`\pi=\tanh(Ks)`,
      :math:`r=w\cdot\sin(Cs+Da+b)`, globally Lipschitz (:math:`b=0` unless ``bias`` is set);
    - ``"lqg"`` (deterministic, LQR-like): :math:`f=As+Ba`, :math:`\pi=-Ks`,
      :math:`r=-((s-c)^\top Q(s-c)+a^\top Ra)`, Lipschitz on a ball of radius ``radius`` that
      contains both trajectories (:math:`c=0` unless ``centre`` is set).

    With ``constants="two_layer"`` the maps are the two-layer networks in ``layers`` (see the
    generators) and ``A, B, K, C, D, Q, R`` are None.

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
    A, B, K : ndarray or None
        Dynamics and policy matrices, shapes ``(n, d_s, d_s)``, ``(n, d_s, d_a)``,
        ``(n, d_a, d_s)``; None with two-layer constants.
    s0 : ndarray, shape ``(n, d_s)``
        Common start state of the real and the imagined trajectory.
    e1, e2 : ndarray, shape ``(n, d_s)``
        Orthonormal directions of the dynamics error field :math:`u`.
    q_dyn, q_rew : ndarray, shape ``(n, d_s + d_a)``
        Frequencies :math:`q` of :math:`u` and :math:`q'` of the reward error.
    C, D, w : ndarray or None
        Synthetic reward, shapes ``(n, m, d_s)``, ``(n, m, d_a)``, ``(n, m)``; None for ``"lqg"``
        (``C, D`` also None with two-layer constants).
    Q, R, radius : ndarray or None
        LQG cost weights, shapes ``(n, d_s, d_s)`` and ``(n, d_a, d_a)`` (symmetric positive
        semi-definite; None with two-layer constants), and the radius :math:`\bar s` of the state
        ball, shape ``(n,)``; None for ``"synthetic"``.
    reward_phase : str
        ``"as_built"``, ``"random"`` or ``"vanishing"`` (module docstring).
    constants : str
        ``"tight"`` or ``"two_layer"``.
    psi : ndarray, shape ``(n,)``, or None
        Phase offset :math:`\psi` of the ``"random"`` reward error.
    layers : dict of ndarray or None
        Two-layer weights: ``W1, W2`` (dynamics), ``K1, K2`` (policy), and ``C1, C2``
        (synthetic reward) or ``P1, P2, S1, S2`` (LQG cost factors).
    reward_centre : str or float
        LQG only: ``"origin"`` or :math:`\kappa=\|c\|`.
    centre : ndarray, shape ``(n, d_s)``, or None
        The LQG reward's centre :math:`c` (None: the origin).
    reward_bias : str
        Synthetic only: ``"none"``, ``"random"`` or ``"cos"``.
    bias : ndarray, shape ``(n, m)``, or None
        The synthetic reward's bias :math:`b` (None: no bias).
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
    A: np.ndarray | None
    B: np.ndarray | None
    K: np.ndarray | None
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
    reward_phase: str = "as_built"
    constants: str = "tight"
    psi: np.ndarray | None = None
    layers: Mapping[str, np.ndarray] | None = None
    reward_centre: Any = "origin"
    centre: np.ndarray | None = None
    reward_bias: str = "none"
    bias: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.family not in FIGURE3_FAMILIES:
            raise ValueError(f"family must be one of {FIGURE3_FAMILIES}, got {self.family!r}")
        check_int("horizon", self.horizon, 1)
        _check_phase(self.reward_phase)
        _check_constants(self.constants)
        _check_centre(self.reward_centre)
        _check_bias(self.reward_bias)
        if self.family == "synthetic" and (self.reward_centre != "origin"
                                           or self.centre is not None):
            raise ValueError("reward_centre applies to the LQG family only")
        if self.family == "lqg" and (self.reward_bias != "none" or self.bias is not None):
            raise ValueError("reward_bias applies to the synthetic family only")
        if (self.reward_centre != "origin") != (self.centre is not None):
            raise ValueError("a reward_centre other than 'origin' needs centre (and only it)")
        if (self.reward_bias != "none") != (self.bias is not None):
            raise ValueError("a reward_bias other than 'none' needs bias (and only it)")
        if self.reward_phase == "random" and self.psi is None:
            raise ValueError("reward_phase='random' needs psi")
        tight = self.constants == "tight"
        own = _TIGHT_ARRAYS[self.family] if tight else (
            ("w",) if self.family == "synthetic" else ("radius",))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("family", "horizon", "reward_phase", "constants", "reward_centre",
                          "reward_bias", "layers"):
                continue
            if value is None:
                if f.name in _COMMON_ARRAYS or f.name in own:
                    raise ValueError(f"{f.name} is required for family {self.family!r} with "
                                     f"constants={self.constants!r}")
                continue
            object.__setattr__(self, f.name, _frozen(value))
        if tight:
            if self.layers is not None:
                raise ValueError("layers belong to constants='two_layer'")
        else:
            names = _LAYER_NAMES[self.family]
            if self.layers is None or set(self.layers) != set(names):
                raise ValueError(f"constants='two_layer' needs layers {names}")
            object.__setattr__(self, "layers", {k: _frozen(self.layers[k]) for k in names})
        n, d_s = self.s0.shape
        if tight and (self.A.shape != (n, d_s, d_s) or self.B.shape[:2] != (n, d_s)
                      or self.K.shape != (n, self.B.shape[2], d_s)):
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
        return int(self.s0.shape[0])

    @property
    def d_s(self) -> int:
        """State dimension."""
        return int(self.s0.shape[1])

    @property
    def d_a(self) -> int:
        """Action dimension."""
        return int(self.q_dyn.shape[1] - self.s0.shape[1])

    # Every map below takes s of shape (..., n, d_s) and a of shape (..., n, d_a): the axis n
    # pairs each point with its configuration, and leading axes are independent points.

    def policy(self, s: ArrayLike) -> NDArray[np.float64]:
        r"""The policy :math:`\pi(s)`.

        Tight: :math:`\tanh(Ks)` (synthetic) or :math:`-Ks` (LQG); two-layer:
        :math:`\tanh(K_2\,\mathrm{relu}(K_1s))` or :math:`-K_2K_1s`.
        """
        s = np.asarray(s, dtype=float)
        syn = self.family == "synthetic"
        if self.constants == "tight":
            z = batched_matvec(self.K, s)
            return np.tanh(z) if syn else -z
        K1, K2 = self.layers["K1"], self.layers["K2"]
        if syn:
            return np.tanh(batched_matvec(K2, np.maximum(batched_matvec(K1, s), 0.0)))
        return -batched_matvec(K2, batched_matvec(K1, s))

    def dynamics(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        r"""The true dynamics :math:`f(s,a)`.

        Tight: :math:`\tanh(As+Ba)` or :math:`As+Ba`; two-layer, with :math:`x=[s;a]`:
        :math:`\tanh(W_2\,\mathrm{relu}(W_1x))` or :math:`W_2W_1x`.
        """
        s = np.asarray(s, dtype=float)
        a = np.asarray(a, dtype=float)
        syn = self.family == "synthetic"
        if self.constants == "tight":
            z = batched_matvec(self.A, s) + batched_matvec(self.B, a)
            return np.tanh(z) if syn else z
        W1, W2 = self.layers["W1"], self.layers["W2"]
        x = np.concatenate([s, a], axis=-1)
        if syn:
            return np.tanh(batched_matvec(W2, np.maximum(batched_matvec(W1, x), 0.0)))
        return batched_matvec(W2, batched_matvec(W1, x))

    def reward(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        r"""The true reward :math:`r(s,a)`.

        Tight: :math:`w\cdot\sin(Cs+Da+b)` (synthetic) or
        :math:`-((s-c)^\top Q(s-c)+a^\top Ra)` (LQG); two-layer:
        :math:`w\cdot\sin(C_2\,\mathrm{relu}(C_1x)+b)` or
        :math:`-(\|P_2P_1(s-c)\|^2+\|S_2S_1a\|^2)`. The bias :math:`b` and the centre
        :math:`c` enter only where ``bias`` / ``centre`` are set.
        """
        s = np.asarray(s, dtype=float)
        a = np.asarray(a, dtype=float)
        L = self.layers
        if self.family == "synthetic":
            if self.constants == "tight":
                z = batched_matvec(self.C, s) + batched_matvec(self.D, a)
            else:
                x = np.concatenate([s, a], axis=-1)
                z = batched_matvec(L["C2"], np.maximum(batched_matvec(L["C1"], x), 0.0))
            if self.bias is not None:
                z = z + self.bias
            return np.einsum("nm,...nm->...n", self.w, np.sin(z))
        if self.centre is not None:
            s = s - self.centre
        if self.constants == "tight":
            cost = np.einsum("...ni,...ni->...n", s, batched_matvec(self.Q, s))
            return -(cost + np.einsum("...ni,...ni->...n", a, batched_matvec(self.R, a)))
        ps = batched_matvec(L["P2"], batched_matvec(L["P1"], s))
        pa = batched_matvec(L["S2"], batched_matvec(L["S1"], a))
        return -(np.einsum("...ni,...ni->...n", ps, ps) + np.einsum("...ni,...ni->...n", pa, pa))

    def _phase(self, q: np.ndarray, s: np.ndarray, a: np.ndarray) -> np.ndarray:
        # q . [s, a] without concatenating, so that s and a may carry different leading axes.
        d_s = self.d_s
        return np.einsum("nk,...nk->...n", q[:, :d_s], s) + np.einsum(
            "nk,...nk->...n", q[:, d_s:], a
        )

    def reward_error_shape(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        r"""The shape :math:`\phi` of the reward error, :math:`\hat r-r=\varepsilon_{\rm rew}\phi`.

        :math:`\cos(q'\cdot x)` (``"as_built"``), :math:`\cos(q'\cdot x+\psi)` (``"random"``) or
        :math:`\sin(q'\cdot x)` (``"vanishing"``), :math:`x=[s,a]`; :math:`\sup|\phi|=1`.
        """
        z = self._phase(self.q_rew, np.asarray(s, dtype=float), np.asarray(a, dtype=float))
        if self.reward_phase == "as_built":
            return np.cos(z)
        if self.reward_phase == "vanishing":
            return np.sin(z)
        return np.cos(z + self.psi)

    def model_dynamics(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        r"""The learned dynamics :math:`\hat f = f + \varepsilon_{\rm dyn}u` (:math:`\|u\|_2=1`)."""
        s = np.asarray(s, dtype=float)
        a = np.asarray(a, dtype=float)
        phase = self._phase(self.q_dyn, s, a)[..., None]
        u = self.e1 * np.cos(phase) + self.e2 * np.sin(phase)
        return self.dynamics(s, a) + self.eps_dyn[:, None] * u

    def model_reward(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        r"""The learned reward :math:`\hat r = r + \varepsilon_{\rm rew}\phi(s,a)`."""
        s = np.asarray(s, dtype=float)
        a = np.asarray(a, dtype=float)
        return self.reward(s, a) + self.eps_rew * self.reward_error_shape(s, a)


class Figure3Trajectories(NamedTuple):
    r"""Real and imagined trajectories of a :class:`Figure3Systems`, time first.

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


def _resolve_horizon(batch: Figure3Systems, horizon: int | None) -> int:
    if not isinstance(batch, Figure3Systems):
        raise ValueError(f"batch must be a Figure3Systems, got {type(batch).__name__}")
    return batch.horizon if horizon is None else check_int("horizon", horizon, 1)


def _steps(batch: Figure3Systems, steps: int) -> Iterator[tuple[np.ndarray, ...]]:
    # (s_t, a_t, s^_t, a^_t) for t < steps, all n configurations at once. The loop runs over
    # time only: each state needs the previous one, configurations are independent.
    s = np.array(batch.s0)
    s_hat = np.array(batch.s0)  # the same start state for the real and the imagined rollout
    for t in range(steps):
        a, a_hat = batch.policy(s), batch.policy(s_hat)
        yield s, a, s_hat, a_hat
        if t + 1 < steps:
            s, s_hat = batch.dynamics(s, a), batch.model_dynamics(s_hat, a_hat)


def simulate_gap(batch: Figure3Systems, horizon: int | None = None) -> NDArray[np.float64]:
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


def figure3_rollout(batch: Figure3Systems, horizon: int | None = None) -> Figure3Trajectories:
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


def figure3_ratio(batch: Figure3Systems, *, bound: str = "finite") -> NDArray[np.float64]:
    r"""The ratio :math:`R=\text{gap}/\text{bound}` of Figure 3, one per configuration.

    ``bound="finite"`` (the default): the finite-horizon form of Lemma 1 (Eq. (1) summed over
    :math:`t<H`, :func:`~imagination.bounds.return_error_bound_finite`) at the *same* horizon as
    the simulated gap. This is the comparison that can fail: comparing an :math:`H`-step gap
    with the infinite-horizon Eq. (1) could only lower :math:`R`. ``bound="eq1"``: Eq. (1)
    itself (:func:`~imagination.bounds.return_error_bound`), labelled as such wherever it is
    used. Lemma 1 says :math:`R\le1` against either.

    Parameters
    ----------
    batch
        The configurations.
    bound
        ``"finite"`` or ``"eq1"``.

    Returns
    -------
    ndarray, shape ``(n,)``
    """
    if not isinstance(batch, Figure3Systems):
        raise ValueError(f"batch must be a Figure3Systems, got {type(batch).__name__}")
    constants = (batch.gamma, batch.L_f, batch.L_r, batch.L_pi)
    if _check_bound(bound) == "eq1":
        value = return_error_bound(batch.eps_dyn, batch.eps_rew, *constants)
    else:
        value = return_error_bound_finite(batch.eps_dyn, batch.eps_rew, *constants,
                                          batch.horizon)
    return batch.gap / np.asarray(value)


# --------------------------------------------------------------------------- the generators
# Each generator is split into its draws (made from rng in the default order, whatever the
# levels) and a build step per level, so that every level shares the default draws.


def _check_configuration_args(
    n: Any, horizon: Any, rng: Any, d_s: Any, d_a: Any
) -> tuple[int, int, np.random.Generator, int, int]:
    n = check_int("n", n, 1)
    horizon = check_int("horizon", horizon, 1)
    rng = check_rng(rng)
    # Two orthonormal error directions e1, e2 need d_s >= 2.
    d_s = check_int("d_s", d_s, 2)
    d_a = check_int("d_a", d_a, 1)
    return n, horizon, rng, d_s, d_a


def _rescale(g: np.ndarray, norms: np.ndarray) -> np.ndarray:
    # Matrices (Gaussian: random singular directions) rescaled to prescribed spectral norms.
    return g * (norms / spectral_norm(g))[:, None, None]


def _with_norms_psd(P: np.ndarray, norms: np.ndarray) -> np.ndarray:
    # Symmetric PSD matrices rescaled to prescribed spectral norms; symmetrised after scaling so
    # that rounding cannot break the symmetry that x^T Q x - y^T Q y = (x-y)^T Q (x+y) needs.
    P = P * (norms / spectral_norm(P))[:, None, None]
    return 0.5 * (P + np.swapaxes(P, -1, -2))


def _draw_error_model(rng: np.random.Generator, n: int, d_s: int, d_a: int) -> dict[str, Any]:
    # The learned-model draws shared by both families, in the default order.
    return {
        "basis_g": rng.standard_normal((n, d_s, 2)),
        "q_dyn_g": rng.standard_normal((n, d_s + d_a)),
        "q_rew_g": rng.standard_normal((n, d_s + d_a)),
        "u_dyn": rng.uniform(-4.0, -1.0, n),
        "u_rew": rng.uniform(-4.0, -1.0, n),
        "s0": rng.uniform(-1.0, 1.0, (n, d_s)),
    }


def _draw_synthetic(rng: np.random.Generator, n: int, d_s: int, d_a: int) -> dict[str, Any]:
    # Every norm target is drawn before the Gaussian matrix it rescales (the default order).
    d: dict[str, Any] = {"n": n, "d_s": d_s, "d_a": d_a}
    d["gamma"] = rng.uniform(0.5, 0.99, n)
    for name, shape, lo in (("A", (n, d_s, d_s), 0.2), ("B", (n, d_s, d_a), 0.2),
                            ("K", (n, d_a, d_s), 0.1), ("C", (n, _M_REWARD, d_s), 0.25),
                            ("D", (n, _M_REWARD, d_a), 0.25)):
        d[name + "_n"] = rng.uniform(lo, 1.0, n)
        d[name + "_g"] = rng.standard_normal(shape)
    d["w_g"] = rng.standard_normal((n, _M_REWARD))
    d["w_n"] = rng.uniform(0.5, 2.0, n)
    d["kappa"] = rng.uniform(0.1, 0.95, n)
    d.update(_draw_error_model(rng, n, d_s, d_a))
    return d


def _draw_lqg(rng: np.random.Generator, n: int, d_s: int, d_a: int) -> dict[str, Any]:
    d: dict[str, Any] = {"n": n, "d_s": d_s, "d_a": d_a}
    d["gamma"] = rng.uniform(0.5, 0.99, n)
    for name, shape, lo, hi in (("M", (n, d_s, d_s), 0.2, 0.95), ("B", (n, d_s, d_a), 0.2, 1.0),
                                ("K", (n, d_a, d_s), 0.1, 1.0)):
        d[name + "_n"] = rng.uniform(lo, hi, n)
        d[name + "_g"] = rng.standard_normal(shape)
    d["G"] = rng.standard_normal((n, d_s, d_s))
    d["H"] = rng.standard_normal((n, d_a, d_a))
    d["Q_n"] = rng.uniform(0.1, 1.0, n)
    d["R_n"] = rng.uniform(0.1, 1.0, n)
    d["kappa"] = rng.uniform(0.1, 0.95, n)
    d.update(_draw_error_model(rng, n, d_s, d_a))
    return d


def _budget_errors(eps_dyn: np.ndarray, eps_rew: np.ndarray,
                   budget: Any) -> tuple[np.ndarray, np.ndarray]:
    # The budget level on the drawn errors (0 and "independent" leave them as drawn).
    if budget == "dyn_only":
        return eps_dyn, np.zeros_like(eps_rew)
    if budget == "rew_only":
        return np.zeros_like(eps_dyn), eps_rew
    if budget == "independent" or budget == 0:
        return eps_dyn, eps_rew
    return eps_dyn, eps_rew * 10.0 ** float(budget)


def _build_error_model(d: Mapping[str, Any], budget: Any) -> dict[str, np.ndarray]:
    # e1 ⟂ e2 from a QR factorisation, frequencies q, q' ~ N(0, I/(d_s + d_a)) (O(1) phase
    # variation over states and actions of size O(1)), errors log-uniform over three decades.
    basis, _ = np.linalg.qr(d["basis_g"])
    scale = 1.0 / np.sqrt(d["d_s"] + d["d_a"])
    eps_dyn, eps_rew = _budget_errors(10.0 ** d["u_dyn"], 10.0 ** d["u_rew"], budget)
    return {"e1": basis[..., 0], "e2": basis[..., 1], "q_dyn": scale * d["q_dyn_g"],
            "q_rew": scale * d["q_rew_g"], "eps_dyn": eps_dyn, "eps_rew": eps_rew,
            "s0": d["s0"]}


def _gamma(d: Mapping[str, Any], gamma: Any) -> np.ndarray:
    return d["gamma"] if gamma == _GAMMA_DEFAULT else np.full(d["n"], float(gamma))


def _contraction_factor(kappa: np.ndarray, gamma: np.ndarray, L_f: np.ndarray, L_pi: np.ndarray,
                        rate: str, m_norm: np.ndarray | None = None) -> np.ndarray:
    # "today": c = min(1, kappa / (gamma L_f (1 + L_pi))) <= 1 caps the rate at the drawn
    # kappa ~ U[0.1, 0.95] (a drawn cap keeps the rates spread out; Eq. (1) needs the rate < 1).
    # "edge": the same draw mapped affinely onto kappa' in [0.9, 0.99] and c = kappa' / rate
    # without the min, so that the rate *equals* kappa' (c > 1 allowed); for LQG (m_norm given)
    # c is also capped at 0.95 / ||M||, so the closed loop keeps norm <= 0.95 < 1.
    rate_now = gamma * L_f * (1.0 + L_pi)
    if rate == "today":
        return np.minimum(1.0, kappa / rate_now)
    c = (0.9 + 0.09 * (kappa - 0.1) / 0.85) / rate_now
    return c if m_norm is None else np.minimum(c, 0.95 / m_norm)


def _extra_psi(extra_rng: np.random.Generator | None, n: int, needed: bool) -> np.ndarray | None:
    # psi is the first draw of extra_rng whenever one is given, so that the two-layer weights
    # after it are the same whatever the phase.
    if extra_rng is None:
        if needed:
            raise ValueError("reward_phase='random' and constants='two_layer' draw extra random "
                             "numbers: pass extra_rng (a numpy.random.Generator)")
        return None
    return check_rng(extra_rng, "extra_rng").uniform(0.0, 2.0 * np.pi, n)


def _need_reward_rng(reward_rng: np.random.Generator | None) -> np.random.Generator:
    if reward_rng is None:
        raise ValueError("this reward_centre / reward_bias level draws random numbers: pass "
                         "reward_rng (a numpy.random.Generator)")
    return check_rng(reward_rng, "reward_rng")


def _reward_bias(reward_bias: str, n: int,
                 reward_rng: np.random.Generator | None) -> np.ndarray | None:
    # b of r = w . sin(z + b): None (no bias), U[0, 2 pi)^m, or pi/2 (r = w . cos z).
    if reward_bias == "none":
        return None
    if reward_bias == "random":
        return _need_reward_rng(reward_rng).uniform(0.0, 2.0 * np.pi, (n, _M_REWARD))
    return np.full((n, _M_REWARD), 0.5 * np.pi)


def _reward_centre(reward_centre: Any, n: int, d_s: int,
                   reward_rng: np.random.Generator | None) -> np.ndarray | None:
    # c = kappa u, u uniform on the unit sphere of R^{d_s} (a normalised Gaussian), one u for
    # every kappa; None at the origin.
    if reward_centre == "origin":
        return None
    u = _need_reward_rng(reward_rng).standard_normal((n, d_s))
    return float(reward_centre) * u / np.linalg.norm(u, axis=-1, keepdims=True)


def _gaussian_with_norm(rng: np.random.Generator, shape: tuple[int, ...],
                        norms: np.ndarray) -> np.ndarray:
    return _rescale(rng.standard_normal(shape), norms)


def _right_factor(rng: np.random.Generator, X: np.ndarray, width: int) -> tuple[np.ndarray, ...]:
    # X = X2 @ X1 with X2 (n, rows, width) Gaussian (full row rank almost surely, width >= rows)
    # and X1 = pinv(X2) X: a random two-layer linear factorisation of the same map.
    n, rows, _ = X.shape
    X2 = rng.standard_normal((n, rows, width)) / np.sqrt(width)
    return X2, np.linalg.pinv(X2) @ X


def _common_levels(d: Mapping[str, Any], family: str, horizon: int, levels: Mapping[str, Any],
                   extra_rng: np.random.Generator | None) -> tuple[dict[str, Any], np.ndarray]:
    g = _gamma(d, levels["gamma"])
    psi = _extra_psi(extra_rng, d["n"], levels["reward_phase"] == "random"
                     or levels["constants"] == "two_layer")
    common = dict(family=family, horizon=horizon, gap=np.zeros(d["n"]), gamma=g,
                  reward_phase=levels["reward_phase"], constants=levels["constants"], psi=psi,
                  **_build_error_model(d, levels["budget"]))
    return common, g


def _build_synthetic(d: Mapping[str, Any], horizon: int, levels: Mapping[str, Any],
                     extra_rng: np.random.Generator | None,
                     reward_rng: np.random.Generator | None) -> Figure3Systems:
    n, d_s, d_a = d["n"], d["d_s"], d["d_a"]
    common, g = _common_levels(d, "synthetic", horizon, levels, extra_rng)
    # The bias moves no Lipschitz constant: z -> sin(z + b) is 1-Lipschitz for every b.
    bias = _reward_bias(levels["reward_bias"], n, reward_rng)
    common.update(reward_bias=levels["reward_bias"], bias=bias)
    w = d["w_g"] * (d["w_n"] / np.linalg.norm(d["w_g"], axis=-1))[:, None]
    if levels["constants"] == "tight":
        A, B = _rescale(d["A_g"], d["A_n"]), _rescale(d["B_g"], d["B_n"])
        K = _rescale(d["K_g"], d["K_n"])
        C, D = _rescale(d["C_g"], d["C_n"]), _rescale(d["D_g"], d["D_n"])
        L_pi = spectral_norm(K)
        c = _contraction_factor(d["kappa"], g, np.maximum(spectral_norm(A), spectral_norm(B)),
                                L_pi, levels["rate"])
        A, B = A * c[:, None, None], B * c[:, None, None]
        # Constants from the final matrices (not from the drawn targets): what they claim.
        L_f = np.maximum(spectral_norm(A), spectral_norm(B))
        L_r = np.linalg.norm(w, axis=-1) * np.maximum(spectral_norm(C), spectral_norm(D))
        return Figure3Systems(L_f=L_f, L_r=L_r, L_pi=L_pi, A=A, B=B, K=K, C=C, D=D, w=w,
                              **common)
    # Two-layer networks, hidden width 2 (d_s + d_a) (2 d_s for the policy): first layers of
    # spectral norm 1, second layers of the drawn target norms, so the nominal constants have
    # the tight level's distribution while the maps are not the maps that attain them.
    x_dim, h, h_pi, one = d_s + d_a, 2 * (d_s + d_a), 2 * d_s, np.ones(n)
    W1 = _gaussian_with_norm(extra_rng, (n, h, x_dim), one)
    W2 = _gaussian_with_norm(extra_rng, (n, d_s, h), np.maximum(d["A_n"], d["B_n"]))
    K1 = _gaussian_with_norm(extra_rng, (n, h_pi, d_s), one)
    K2 = _gaussian_with_norm(extra_rng, (n, d_a, h_pi), d["K_n"])
    C1 = _gaussian_with_norm(extra_rng, (n, h, x_dim), one)
    C2 = _gaussian_with_norm(extra_rng, (n, _M_REWARD, h), np.maximum(d["C_n"], d["D_n"]))
    L_pi = spectral_norm(K2) * spectral_norm(K1)
    c = _contraction_factor(d["kappa"], g, spectral_norm(W2) * spectral_norm(W1), L_pi,
                            levels["rate"])
    W2 = W2 * c[:, None, None]
    # relu, tanh and sin are 1-Lipschitz and ||[ds; da]||_2 <= ||ds|| + ||da||, so the product
    # of the layer norms bounds each map in the sum metric; ||W2 D W1|| < ||W2|| ||W1|| for the
    # 0/1 relu masks D, so it is not attained.
    L_f = spectral_norm(W2) * spectral_norm(W1)
    L_r = np.linalg.norm(w, axis=-1) * spectral_norm(C2) * spectral_norm(C1)
    layers = dict(W1=W1, W2=W2, K1=K1, K2=K2, C1=C1, C2=C2)
    return Figure3Systems(L_f=L_f, L_r=L_r, L_pi=L_pi, A=None, B=None, K=None, w=w,
                          layers=layers, **common)


def _lqg_reward_constant(radius: np.ndarray, q_norm: np.ndarray, r_norm: np.ndarray,
                         L_pi: np.ndarray, centre: np.ndarray | None) -> np.ndarray:
    # L_r of r = -((s - c)'Q(s - c) + a'Ra) on the ball ||s|| <= rho, ||a|| <= L_pi rho (derived
    # in lqg_configurations). Centre None: the origin's expression, 2 rho max(|Q|, |R| L_pi).
    if centre is None:
        return 2.0 * radius * np.maximum(q_norm, r_norm * L_pi)
    c_norm = np.linalg.norm(centre, axis=-1)
    return 2.0 * np.maximum(q_norm * (radius + c_norm), r_norm * L_pi * radius)


def _sqrt_psd(P: np.ndarray) -> np.ndarray:
    lam, V = np.linalg.eigh(P)
    return (V * np.sqrt(np.maximum(lam, 0.0))[:, None, :]) @ np.swapaxes(V, -1, -2)


def _build_lqg(d: Mapping[str, Any], horizon: int, levels: Mapping[str, Any],
               extra_rng: np.random.Generator | None,
               reward_rng: np.random.Generator | None) -> Figure3Systems:
    n, d_s, d_a = d["n"], d["d_s"], d["d_a"]
    common, g = _common_levels(d, "lqg", horizon, levels, extra_rng)
    centre = _reward_centre(levels["reward_centre"], n, d_s, reward_rng)
    common.update(reward_centre=levels["reward_centre"], centre=centre)
    M = _rescale(d["M_g"], d["M_n"])
    B, K = _rescale(d["B_g"], d["B_n"]), _rescale(d["K_g"], d["K_n"])
    A = M + B @ K
    # G G^T and H H^T are symmetric PSD by construction; the rescaling keeps them so.
    Q = _with_norms_psd(d["G"] @ np.swapaxes(d["G"], -1, -2), d["Q_n"])
    R = _with_norms_psd(d["H"] @ np.swapaxes(d["H"], -1, -2), d["R_n"])
    s0_norm = np.linalg.norm(common["s0"], axis=-1)
    edge = levels["rate"] == "edge"
    if levels["constants"] == "tight":
        L_pi = spectral_norm(K)
        c = _contraction_factor(d["kappa"], g, np.maximum(spectral_norm(A), spectral_norm(B)),
                                L_pi, levels["rate"], spectral_norm(A - B @ K) if edge else None)
        A, B = A * c[:, None, None], B * c[:, None, None]
        L_f = np.maximum(spectral_norm(A), spectral_norm(B))
        # ||M|| of the final closed loop A - B K, the quantity the radius argument uses.
        m_norm = spectral_norm(A - B @ K)
        radius = np.maximum(s0_norm, common["eps_dyn"] / (1.0 - m_norm))
        L_r = _lqg_reward_constant(radius, spectral_norm(Q), spectral_norm(R), L_pi, centre)
        return Figure3Systems(L_f=L_f, L_r=L_r, L_pi=L_pi, A=A, B=B, K=K, Q=Q, R=R,
                              radius=radius, **common)
    # Two-layer (deep linear) LQG: the same linear-quadratic system written as random
    # factorisations [A B] = W2 W1, K = K2 K1, Q^(1/2) = P2 P1, R^(1/2) = S2 S1, with the
    # constants products of layer norms (valid: ||X2 X1|| <= ||X2|| ||X1||; not attained).
    W2, W1 = _right_factor(extra_rng, np.concatenate([A, B], axis=-1), 2 * d_s)
    K2, K1 = _right_factor(extra_rng, K, 2 * d_a)
    P2, P1 = _right_factor(extra_rng, _sqrt_psd(Q), 2 * d_s)
    S2, S1 = _right_factor(extra_rng, _sqrt_psd(R), 2 * d_a)
    L_pi = spectral_norm(K2) * spectral_norm(K1)
    # Closed loop of the maps as simulated, W2 W1 [I; -K2 K1], for the cap and the radius.
    eye_k = np.concatenate([np.broadcast_to(np.eye(d_s), (n, d_s, d_s)), -(K2 @ K1)], axis=1)
    c = _contraction_factor(d["kappa"], g, spectral_norm(W2) * spectral_norm(W1), L_pi,
                            levels["rate"], spectral_norm(W2 @ (W1 @ eye_k)) if edge else None)
    W1 = W1 * c[:, None, None]
    L_f = spectral_norm(W2) * spectral_norm(W1)
    m_norm = spectral_norm(W2 @ (W1 @ eye_k))
    radius = np.maximum(s0_norm, common["eps_dyn"] / (1.0 - m_norm))
    # |x'P'Px - y'P'Py| <= ||P||^2 (|x| + |y|) |x - y| with ||P|| <= ||P2|| ||P1||.
    q_const = (spectral_norm(P2) * spectral_norm(P1)) ** 2
    r_const = (spectral_norm(S2) * spectral_norm(S1)) ** 2
    L_r = _lqg_reward_constant(radius, q_const, r_const, L_pi, centre)
    layers = dict(W1=W1, W2=W2, K1=K1, K2=K2, P1=P1, P2=P2, S1=S1, S2=S2)
    return Figure3Systems(L_f=L_f, L_r=L_r, L_pi=L_pi, A=None, B=None, K=None, radius=radius,
                          layers=layers, **common)


_DRAW = {"synthetic": _draw_synthetic, "lqg": _draw_lqg}
_BUILD = {"synthetic": _build_synthetic, "lqg": _build_lqg}


def _levels(family: str, **levels: Any) -> dict[str, Any]:
    checked = {"reward_phase": _check_phase(levels["reward_phase"]),
               "budget": _check_budget(levels["budget"]),
               "constants": _check_constants(levels["constants"]),
               "rate": _check_rate(levels["rate"]),
               "gamma": _check_gamma_level(levels["gamma"])}
    own = FIGURE3_OWN_FACTOR[family]
    checked[own] = (_check_bias if family == "synthetic" else _check_centre)(levels[own])
    return checked


def _configurations(family: str, n: Any, horizon: Any, rng: Any, d_s: Any, d_a: Any,
                    extra_rng: Any, reward_rng: Any, simulate: bool,
                    **levels: Any) -> Figure3Systems:
    n, horizon, rng, d_s, d_a = _check_configuration_args(n, horizon, rng, d_s, d_a)
    checked = _levels(family, **levels)
    draws = _DRAW[family](rng, n, d_s, d_a)
    batch = _BUILD[family](draws, horizon, checked, extra_rng, reward_rng)
    return dataclasses.replace(batch, gap=simulate_gap(batch)) if simulate else batch


def synthetic_configurations(
    n: int, *, horizon: int, rng: np.random.Generator, d_s: int = 4, d_a: int = 2,
    reward_phase: str = "as_built", budget: Any = "independent", constants: str = "tight",
    rate: str = "today", gamma: Any = _GAMMA_DEFAULT, reward_bias: str = "none",
    extra_rng: np.random.Generator | None = None,
    reward_rng: np.random.Generator | None = None, simulate: bool = True,
) -> Figure3Systems:
    r"""``n`` "synthetic" configurations of Figure 3: globally Lipschitz nonlinear f, r, π.

    .. math::

       f(s,a)=\tanh(As+Ba),\quad \pi(s)=\tanh(Ks),\quad r(s,a)=w\cdot\sin(Cs+Da),

    with :math:`C\in\mathbb R^{m\times d_s}`, :math:`D\in\mathbb R^{m\times d_a}`, :math:`m=4`,
    and the learned model of :class:`Figure3Systems` (exact errors :math:`\varepsilon_{\rm dyn}`,
    :math:`\varepsilon_{\rm rew}`). Lipschitz constants, global, w.r.t. the sum metric (paper §1):

    - :math:`L_f=\max(\|A\|_2,\|B\|_2)`: :math:`\tanh` is 1-Lipschitz componentwise, hence in
      the Euclidean norm, and :math:`\|A\delta_s+B\delta_a\|\le\|A\|\|\delta_s\|+\|B\|\|\delta_a\|`;
    - :math:`L_\pi=\|K\|_2`, by the same argument;
    - :math:`L_r=\|w\|_2\max(\|C\|_2,\|D\|_2)`: Cauchy–Schwarz, then :math:`\sin` is
      1-Lipschitz componentwise.

    These are attained at the origin, where the Jacobians are :math:`A, B, K` and
    :math:`w^\top C`. How the paper generated its configurations is not known; every
    distribution below is ours (paper.md §2), chosen a priori, not fitted to the paper's
    reported ratios (the defaults of the keywords; the other levels are for
    :func:`figure3_sweep`):

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
      :math:`q,q'\sim N(0,I/(d_s+d_a))`, reward-error shape :math:`\cos(q'\cdot[s,a])`;
    - :math:`s_0\sim U[-1,1]^{d_s}`.

    The other levels (module docstring), and why each keeps the constants valid:

    - ``reward_phase``: the shape :math:`\phi` of the reward error; :math:`\sup|\phi|=1` in every
      level, so :math:`\varepsilon_{\rm rew}` stays exact.
    - ``budget``: rescales or zeroes the drawn errors; the model's errors stay exact.
    - ``rate="edge"``: the same :math:`\kappa` mapped onto :math:`\kappa'=0.9+0.09(\kappa-0.1)/0.85
      \in[0.9,0.99]` and :math:`A, B` multiplied by :math:`\kappa'/(\gamma L_f(1+L_\pi))` (which
      may exceed 1), so that :math:`\gamma L_f(1+L_\pi)=\kappa'<1` exactly; the constants are
      recomputed from the final matrices.
    - ``constants="two_layer"``: :math:`f=\tanh(W_2\,\mathrm{relu}(W_1x))`,
      :math:`\pi=\tanh(K_2\,\mathrm{relu}(K_1s))`, :math:`r=w\cdot\sin(C_2\,\mathrm{relu}(C_1x))`,
      :math:`x=[s;a]`, Gaussian layers from ``extra_rng``, first layers of spectral norm 1,
      second layers of the drawn target norms :math:`\max(\|A\|,\|B\|)`, :math:`\|K\|`,
      :math:`\max(\|C\|,\|D\|)`, :math:`W_2` then scaled by the contraction factor. Constants
      :math:`L_f=\|W_2\|\|W_1\|`, :math:`L_\pi=\|K_2\|\|K_1\|`, :math:`L_r=\|w\|\|C_2\|\|C_1\|`:
      valid because relu, tanh and sin are 1-Lipschitz and
      :math:`\|[\delta_s;\delta_a]\|_2\le\|\delta_s\|+\|\delta_a\|`; not attained, since the
      Jacobians :math:`W_2DW_1` (:math:`D` a 0/1 relu mask) have smaller norms. The origin stays
      a fixed point.
    - ``gamma`` a number: every configuration gets it (the uniform draw is still made).
    - ``reward_bias``: :math:`r=w\cdot\sin(z+b)`, :math:`z=Cs+Da` (or
      :math:`C_2\,\mathrm{relu}(C_1x)`); ``"none"`` :math:`b=0`; ``"random"``
      :math:`b\sim U[0,2\pi)^m` from ``reward_rng``; ``"cos"`` :math:`b=\pi/2`, so
      :math:`r=w\cdot\cos z` has zero gradient at the attractor, like the LQG reward. :math:`L_r`
      is unchanged (:math:`z\mapsto\sin(z+b)` is 1-Lipschitz componentwise): valid in every
      level, attained at the origin only for ``"none"``.

    Parameters
    ----------
    n
        Number of configurations, >= 1 (the paper uses 150).
    horizon
        Number of simulated steps :math:`H\ge1`.
    rng
        Source of the default draws (the same draws in the same order whatever the levels).
    d_s, d_a
        State (>= 2, for the two error directions) and action (>= 1) dimensions.
    reward_phase, budget, constants, rate, gamma, reward_bias
        Levels of the generator's factors; the defaults are the book's Figure 3.
    extra_rng
        Source of the draws of ``reward_phase="random"`` and ``constants="two_layer"``
        (required for them).
    reward_rng
        Source of the draws of ``reward_bias="random"`` (required for it).
    simulate
        Whether to simulate ``gap`` (False leaves zeros, e.g. for :func:`figure3_sweep`).

    Returns
    -------
    Figure3Systems
        With ``family="synthetic"`` and ``gap`` simulated at ``horizon``.

    Raises
    ------
    ValueError
        If ``n < 1``, ``horizon < 1``, ``d_s < 2``, ``d_a < 1`` (or not integers), ``rng`` is
        not a ``numpy.random.Generator``, a level is unknown, or a level needs ``extra_rng`` /
        ``reward_rng`` and none is given.
    """
    return _configurations("synthetic", n, horizon, rng, d_s, d_a, extra_rng, reward_rng,
                           simulate, reward_phase=reward_phase, budget=budget,
                           constants=constants, rate=rate, gamma=gamma, reward_bias=reward_bias)


def lqg_configurations(
    n: int, *, horizon: int, rng: np.random.Generator, d_s: int = 4, d_a: int = 2,
    reward_phase: str = "as_built", budget: Any = "independent", constants: str = "tight",
    rate: str = "today", gamma: Any = _GAMMA_DEFAULT, reward_centre: Any = "origin",
    extra_rng: np.random.Generator | None = None,
    reward_rng: np.random.Generator | None = None, simulate: bool = True,
) -> Figure3Systems:
    r"""``n`` "LQG" configurations of Figure 3 (deterministic, LQR-like, quadratic reward).

    .. math::

       f(s,a)=As+Ba,\quad \pi(s)=-Ks,\quad r(s,a)=-(s^\top Qs+a^\top Ra),

    :math:`Q, R` symmetric positive semi-definite, closed loop :math:`M=A-BK` with spectral
    *norm* :math:`\|M\|_2<1`, and the learned model of :class:`Figure3Systems`.

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

    Distributions, ours (the paper's generator is unknown; paper.md §2), chosen a priori (the
    defaults of the keywords):

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

    The other levels (module docstring; ``reward_phase``, ``budget`` and ``gamma`` as in
    :func:`synthetic_configurations`), and why each keeps the constants valid:

    - ``rate="edge"``: :math:`c=\min(\kappa'/(\gamma L_f(1+L_\pi)),\,0.95/\|M\|_2)`, so the rate
      is :math:`\kappa'\in[0.9,0.99]` unless the closed loop would reach norm 0.95; the radius
      argument needs only :math:`\|M\|_2<1`.
    - ``constants="two_layer"`` (deep linear): the same system written as random factorisations
      :math:`[A\;B]=W_2W_1`, :math:`K=K_2K_1`, :math:`Q^{1/2}=P_2P_1`, :math:`R^{1/2}=S_2S_1`
      (Gaussian :math:`X_2` of width twice the rows from ``extra_rng``, :math:`X_1=X_2^+X`),
      simulated layer by layer, with :math:`L_f=\|W_2\|\|W_1\|`, :math:`L_\pi=\|K_2\|\|K_1\|`,
      and :math:`\|Q\|,\|R\|` in :math:`L_r` replaced by :math:`\|P_2\|^2\|P_1\|^2`,
      :math:`\|S_2\|^2\|S_1\|^2` (valid since :math:`\|X_2X_1\|\le\|X_2\|\|X_1\|`); the
      contraction factor uses these looser constants (it scales :math:`W_1`), and :math:`\rho`
      the norm of the simulated closed loop :math:`W_2W_1[I;-K_2K_1]`, which is below 1.
    - ``reward_centre`` :math:`\kappa>0` (a tracking cost):
      :math:`r=-((s-c)^\top Q(s-c)+a^\top Ra)` with :math:`c=\kappa u`, :math:`u=g/\|g\|`,
      :math:`g\sim N(0,I_{d_s})` from ``reward_rng`` (uniform on the sphere; the same :math:`u`
      for every :math:`\kappa`). Dynamics, policy, trajectories and :math:`\rho` are unchanged;
      the reward's gradient at the attractor becomes :math:`2Qc\ne0`. For
      :math:`\|s\|,\|s'\|\le\rho`, :math:`\|a\|,\|a'\|\le L_\pi\rho`, :math:`x=s-c`, :math:`y=s'-c`
      and :math:`Q` symmetric, :math:`x^\top Qx-y^\top Qy=(x-y)^\top Q(x+y)`, so
      :math:`|x^\top Qx-y^\top Qy|\le\|Q\|\,\|s+s'-2c\|\,\|s-s'\|\le2\|Q\|(\rho+\|c\|)\|s-s'\|`;
      likewise :math:`|a^\top Ra-a'^\top Ra'|\le2\|R\|L_\pi\rho\|a-a'\|`. Hence
      :math:`L_r=2\max(\|Q\|(\rho+\|c\|),\ \|R\|L_\pi\rho)`, attained at
      :math:`s=-\rho\,c/\|c\|` when :math:`c` lies along :math:`Q`'s top eigenvector.

    Parameters
    ----------
    n
        Number of configurations, >= 1 (the paper uses 375).
    horizon
        Number of simulated steps :math:`H\ge1`.
    rng
        Source of the default draws (the same draws in the same order whatever the levels).
    d_s, d_a
        State (>= 2) and action (>= 1) dimensions.
    reward_phase, budget, constants, rate, gamma, reward_centre
        Levels of the generator's factors; the defaults are the book's Figure 3.
    extra_rng
        Source of the draws of ``reward_phase="random"`` and ``constants="two_layer"``.
    reward_rng
        Source of the centre's direction :math:`u` (required for a number ``reward_centre``).
    simulate
        Whether to simulate ``gap``.

    Returns
    -------
    Figure3Systems
        With ``family="lqg"``, ``radius`` :math:`=\rho` and ``gap`` simulated at ``horizon``.

    Raises
    ------
    ValueError
        As :func:`synthetic_configurations`.
    """
    return _configurations("lqg", n, horizon, rng, d_s, d_a, extra_rng, reward_rng, simulate,
                           reward_phase=reward_phase, budget=budget, constants=constants,
                           rate=rate, gamma=gamma, reward_centre=reward_centre)


#: The former name of :class:`Figure3Systems` (kept so that old code keeps working).
Figure3Batch = Figure3Systems


# --------------------------------------------------------------------------- the sweep


class _Sums(NamedTuple):
    # Per horizon H, for each batch j of one rollout (the batches differ in their reward only):
    # G[H][j] = sum_{t<H} g^t (r_j(s_t, a_t) - r_j(s^_t, a^_t)); P[H][phase] = sum_{t<H} g^t
    # phi(s^_t, a^_t) along the imagined trajectory, P0[H][phase] along the real one (the
    # imagined trajectory when eps_dyn = 0).
    G: dict[int, list[np.ndarray]]
    P: dict[int, dict[str, np.ndarray]]
    P0: dict[int, dict[str, np.ndarray]]


def _rollout_sums(batches: Sequence[Figure3Systems], horizons: Sequence[int]) -> _Sums:
    # One rollout of the real and the imagined trajectory (stacked on a leading axis of 2) gives
    # every reward-error phase, every eps_rew scaling and every horizon at once, because
    # r^ - r = eps_rew phi and the trajectories do not depend on r^ (or on r): the gap is
    # |G - eps_rew P|. The batches share dynamics, policy and errors and differ in the reward
    # (the family's own factor), so one trajectory serves them all.
    base = batches[0]
    hs = sorted(set(horizons))
    s = np.stack([base.s0, base.s0])
    G = [np.zeros(base.n) for _ in batches]
    P = {p: np.zeros(base.n) for p in _REWARD_PHASES}
    P0 = {p: np.zeros(base.n) for p in _REWARD_PHASES}
    out = _Sums({}, {}, {})
    eps = base.eps_dyn[:, None]
    for t in range(hs[-1]):
        a = base.policy(s)
        gt = base.gamma**t
        for j, b in enumerate(batches):
            r = b.reward(s, a)
            G[j] += gt * (r[0] - r[1])
        z = base._phase(base.q_rew, s, a)
        shapes = {"as_built": np.cos(z), "vanishing": np.sin(z)}
        if base.psi is not None:
            shapes["random"] = np.cos(z + base.psi)
        for p, v in shapes.items():
            P[p] += gt * v[1]
            P0[p] += gt * v[0]
        if t + 1 in hs:
            out.G[t + 1] = [g.copy() for g in G]
            out.P[t + 1] = {p: v.copy() for p, v in P.items()}
            out.P0[t + 1] = {p: v.copy() for p, v in P0.items()}
        if t + 1 < hs[-1]:
            nxt = base.dynamics(s, a)
            ph = base._phase(base.q_dyn, s[1], a[1])[..., None]
            nxt[1] += eps * (base.e1 * np.cos(ph) + base.e2 * np.sin(ph))
            s = nxt
    return out


def _bound_coefficients(gamma: np.ndarray, rate: np.ndarray,
                        horizons: Sequence[int]) -> dict[Any, tuple[np.ndarray, np.ndarray]]:
    # (c_rew, S) with bound = eps_rew c_rew + eps_dyn L_r (1 + L_pi) S: for each H the finite
    # form, c_rew = sum_{t<H} g^t and S = sum_{t<H} g^t e_t with e_0 = 0, e_{t+1} = L e_t + 1
    # (= sum_{k<t} L^k), in one pass over t vectorised over configurations (the library's
    # return_error_bound_finite loops over configurations; the tests compare the two); and under
    # "eq1" Eq. (1), c_rew = 1/(1-g), S = g/((1-g)(1-gL)), which needs gL < 1.
    if np.any(gamma * rate >= 1.0):
        raise ValueError("Eq. (1) needs gamma L_f (1 + L_pi) < 1 in every configuration")
    hs = sorted(set(horizons))
    out: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    c_rew, S, e, g = (np.zeros_like(gamma), np.zeros_like(gamma), np.zeros_like(gamma),
                      np.ones_like(gamma))
    for t in range(hs[-1]):
        c_rew = c_rew + g
        S = S + g * e
        if t + 1 in hs:
            out[t + 1] = (c_rew, S)
        e = rate * e + 1.0
        g = g * gamma
    out["eq1"] = (1.0 / (1.0 - gamma), gamma / ((1.0 - gamma) * (1.0 - gamma * rate)))
    return out


def _cell_ratio(batch: Figure3Systems, sums: _Sums, j: int,
                coefficients: Mapping[Any, tuple[np.ndarray, np.ndarray]], phase: str,
                budget: Any, horizon: int, bound: str) -> np.ndarray:
    # R of one cell from the rollout of the "independent" batch: the budget level rescales or
    # zeroes the errors here instead of re-simulating, which is exact because the trajectories
    # depend on eps_dyn only (zero under "rew_only": then the imagined one is the real one).
    eps_dyn, eps_rew = _budget_errors(batch.eps_dyn, batch.eps_rew, budget)
    if budget == "rew_only":
        gap = np.abs(eps_rew * sums.P0[horizon][phase])
    else:
        gap = np.abs(sums.G[horizon][j] - eps_rew * sums.P[horizon][phase])
    c_rew, S = coefficients[horizon if bound == "finite" else "eq1"]
    return gap / (eps_rew * c_rew + eps_dyn * batch.L_r * (1.0 + batch.L_pi) * S)


def _encode(x: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(x, dtype="<f4").tobytes()).decode("ascii")


def _decode(text: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.frombuffer(base64.b64decode(text), dtype="<f4").astype(float)
    if arr.size != math.prod(shape):
        raise ValueError(f"a record array has {arr.size} values, its levels need "
                         f"{math.prod(shape)}")
    return arr.reshape(shape)


def _json_level(x: Any) -> Any:
    return float(x) if isinstance(x, np.floating) else int(x) if isinstance(x, np.integer) else x


@dataclass(frozen=True, eq=False)
class Figure3Sweep:
    r"""Median and maximum of :math:`R` per family over a factorial grid (:func:`figure3_sweep`).

    Attributes
    ----------
    levels : dict
        Every factor of :data:`FIGURE3_FACTORS` with its levels, in that order.
    median, maximum : dict of ndarray
        Per family, the median and maximum of :math:`R` over its configurations in each cell.
        The axes are :meth:`axes` of the family: the eight shared factors, then the family's own
        factor (:data:`FIGURE3_OWN_FACTOR`), since the other family's factor does not change it.
    n : dict
        Configurations per family.
    d_a : int
        Action dimension.
    seed, skip, extra_seed : int
        The default draws come from ``numpy.random.default_rng(seed)`` after ``skip`` doubles
        (the page's stream), the extra draws from ``default_rng([extra_seed, family, d_s])``
        and ``default_rng([extra_seed, family, d_s, 1])``.
    violations : dict
        Per family, the number of (cell, configuration) pairs with :math:`R>1+10^{-9}`.
    largest : dict
        Per family, the largest :math:`R` of any configuration in any cell.
    pooled_median : ndarray or None
        Median of :math:`R` over both families together, axes :data:`FIGURE3_FACTORS` (only
        when the sweep was asked for it: it pairs every level of the two own factors).
    info : dict
        Timings and, for a record read from disk, its machine, date and ``missing`` levels.
    """

    levels: Mapping[str, tuple[Any, ...]]
    median: Mapping[str, np.ndarray]
    maximum: Mapping[str, np.ndarray]
    n: Mapping[str, int]
    d_a: int
    seed: int | None
    skip: int
    extra_seed: int
    violations: Mapping[str, int]
    largest: Mapping[str, float]
    pooled_median: np.ndarray | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def axes(family: str) -> tuple[str, ...]:
        """The factors along the axes of ``median[family]`` and ``maximum[family]``."""
        if family not in FIGURE3_FAMILIES:
            raise ValueError(f"family must be one of {FIGURE3_FAMILIES}, got {family!r}")
        return (*_SHARED, FIGURE3_OWN_FACTOR[family])

    def shape(self, family: str | None = None) -> tuple[int, ...]:
        """Shape of a family's arrays, or (``family=None``) of the paired grid of all factors."""
        names = FIGURE3_FACTORS if family is None else self.axes(family)
        return tuple(len(self.levels[f]) for f in names)

    def paired(self) -> dict[str, np.ndarray]:
        """Both families' statistics on the grid of all factors (:data:`FIGURE3_FACTORS`).

        Each family's array is broadcast along the other family's own factor, on which it does
        not depend: a cell of the full grid pairs one level of each. Keys ``synthetic_median``,
        ``synthetic_max``, ``lqg_median``, ``lqg_max``.
        """
        full = self.shape()
        out = {}
        for fam in FIGURE3_FAMILIES:
            own = FIGURE3_FACTORS.index(FIGURE3_OWN_FACTOR[fam])
            other = 1 - (own - len(_SHARED))  # position of the other own factor after shared
            for name, arr in (("median", self.median[fam]), ("max", self.maximum[fam])):
                out[f"{fam}_{name}"] = np.broadcast_to(
                    np.expand_dims(arr, len(_SHARED) + other), full)
        return out

    def cell(self, index: Sequence[int]) -> dict[str, Any]:
        """The levels of the cell at ``index`` of the paired grid (all factors)."""
        return {f: self.levels[f][i] for f, i in zip(FIGURE3_FACTORS, index, strict=True)}

    def index(self, **levels: Any) -> tuple[int, ...]:
        """Index of a cell in the paired grid; factors not given take their default level."""
        cell = {**FIGURE3_DEFAULTS, **levels}
        try:
            return tuple(self.levels[f].index(cell[f]) for f in FIGURE3_FACTORS)
        except ValueError:
            raise ValueError(f"cell {cell} is not in this sweep's grid") from None

    def largest_difference(self, other: Figure3Sweep) -> float:
        """Largest relative difference of ``other``'s statistics from this sweep's, same cells.

        ``other`` is a sweep over a sub-grid (e.g. a recompute of a few cells); every one of its
        cells must be in this sweep, with the same configurations and streams.
        """
        same = ("n", "d_a", "seed", "skip", "extra_seed")
        if any(getattr(self, k) != getattr(other, k) for k in same):
            raise ValueError("the two sweeps have different sizes or streams: "
                             + ", ".join(f"{k} {getattr(self, k)} / {getattr(other, k)}"
                                         for k in same))
        worst = 0.0
        for fam in FIGURE3_FAMILIES:
            try:
                where = np.ix_(*(
                    [self.levels[f].index(v) for v in other.levels[f]] for f in self.axes(fam)))
            except ValueError:
                raise ValueError("a cell of the other sweep is not in this one") from None
            for mine, theirs in ((self.median[fam][where], other.median[fam]),
                                 (self.maximum[fam][where], other.maximum[fam])):
                worst = max(worst, float(np.max(np.abs(theirs - mine) / np.abs(mine))))
        return worst

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict: levels, sizes, streams, and each array as base64 float32.

        float32 keeps about 7 significant digits (relative rounding at most
        :math:`2^{-24}`), which is all a median or a maximum of :math:`R` needs, and it makes a
        cell cost 8 bytes per family and statistic. :func:`load_figure3_sweep` reads it back.
        """
        return {
            "factors": list(FIGURE3_FACTORS),
            "levels": {f: [_json_level(v) for v in self.levels[f]] for f in FIGURE3_FACTORS},
            "n": dict(self.n), "d_a": self.d_a, "seed": self.seed, "skip": self.skip,
            "extra_seed": self.extra_seed, "encoding": "base64 little-endian float32, C order",
            "axes": {fam: list(self.axes(fam)) for fam in FIGURE3_FAMILIES},
            "median": {fam: _encode(self.median[fam]) for fam in FIGURE3_FAMILIES},
            "max": {fam: _encode(self.maximum[fam]) for fam in FIGURE3_FAMILIES},
            "violations": dict(self.violations),
            "largest": {k: float(v) for k, v in self.largest.items()},
            "timing_s": dict(self.info.get("timing_s", {})),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Figure3Sweep:
        """The sweep of a dict written by :meth:`to_record`."""
        if list(record.get("factors", [])) != list(FIGURE3_FACTORS):
            raise ValueError(f"a Figure 3 sweep record has the factors {FIGURE3_FACTORS}, got "
                             f"{record.get('factors')!r}")
        levels = {f: tuple(record["levels"][f]) for f in FIGURE3_FACTORS}
        shapes = {fam: tuple(len(levels[f]) for f in cls.axes(fam)) for fam in FIGURE3_FAMILIES}
        return cls(
            levels=levels,
            median={fam: _decode(record["median"][fam], shapes[fam]) for fam in shapes},
            maximum={fam: _decode(record["max"][fam], shapes[fam]) for fam in shapes},
            n=dict(record["n"]), d_a=int(record["d_a"]), seed=record["seed"],
            skip=int(record["skip"]), extra_seed=int(record["extra_seed"]),
            violations=dict(record["violations"]), largest=dict(record["largest"]),
            info={"timing_s": record.get("timing_s", {})})


def _sweep_levels(grid: Mapping[str, Sequence[Any]]) -> dict[str, tuple[Any, ...]]:
    checks = {"reward_phase": _check_phase, "budget": _check_budget,
              "constants": _check_constants, "rate": _check_rate, "gamma": _check_gamma_level,
              "d_s": lambda v: check_int("d_s", v, 2),
              "horizon": lambda v: check_int("horizon", v, 1), "bound": _check_bound,
              "reward_centre": _check_centre, "reward_bias": _check_bias}
    levels = {}
    for f in FIGURE3_FACTORS:
        values = grid[f]
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"{f} must be a non-empty sequence of levels, got {values!r}")
        checked = tuple(checks[f](v) for v in values)
        if len(set(map(repr, checked))) != len(checked):
            raise ValueError(f"{f} has a repeated level: {values!r}")
        levels[f] = checked
    return levels


def figure3_sweep(
    *, rng: np.random.Generator, n: Mapping[str, int] | None = None, d_a: int = 2,
    extra_seed: int = 20260507, seed: int | None = None, skip: int = 0,
    reward_phase: Sequence[str] = ("as_built",), budget: Sequence[Any] = ("independent",),
    constants: Sequence[str] = ("tight",), rate: Sequence[str] = ("today",),
    gamma: Sequence[Any] = (_GAMMA_DEFAULT,), d_s: Sequence[int] = (4,),
    horizon: Sequence[int] = (400,), bound: Sequence[str] = ("finite",),
    reward_centre: Sequence[Any] = ("origin",), reward_bias: Sequence[str] = ("none",),
    pooled: bool = False,
) -> Figure3Sweep:
    r"""Median and maximum of Figure 3's :math:`R` per family over a factorial grid of levels.

    Each keyword from ``reward_phase`` to ``reward_bias`` lists the levels of one factor of the
    generators (module docstring; the default of each is the book's level alone, so
    ``figure3_sweep(rng=rng)`` is the book's Figure 3). Every cell has the paper's 150 + 375
    configurations (``n``), and for each family the sweep reports the median and the maximum of
    :math:`R=\text{gap}/\text{bound}` over them.

    **Streams and common random numbers.** For each state dimension the default draws are made
    from a copy of ``rng`` (synthetic first, then LQG from the same stream, as the page does),
    so ``rng`` is not advanced, and every cell of that dimension reuses them; the extra draws
    come from ``default_rng([extra_seed, i, d_s])`` and ``default_rng([extra_seed, i, d_s, 1])``
    (``i`` = 0 synthetic, 1 LQG), fresh for each build, so every level of every other factor
    shares them too. A cell is therefore exactly what :func:`synthetic_configurations` and
    :func:`lqg_configurations` give at its levels with those generators (the tests check it
    against a plain loop over configurations).

    **Why it is cheap and exact.** The trajectories depend on :math:`\varepsilon_{\rm dyn}` and
    not on the reward, and :math:`\hat r-r=\varepsilon_{\rm rew}\phi`, so
    :math:`\text{gap}=|G-\varepsilon_{\rm rew}P_\phi|` with
    :math:`G=\sum_t\gamma^t(r(s_t,a_t)-r(\hat s_t,\hat a_t))` and
    :math:`P_\phi=\sum_t\gamma^t\phi(\hat s_t,\hat a_t)` (under ``"rew_only"``,
    :math:`\varepsilon_{\rm dyn}=0` and the imagined trajectory is the real one). One rollout
    of :math:`\max H` steps per (family, ``d_s``, ``constants``, ``rate``, ``gamma``) therefore
    serves every phase, budget, horizon, bound and level of the family's own reward factor. The
    finite-horizon bounds are summed in one pass over :math:`t`, vectorised over
    configurations.

    Parameters
    ----------
    rng
        The stream of the default draws (not advanced: the sweep works on copies).
    n
        Configurations per family; default ``{"synthetic": 150, "lqg": 375}`` (the paper's).
    d_a
        Action dimension.
    extra_seed
        Seed of the extra draws (random phase, two-layer weights, reward centre and bias).
    seed, skip
        Recorded only: how ``rng`` was made (``default_rng(seed)`` after ``skip`` doubles), so
        that a record says which stream it used.
    reward_phase, budget, constants, rate, gamma, d_s, horizon, bound, reward_centre, reward_bias
        The levels of each factor.
    pooled
        Also compute the median over both families together in every paired cell (all levels
        of the two own factors crossed); costs memory for the per-configuration ratios, so
        meant for small grids.

    Returns
    -------
    Figure3Sweep

    Raises
    ------
    ValueError
        For an unknown level, a repeated level or a bad ``rng``.
    """
    check_rng(rng)
    n = dict({"synthetic": 150, "lqg": 375}, **(n or {}))
    for fam in FIGURE3_FAMILIES:
        check_int(f"n[{fam!r}]", n[fam], 1)
    d_a = check_int("d_a", d_a, 1)
    lv = _sweep_levels(dict(reward_phase=reward_phase, budget=budget, constants=constants,
                            rate=rate, gamma=gamma, d_s=d_s, horizon=horizon, bound=bound,
                            reward_centre=reward_centre, reward_bias=reward_bias))
    h_max = max(lv["horizon"])
    shapes = {fam: tuple(len(lv[f]) for f in Figure3Sweep.axes(fam)) for fam in FIGURE3_FAMILIES}
    median = {fam: np.empty(shapes[fam]) for fam in FIGURE3_FAMILIES}
    maximum = {fam: np.empty(shapes[fam]) for fam in FIGURE3_FAMILIES}
    violations = dict.fromkeys(FIGURE3_FAMILIES, 0)
    largest = dict.fromkeys(FIGURE3_FAMILIES, 0.0)
    pooled_median = np.empty(tuple(len(lv[f]) for f in FIGURE3_FACTORS)) if pooled else None
    t_start, rollouts = time.perf_counter(), 0
    inner = list(itertools.product(*(enumerate(lv[f]) for f in
                                     ("reward_phase", "budget", "horizon", "bound"))))
    for i_ds, ds in enumerate(lv["d_s"]):
        stream = copy.deepcopy(rng)
        draws = {fam: _DRAW[fam](stream, n[fam], ds, d_a) for fam in FIGURE3_FAMILIES}
        ratios: dict[str, dict[tuple[int, ...], np.ndarray]] = {f: {} for f in FIGURE3_FAMILIES}
        for i_fam, fam in enumerate(FIGURE3_FAMILIES):
            own = FIGURE3_OWN_FACTOR[fam]
            for (i_c, cons), (i_r, rt), (i_g, gam) in itertools.product(
                    *(enumerate(lv[f]) for f in ("constants", "rate", "gamma"))):
                batches = [_BUILD[fam](
                    draws[fam], h_max,
                    {"reward_phase": "as_built", "budget": "independent", "constants": cons,
                     "rate": rt, "gamma": gam, own: level},
                    np.random.default_rng([extra_seed, i_fam, ds]),
                    np.random.default_rng([extra_seed, i_fam, ds, 1])) for level in lv[own]]
                sums = _rollout_sums(batches, lv["horizon"])
                rollouts += 1
                base = batches[0]
                coefficients = _bound_coefficients(base.gamma, base.L_f * (1.0 + base.L_pi),
                                                   lv["horizon"])
                for j, b in enumerate(batches):
                    for (i_p, ph), (i_b, bud), (i_h, h), (i_bd, bd) in inner:
                        R = _cell_ratio(b, sums, j, coefficients, ph, bud, h, bd)
                        idx = (i_p, i_b, i_c, i_r, i_g, i_ds, i_h, i_bd, j)
                        median[fam][idx] = np.median(R)
                        maximum[fam][idx] = np.max(R)
                        violations[fam] += int(np.sum(R > 1.0 + _TOL))
                        largest[fam] = max(largest[fam], float(np.max(R)))
                        if pooled:
                            ratios[fam][idx] = R
        if pooled:
            for key, R_syn in ratios["synthetic"].items():
                shared, i_bias = key[:-1], key[-1]
                for i_centre in range(len(lv["reward_centre"])):
                    both = np.concatenate([R_syn, ratios["lqg"][(*shared, i_centre)]])
                    pooled_median[(*shared, i_centre, i_bias)] = np.median(both)
    timing = {"total": round(time.perf_counter() - t_start, 3), "rollouts": rollouts}
    return Figure3Sweep(levels=lv, median=median, maximum=maximum, n=n, d_a=d_a, seed=seed,
                        skip=check_int("skip", skip, 0), extra_seed=int(extra_seed),
                        violations=violations, largest=largest, pooled_median=pooled_median,
                        info={"timing_s": timing})


def load_figure3_sweep(path: str | Path) -> Figure3Sweep:
    r"""Read a committed sweep record (``benchmarks/figure3_sweep.py`` writes it).

    The record holds one chunk per state dimension (the unit of the resumable run), each a
    :meth:`Figure3Sweep.to_record` dict over one ``d_s``. The chunks present are joined along
    ``d_s`` in the order the record plans; a partial record gives the dimensions it has, and
    ``info["missing"]`` lists the others, so that a page can say what is missing instead of
    failing.

    Parameters
    ----------
    path
        The JSON record.

    Returns
    -------
    Figure3Sweep
        With ``info`` holding ``missing`` (planned ``d_s`` levels without a chunk), ``machine``,
        ``date``, ``versions``, ``complete`` and ``chunk_timing_s``.

    Raises
    ------
    ValueError
        If the file is not such a record or has no chunk at all.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
        planned = [int(v) for v in record["levels"]["d_s"]]
        chunks = record["chunks"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a Figure 3 sweep record: {exc}") from None
    present = [ds for ds in planned if str(ds) in chunks]
    if not present:
        raise ValueError(f"{path} holds no chunk yet (planned d_s: {planned})")
    parts = [Figure3Sweep.from_record(chunks[str(ds)]) for ds in present]
    axis = _SHARED.index("d_s")
    first = parts[0]
    levels = dict(first.levels, d_s=tuple(present))
    info = {"missing": [ds for ds in planned if ds not in present],
            "complete": bool(record.get("complete")),
            "chunk_timing_s": {str(ds): chunks[str(ds)].get("timing_s", {}) for ds in present}}
    for key in ("date", "machine", "versions", "total_s"):
        info[key] = record.get(key)
    return Figure3Sweep(
        levels=levels,
        median={fam: np.concatenate([p.median[fam] for p in parts], axis=axis)
                for fam in FIGURE3_FAMILIES},
        maximum={fam: np.concatenate([p.maximum[fam] for p in parts], axis=axis)
                 for fam in FIGURE3_FAMILIES},
        n=first.n, d_a=first.d_a, seed=first.seed, skip=first.skip, extra_seed=first.extra_seed,
        violations={fam: sum(p.violations[fam] for p in parts) for fam in FIGURE3_FAMILIES},
        largest={fam: max(p.largest[fam] for p in parts) for fam in FIGURE3_FAMILIES},
        info=info)


def holds_paper(median: ArrayLike, maximum: ArrayLike, family: str, *,
                median_factor: float = 1.5,
                max_range: tuple[float, float] = (0.99, 1.0)) -> NDArray[np.bool_]:
    r"""Whether a cell's (median, maximum) of :math:`R` holds the paper's pair for ``family``.

    The criterion (ours; the paper gives no interval): the median within a factor
    ``median_factor`` of the paper's, :math:`|\log(\text{median}/\text{paper})|\le
    \log(\text{median\_factor})`, and the maximum in ``max_range`` (the paper's maxima, 0.9995
    and 0.999, are "nearly attained": within 1% of 1).

    Parameters
    ----------
    median, maximum
        Arrays of the same shape (e.g. from :meth:`Figure3Sweep.paired`).
    family
        ``"synthetic"`` or ``"lqg"`` (:data:`FIGURE3_PAPER`).
    median_factor, max_range
        The tolerances.

    Returns
    -------
    ndarray of bool
    """
    if family not in FIGURE3_PAPER:
        raise ValueError(f"family must be one of {tuple(FIGURE3_PAPER)}, got {family!r}")
    if not median_factor > 1:
        raise ValueError(f"median_factor must be > 1, got {median_factor!r}")
    med = np.asarray(median, dtype=float)
    mx = np.asarray(maximum, dtype=float)
    close = np.abs(np.log(med / FIGURE3_PAPER[family][0])) <= math.log(median_factor)
    return close & (mx >= max_range[0]) & (mx <= max_range[1])


def paper_distance(median: ArrayLike, maximum: ArrayLike, family: str) -> NDArray[np.float64]:
    r"""Distance of a cell's (median, maximum) of :math:`R` from the paper's pair, in decades.

    .. math::

       d=\bigl|\log_{10}(\text{median}/m_{\rm paper})\bigr|
       +\bigl|\log_{10}(\min(\max R,1)/M_{\rm paper})\bigr|,

    0 when both numbers are met exactly. The distance of a cell to all four of the paper's
    numbers is the sum over the two families.

    Parameters
    ----------
    median, maximum
        Arrays of the same shape.
    family
        ``"synthetic"`` or ``"lqg"``.

    Returns
    -------
    ndarray
    """
    if family not in FIGURE3_PAPER:
        raise ValueError(f"family must be one of {tuple(FIGURE3_PAPER)}, got {family!r}")
    med_p, max_p = FIGURE3_PAPER[family]
    med = np.asarray(median, dtype=float)
    mx = np.minimum(np.asarray(maximum, dtype=float), 1.0)
    return np.abs(np.log10(med / med_p)) + np.abs(np.log10(mx / max_p))
