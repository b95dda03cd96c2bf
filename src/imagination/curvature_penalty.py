r"""The converse of Proposition 1, measured: does penalising curvature lower the constant?

Proposition 1 bounds the curvature loss of temporal straightening by the Lipschitz constant of the
velocity map. :func:`curvature_penalty_experiment` asks the converse: velocity maps fitted by
:func:`train_velocity_ensemble` with a curvature penalty of increasing weight, their curvature, fit
and Lipschitz estimates (:mod:`imagination.lipschitz`) of the velocity map :math:`v_\theta` and of
the latent dynamics :math:`f_\theta=\mathrm{id}+v_\theta`, whose constant :math:`L_f` is the one
Corollary 1 rewards. Used by chapter 2 ("Lipschitz constants as a representation desideratum").

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Proposition 1. Wang et al. (2026), temporal straightening.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from .ensemble import Ensemble, train_ensemble
from .lipschitz import jacobian_norm_lower, lipschitz_upper_bound, planar_relu_lipschitz
from .straightening import curvature_loss, random_velocity_fields

__all__ = ["CurvaturePenalty", "curvature_penalty_experiment", "train_velocity_ensemble"]


def train_velocity_ensemble(
    z_t: ArrayLike,
    z_next: ArrayLike,
    curvature_weight: ArrayLike,
    *,
    hidden: Sequence[int] = (64,),
    max_steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> Ensemble:
    r"""Fit velocity maps :math:`v_\theta(z)\approx z_{t+1}-z_t` with a curvature penalty.

    Member :math:`m` minimises, over batches of consecutive pairs :math:`(z_t,z_{t+1})` of a
    latent trajectory,

    .. math::

       \frac1{|B|}\sum_{t\in B}\Bigl[\tfrac1d\|v_\theta(z_t)-(z_{t+1}-z_t)\|^2
       +\lambda_m\bigl(1-\cos(v_\theta(z_t),v_\theta(z_{t+1}))\bigr)\Bigr],

    the squared loss of :func:`~imagination.ensemble.train_ensemble` plus
    :math:`\lambda_m` times the curvature loss of Proposition 1 on the model's own consecutive
    velocities (temporal straightening, Wang et al. 2026). The penalty needs the model at a second
    point per sample, :math:`z_{t+1}`, so it goes through ``train_ensemble``'s ``penalty`` hook
    (which passes the differentiable batched model); everything else is ``train_ensemble``'s:
    stacked members, one Adam step for all, each member its own initialisation (``nn.Linear``
    default) and data order from :func:`~imagination.ensemble.member_generators`.

    Parameters
    ----------
    z_t, z_next : array_like, shape (N, d)
        Consecutive latent states (shared by all members).
    curvature_weight : array_like, shape (M,)
        :math:`\lambda_m\ge0`, one per member (``M`` members).
    hidden, max_steps, batch_size, lr, seed
        MLP widths (ReLU, linear output) and Adam settings, as in ``train_ensemble``.

    Returns
    -------
    Ensemble
        The velocity maps; ``losses`` holds each member's total loss per step.

    Raises
    ------
    ValueError
        On mismatched or non-finite data, negative weights or non-positive sizes.
    """
    za = np.asarray(z_t, dtype=np.float32)
    zb = np.asarray(z_next, dtype=np.float32)
    if za.ndim != 2 or za.shape != zb.shape or za.shape[0] < 1:
        raise ValueError(f"z_t and z_next must both be (N, d) with N >= 1; got {za.shape}, "
                         f"{zb.shape}")
    lam = np.asarray(curvature_weight, dtype=float)
    if lam.ndim != 1 or lam.size < 1 or not np.all(np.isfinite(lam) & (lam >= 0)):
        raise ValueError(f"curvature_weight must be a 1-D array of finite weights >= 0 (one per "
                         f"member), got {curvature_weight!r}")
    if not hidden:
        raise ValueError(f"hidden must be a non-empty sequence of positive integers, "
                         f"got {hidden!r}")
    weight = torch.tensor(lam, dtype=torch.float32)

    def curvature(model: Any, xb: torch.Tensor, yb: torch.Tensor,
                  pred: torch.Tensor) -> torch.Tensor:
        # the model's own velocity one step later, at z_{t+1} = z_t + (z_{t+1} - z_t)
        cos = torch.nn.functional.cosine_similarity(pred, model(xb + yb), dim=-1)
        return weight * (1.0 - cos).mean(dim=1)

    # the data order and every check of the squared-loss part are train_ensemble's own
    return train_ensemble(za, zb - za, n_members=lam.size, hidden=hidden, epochs=2**62,
                          max_steps=max_steps, batch_size=batch_size, lr=lr, seed=seed,
                          penalty=curvature)


@dataclass(frozen=True)
class CurvaturePenalty:
    r"""Result of :func:`curvature_penalty_experiment`; per-member arrays are ordered
    weight-major (member ``i`` has weight ``weights[i // n_seeds]``).

    Attributes
    ----------
    weights : ndarray, shape (K,)
        Curvature weights :math:`\lambda`.
    n_seeds : int
    curvature : ndarray, shape (M,)
        Mean curvature loss of the model's consecutive velocities on held-out pairs.
    fit : ndarray, shape (M,)
        Held-out mean squared error of the velocity (per coordinate).
    L_lower, L_upper : ndarray, shape (M,)
        Of the velocity map :math:`v_\theta`: :func:`jacobian_norm_lower` on the held-out states
        and :func:`lipschitz_upper_bound`.
    L_exact : ndarray, shape (M,)
        :func:`planar_relu_lipschitz` of :math:`v_\theta`: its exact constant on
        :math:`\mathbb R^2` (one hidden layer only; NaN otherwise).
    Lf_lower, Lf_upper, Lf_exact : ndarray, shape (M,)
        The same three for the latent dynamics :math:`f_\theta=\mathrm{id}+v_\theta`, whose
        constant :math:`L_f` is the one Corollary 1 rewards (``residual=True``); ``Lf_upper`` is
        :math:`1+` ``L_upper``.
    true_curvature : float
        Mean curvature loss of the true field on the same pairs.
    true_L : float
        The true field's Lipschitz constant :math:`\varepsilon` (exact).
    true_L_lower : float
        :func:`jacobian_norm_lower` of the true field on the held-out states (what the models'
        lower estimate is measured against).
    true_Lf, true_Lf_lower : float
        The true dynamics' constant, exact
        (:meth:`~imagination.straightening.VelocityFields.dynamics_lipschitz`), and its
        Jacobian lower estimate on the held-out states.
    ensemble : Ensemble
    config : dict
    """

    weights: NDArray[np.float64]
    n_seeds: int
    curvature: NDArray[np.float64] = field(repr=False)
    fit: NDArray[np.float64] = field(repr=False)
    L_lower: NDArray[np.float64] = field(repr=False)
    L_upper: NDArray[np.float64] = field(repr=False)
    L_exact: NDArray[np.float64] = field(repr=False)
    Lf_lower: NDArray[np.float64] = field(repr=False)
    Lf_upper: NDArray[np.float64] = field(repr=False)
    Lf_exact: NDArray[np.float64] = field(repr=False)
    true_curvature: float
    true_L: float
    true_L_lower: float
    true_Lf: float
    true_Lf_lower: float
    ensemble: Ensemble = field(repr=False)
    config: dict[str, Any] = field(default_factory=dict)

    def by_weight(self, name: str) -> NDArray[np.float64]:
        """A per-member field reshaped to ``(K, n_seeds)``."""
        values = getattr(self, name, None)
        if (not isinstance(values, np.ndarray)
                or values.shape != (self.weights.size * self.n_seeds,)):
            raise ValueError(f"{name!r} is not a per-member field of CurvaturePenalty")
        return values.reshape(self.weights.size, self.n_seeds)


def curvature_penalty_experiment(
    weights: ArrayLike,
    *,
    n_seeds: int = 3,
    eps: float = 0.5,
    drift: float = 0.75,
    n_trajectories: int = 400,
    length: int = 8,
    max_steps: int = 1500,
    lr: float = 3e-3,
    hidden: Sequence[int] = (64,),
    seed: int = 0,
) -> CurvaturePenalty:
    r"""The converse of Proposition 1, measured: does penalising curvature lower the Lipschitz
    constant of a learned velocity map?

    Latent trajectories :math:`z_{t+1}=z_t+v(z_t)` of a 2-D sine field
    :math:`v(z)=c+\varepsilon\,Q\sin(Pz+\varphi)`
    (:func:`~imagination.straightening.random_velocity_fields`, exactly
    :math:`\varepsilon`-Lipschitz) with a drift :math:`c=(\texttt{drift},0)`; since
    :math:`\|Q\sin(\cdot)\|\le\sqrt2`, ``drift`` :math:`>\sqrt2\,\varepsilon` keeps
    :math:`v\ne0` everywhere, so the curvature loss is defined. ``n_trajectories`` start uniformly
    in :math:`[-2,2]^2` and run ``length`` steps; a random half of the trajectories trains, the
    other half is held out. For every weight :math:`\lambda`, ``n_seeds`` velocity maps are fitted
    by :func:`train_velocity_ensemble` (one call for all members) and measured on the held-out
    pairs: curvature, fit, and the Lipschitz constants of the velocity map :math:`v_\theta` and of
    the latent dynamics :math:`\mathrm{id}+v_\theta` (Jacobian lower estimate, spectral upper bound
    and, for one hidden layer, the exact value).

    Parameters
    ----------
    weights : array_like, shape (K,)
        Curvature weights :math:`\lambda\ge0`.
    n_seeds : int
    eps, drift : float
        The field's Lipschitz constant (in (0, 1)) and drift (> ``sqrt(2) * eps``).
    n_trajectories, length : int
        Data: trajectories (>= 2) and their number of steps.
    max_steps, lr, hidden
        Training, as in :func:`train_velocity_ensemble`.
    seed : int

    Returns
    -------
    CurvaturePenalty

    Raises
    ------
    ValueError
        For ``eps`` outside (0, 1), a drift that allows ``v = 0``, or bad sizes and weights.
    """
    if not (0.0 < eps < 1.0):
        raise ValueError(f"eps must lie in (0, 1), got {eps!r}")
    if not (np.isfinite(drift) and drift > math.sqrt(2.0) * eps):
        raise ValueError(f"drift must exceed sqrt(2) * eps = {math.sqrt(2.0) * eps:.4g} so that "
                         f"the velocity never vanishes, got {drift!r}")
    for name, value, low in (("n_seeds", n_seeds, 1), ("n_trajectories", n_trajectories, 2),
                             ("length", length, 1)):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    lam = np.asarray(weights, dtype=float)
    if lam.ndim != 1 or lam.size < 1:
        raise ValueError(f"weights must be a 1-D array of curvature weights, got {weights!r}")
    rng = np.random.default_rng(seed)
    field_ = random_velocity_fields("sine", [eps], 2, rng=rng, offset_scale=0.0)
    c = np.array([drift, 0.0])

    def v(z: np.ndarray) -> np.ndarray:
        return c + field_(z[None])[0]

    z = [rng.uniform(-2.0, 2.0, size=(int(n_trajectories), 2))]
    for _ in range(int(length)):  # only time is sequential
        z.append(z[-1] + v(z[-1]))
    traj = np.stack(z, axis=1)  # (n_trajectories, length + 1, 2)
    order = rng.permutation(int(n_trajectories))
    half = int(n_trajectories) // 2
    train, test = traj[order[:half]], traj[order[half:]]
    za, zb = train[:, :-1].reshape(-1, 2), train[:, 1:].reshape(-1, 2)
    ta, tb = test[:, :-1].reshape(-1, 2), test[:, 1:].reshape(-1, 2)
    ens = train_velocity_ensemble(za, zb, np.repeat(lam, int(n_seeds)), hidden=hidden,
                                  max_steps=max_steps, lr=lr, seed=seed)
    pa, pb = ens.predict(ta), ens.predict(tb)
    P = torch.from_numpy(field_.inner[0])
    Q = torch.from_numpy(field_.linear[0])
    phase = torch.from_numpy(field_.phase[0])

    def v_torch(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(c) + eps * torch.sin(x @ P.T + phase) @ Q.T

    nan = np.full(ens.n_members, np.nan)
    exact = len(tuple(hidden)) == 1  # planar_relu_lipschitz: one hidden layer, two inputs
    return CurvaturePenalty(
        weights=lam, n_seeds=int(n_seeds),
        curvature=np.asarray(curvature_loss(pa, pb)).mean(axis=1),
        fit=((pa - (tb - ta)) ** 2).mean(axis=(1, 2)),
        L_lower=np.atleast_1d(jacobian_norm_lower(ens, ta)),
        L_upper=np.atleast_1d(lipschitz_upper_bound(ens)),
        L_exact=np.atleast_1d(planar_relu_lipschitz(ens)) if exact else nan,
        Lf_lower=np.atleast_1d(jacobian_norm_lower(ens, ta, residual=True)),
        Lf_upper=np.atleast_1d(lipschitz_upper_bound(ens, residual=True)),
        Lf_exact=np.atleast_1d(planar_relu_lipschitz(ens, residual=True)) if exact else nan,
        true_curvature=float(np.mean(curvature_loss(v(ta), v(tb)))),
        true_L=float(eps),
        true_L_lower=float(jacobian_norm_lower(v_torch, ta)),
        true_Lf=float(field_.dynamics_lipschitz()[0]),
        true_Lf_lower=float(jacobian_norm_lower(v_torch, ta, residual=True)),
        ensemble=ens,
        config=dict(eps=eps, drift=drift, n_trajectories=n_trajectories, length=length,
                    max_steps=max_steps, lr=lr, hidden=tuple(hidden), seed=seed,
                    n_train_pairs=za.shape[0], n_test_pairs=ta.shape[0]),
    )
