r"""Chapter 7: the whole story on Gymnasium's ``Pendulum-v1`` (beyond the paper).

The paper checks its results on synthetic systems only. Here the true dynamics and reward are
those of a standard environment nobody here wrote, :func:`pendulum_step`
(tested against ``gymnasium``'s own ``step``). The pipeline:

1. :class:`PendulumTask` fixes the documented set-up: the bounded state-action box the models are
   trained and measured on, the behaviour policy (uniform states and torques on the box), the
   evaluation policy (a saturated PD controller that holds the pendulum upright), its start
   states and the domain :math:`D` its real trajectories stay in, and every Lipschitz constant
   of the true system, derived from the step's equations.
2. :func:`fit_pendulum_models` trains dynamics models (residual MLPs,
   :math:`\hat f(s,a)=s+\mathrm{net}(s,a)`) and reward models (MLPs clipped to the reward's range)
   at several data sizes and seeds, as two batched ensembles of
   :func:`~imagination.ensemble.train_ensemble`; measures held-out errors on the box;
   **certifies** the sup-norm errors on the policy's graph over :math:`D` with a grid and a
   Lipschitz margin; and bounds the learned models' constants by spectral norms.
3. :func:`imagined_rollout`, :func:`imagined_rewards` and :func:`return_gaps` compare the real and
   the imagined returns; with the certificates, the finite-horizon bound of chapter 1 bounds them.
4. :func:`return_error_surface`, :func:`surface_optimal_split` and
   :func:`pendulum_sensitivities` test Theorem 1 on this task: the realised best split of a
   budget between the two data streams, against Eq. (4)'s prediction from global constants and
   from realised sensitivities.

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Lemma 1, Eq. (1), Theorem 1 and Eq. (4). Towers et al. (2024), Gymnasium.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import check_gamma, check_int, check_rng
from .allocation import budget_line
from .sensitivities import realised_sensitivities

if TYPE_CHECKING:  # torch is imported only by the functions that train or differentiate
    import torch

    from .ensemble import Ensemble

__all__ = [
    "PENDULUM",
    "PendulumModels",
    "PendulumShifts",
    "PendulumTask",
    "fit_pendulum_models",
    "imagined_rewards",
    "imagined_rollout",
    "pendulum_rollout",
    "pendulum_sensitivities",
    "pendulum_step",
    "realised_split",
    "return_error_surface",
    "return_gaps",
    "surface_optimal_split",
    "surface_split_interval",
]

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


# theta_dot' = theta_dot + (G_COEF sin(theta) + U_COEF u) unclipped: the step's two coefficients.
_DT = PENDULUM["dt"]
_G_COEF = 3 * PENDULUM["g"] / (2 * PENDULUM["l"]) * _DT  # 0.75
_U_COEF = 3.0 / (PENDULUM["m"] * PENDULUM["l"] ** 2) * _DT  # 0.15


@dataclass(frozen=True)
class PendulumTask:
    r"""The documented set-up of chapter 7 on ``Pendulum-v1`` (:math:`\theta=0` is upright).

    States :math:`s=(\theta,\dot\theta)` with the Euclidean norm, actions :math:`a=u` (torque);
    Lemma 1's sum metric on :math:`(s,a)`. The models live on the **box**
    :math:`|\theta|\le\theta_{\max}`, :math:`|\dot\theta|\le\dot\theta_{\max}`, :math:`|u|\le2`;
    the behaviour policy draws states and torques uniformly from it. The **evaluation policy** is
    the saturated PD controller :math:`\pi(s)=\mathrm{clip}(-(K_p\theta+K_d\dot\theta),\pm2)`, from
    start states uniform on :math:`|\theta|\le\theta_0`, :math:`|\dot\theta|\le\dot\theta_0`; its
    real trajectories must stay in the **domain** :math:`D=\{|\theta|\le\theta_D,
    |\dot\theta|\le\dot\theta_D\}` (checked where used), on which the errors are certified.

    On the box neither of the environment's clips is active (:math:`|u|\le2` and
    :math:`|\dot\theta+0.75\sin\theta+0.15u|<8`) and :math:`|\theta|<\pi` (no angle wrap), so

    .. math::

       f(s,u)=s+\Delta(s,u),\qquad
       \Delta=\bigl(0.05\,(\dot\theta+0.75\sin\theta+0.15u),\ 0.75\sin\theta+0.15u\bigr),
       \qquad r=-(\theta^2+0.1\dot\theta^2+0.001u^2).

    Attributes
    ----------
    theta_max, theta_dot_max : float
        Half-widths of the box (``theta_max < pi``, ``theta_dot_max < 6.95``).
    Kp, Kd : float
        Gains of the evaluation policy (``Kp > 5`` holds the pendulum up: gravity gives 15 sin θ).
    start_theta, start_theta_dot : float
        Half-widths of the start states.
    domain_theta, domain_theta_dot : float
        Half-widths of :math:`D`, inside the box, containing the start states.
    """

    theta_max: float = 1.0
    theta_dot_max: float = 2.0
    Kp: float = 8.0
    Kd: float = 1.5
    start_theta: float = 0.2
    start_theta_dot: float = 0.5
    domain_theta: float = 0.25
    domain_theta_dot: float = 0.5

    d_s = 2
    d_a = 1

    def __post_init__(self) -> None:
        for name in ("theta_max", "theta_dot_max", "Kp", "Kd", "start_theta", "start_theta_dot",
                     "domain_theta", "domain_theta_dot"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if self.theta_max >= math.pi or self.theta_dot_max > 8 - _G_COEF - 2 * _U_COEF:
            raise ValueError(
                "the box must keep the environment's clips and angle wrap inactive: need "
                f"theta_max < pi and theta_dot_max <= {8 - _G_COEF - 2 * _U_COEF:.2f}, got "
                f"{self.theta_max} and {self.theta_dot_max}")
        if not (self.start_theta <= self.domain_theta <= self.theta_max
                and self.start_theta_dot <= self.domain_theta_dot <= self.theta_dot_max):
            raise ValueError("need start half-widths <= domain half-widths <= box half-widths "
                             f"(start {self.start_theta}, {self.start_theta_dot}; domain "
                             f"{self.domain_theta}, {self.domain_theta_dot}; box "
                             f"{self.theta_max}, {self.theta_dot_max})")

    # ------------------------------------------------------------------ the set-up
    @property
    def box(self) -> NDArray[np.float64]:
        """Half-widths of the box in (θ, θ̇, u), shape (3,)."""
        return np.array([self.theta_max, self.theta_dot_max, PENDULUM["max_torque"]])

    def policy(self, s: Any) -> Any:
        r""":math:`\pi(s)=\mathrm{clip}(-(K_p\theta+K_d\dot\theta),\pm2)`, shape (..., 1).

        ``s`` is an array_like of shape (..., 2), or a ``torch.Tensor`` (then the result is one,
        differentiable: :meth:`PendulumModels.closed_loop` needs it).
        """
        if not hasattr(s, "requires_grad"):  # numpy in, numpy out; a tensor stays a tensor
            s = np.asarray(s, dtype=float)
        u = -(self.Kp * s[..., 0] + self.Kd * s[..., 1])
        return u.clip(-PENDULUM["max_torque"], PENDULUM["max_torque"])[..., None]

    def sample_transitions(
        self, n: int, rng: np.random.Generator
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """``n`` transitions of the behaviour policy: inputs (θ, θ̇, u) uniform on the box.

        Returns ``x`` (n, 3), the dynamics targets ``f(s, u) - s`` (n, 2) (the residual the
        models learn) and the rewards (n,), all from :func:`pendulum_step`.
        """
        x = rng.uniform(-self.box, self.box, size=(int(n), 3))
        return x, *self.label(x)

    def label(self, x: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The true residual ``f(s, u) - s`` (n, 2) and reward (n,) of inputs ``x`` (n, 3)."""
        x = np.asarray(x, dtype=float)
        th, thd, r = pendulum_step(x[:, 0], x[:, 1], x[:, 2])
        return np.stack([th - x[:, 0], thd - x[:, 1]], axis=-1), r

    def clip_reward(self, values: ArrayLike) -> NDArray[np.float64]:
        """A learned reward clipped to the true reward's range on the box, ``[-R_max, 0]``."""
        return np.clip(values, -self.R_max, 0.0)

    def start_states(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``n`` start states, uniform on the start box, shape (n, 2)."""
        half = np.array([self.start_theta, self.start_theta_dot])
        return rng.uniform(-half, half, size=(int(n), 2))

    def in_domain(self, states: ArrayLike) -> bool:
        """Whether every state (..., 2) lies in :math:`D`."""
        s = np.asarray(states, dtype=float)
        return bool(np.all(np.abs(s[..., 0]) <= self.domain_theta)
                    and np.all(np.abs(s[..., 1]) <= self.domain_theta_dot))

    # ------------------------------------------------------------ constants of the true system
    @property
    def L_pi(self) -> float:
        r""":math:`L_\pi=\sqrt{K_p^2+K_d^2}` (the clip is 1-Lipschitz)."""
        return math.hypot(self.Kp, self.Kd)

    @property
    def L_f(self) -> float:
        r"""Lipschitz constant of :math:`f` on the box for the sum metric (an upper bound).

        The Jacobian's entries are at most, in absolute value, those at :math:`\cos\theta=1`, so
        :math:`L_f\le\max(\|J_s\|_2,\|J_u\|_2)` with
        :math:`J_s=\begin{pmatrix}1+0.0375&0.05\\0.75&1\end{pmatrix}`,
        :math:`J_u=(0.0075,0.15)` (the spectral norm is monotone in the entries of a
        non-negative matrix). It exceeds 1: the step is the identity plus a small change.
        """
        J_s = np.array([[1 + _G_COEF * _DT, _DT], [_G_COEF, 1.0]])
        return max(float(np.linalg.norm(J_s, 2)), math.hypot(_U_COEF * _DT, _U_COEF))

    @property
    def L_r(self) -> float:
        r"""Lipschitz constant of :math:`r` on :math:`D\times[-2,2]` for the sum metric.

        :math:`|\nabla_s r|\le\sqrt{(2\theta_D)^2+(0.2\dot\theta_D)^2}` and
        :math:`|\partial_u r|\le0.004`.
        """
        return max(math.hypot(2 * self.domain_theta, 0.2 * self.domain_theta_dot), 0.004)

    @property
    def R_max(self) -> float:
        """Largest :math:`|r|` on the box: the imagined reward is clipped to ``[-R_max, 0]``."""
        return self.theta_max**2 + 0.1 * self.theta_dot_max**2 + 0.001 * 4.0

    def residual_coordinate_lipschitz(self) -> NDArray[np.float64]:
        r"""Per-coordinate constants of :math:`\Delta=f-s` on the box, in (θ, θ̇, u), shape (3,).

        :math:`\|\partial_\theta\Delta\|\le\sqrt{0.0375^2+0.75^2}`,
        :math:`\|\partial_{\dot\theta}\Delta\|=0.05`,
        :math:`\|\partial_u\Delta\|=\sqrt{0.0075^2+0.15^2}`.
        """
        return np.array([math.hypot(_G_COEF * _DT, _G_COEF), _DT,
                         math.hypot(_U_COEF * _DT, _U_COEF)])

    def reward_coordinate_lipschitz(self) -> NDArray[np.float64]:
        r"""Per-coordinate constants of :math:`r` on :math:`D\times[-2,2]`, shape (3,)."""
        return np.array([2 * self.domain_theta, 0.2 * self.domain_theta_dot, 0.004])

    def domain_grid(self, grid_size: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Cell centres of a ``grid_size`` x ``grid_size`` grid over :math:`D`, and the sides."""
        half = np.array([self.domain_theta, self.domain_theta_dot])
        side = 2 * half / grid_size
        axes = [-h + s * (np.arange(grid_size) + 0.5) for h, s in zip(half, side, strict=True)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 2)
        return grid, side


def _check_states(s0: ArrayLike) -> NDArray[np.float64]:
    s = np.asarray(s0, dtype=float)
    if s.ndim != 2 or s.shape[1] != 2 or s.shape[0] < 1 or not np.all(np.isfinite(s)):
        raise ValueError(f"start states must be a finite array (P, 2) of (theta, theta_dot) with "
                         f"P >= 1, got shape {s.shape}")
    return s


def pendulum_rollout(task: PendulumTask, s0: ArrayLike, horizon: int, *,
                     shift: ArrayLike | None = None
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Real trajectories of the evaluation policy in ``Pendulum-v1``, vectorised over starts.

    Parameters
    ----------
    task : PendulumTask
    s0 : array_like, shape (P, 2)
        Start states.
    horizon : int
        Steps :math:`H`.
    shift : array_like, shape (2,) or (P, 2), optional
        A constant added to every next state, :math:`f+h\\,d`, the same for every start or one
        per start (for :func:`pendulum_sensitivities`).

    Returns
    -------
    states : ndarray, shape (P, H + 1, 2)
    rewards : ndarray, shape (P, H)
        :math:`r(s_t,\\pi(s_t))`, the environment's reward of step ``t``.
    """
    s = _check_states(s0)
    H = check_int("horizon", horizon, 1)
    d = np.zeros(2) if shift is None else np.asarray(shift, dtype=float)
    if d.shape not in ((2,), (s.shape[0], 2)) or not np.all(np.isfinite(d)):
        raise ValueError(f"shift must be finite with shape (2,) or ({s.shape[0]}, 2), got "
                         f"{d.shape}")
    states = np.empty((s.shape[0], H + 1, 2))
    rewards = np.empty((s.shape[0], H))
    states[:, 0] = s
    for t in range(H):  # only time is sequential
        th, thd, rewards[:, t] = pendulum_step(s[:, 0], s[:, 1], task.policy(s)[:, 0])
        s = np.stack([th, thd], axis=-1) + d
        states[:, t + 1] = s
    return states, rewards


# --------------------------------------------------------------------------- learned models


@dataclass(frozen=True)
class PendulumModels:
    r"""Dynamics and reward models trained by :func:`fit_pendulum_models`.

    Members are ordered size-major: member ``i`` was trained on ``sizes[i // n_seeds]``
    transitions with seed ``i % n_seeds``; :meth:`by_size` reshapes per-member arrays.

    Attributes
    ----------
    task : PendulumTask
    sizes : ndarray of int, shape (S,)
        Data sizes :math:`N`.
    n_seeds : int
    dyn, rew : Ensemble
        The residual dynamics networks (``(θ, θ̇, u) -> f - s``) and the reward networks.
    errors : dict of ndarray (M,)
        Held-out errors on the box: ``dyn_rmse``, ``dyn_max``, ``rew_rmse``, ``rew_max``
        (Euclidean error of the next state; absolute error of the clipped reward).
    eps_dyn, eps_rew : ndarray, shape (M,)
        Certified :math:`\sup_{s\in D}` of :math:`\|\hat f(s,\pi(s))-f(s,\pi(s))\|` and of
        :math:`|\hat r(s,\pi(s))-r(s,\pi(s))|`: grid maximum plus margin.
    grid_max_dyn, grid_max_rew, margin_dyn, margin_rew : ndarray, shape (M,)
        The two parts of each certificate.
    L_f_hat, L_r_hat : ndarray, shape (M,)
        Spectral upper bounds of the learned constants (sum metric):
        :math:`L_{\hat f}\le1+L_{\rm net}` and :math:`L_{\hat r}`.
    config : dict
        Settings and the seconds of training.
    """

    task: PendulumTask
    sizes: NDArray[np.int64]
    n_seeds: int
    dyn: Ensemble = field(repr=False)
    rew: Ensemble = field(repr=False)
    errors: dict[str, NDArray[np.float64]] = field(repr=False)
    eps_dyn: NDArray[np.float64] = field(repr=False)
    eps_rew: NDArray[np.float64] = field(repr=False)
    grid_max_dyn: NDArray[np.float64] = field(repr=False)
    grid_max_rew: NDArray[np.float64] = field(repr=False)
    margin_dyn: NDArray[np.float64] = field(repr=False)
    margin_rew: NDArray[np.float64] = field(repr=False)
    L_f_hat: NDArray[np.float64] = field(repr=False)
    L_r_hat: NDArray[np.float64] = field(repr=False)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def n_members(self) -> int:
        return self.dyn.n_members

    @property
    def member_sizes(self) -> NDArray[np.int64]:
        """Data size of every member, shape (M,)."""
        return np.repeat(self.sizes, self.n_seeds)

    def by_size(self, values: ArrayLike) -> NDArray[np.float64]:
        """A per-member array reshaped to ``(S, n_seeds)``."""
        arr = np.asarray(values)
        if arr.shape[:1] != (self.n_members,):
            raise ValueError(f"expected a per-member array of length {self.n_members}, "
                             f"got shape {arr.shape}")
        return arr.reshape(self.sizes.size, self.n_seeds, *arr.shape[1:])

    def dynamics(self, states: ArrayLike) -> NDArray[np.float64]:
        r"""One imagined step of every member: :math:`\hat s\mapsto\hat f(\hat s,\pi(\hat s))`.

        ``states`` (M, P, 2), member ``m`` stepping ``states[m]``; returns (M, P, 2).
        """
        s = np.asarray(states, dtype=float)
        x = np.concatenate([s, self.task.policy(s)], axis=-1)
        return s + self.dyn.predict(x)

    def closed_loop(self, states: torch.Tensor) -> torch.Tensor:
        r"""The learned closed loop :math:`z\mapsto\hat f(z,\pi(z))` of every member, in torch.

        ``states`` (M, P, 2), member ``m`` stepping ``states[m]``; returns (M, P, 2) in the
        input's dtype, differentiable (for :func:`~imagination.lipschitz.jacobian_norm_lower`
        of the closed loop along trajectories).
        """
        import torch

        x = torch.cat([states, self.task.policy(states)], dim=-1)
        return states + self.dyn.forward(x.to(self.dyn.params[0][0].dtype)).to(states.dtype)

    def reward(self, states: ArrayLike, *, paired: bool = True) -> NDArray[np.float64]:
        r"""Clipped imagined reward :math:`\hat r(\hat s,\pi(\hat s))\in[-R_{\max},0]`.

        ``paired``: ``states`` (M, ..., 2), reward member ``m`` on ``states[m]``; otherwise every
        reward member on every state: (..., 2) -> (M, ...).
        """
        s = np.asarray(states, dtype=float)
        x = np.concatenate([s, self.task.policy(s)], axis=-1)
        lead = x.shape[:-1]
        if paired:
            flat = x.reshape(self.rew.n_members, -1, 3)
            out = self.rew.predict(flat)[..., 0].reshape(lead)
        else:
            out = self.rew.predict(x.reshape(-1, 3))[..., 0].reshape(self.rew.n_members, *lead)
        return self.task.clip_reward(out)


def _certify(task: PendulumTask, ens: Ensemble, side: np.ndarray, errors: np.ndarray,
             truth_lipschitz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid maximum and margin of a certificate on the graph s -> (s, pi(s)) over D.

    The error g(s) = e(s, pi(s)) moves by at most c_k |ds_k| along coordinate k, with
    c_theta = L_theta + L_u Kp and c_thetadot = L_thetadot + L_u Kd, where L_j bounds the error's
    constant in input j (network's block bound plus the true map's); every point of D lies within
    half a side of a cell centre in each coordinate.
    """
    from .lipschitz import lipschitz_block_bounds

    L = lipschitz_block_bounds(ens, (1, 1, 1)) + truth_lipschitz  # (M, 3)
    c = np.stack([L[:, 0] + L[:, 2] * task.Kp, L[:, 1] + L[:, 2] * task.Kd], axis=-1)
    margin = c @ (side / 2)
    return errors.max(axis=1), margin


def fit_pendulum_models(
    task: PendulumTask,
    sizes: ArrayLike,
    *,
    n_seeds: int = 3,
    max_steps: int = 1500,
    n_test: int = 5000,
    grid_size: int = 512,
    hidden: Sequence[int] = (64,),
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
) -> PendulumModels:
    r"""Train, measure and certify dynamics and reward models at several data sizes.

    For each size :math:`N` and seed, a member draws its own :math:`N` transitions (without
    replacement) from one pool of ``max(sizes)`` behaviour-policy transitions per seed. Every
    member trains for the same ``max_steps`` Adam steps (a fixed-step protocol, as the ablation of
    chapter 3), all sizes in **one** :func:`~imagination.ensemble.train_ensemble` call per
    model: a member's :math:`N` rows are tiled to ``max(sizes)`` rows, so its epochs see each of
    them equally often. Dynamics members learn the residual :math:`f(s,u)-s`; reward members learn
    :math:`r`, and their output is clipped to :math:`[-R_{\max},0]` (the reward's known range).

    Certificates (see :class:`PendulumModels`): the error on the policy's graph at the cell
    centres of a ``grid_size`` :math:`\times` ``grid_size`` grid over :math:`D`, plus
    :math:`c_\theta\delta_\theta/2+c_{\dot\theta}\delta_{\dot\theta}/2`, where :math:`c` are the
    error's per-coordinate constants: the network's
    (:func:`~imagination.lipschitz.lipschitz_block_bounds`) plus the true map's
    (:class:`PendulumTask`), carried through the policy.

    Parameters
    ----------
    task : PendulumTask
    sizes : array_like of int, shape (S,)
        Data sizes, positive and strictly increasing.
    n_seeds, max_steps, n_test, grid_size : int
        Members per size, Adam steps, held-out transitions, grid points per axis.
    hidden, batch_size, lr
        Passed to :func:`~imagination.ensemble.train_ensemble`.
    seed : int
        Seeds the data and the members.

    Returns
    -------
    PendulumModels

    Raises
    ------
    ValueError
        For sizes that are not positive increasing integers, or counts below 1.
    """
    from .ensemble import heldout_errors, train_ensemble
    from .lipschitz import lipschitz_upper_bound

    n = np.asarray(sizes)
    if (n.ndim != 1 or n.size < 1 or not np.issubdtype(n.dtype, np.integer) or np.any(n < 1)
            or np.any(np.diff(n) <= 0)):
        raise ValueError(f"sizes must be positive, strictly increasing integers, got {sizes!r}")
    for name, value in (("n_seeds", n_seeds), ("max_steps", max_steps), ("n_test", n_test),
                        ("grid_size", grid_size)):
        check_int(name, value, 1)
    rng = np.random.default_rng(seed)
    n_max = int(n[-1])
    x, y_dyn, y_rew = task.sample_transitions(n_seeds * n_max, rng)
    # Member (size i, seed k) draws its rows from seed k's pool, tiled to n_max rows.
    index = np.stack([np.resize(k * n_max + rng.choice(n_max, size, replace=False), n_max)
                      for size in n for k in range(n_seeds)])
    train = dict(index=index, hidden=tuple(hidden), epochs=max_steps, max_steps=max_steps,
                 batch_size=batch_size, lr=lr)
    start = time.perf_counter()
    dyn = train_ensemble(x, y_dyn, seed=seed, **train)
    rew = train_ensemble(x, y_rew, seed=seed + 1, **train)
    seconds = time.perf_counter() - start

    x_test, yd_test, yr_test = task.sample_transitions(n_test, rng)
    e_dyn = heldout_errors(dyn.predict(x_test), yd_test)
    e_rew = heldout_errors(task.clip_reward(rew.predict(x_test)), yr_test)
    errors = {"dyn_rmse": e_dyn["rmse"], "dyn_max": e_dyn["max"],
              "rew_rmse": e_rew["rmse"], "rew_max": e_rew["max"]}

    grid, side = task.domain_grid(int(grid_size))
    xg = np.concatenate([grid, task.policy(grid)], axis=-1)
    resid_grid, r_grid = task.label(xg)
    dyn_err = np.linalg.norm(dyn.predict(xg) - resid_grid, axis=-1)
    rew_err = np.abs(task.clip_reward(rew.predict(xg)[..., 0]) - r_grid)
    gd, md = _certify(task, dyn, side, dyn_err, task.residual_coordinate_lipschitz())
    gr, mr = _certify(task, rew, side, rew_err, task.reward_coordinate_lipschitz())
    blocks = (task.d_s, task.d_a)
    return PendulumModels(
        task=task, sizes=n.astype(np.int64), n_seeds=int(n_seeds), dyn=dyn, rew=rew,
        errors=errors, eps_dyn=gd + md, eps_rew=gr + mr, grid_max_dyn=gd, grid_max_rew=gr,
        margin_dyn=md, margin_rew=mr,
        L_f_hat=1.0 + np.atleast_1d(lipschitz_upper_bound(dyn, input_blocks=blocks)),
        L_r_hat=np.atleast_1d(lipschitz_upper_bound(rew, input_blocks=blocks)),
        config=dict(max_steps=max_steps, n_test=n_test, grid_size=grid_size,
                    hidden=tuple(hidden), batch_size=batch_size, lr=lr, seed=seed,
                    seconds=seconds),
    )


# --------------------------------------------------------------------------- imagined returns


def imagined_rollout(models: PendulumModels, s0: ArrayLike, horizon: int) -> NDArray[np.float64]:
    r"""Imagined trajectories of the evaluation policy under every dynamics member.

    :math:`\hat s_0=s_0`, :math:`\hat s_{t+1}=\hat f(\hat s_t,\pi(\hat s_t))`.

    Returns
    -------
    ndarray, shape (M, P, H + 1, 2)
    """
    s = np.broadcast_to(_check_states(s0), (models.n_members, *np.shape(s0))).copy()
    H = check_int("horizon", horizon, 1)
    out = np.empty((*s.shape[:2], H + 1, 2))
    out[:, :, 0] = s
    for t in range(H):  # only time is sequential
        s = models.dynamics(s)
        out[:, :, t + 1] = s
    return out


def imagined_rewards(models: PendulumModels, states: ArrayLike, *, paired: bool = True
                     ) -> NDArray[np.float64]:
    """Imagined rewards of steps ``t < H`` on imagined trajectories ``(M, P, H + 1, 2)``.

    ``paired=True``: reward member ``m`` on dynamics member ``m``'s trajectories, shape (M, P, H).
    ``paired=False``: every reward member on every trajectory, shape (M_rew, M_dyn, P, H).
    """
    s = np.asarray(states, dtype=float)
    if s.ndim != 4 or s.shape[0] != models.n_members or s.shape[-1] != 2:
        raise ValueError(f"states must be (M, P, H + 1, 2) with M = {models.n_members}, "
                         f"got shape {s.shape}")
    return models.reward(s[:, :, :-1], paired=paired)


def return_gaps(real_rewards: ArrayLike, imagined: ArrayLike, gamma: float) -> NDArray[np.float64]:
    r"""Realised gaps of the :math:`h`-step returns, for every :math:`h\le H`.

    .. math:: \mathrm{gap}_h=\Bigl|\sum_{t<h}\gamma^t\bigl(r_t-\hat r_t\bigr)\Bigr| .

    Parameters
    ----------
    real_rewards : array_like, shape (P, H)
    imagined : array_like, shape (..., P, H)
    gamma : float
        In [0, 1].

    Returns
    -------
    ndarray, shape (..., P, H)
        ``[..., h - 1]`` is the gap of the ``h``-step returns.
    """
    g = float(check_gamma(gamma, allow_one=True))
    r = np.asarray(real_rewards, dtype=float)
    rh = np.asarray(imagined, dtype=float)
    if r.ndim != 2 or rh.shape[-2:] != r.shape:
        raise ValueError(f"imagined rewards (..., P, H) must match real rewards (P, H); got "
                         f"{rh.shape} and {r.shape}")
    discount = g ** np.arange(r.shape[1])
    return np.abs(np.cumsum(discount * (r - rh), axis=-1))


# --------------------------------------------------------------------------- Theorem 1 on Pendulum


def return_error_surface(models: PendulumModels, s0: ArrayLike, horizon: int,
                         gamma: float = 1.0) -> NDArray[np.float64]:
    r"""Imagined-return error for every pair of data sizes, per seed.

    ``E[k, i, j]`` is the mean over start states of :math:`|J_H-\hat J_H|` with the dynamics
    member (size ``i``, seed ``k``) and the reward member (size ``j``, seed ``k``): independent
    data per stream, as a budget split would buy them. Average over ``k`` for the surface that
    :func:`surface_optimal_split` searches; resample ``k`` for its uncertainty.

    Returns
    -------
    ndarray, shape (n_seeds, S, S)
        Axis 1: dynamics size; axis 2: reward size.
    """
    H = check_int("horizon", horizon, 1)
    g = float(check_gamma(gamma, allow_one=True))
    _, real = pendulum_rollout(models.task, s0, H)
    traj = imagined_rollout(models, s0, H)
    rh = imagined_rewards(models, traj, paired=False)  # (M_rew, M_dyn, P, H)
    S, K = models.sizes.size, models.n_seeds
    rh = rh.reshape(S, K, S, K, *rh.shape[2:])
    same_seed = np.stack([rh[:, k, :, k] for k in range(K)])  # (K, S_rew, S_dyn, P, H)
    err = return_gaps(real, same_seed, g)[..., -1]  # (K, S_rew, S_dyn, P)
    return err.mean(axis=-1).transpose(0, 2, 1)


def surface_optimal_split(sizes: ArrayLike, surface: ArrayLike, budget: float, cost_dyn: float,
                          cost_rew: float, *, n_grid: int = 4001) -> tuple[float, float]:
    r"""Best split on the budget line of a measured error surface.

    ``log E`` is interpolated bilinearly in :math:`(\log N_{\rm dyn},\log N_{\rm rew})` between
    the trained sizes and minimised over the points of the line
    :math:`c_{\rm dyn}N_{\rm dyn}+c_{\rm rew}N_{\rm rew}=B`
    (:func:`~imagination.allocation.budget_line`, ``n_grid`` evenly spaced dynamics shares)
    where both sizes lie in the trained range.

    Returns
    -------
    n_dyn, n_rew : float

    Raises
    ------
    ValueError
        If the budget line does not cross the trained range, or inputs are malformed.
    """
    n = np.asarray(sizes, dtype=float)
    E = np.asarray(surface, dtype=float)
    if n.ndim != 1 or n.size < 2 or E.shape != (n.size, n.size) or np.any(E <= 0):
        raise ValueError("need sizes (S,) with S >= 2 and a positive surface (S, S)")
    share = np.linspace(0.0, 1.0, check_int("n_grid", n_grid, 3))[1:-1]
    n_dyn, n_rew = budget_line(budget, cost_dyn, cost_rew, dyn_share=share)
    ok = (n_dyn >= n[0]) & (n_dyn <= n[-1]) & (n_rew >= n[0]) & (n_rew <= n[-1])
    if ok.sum() < 2:
        raise ValueError(f"the budget line B = {budget} does not cross the trained sizes "
                         f"[{n[0]:g}, {n[-1]:g}] in both streams")
    ln, lE = np.log(n), np.log(E)
    u, v = np.log(n_dyn[ok]), np.log(n_rew[ok])
    i = np.clip(np.searchsorted(ln, u) - 1, 0, n.size - 2)
    j = np.clip(np.searchsorted(ln, v) - 1, 0, n.size - 2)
    a = (u - ln[i]) / (ln[i + 1] - ln[i])
    b = (v - ln[j]) / (ln[j + 1] - ln[j])
    interp = ((1 - a) * (1 - b) * lE[i, j] + a * (1 - b) * lE[i + 1, j]
              + (1 - a) * b * lE[i, j + 1] + a * b * lE[i + 1, j + 1])
    best = int(np.argmin(interp))
    return float(n_dyn[ok][best]), float(n_rew[ok][best])


def surface_split_interval(sizes: ArrayLike, per_seed: ArrayLike, budget: float,
                           cost_dyn: float, cost_rew: float, *, n_boot: int,
                           rng: np.random.Generator,
                           level: float = 0.95) -> tuple[float, float]:
    r"""Bootstrap interval over seeds of :func:`surface_optimal_split`'s ratio
    :math:`N_{\rm dyn}/N_{\rm rew}`.

    Each draw resamples the seeds of ``per_seed`` (:func:`return_error_surface`, shape
    ``(n_seeds, S, S)``) with replacement, averages their surfaces and takes the best split of
    the average.

    Returns
    -------
    lo, hi : float
        The percentile interval at ``level``.
    """
    E = np.asarray(per_seed, dtype=float)
    if E.ndim != 3:
        raise ValueError(f"per_seed must have shape (n_seeds, S, S), got {E.shape}")
    n_boot = check_int("n_boot", n_boot, 1)
    rng = check_rng(rng)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    draws = rng.integers(0, E.shape[0], size=(n_boot, E.shape[0]))
    ratios = [np.divide(*surface_optimal_split(sizes, E[k].mean(axis=0), budget, cost_dyn,
                                               cost_rew)) for k in draws]
    tail = (100.0 - 100.0 * level) / 200  # exactly 0.025 for level 0.95
    return float(np.quantile(ratios, tail)), float(np.quantile(ratios, 1.0 - tail))


#: The former name of :func:`surface_optimal_split` (kept so that old code keeps working).
realised_split = surface_optimal_split


@dataclass(frozen=True)
class PendulumShifts:
    r"""The evaluation policy's return under constant model errors, as Figures 2 and 4's systems.

    Configuration :math:`i=(k,p)` is start state ``s0[p]`` with the dynamics shifted along
    ``directions[k]``: :meth:`value_gap` gives
    :math:`J_H(f+\varepsilon_{\rm dyn}d_k,\,r+\varepsilon_{\rm rew})-J_H(f,r)` from
    ``s0[p]``, so :func:`~imagination.sensitivities.realised_sensitivities` measures the pendulum's
    realised sensitivities with the same one-sided scheme as Figures 2 and 4
    (:func:`pendulum_sensitivities` reduces them over directions and starts). Configurations run
    over directions slowest.

    Attributes
    ----------
    task : PendulumTask
    s0 : ndarray, shape (P, 2)
    horizon : int
    gamma : float
        In [0, 1].
    directions : ndarray, shape (D, 2)
        Unit directions of the dynamics error (default :math:`\pm e_\theta,\pm e_{\dot\theta}`).
    """

    task: PendulumTask
    s0: NDArray[np.float64]
    horizon: int
    gamma: float = 1.0
    directions: NDArray[np.float64] = field(
        default_factory=lambda: np.array([(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)]))

    def __post_init__(self) -> None:
        object.__setattr__(self, "s0", _check_states(self.s0))
        object.__setattr__(self, "horizon", check_int("horizon", self.horizon, 1))
        object.__setattr__(self, "gamma", float(check_gamma(self.gamma, allow_one=True)))
        d = np.asarray(self.directions, dtype=float)
        if d.ndim != 2 or d.shape[1] != 2 or not np.allclose(np.linalg.norm(d, axis=1), 1.0):
            raise ValueError(f"directions must be unit vectors, shape (D, 2), got {d!r}")
        object.__setattr__(self, "directions", d)

    @property
    def n(self) -> int:
        """Number of configurations, directions x start states."""
        return int(self.directions.shape[0] * self.s0.shape[0])

    def value_gap(self, eps_dyn: ArrayLike, eps_rew: ArrayLike) -> NDArray[np.float64]:
        r"""Signed gap :math:`\hat J_H-J_H` of every configuration, shape ``(n,)``.

        ``eps_dyn`` and ``eps_rew`` broadcast to ``(n,)``. The reward error is constant, so its
        part is exactly :math:`\varepsilon_{\rm rew}\sum_{t<H}\gamma^t`; the dynamics part is the
        difference of two simulated returns.
        """
        e_d, e_r = (np.broadcast_to(np.asarray(e, dtype=float), (self.n,))
                    for e in (eps_dyn, eps_rew))
        discount = self.gamma ** np.arange(self.horizon)
        starts = np.tile(self.s0, (self.directions.shape[0], 1))
        shift = e_d[:, None] * np.repeat(self.directions, self.s0.shape[0], axis=0)
        _, base = pendulum_rollout(self.task, starts, self.horizon)
        _, shifted = pendulum_rollout(self.task, starts, self.horizon, shift=shift)
        return (shifted - base) @ discount + e_r * discount.sum()


def pendulum_sensitivities(task: PendulumTask, s0: ArrayLike, horizon: int, gamma: float = 1.0,
                           *, h: float = 1e-4) -> tuple[float, float]:
    r"""Realised sensitivities of the policy's return to the two models' errors.

    :math:`S_r=\sum_{t<H}\gamma^t`: a constant reward error :math:`h` moves every return by
    exactly :math:`hS_r`. :math:`S_f` is the largest over the directions
    :math:`d\in\{\pm e_\theta,\pm e_{\dot\theta}\}` of the mean over start states of
    :math:`|J_H(f+hd)-J_H(f)|/h` (a forward difference, as the paper's §4.2): the one scheme of
    :func:`~imagination.sensitivities.realised_sensitivities`, applied to :class:`PendulumShifts`.

    Returns
    -------
    S_f, S_r : float
    """
    shifts = PendulumShifts(task, s0, horizon, gamma)
    S_f, S_r = realised_sensitivities(shifts, h=h)
    per_direction = S_f.reshape(shifts.directions.shape[0], -1).mean(axis=1)
    return float(per_direction.max()), float(S_r.mean())
