r"""Figure 3 of the paper (§3.1): how tight is Lemma 1 on many random systems?

The paper reports the ratio :math:`R=\text{gap}/\text{bound}` over 525 configurations, 150
"synthetic" (globally Lipschitz :math:`f, r`) and 375 "LQG" (quadratic reward, Lipschitz on a
bounded domain). How it generated them is not known; the generators here are ours, documented in
:func:`synthetic_configurations` and :func:`lqg_configurations`. Every configuration carries exact
sup-norm model errors and valid Lipschitz constants, the gap is simulated exactly
(:func:`simulate_gap`, vectorised over configurations) and compared with the finite-horizon bound
at the same horizon (:func:`figure3_ratio`). Used by chapter 1 ("The simulation lemma"); chapter 4
reuses :func:`lqg_configurations` for Figure 4.

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Lemma 1, Eq. (1) and Figure 3.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import check_int, check_rng
from ._linalg import batched_matvec, spectral_norm
from .bounds import return_error_bound_finite

__all__ = [
    "FIGURE3_FAMILIES",
    "Figure3Batch",
    "Figure3Systems",
    "Figure3Trajectories",
    "figure3_ratio",
    "figure3_rollout",
    "lqg_configurations",
    "simulate_gap",
    "synthetic_configurations",
]

FIGURE3_FAMILIES = ("synthetic", "lqg")

# Output dimension m of the synthetic reward w . sin(C s + D a) (ours; the paper's is unknown).
_M_REWARD = 4

# Fields that hold one entry per configuration (leading axis n); the rest are per family.
_COMMON_ARRAYS = (
    "gamma", "eps_dyn", "eps_rew", "L_f", "L_r", "L_pi", "gap", "A", "B", "K", "s0", "e1", "e2",
    "q_dyn", "q_rew",
)
_FAMILY_ARRAYS = {"synthetic": ("C", "D", "w"), "lqg": ("Q", "R", "radius")}


@dataclass(frozen=True, eq=False)
class Figure3Systems:
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
        check_int("horizon", self.horizon, 1)
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
        z = batched_matvec(self.K, np.asarray(s, dtype=float))
        return np.tanh(z) if self.family == "synthetic" else -z

    def dynamics(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        r"""The true dynamics :math:`f(s,a)`: :math:`\tanh(As+Ba)` or :math:`As+Ba`."""
        z = batched_matvec(self.A, np.asarray(s, dtype=float)) + batched_matvec(
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
            z = batched_matvec(self.C, s) + batched_matvec(self.D, a)
            return np.einsum("nm,...nm->...n", self.w, np.sin(z))
        cost = np.einsum("...ni,...ni->...n", s, batched_matvec(self.Q, s))
        return -(cost + np.einsum("...ni,...ni->...n", a, batched_matvec(self.R, a)))

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


def figure3_ratio(batch: Figure3Systems) -> NDArray[np.float64]:
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
    if not isinstance(batch, Figure3Systems):
        raise ValueError(f"batch must be a Figure3Systems, got {type(batch).__name__}")
    bound = return_error_bound_finite(
        batch.eps_dyn, batch.eps_rew, batch.gamma, batch.L_f, batch.L_r, batch.L_pi, batch.horizon
    )
    return batch.gap / np.asarray(bound)


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


def _with_norms(rng: np.random.Generator, shape: tuple[int, ...], norms: np.ndarray) -> np.ndarray:
    # Gaussian matrices (random singular directions) rescaled to prescribed spectral norms.
    g = rng.standard_normal(shape)
    return g * (norms / spectral_norm(g))[:, None, None]


def _with_norms_psd(P: np.ndarray, norms: np.ndarray) -> np.ndarray:
    # Symmetric PSD matrices rescaled to prescribed spectral norms; symmetrised after scaling so
    # that rounding cannot break the symmetry that x^T Q x - y^T Q y = (x-y)^T Q (x+y) needs.
    P = P * (norms / spectral_norm(P))[:, None, None]
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


def _finish(family: str, horizon: int, params: dict[str, Any]) -> Figure3Systems:
    batch = Figure3Systems(family=family, horizon=horizon, gap=np.zeros(len(params["gamma"])),
                         **params)
    return dataclasses.replace(batch, gap=simulate_gap(batch))


def synthetic_configurations(
    n: int, *, horizon: int, rng: np.random.Generator, d_s: int = 4, d_a: int = 2
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
    Figure3Systems
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
    L_pi = spectral_norm(K)
    c = _contraction_factor(rng, gamma, np.maximum(spectral_norm(A), spectral_norm(B)), L_pi)
    A, B = A * c[:, None, None], B * c[:, None, None]
    # Constants from the final matrices (not from the drawn targets), so they are what they claim.
    L_f = np.maximum(spectral_norm(A), spectral_norm(B))
    L_r = np.linalg.norm(w, axis=-1) * np.maximum(spectral_norm(C), spectral_norm(D))
    params = dict(gamma=gamma, L_f=L_f, L_r=L_r, L_pi=L_pi, A=A, B=B, K=K, C=C, D=D, w=w)
    return _finish("synthetic", horizon, {**params, **_error_model(rng, n, d_s, d_a)})


def lqg_configurations(
    n: int, *, horizon: int, rng: np.random.Generator, d_s: int = 4, d_a: int = 2
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
    Figure3Systems
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
    L_pi = spectral_norm(K)
    c = _contraction_factor(rng, gamma, np.maximum(spectral_norm(A), spectral_norm(B)), L_pi)
    A, B = A * c[:, None, None], B * c[:, None, None]
    L_f = np.maximum(spectral_norm(A), spectral_norm(B))
    error_model = _error_model(rng, n, d_s, d_a)
    # ||M|| of the final closed loop A - B K, the quantity the induction above uses.
    m_norm = spectral_norm(A - B @ K)
    radius = np.maximum(
        np.linalg.norm(error_model["s0"], axis=-1), error_model["eps_dyn"] / (1.0 - m_norm)
    )
    L_r = 2.0 * radius * np.maximum(spectral_norm(Q), spectral_norm(R) * L_pi)
    params = dict(gamma=gamma, L_f=L_f, L_r=L_r, L_pi=L_pi, A=A, B=B, K=K, Q=Q, R=R, radius=radius)
    return _finish("lqg", horizon, {**params, **error_model})


#: The former name of :class:`Figure3Systems` (kept so that old code keeps working).
Figure3Batch = Figure3Systems
