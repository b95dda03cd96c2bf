r"""REINFORCE with noisy and biased reward labels (Theorem 2, Proposition 2), on tabular MDPs.

Setting (paper §5): horizon :math:`H`, a stochastic policy :math:`\pi_\theta`, the objective
:math:`J_H=\mathbb E[\sum_{t<H}\gamma^t r_t]` and its gradient :math:`g_H=\nabla_\theta J_H`.
Reward labels are noisy, :math:`\hat r_t=r_t+\eta_t` with :math:`\eta_t` i.i.d., mean 0,
variance :math:`\sigma_\eta^2`, independent of the history. The estimator averages over
:math:`K` rollouts the reward-to-go form

.. math::

   \hat g^{(1)} = \sum_{t<H}\gamma^t\,\nabla_\theta\log\pi_\theta(a_t|s_t)\,\hat G_t,
   \qquad \hat G_t=\sum_{t'=t}^{H-1}\gamma^{t'-t}\hat r_{t'}.

Theorem 2: :math:`\mathbb E[\hat g]=g_H` and

.. math::

   \mathrm{Var}[\hat g]\le\mathrm{Var}[\hat g]_{\eta\equiv0}
   +\frac{\sigma_\eta^2\,H\,W_H^2}{K(1-\gamma)^2}

with :math:`W_H^2=\mathbb E[\max_t\|\nabla_\theta\log\pi_\theta(a_t|s_t)\|^2]` (the variance of a
vector is the trace of its covariance). Proposition 2: a reward bias :math:`b` shifts the mean by
:math:`\nabla_\theta B_H`, :math:`B_H=\mathbb E[\sum_{t<H}\gamma^tb_t]`, which no :math:`K` removes.

Departure from the paper (paper.md §5, erratum): the estimator as summarised (by secondary
summaries of the paper; its PDF was not checked) has no :math:`\gamma^t` weight; for
:math:`\gamma<1` that form is biased for :math:`g_H`. This module implements the
:math:`\gamma^t`-weighted, unbiased form by default (``weighting="discounted"``) and keeps the
other (``weighting="undiscounted"``) to measure its bias. Beyond the paper, the weighted form has a
tighter noise bound, :math:`\sigma_\eta^2W_H^2\sum_{t<H}(t+1)^2\gamma^{2t}/K`
(:func:`noise_variance_bound_weighted`), and one free of the horizon
(:func:`noise_variance_bound_horizon_free`).

The test bed is a small random tabular MDP with a tabular softmax policy, where :math:`J_H`,
:math:`g_H` (autograd through a forward dynamic programme), :math:`W_H^2` and the exact added
variance (enumeration of all trajectories) are computable exactly, and the mean of either
estimator two independent ways (enumeration, :func:`exact_estimator_mean`; dynamic programming,
:func:`estimator_mean_dp`). Sampling is vectorised over
any leading batch shape (e.g. ``(R, K)``: R repetitions of K rollouts) and consumes explicit
uniforms, so a plain per-rollout loop fed the same numbers gives the same estimates.

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Theorem 2 and Proposition 2. Williams (1992), REINFORCE.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import check_gamma, check_int, check_nonneg, check_rng

__all__ = [
    "NOISE_DISTRIBUTIONS",
    "LinearGaussianSystem",
    "Rollouts",
    "TabularMDP",
    "bias_gradient",
    "estimator_mean_dp",
    "exact_added_variance",
    "exact_estimator_mean",
    "exact_gradient",
    "exact_objective",
    "exact_w2",
    "linear_exact_added_variance",
    "linear_exact_gradient",
    "linear_exact_objective",
    "noise_variance_bound",
    "noise_variance_bound_horizon_free",
    "noise_variance_bound_weighted",
    "random_linear_gaussian_system",
    "random_tabular_mdp",
    "reinforce_estimates",
    "reinforce_estimates_fast",
    "reinforce_estimates_loop",
    "reward_noise",
    "sample_linear_rollouts",
    "sample_rollouts",
    "score_weight_sum",
    "softmax_policy",
]

NOISE_DISTRIBUTIONS = ("gaussian", "uniform", "skewed")
_WEIGHTINGS = ("discounted", "undiscounted")
# Exact enumeration holds a few arrays of (number of trajectories) x S x A floats.
_MAX_TRAJECTORIES = 2_000_000
# Rows of P and mu must sum to 1 up to rounding of a normalised float vector.
_PROB_TOL = 1e-9


# --------------------------------------------------------------------------- validation


def _check_n_rollouts(n_rollouts: Any) -> float:
    # A real K >= 1 is allowed: Corollary 2's budget relaxation uses K = B / c.
    k = float(n_rollouts)
    if not 1.0 <= k < np.inf:
        raise ValueError(f"n_rollouts must be finite and >= 1, got {n_rollouts!r}")
    return k


def _check_shape(shape: Any, *, rollouts: bool) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    if (rollouts and not shape) or any(
        isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1 for n in shape
    ):
        what = "a non-empty tuple of integers >= 1 (the last: K >= 1 rollouts per estimate)"
        raise ValueError(f"shape must be {what if rollouts else 'integers >= 1'}, got {shape!r}")
    return tuple(int(n) for n in shape)


def _check_weighting(weighting: Any) -> str:
    if weighting not in _WEIGHTINGS:
        raise ValueError(f"weighting must be one of {_WEIGHTINGS}, got {weighting!r}")
    return weighting


def _check_table(name: str, value: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.shape != shape or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a finite array of shape {shape}, got shape {a.shape}")
    return a


def _check_distribution(name: str, p: np.ndarray) -> None:
    if np.any(p < 0) or np.any(np.abs(p.sum(axis=-1) - 1.0) > _PROB_TOL):
        raise ValueError(f"{name} must hold probabilities >= 0 whose rows sum to 1")


# --------------------------------------------------------------------------- the MDP


@dataclass(frozen=True)
class TabularMDP:
    r"""A finite MDP :math:`(\mathcal S,\mathcal A,P,r,\mu,\gamma)`, arrays read-only.

    Attributes
    ----------
    P
        Transition probabilities :math:`P(s'|s,a)`, shape ``(S, A, S)``; rows sum to 1.
    r
        Mean rewards :math:`r(s,a)`, shape ``(S, A)``.
    mu
        Initial state distribution, shape ``(S,)``.
    gamma
        Discount factor, ``0 <= gamma < 1``.
    """

    P: np.ndarray
    r: np.ndarray
    mu: np.ndarray
    gamma: float

    def __post_init__(self) -> None:
        P = np.array(self.P, dtype=float)
        if P.ndim != 3 or P.shape[0] != P.shape[2] or 0 in P.shape:
            raise ValueError(f"P must have shape (S, A, S) with S, A >= 1, got {P.shape}")
        P = _check_table("P", P, P.shape)
        r = np.array(_check_table("r", self.r, P.shape[:2]))
        mu = np.array(_check_table("mu", self.mu, P.shape[:1]))
        _check_distribution("P", P)
        _check_distribution("mu", mu)
        for name, a in (("P", P), ("r", r), ("mu", mu)):
            a.setflags(write=False)  # frozen means frozen: no in-place edits through the arrays
            object.__setattr__(self, name, a)
        object.__setattr__(self, "gamma", float(check_gamma(self.gamma)))

    @property
    def n_states(self) -> int:
        """Number of states S."""
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        """Number of actions A."""
        return self.P.shape[1]


def random_tabular_mdp(
    n_states: int, n_actions: int, *, gamma: float, rng: np.random.Generator
) -> TabularMDP:
    """A random MDP: Dirichlet(1) rows of ``P`` and ``mu``, rewards i.i.d. N(0, 1).

    Parameters
    ----------
    n_states, n_actions
        S >= 1 and A >= 1.
    gamma
        Discount factor, ``0 <= gamma < 1``.
    rng
        The source of every random draw.

    Returns
    -------
    TabularMDP
    """
    S = check_int("n_states", n_states, 1)
    A = check_int("n_actions", n_actions, 1)
    rng = check_rng(rng)
    P = rng.dirichlet(np.ones(S), size=(S, A))
    mu = rng.dirichlet(np.ones(S))
    r = rng.standard_normal((S, A))
    return TabularMDP(P=P, r=r, mu=mu, gamma=gamma)


def softmax_policy(theta: ArrayLike) -> NDArray[np.float64]:
    r"""Tabular softmax policy :math:`\pi_\theta(a|s)=e^{\theta_{sa}}/\sum_b e^{\theta_{sb}}`.

    Parameters
    ----------
    theta
        Logits, finite, shape ``(S, A)``.

    Returns
    -------
    ndarray, shape ``(S, A)``
        Rows are distributions over actions.
    """
    theta = np.asarray(theta, dtype=float)
    if theta.ndim != 2 or not np.all(np.isfinite(theta)):
        raise ValueError(f"theta must be a finite array of shape (S, A), got {theta.shape}")
    z = np.exp(theta - theta.max(axis=1, keepdims=True))  # shift: no overflow, same policy
    return z / z.sum(axis=1, keepdims=True)


def _check_problem(mdp: TabularMDP, theta: ArrayLike, horizon: Any) -> tuple[np.ndarray, int]:
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    theta = _check_table("theta", theta, (mdp.n_states, mdp.n_actions))
    return theta, check_int("horizon", horizon, 1)


def _discounted_value(mu: Any, P: Any, r: Any, pi: Any, gamma: float, horizon: int) -> Any:
    # Forward DP over state distributions d_t; written with operators that numpy arrays and
    # torch tensors share, so that exact_objective and exact_gradient run the same code.
    S, A = r.shape
    P_flat = P.reshape(S * A, S)
    d, value, discount = mu, 0.0, 1.0
    for _ in range(horizon):
        joint = d[:, None] * pi  # Pr(s_t = s, a_t = a)
        value = value + discount * (joint * r).sum()
        d = joint.reshape(S * A) @ P_flat
        discount *= gamma
    return value


def exact_objective(mdp: TabularMDP, theta: ArrayLike, horizon: int) -> float:
    r""":math:`J_H(\theta)=\sum_{t<H}\gamma^t\,\mathbb E[r(s_t,a_t)]`, exactly (forward DP).

    Parameters
    ----------
    mdp
        The MDP.
    theta
        Policy logits, shape ``(S, A)``.
    horizon
        :math:`H \ge 1`.

    Returns
    -------
    float
    """
    theta, horizon = _check_problem(mdp, theta, horizon)
    pi = softmax_policy(theta)
    return float(_discounted_value(mdp.mu, mdp.P, mdp.r, pi, mdp.gamma, horizon))


def exact_gradient(mdp: TabularMDP, theta: ArrayLike, horizon: int) -> NDArray[np.float64]:
    r""":math:`g_H=\nabla_\theta J_H`, exactly: torch autograd (float64) through the DP of
    :func:`exact_objective`.

    Parameters
    ----------
    mdp
        The MDP.
    theta
        Policy logits, shape ``(S, A)``.
    horizon
        :math:`H \ge 1`.

    Returns
    -------
    ndarray, shape ``(S, A)``
    """
    import torch  # lazily: the rest of the module needs only numpy

    theta, horizon = _check_problem(mdp, theta, horizon)
    th = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    mu, P, r = (torch.tensor(a, dtype=torch.float64) for a in (mdp.mu, mdp.P, mdp.r))
    value = _discounted_value(mu, P, r, torch.softmax(th, dim=1), mdp.gamma, horizon)
    (grad,) = torch.autograd.grad(value, th)
    return grad.numpy()


def bias_gradient(
    mdp: TabularMDP, theta: ArrayLike, horizon: int, b: ArrayLike
) -> NDArray[np.float64]:
    r""":math:`\nabla_\theta B_H` for a state-action reward bias :math:`b` (Proposition 2).

    :math:`B_H(\theta)=\mathbb E[\sum_{t<H}\gamma^t b(s_t,a_t)]` is :math:`J_H` with :math:`r`
    replaced by :math:`b`; with labels :math:`r+b` the estimator's mean is
    :math:`g_H+\nabla_\theta B_H` whatever the number of rollouts.

    Parameters
    ----------
    mdp
        The MDP.
    theta
        Policy logits, shape ``(S, A)``.
    horizon
        :math:`H \ge 1`.
    b
        The bias, finite, shape ``(S, A)``.

    Returns
    -------
    ndarray, shape ``(S, A)``
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    b = _check_table("b", b, mdp.r.shape)
    return exact_gradient(replace(mdp, r=b), theta, horizon)


# --------------------------------------------------------------------------- sampling


@dataclass(frozen=True)
class Rollouts:
    r"""Sampled trajectories, batch shape ``shape`` (the last axis: the K rollouts of one estimate).

    Attributes
    ----------
    states, actions
        Integer arrays, shape ``shape + (H,)``.
    rewards
        Mean rewards :math:`r(s_t,a_t)`, shape ``shape + (H,)``.
    scores
        :math:`\nabla_\theta\log\pi_\theta(a_t|s_t)`, shape ``shape + (H, S, A)``.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    scores: np.ndarray


def _scores(pi: np.ndarray, s: np.ndarray, a: np.ndarray) -> np.ndarray:
    # Tabular softmax: grad_theta log pi(a|s) = onehot(s) (x) (onehot(a) - pi(.|s)).
    # Written into row s of zeros: half the time of the dense outer product.
    S, A = pi.shape
    out = np.zeros((*s.shape, S, A))
    out.reshape(-1, S, A)[np.arange(s.size), s.ravel()] = (np.eye(A)[a] - pi[s]).reshape(-1, A)
    return out


def _inverse_cdf(cdf: np.ndarray, row: np.ndarray, u: np.ndarray) -> np.ndarray:
    # Categorical draws from the rows cdf[row]: the number of entries cdf[row, j] <= u over
    # j < n - 1, i.e. numpy.searchsorted(cdf[row], u, side="right") clipped to n - 1 (against a
    # last entry rounding to just below 1). A pass per category of 1-D gathers, not per rollout:
    # 5x faster than comparing gathered (rollouts, n) rows.
    idx = np.zeros(u.shape, dtype=np.intp)
    for j in range(cdf.shape[1] - 1):
        idx += cdf[:, j].take(row) <= u
    return idx


def _check_uniforms(uniforms: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    u = np.asarray(uniforms, dtype=float)
    if u.shape != shape or not np.all((u >= 0) & (u < 1)):
        raise ValueError(f"uniforms must have shape {shape} with values in [0, 1), got {u.shape}")
    return u


def sample_rollouts(
    mdp: TabularMDP,
    theta: ArrayLike,
    horizon: int,
    shape: int | tuple[int, ...],
    rng: np.random.Generator | None = None,
    *,
    uniforms: ArrayLike | None = None,
) -> Rollouts:
    r"""Sample rollouts of :math:`\pi_\theta` in ``mdp``, vectorised over the batch ``shape``.

    Inverse-CDF sampling on whole arrays: Python loops run over time steps and categories only,
    never over rollouts. ``uniforms[..., t, 0]`` draws the state
    :math:`s_t` (from :math:`\mu` at :math:`t=0`, from :math:`P(\cdot|s_{t-1},a_{t-1})` after)
    and ``uniforms[..., t, 1]`` the action :math:`a_t`. Passing ``uniforms`` lets a plain loop
    reproduce the draws exactly; otherwise they are ``rng.random(shape + (H, 2))``.

    Parameters
    ----------
    mdp
        The MDP.
    theta
        Policy logits, shape ``(S, A)``.
    horizon
        :math:`H \ge 1`.
    shape
        Batch shape, at least one axis, entries >= 1; the last axis is the K rollouts that
        :func:`reinforce_estimates` averages.
    rng
        Source of the uniforms; used only when ``uniforms`` is None.
    uniforms
        Pre-drawn numbers in [0, 1), shape ``shape + (H, 2)``.

    Returns
    -------
    Rollouts
    """
    theta, horizon = _check_problem(mdp, theta, horizon)
    shape = _check_shape(shape, rollouts=True)
    if uniforms is None:
        uniforms = check_rng(rng).random((*shape, horizon, 2))
    u = _check_uniforms(uniforms, (*shape, horizon, 2))
    pi = softmax_policy(theta)
    S, A = pi.shape
    cdf_pi, cdf_P = np.cumsum(pi, axis=1), np.cumsum(mdp.P, axis=2).reshape(S * A, S)
    states = np.empty((*shape, horizon), dtype=np.intp)
    actions = np.empty_like(states)
    s = _inverse_cdf(np.cumsum(mdp.mu)[None], np.zeros(shape, dtype=np.intp), u[..., 0, 0])
    for t in range(horizon):
        a = _inverse_cdf(cdf_pi, s, u[..., t, 1])
        states[..., t], actions[..., t] = s, a
        if t + 1 < horizon:
            s = _inverse_cdf(cdf_P, s * A + a, u[..., t + 1, 0])  # row (s, a) of P's cdf
    return Rollouts(states, actions, mdp.r[states, actions], _scores(pi, states, actions))


def _step_weights(gamma: float, horizon: int, weighting: str) -> np.ndarray:
    # The gamma^t weight makes the estimator unbiased for g_H (erratum, paper.md §5).
    if weighting == "discounted":
        return gamma ** np.arange(horizon, dtype=float)  # 0.0 ** 0 == 1: gamma = 0 keeps t = 0
    return np.ones(horizon)


def _rewards_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    # G_t = r_t + gamma G_{t+1}, G_H = 0: a loop over time only, vectorised over rollouts.
    G = np.empty_like(rewards)
    acc = np.zeros(rewards.shape[:-1])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        acc = rewards[..., t] + gamma * acc
        G[..., t] = acc
    return G


def reinforce_estimates(
    rollouts: Rollouts,
    gamma: float,
    *,
    rewards: ArrayLike | None = None,
    weighting: str = "discounted",
) -> NDArray[np.float64]:
    r"""REINFORCE estimates :math:`\hat g`, each the mean over the last batch axis (K rollouts).

    Per rollout, with :math:`G_t=\sum_{t'\ge t}\gamma^{t'-t}r_{t'}` of the given labels:

    - ``"discounted"``: :math:`\sum_t\gamma^t\nabla\log\pi_t\,G_t`, unbiased for :math:`g_H`
      (Theorem 2; the book's estimator);
    - ``"undiscounted"``: :math:`\sum_t\nabla\log\pi_t\,G_t`, the form of the paper as
      summarised, biased for :math:`g_H` when :math:`\gamma<1` and :math:`H>1` (erratum).

    Parameters
    ----------
    rollouts
        From :func:`sample_rollouts`, batch shape ``shape``.
    gamma
        Discount factor, ``0 <= gamma < 1``.
    rewards
        Reward labels, shape ``shape + (H,)``, e.g. ``rollouts.rewards + noise``; default the
        mean rewards ``rollouts.rewards``.
    weighting
        ``"discounted"`` or ``"undiscounted"``.

    Returns
    -------
    ndarray, shape ``shape[:-1] + (S, A)``
    """
    gamma = float(check_gamma(gamma))
    weighting = _check_weighting(weighting)
    if not isinstance(rollouts, Rollouts):
        raise ValueError(f"rollouts must be a Rollouts, got {type(rollouts).__name__}")
    labels = rollouts.rewards if rewards is None else rewards
    labels = _check_table("rewards", labels, rollouts.rewards.shape)
    *batch, H, S, A = rollouts.scores.shape
    coef = _step_weights(gamma, H, weighting) * _rewards_to_go(labels, gamma)
    # sum_t coef_t * score_t as one batched (1 x H) @ (H x SA) product per rollout.
    per_rollout = coef[..., None, :] @ rollouts.scores.reshape(*batch, H, S * A)
    return per_rollout.reshape(*batch, S, A).mean(axis=-3)


def reinforce_estimates_fast(
    mdp: TabularMDP,
    theta: ArrayLike,
    horizon: int,
    uniforms: ArrayLike,
    *,
    rewards: ArrayLike | None = None,
    weighting: str = "discounted",
) -> NDArray[np.float64]:
    """REINFORCE estimates on pre-drawn uniforms: :func:`sample_rollouts` then
    :func:`reinforce_estimates`, the fast path of :func:`reinforce_estimates_loop`.

    Both consume the same ``uniforms`` (shape ``shape + (horizon, 2)``), so they visit the same
    trajectories and give the same estimates (the benchmark and the performance chapter compare
    them).

    Returns
    -------
    ndarray, shape ``shape[:-1] + (S, A)``
    """
    u = np.asarray(uniforms, dtype=float)
    rollouts = sample_rollouts(mdp, theta, horizon, u.shape[:-2], uniforms=u)
    return reinforce_estimates(rollouts, mdp.gamma, rewards=rewards, weighting=weighting)


def reinforce_estimates_loop(
    mdp: TabularMDP,
    theta: ArrayLike,
    horizon: int,
    uniforms: ArrayLike,
    *,
    rewards: ArrayLike | None = None,
    weighting: str = "discounted",
) -> tuple[NDArray[np.float64], NDArray[np.int_]]:
    """The plain reference of :func:`sample_rollouts` + :func:`reinforce_estimates`.

    One rollout at a time and one time step at a time, with the textbook inverse-CDF draw, fed
    the same uniforms as the fast path; it must give the same estimates (the CleanRL-style check
    of the tests and of ``benchmarks/bench_reinforce.py``). Slow by design.

    Parameters
    ----------
    mdp, theta, horizon
        As in :func:`sample_rollouts`.
    uniforms
        Shape ``shape + (horizon, 2)``: the state and action uniforms of every step.
    rewards, weighting
        As in :func:`reinforce_estimates` (labels of shape ``shape + (horizon,)``).

    Returns
    -------
    estimates : ndarray, shape ``shape[:-1] + (S, A)``
    trajectories : ndarray of int, shape ``shape + (horizon, 2)``
        The visited (state, action) pairs.
    """
    theta, horizon = _check_problem(mdp, theta, horizon)
    weighting = _check_weighting(weighting)
    u_all = np.asarray(uniforms, dtype=float)
    if u_all.ndim < 3 or u_all.shape[-2:] != (horizon, 2):
        raise ValueError(f"uniforms must have shape (..., K, {horizon}, 2), got {u_all.shape}")
    u_all = _check_uniforms(u_all, u_all.shape)
    pi = softmax_policy(theta)
    S, A = pi.shape
    *batch, K = u_all.shape[:-2]

    def draw(p: np.ndarray, u: float) -> int:
        return min(int(np.searchsorted(np.cumsum(p), u, side="right")), len(p) - 1)

    out = np.zeros((*batch, S, A))
    traj = np.zeros((*batch, K, horizon, 2), dtype=int)
    for idx in np.ndindex(*batch, K):
        u = u_all[idx]
        s = draw(mdp.mu, u[0, 0])
        for t in range(horizon):
            a = draw(pi[s], u[t, 1])
            traj[(*idx, t)] = s, a
            if t + 1 < horizon:
                s = draw(mdp.P[s, a], u[t + 1, 0])
        G, est = 0.0, np.zeros((S, A))
        for t in reversed(range(horizon)):  # reward-to-go and the score of a tabular softmax
            s, a = traj[(*idx, t)]
            G = (mdp.r[s, a] if rewards is None else np.asarray(rewards)[(*idx, t)]) + mdp.gamma * G
            score = np.zeros((S, A))
            score[s] = -pi[s]
            score[s, a] += 1.0
            est += (mdp.gamma**t if weighting == "discounted" else 1.0) * G * score
        out[idx[:-1]] += est / K
    return out, traj


def reward_noise(
    shape: int | tuple[int, ...], sigma2: float, distribution: str, rng: np.random.Generator
) -> NDArray[np.float64]:
    r"""I.i.d. zero-mean label noise :math:`\eta` with variance ``sigma2`` (Theorem 2's noise).

    Parameters
    ----------
    shape
        Output shape, e.g. ``rollouts.rewards.shape``.
    sigma2
        Variance :math:`\sigma_\eta^2 \ge 0`.
    distribution
        ``"gaussian"``; ``"uniform"`` on :math:`[-\sqrt{3\sigma^2},\sqrt{3\sigma^2}]`;
        ``"skewed"``: :math:`\sigma(E-1)` with :math:`E\sim` Exp(1), skewness 2.
    rng
        The source of every random draw.

    Returns
    -------
    ndarray of the given shape
    """
    shape = _check_shape(shape, rollouts=False)
    sigma = np.sqrt(check_nonneg("sigma2", sigma2))
    if distribution not in NOISE_DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {NOISE_DISTRIBUTIONS}, got {distribution!r}")
    rng = check_rng(rng)
    if distribution == "gaussian":
        return sigma * rng.standard_normal(shape)
    if distribution == "uniform":
        return np.sqrt(3.0) * sigma * rng.uniform(-1.0, 1.0, shape)
    return sigma * (rng.standard_exponential(shape) - 1.0)


# --------------------------------------------------------------------------- exact moments


class _Prefixes(NamedTuple):
    prob: np.ndarray  # (M,) probability of each prefix s_0, a_0, ..., s_t, a_t
    s: np.ndarray  # (M,) s_t
    a: np.ndarray  # (M,) a_t
    u: np.ndarray  # (M, S, A) sum_{k<=t} w_k gamma^(t-k) score_k: the coefficient of r_t
    max_sq: np.ndarray  # (M,) max_{k<=t} ||score_k||^2


def _enumerate_prefixes(
    mdp: TabularMDP, theta: np.ndarray, horizon: int, weighting: str
) -> Iterator[_Prefixes]:
    # All (S A)^(t+1) prefixes at step t, each with its probability: a tree grown one step at a
    # time, children of a prefix stored next to each other (np.repeat / np.tile agree on it).
    S, A = mdp.n_states, mdp.n_actions
    if (S * A) ** horizon > _MAX_TRAJECTORIES:  # Python ints: no overflow
        raise ValueError(
            f"exact enumeration of (S*A)**H = {S * A}**{horizon} trajectories exceeds "
            f"{_MAX_TRAJECTORIES:.0e}: use a smaller MDP or horizon"
        )
    pi = softmax_policy(theta)
    w = _step_weights(mdp.gamma, horizon, weighting)
    pair_s, pair_a = np.divmod(np.arange(S * A), A)
    prob, s, a = mdp.mu[pair_s] * pi[pair_s, pair_a], pair_s, pair_a
    u, max_sq = np.zeros((S * A, S, A)), np.zeros(S * A)
    for t in range(horizon):
        if t > 0:
            step = mdp.P[s, a][:, pair_s] * pi[pair_s, pair_a]  # P(s'|s,a) pi(a'|s')
            prob = (prob[:, None] * step).ravel()
            u, max_sq = np.repeat(u, S * A, axis=0), np.repeat(max_sq, S * A)
            s, a = np.tile(pair_s, s.size), np.tile(pair_a, a.size)
        score = _scores(pi, s, a)
        u = mdp.gamma * u + w[t] * score
        max_sq = np.maximum(max_sq, np.einsum("msa,msa->m", score, score))
        yield _Prefixes(prob, s, a, u, max_sq)


def exact_estimator_mean(
    mdp: TabularMDP,
    theta: ArrayLike,
    horizon: int,
    *,
    rewards: ArrayLike | None = None,
    weighting: str = "discounted",
) -> NDArray[np.float64]:
    r"""The exact mean of one rollout's estimate, by enumerating all :math:`(SA)^H` trajectories.

    With state-action labels :math:`\tilde r` the estimate is
    :math:`\sum_{t}\tilde r(s_t,a_t)\,u_t`, :math:`u_t=\sum_{k\le t}w_k\gamma^{t-k}\nabla\log\pi_k`
    (:math:`w_k=\gamma^k` or 1): a finite sum over trajectories, independent of the
    autograd path of :func:`exact_gradient`. With ``weighting="discounted"`` and the true
    rewards it equals :math:`g_H` (Theorem 2 with :math:`\sigma_\eta=0`).

    Parameters
    ----------
    mdp, theta, horizon
        As in :func:`exact_gradient`; ``(S*A)**horizon <= 2e6``.
    rewards
        Deterministic state-action labels, shape ``(S, A)``; default ``mdp.r``.
    weighting
        ``"discounted"`` or ``"undiscounted"`` (see :func:`reinforce_estimates`).

    Returns
    -------
    ndarray, shape ``(S, A)``
    """
    theta, horizon = _check_problem(mdp, theta, horizon)
    labels = mdp.r if rewards is None else _check_table("rewards", rewards, mdp.r.shape)
    mean = np.zeros(mdp.r.shape)
    for p in _enumerate_prefixes(mdp, theta, horizon, _check_weighting(weighting)):
        mean += np.einsum("m,msa->sa", p.prob * labels[p.s, p.a], p.u)
    return mean


def estimator_mean_dp(
    mdp: TabularMDP,
    theta: ArrayLike,
    horizon: int,
    *,
    rewards: ArrayLike | None = None,
    weighting: str = "discounted",
) -> NDArray[np.float64]:
    r"""The exact mean of one rollout's estimate by dynamic programming (policy-gradient form).

    Independent of :func:`exact_estimator_mean` (enumeration of trajectories) and of
    :func:`exact_gradient` (autograd): since :math:`\nabla\log\pi_t` depends on
    :math:`(s_t,a_t)` only, :math:`\mathbb E[\nabla\log\pi_t\,G_t]=
    \mathbb E[\nabla\log\pi_t\,\bar G_t(s_t,a_t)]` with the expected reward-to-go
    :math:`\bar G_t(s,a)=\tilde r(s,a)+\gamma\sum_{s'}P(s'|s,a)\bar G_{t+1}(s')`,
    :math:`\bar G_t(s)=\sum_a\pi(a|s)\bar G_t(s,a)`, :math:`\bar G_H=0` (a backward recursion), and
    for a tabular softmax
    :math:`\mathbb E_{a\sim\pi(\cdot|s)}[(e_a-\pi(\cdot|s))\,\bar G_t(s,a)]_{a'}
    =\pi(a'|s)(\bar G_t(s,a')-\bar G_t(s))`. With the state distributions of a forward recursion,

    .. math::

       \mathbb E[\hat g^{(1)}]_{sa}=\sum_{t<H}w_t\,\Pr(s_t=s)\,\pi(a|s)\,
       \bigl(\bar G_t(s,a)-\bar G_t(s)\bigr),

    :math:`w_t=\gamma^t` (``"discounted"``, the mean is :math:`g_H`) or :math:`w_t=1`
    (``"undiscounted"``, the form of the paper as summarised). Cost :math:`O(H\,S^2A)`.

    Parameters
    ----------
    mdp, theta, horizon
        As in :func:`exact_gradient`.
    rewards
        Deterministic state-action labels, shape ``(S, A)``; default ``mdp.r``.
    weighting
        ``"discounted"`` or ``"undiscounted"`` (see :func:`reinforce_estimates`).

    Returns
    -------
    ndarray, shape ``(S, A)``
    """
    theta, horizon = _check_problem(mdp, theta, horizon)
    labels = mdp.r if rewards is None else _check_table("rewards", rewards, mdp.r.shape)
    w = _step_weights(mdp.gamma, horizon, _check_weighting(weighting))
    pi = softmax_policy(theta)
    S, A = pi.shape
    dist = [mdp.mu]  # Pr(s_t = s), t < H
    for _ in range(horizon - 1):
        dist.append((dist[-1][:, None] * pi).reshape(S * A) @ mdp.P.reshape(S * A, S))
    mean, G_s = np.zeros((S, A)), np.zeros(S)  # G_s: bar G_{t+1}(s), zero at t + 1 = H
    for t in range(horizon - 1, -1, -1):
        G_sa = labels + mdp.gamma * (mdp.P @ G_s)  # bar G_t(s, a)
        G_s = np.sum(pi * G_sa, axis=1)  # bar G_t(s)
        mean += w[t] * dist[t][:, None] * pi * (G_sa - G_s[:, None])
    return mean


def exact_added_variance(
    mdp: TabularMDP,
    theta: ArrayLike,
    horizon: int,
    sigma2: float,
    n_rollouts: float,
    *,
    weighting: str = "discounted",
) -> float:
    r"""The exact variance that zero-mean label noise adds to :math:`\hat g` (Theorem 2's proof).

    The noise part of one rollout's estimate is :math:`\sum_{t'}\eta_{t'}v_{t'}`, with
    :math:`v_{t'}=\gamma^{t'}\sum_{t\le t'}\nabla\log\pi_t` for the discounted estimator; it has
    conditional mean 0, so by the law of total variance it adds exactly

    .. math:: \frac{\sigma_\eta^2}{K}\,\mathbb E\Bigl[\sum_{t'<H}\|v_{t'}\|^2\Bigr]

    (trace of covariance), computed by enumerating all :math:`(SA)^H` trajectories.

    Parameters
    ----------
    mdp, theta, horizon
        As in :func:`exact_gradient`; ``(S*A)**horizon <= 2e6``.
    sigma2
        Noise variance >= 0.
    n_rollouts
        K >= 1.
    weighting
        ``"discounted"`` or ``"undiscounted"`` (then
        :math:`v_{t'}=\sum_{t\le t'}\gamma^{t'-t}\nabla\log\pi_t`).

    Returns
    -------
    float
    """
    theta, horizon = _check_problem(mdp, theta, horizon)
    sigma2 = check_nonneg("sigma2", sigma2)
    k = _check_n_rollouts(n_rollouts)
    total = 0.0
    for p in _enumerate_prefixes(mdp, theta, horizon, _check_weighting(weighting)):
        total += float(p.prob @ np.einsum("msa,msa->m", p.u, p.u))
    return sigma2 * total / k


def exact_w2(mdp: TabularMDP, theta: ArrayLike, horizon: int) -> float:
    r""":math:`W_H^2=\mathbb E[\max_{t<H}\|\nabla_\theta\log\pi_\theta(a_t|s_t)\|^2]`, exactly.

    By enumeration of all :math:`(SA)^H` trajectories. For a tabular softmax
    :math:`\|\nabla\log\pi(a|s)\|^2=1-2\pi(a|s)+\|\pi(\cdot|s)\|^2\le2`.

    Parameters
    ----------
    mdp, theta, horizon
        As in :func:`exact_gradient`; ``(S*A)**horizon <= 2e6``.

    Returns
    -------
    float
        The :math:`W_H^2` of Theorem 2, for :func:`noise_variance_bound`.
    """
    theta, horizon = _check_problem(mdp, theta, horizon)
    # Only the full trajectories (the last step, t = H - 1) carry the maximum over all t.
    (last,) = deque(_enumerate_prefixes(mdp, theta, horizon, "discounted"), maxlen=1)
    return float(last.prob @ last.max_sq)


def noise_variance_bound(
    sigma2: float, horizon: int, w2: float, n_rollouts: float, gamma: float
) -> float:
    r"""Theorem 2's bound on the variance added by label noise:
    :math:`\sigma_\eta^2\,H\,W_H^2/(K(1-\gamma)^2)`.

    It bounds :func:`exact_added_variance` for both weightings, since
    :math:`\|v_{t'}\|\le\max_t\|\nabla\log\pi_t\|/(1-\gamma)` (with the :math:`\gamma^t` weight
    because :math:`(t'+1)\gamma^{t'}\le1/(1-\gamma)`). For the :math:`\gamma^t`-weighted form,
    :func:`noise_variance_bound_weighted` is tighter and :func:`noise_variance_bound_horizon_free`
    does not grow with :math:`H`.

    Parameters
    ----------
    sigma2
        Noise variance >= 0.
    horizon
        :math:`H \ge 1`.
    w2
        :math:`W_H^2 \ge 0` (e.g. :func:`exact_w2`).
    n_rollouts
        K >= 1 (a real K is allowed, as in Corollary 2's K = B / c).
    gamma
        Discount factor, ``0 <= gamma < 1``.

    Returns
    -------
    float

    Examples
    --------
    >>> noise_variance_bound(2.0, 5, 0.5, 4, 0.5)  # 2 * 5 * 0.5 / (4 * 0.25)
    5.0
    """
    sigma2 = check_nonneg("sigma2", sigma2)
    horizon = check_int("horizon", horizon, 1)
    w2 = check_nonneg("w2", w2)
    k = _check_n_rollouts(n_rollouts)
    gamma = float(check_gamma(gamma))
    return sigma2 * horizon * w2 / (k * (1.0 - gamma) ** 2)


def score_weight_sum(horizon: int, gamma: float, *, power: int = 2) -> float:
    r""":math:`\Omega_H(\gamma)=\sum_{t<H}(t+1)^2\gamma^{2t}`, the factor of the tighter noise bound
    (chapter 5).

    With ``power=1``, :math:`\sum_{t<H}(t+1)\gamma^{2t}`: the factor of the sharper bound that
    uses the orthogonality of the scores (chapter 5, remark). The sum of :math:`H` positive terms,
    computed directly for :math:`H\le10^5`; for longer horizons as the infinite sum minus its
    tail, both in closed form with :math:`x=\gamma^2`:

    .. math::

       \sum_{t\ge0}(t+1)^2x^t=\frac{1+x}{(1-x)^3},\qquad
       \sum_{t\ge H}(t+1)^2x^t=x^H\Bigl[\frac{1+x}{(1-x)^3}+\frac{2H}{(1-x)^2}
       +\frac{H^2}{1-x}\Bigr]

    (from :math:`(t+1)^2=(u+1)^2+2H(u+1)+H^2` with :math:`u=t-H`), and for ``power=1``
    :math:`1/(1-x)^2` and :math:`x^H[1/(1-x)^2+H/(1-x)]`; the tails are sums of positive terms.

    Parameters
    ----------
    horizon
        :math:`H\ge1`.
    gamma
        Discount factor, ``0 <= gamma < 1``.
    power
        1 or 2, the exponent of :math:`t+1`.

    Returns
    -------
    float
        For ``power=2``, at most
        :math:`\min\bigl(H/(1-\gamma)^2,\ (1+\gamma^2)/(1-\gamma^2)^3\bigr)`.

    Examples
    --------
    >>> score_weight_sum(3, 0.5)  # 1 + 4 / 4 + 9 / 16
    2.5625
    >>> score_weight_sum(3, 0.5, power=1)  # 1 + 2 / 4 + 3 / 16
    1.6875
    """
    horizon = check_int("horizon", horizon, 1)
    x = float(check_gamma(gamma)) ** 2
    if power not in (1, 2) or isinstance(power, bool):
        raise ValueError(f"power must be 1 or 2, got {power!r}")
    if horizon <= 100_000:
        t = np.arange(horizon, dtype=float)
        return float(np.sum((t + 1.0) ** power * x**t))  # 0.0 ** 0 == 1: gamma = 0 gives 1
    if power == 1:
        total = 1.0 / (1.0 - x) ** 2
        return total - x**horizon * (total + horizon / (1.0 - x))
    total = (1.0 + x) / (1.0 - x) ** 3
    tail = x**horizon * (total + 2.0 * horizon / (1.0 - x) ** 2 + horizon**2 / (1.0 - x))
    return total - tail


def noise_variance_bound_weighted(
    sigma2: float, horizon: int, w2: float, n_rollouts: float, gamma: float
) -> float:
    r"""A tighter bound on the variance label noise adds to the :math:`\gamma^t`-weighted
    estimator: :math:`\sigma_\eta^2\,W_H^2\sum_{t<H}(t+1)^2\gamma^{2t}/K` (beyond the paper).

    With the :math:`\gamma^t` weight, :math:`v_{t'}=\gamma^{t'}\sum_{t\le t'}\nabla\log\pi_t`, so
    :math:`\|v_{t'}\|^2\le(t'+1)^2\gamma^{2t'}\max_t\|\nabla\log\pi_t\|^2`; summing over
    :math:`t'<H` and taking expectations bounds :func:`exact_added_variance` by this value. Theorem
    2's proof continues with :math:`(t'+1)\gamma^{t'}\le1/(1-\gamma)`, which gives
    :func:`noise_variance_bound`; the full series gives
    :func:`noise_variance_bound_horizon_free`. This bound is below both (chapter 5 proves it). It
    does **not** hold for the unweighted form, whose :math:`v_{t'}` lacks the factor
    :math:`\gamma^{t'}`. The scores are martingale differences, so
    :math:`\mathbb E\|v_{t'}\|^2=\gamma^{2t'}\sum_{t\le t'}\mathbb E\|\nabla\log\pi_t\|^2` and
    the square on :math:`t'+1` can even be dropped (``score_weight_sum(H, gamma, power=1)``).

    Parameters
    ----------
    sigma2
        Noise variance >= 0.
    horizon
        :math:`H \ge 1`.
    w2
        :math:`W_H^2 \ge 0` (e.g. :func:`exact_w2`).
    n_rollouts
        K >= 1 (a real K is allowed).
    gamma
        Discount factor, ``0 <= gamma < 1``.

    Returns
    -------
    float

    Examples
    --------
    >>> noise_variance_bound_weighted(2.0, 3, 0.5, 4, 0.5)  # 2 * 0.5 * 2.5625 / 4
    0.640625
    """
    sigma2 = check_nonneg("sigma2", sigma2)
    w2 = check_nonneg("w2", w2)
    k = _check_n_rollouts(n_rollouts)
    return sigma2 * w2 * score_weight_sum(horizon, gamma) / k


def noise_variance_bound_horizon_free(
    sigma2: float, w2: float, n_rollouts: float, gamma: float
) -> float:
    r"""A bound free of the horizon on the variance label noise adds to the
    :math:`\gamma^t`-weighted estimator:
    :math:`\sigma_\eta^2\,W_H^2\,(1+\gamma^2)/(K(1-\gamma^2)^3)` (beyond the paper).

    It is :func:`noise_variance_bound_weighted` with the sum over :math:`t<H` extended to all
    :math:`t\ge0`: :math:`\sum_{t\ge0}(t+1)^2x^t=(1+x)/(1-x)^3` for :math:`0\le x<1`. It depends
    on :math:`H` only through :math:`W_H^2`, which for a bounded score (a tabular softmax has
    :math:`\|\nabla\log\pi\|^2\le2`) has a bound free of :math:`H` as well.

    Parameters
    ----------
    sigma2
        Noise variance >= 0.
    w2
        :math:`W_H^2 \ge 0`.
    n_rollouts
        K >= 1 (a real K is allowed).
    gamma
        Discount factor, ``0 <= gamma < 1``.

    Returns
    -------
    float

    Examples
    --------
    >>> noise_variance_bound_horizon_free(1.0, 1.0, 1, 0.5)  # 1.25 / 0.75**3
    2.962962962962963
    """
    sigma2 = check_nonneg("sigma2", sigma2)
    w2 = check_nonneg("w2", w2)
    k = _check_n_rollouts(n_rollouts)
    x = float(check_gamma(gamma)) ** 2
    return sigma2 * w2 * (1.0 + x) / (k * (1.0 - x) ** 3)


# --------------------------------------------------------------------------- continuous test bed


@dataclass(frozen=True)
class LinearGaussianSystem:
    r"""Continuous test bed: :math:`s_{t+1}=As_t+Ba_t`, :math:`a_t\sim\mathcal N(Ks_t,\sigma_a^2I)`.

    Reward :math:`r(s,a)=-(s^\top Qs+a^\top Ra)`, fixed start :math:`s_0`. The policy parameter
    is the gain :math:`K` (shape ``(d_a, d_s)``); :math:`J_H` is exact through the first and
    second moments of the state, and so is its gradient (autograd through the same recursion).

    Attributes
    ----------
    A, B, Q, R, s0
        Shapes ``(d_s, d_s)``, ``(d_s, d_a)``, ``(d_s, d_s)``, ``(d_a, d_a)``, ``(d_s,)``.
    sigma_a
        Policy noise standard deviation, > 0.
    gamma
        Discount factor, ``0 <= gamma < 1``.
    """

    A: np.ndarray
    B: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    s0: np.ndarray
    sigma_a: float
    gamma: float

    def __post_init__(self) -> None:
        d_s = np.shape(self.s0)[0] if np.ndim(self.s0) == 1 else -1
        d_a = np.shape(self.B)[1] if np.ndim(self.B) == 2 else -1
        expected = {"A": (d_s, d_s), "B": (d_s, d_a), "Q": (d_s, d_s), "R": (d_a, d_a),
                    "s0": (d_s,)}
        for name, shape in expected.items():
            array = np.array(getattr(self, name), dtype=float)
            if min(shape) < 1 or array.shape != shape or not np.all(np.isfinite(array)):
                raise ValueError(f"{name} must be a finite array of shape {shape} (d_s from s0, "
                                 f"d_a from B), got shape {array.shape}")
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        if not (np.isfinite(self.sigma_a) and self.sigma_a > 0):
            raise ValueError(f"sigma_a must be finite and > 0, got {self.sigma_a!r}")
        object.__setattr__(self, "gamma", float(check_gamma(self.gamma)))


def random_linear_gaussian_system(d_s: int, d_a: int, *, gamma: float,
                                  rng: np.random.Generator) -> LinearGaussianSystem:
    """A random stable-ish :class:`LinearGaussianSystem` (ours: ``||A||_2 = 0.9``, ``||B||_2 =
    0.5``, ``Q = GG^T/d_s``, ``R = 0.1 I``, ``s0 ~ N(0, I)``, ``sigma_a = 0.5``)."""
    d_s, d_a = check_int("d_s", d_s, 1), check_int("d_a", d_a, 1)
    rng = check_rng(rng)
    A = rng.normal(size=(d_s, d_s))
    B = rng.normal(size=(d_s, d_a))
    G = rng.normal(size=(d_s, d_s))
    return LinearGaussianSystem(A=0.9 * A / np.linalg.norm(A, 2), B=0.5 * B / np.linalg.norm(B, 2),
                                Q=G @ G.T / d_s, R=0.1 * np.eye(d_a), s0=rng.normal(size=d_s),
                                sigma_a=0.5, gamma=gamma)


def _linear_moments(system: LinearGaussianSystem, K: Any, horizon: int
                    ) -> tuple[Any, list[Any]]:
    # J_H and the second moments M_t = E[s_t s_t^T], t < H, written with operators numpy arrays
    # and torch tensors share, so the gradient runs the same code.
    A, B, Q, R, s0 = system.A, system.B, system.Q, system.R, system.s0
    outer = np.outer
    if not isinstance(K, np.ndarray):  # torch: lift the system's arrays once
        import torch

        A, B, Q, R, s0 = (torch.tensor(x, dtype=torch.float64) for x in (A, B, Q, R, s0))
        outer = torch.outer
    closed = A + B @ K
    noise = system.sigma_a**2 * (B @ B.T)
    trace_R = system.sigma_a**2 * float(np.trace(system.R))
    M, value, moments = outer(s0, s0), 0.0, []
    for t in range(horizon):
        moments.append(M)
        value = value - system.gamma**t * ((Q * M).sum() + (R * (K @ M @ K.T)).sum() + trace_R)
        M = closed @ M @ closed.T + noise
    return value, moments


def _check_gain(system: LinearGaussianSystem, K: ArrayLike) -> np.ndarray:
    if not isinstance(system, LinearGaussianSystem):
        raise ValueError(f"system must be a LinearGaussianSystem, got {type(system).__name__}")
    return _check_table("K", K, (system.B.shape[1], system.s0.shape[0]))


def linear_exact_objective(system: LinearGaussianSystem, K: ArrayLike, horizon: int) -> float:
    r""":math:`J_H(K)` of a :class:`LinearGaussianSystem`, exactly (moment recursion)."""
    K = _check_gain(system, K)
    horizon = check_int("horizon", horizon, 1)
    value, _ = _linear_moments(system, K, horizon)
    return float(value)


def linear_exact_gradient(system: LinearGaussianSystem, K: ArrayLike,
                          horizon: int) -> NDArray[np.float64]:
    r""":math:`g_H=\nabla_KJ_H`, exactly: torch autograd (float64) through the moment recursion."""
    import torch

    K = _check_gain(system, K)
    horizon = check_int("horizon", horizon, 1)
    k = torch.tensor(K, dtype=torch.float64, requires_grad=True)
    value, _ = _linear_moments(system, k, horizon)
    (grad,) = torch.autograd.grad(value, k)
    return grad.numpy()


def sample_linear_rollouts(system: LinearGaussianSystem, K: ArrayLike, horizon: int,
                           shape: tuple[int, ...], rng: np.random.Generator) -> Rollouts:
    r"""Rollouts of a :class:`LinearGaussianSystem`, vectorised over ``shape`` (loop over time).

    ``states`` has shape ``shape + (H, d_s)``, ``actions`` ``shape + (H, d_a)``, ``scores``
    :math:`\nabla_K\log\pi(a|s)=(a-Ks)s^\top/\sigma_a^2`, shape ``shape + (H, d_a, d_s)``.
    """
    K = _check_gain(system, K)
    horizon = check_int("horizon", horizon, 1)
    shape, rng = _check_shape(shape, rollouts=True), check_rng(rng)
    d_a, d_s = K.shape
    states, actions = np.empty((*shape, horizon, d_s)), np.empty((*shape, horizon, d_a))
    s = np.broadcast_to(system.s0, (*shape, d_s))
    for t in range(horizon):
        eps = rng.standard_normal((*shape, d_a))
        states[..., t, :], actions[..., t, :] = s, s @ K.T + system.sigma_a * eps
        s = s @ system.A.T + actions[..., t, :] @ system.B.T
    rewards = -(np.einsum("...i,ij,...j->...", states, system.Q, states)
                + np.einsum("...i,ij,...j->...", actions, system.R, actions))
    scores = (actions - states @ K.T)[..., :, None] * states[..., None, :] / system.sigma_a**2
    return Rollouts(states=states, actions=actions, rewards=rewards, scores=scores)


def linear_exact_added_variance(system: LinearGaussianSystem, K: ArrayLike, horizon: int,
                                sigma2: float, n_rollouts: float) -> float:
    r"""Exact noise term :math:`\sigma_\eta^2\,\mathbb E[\sum_{t'}\|v_{t'}\|^2]/K` (Theorem 2).

    The scores :math:`\psi_t=\varepsilon_ts_t^\top/\sigma_a` are martingale differences, so
    :math:`\mathbb E\|\sum_{t\le t'}\psi_t\|^2=\sum_{t\le t'}d_a\operatorname{tr}(M_t)/\sigma_a^2`
    with :math:`M_t=\mathbb E[s_ts_t^\top]` from the moment recursion.
    """
    K = _check_gain(system, K)
    horizon = check_int("horizon", horizon, 1)
    sigma2, n = check_nonneg("sigma2", sigma2), _check_n_rollouts(n_rollouts)
    _, moments = _linear_moments(system, K, horizon)
    per_step = np.array([K.shape[0] * np.trace(M) for M in moments]) / system.sigma_a**2
    weights = system.gamma ** (2 * np.arange(horizon, dtype=float))
    return float(sigma2 * np.sum(weights * np.cumsum(per_step)) / n)
