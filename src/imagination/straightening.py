r"""Temporal straightening (Proposition 1): the curvature of a latent trajectory and its bounds.

Setting (paper §3): latent dynamics :math:`z_{t+1}=f(z_t)` with velocity
:math:`v(z)=f(z)-z`, so that :math:`z_{t+1}=z_t+v(z_t)`, and the curvature loss of
Wang et al. (2026)

.. math::

   \mathcal L_{\rm curv}(t) = 1-\cos\bigl(v(z_t),\,v(z_{t+1})\bigr).

Proposition 1: if :math:`v` is :math:`\varepsilon`-Lipschitz with :math:`0<\varepsilon<1` and
:math:`v(z_t)\ne0`, then :math:`\mathcal L_{\rm curv}(t)\le\varepsilon^2/(2(1-\varepsilon))`.

Both bounds follow from one fact: with :math:`a=v(z_t)` and :math:`b=v(z_{t+1})`,
:math:`\|b-a\|\le\varepsilon\|z_{t+1}-z_t\|=\varepsilon\|a\|`, so :math:`b` lies in the ball of
radius :math:`\varepsilon\|a\|` around :math:`a`. The paper's proof uses
:math:`\|b\|\ge(1-\varepsilon)\|a\|` and the identity
:math:`\|b-a\|^2=(\|a\|-\|b\|)^2+2\|a\|\|b\|(1-\cos)`; the largest angle the ball subtends
from the origin has :math:`\sin\theta=\varepsilon`, which gives the **sharp** bound
:math:`1-\sqrt{1-\varepsilon^2}` (paper.md §3, [check]), attained by the linear field of
:func:`extremal_velocity_field`.

Test fields with known Lipschitz constants (:class:`VelocityFields`): affine
:math:`v(z)=Az+c` with :math:`\|A\|_2=\varepsilon`, and sine fields
:math:`v(z)=c+\varepsilon\,Q\sin(Pz+\varphi)` with :math:`P,Q` orthogonal, whose Jacobian
:math:`\varepsilon\,Q\,{\rm diag}(\cos(Pz+\varphi))\,P` has spectral norm at most
:math:`\varepsilon`, reached where a :math:`\cos` is :math:`\pm1`: both are exactly
:math:`\varepsilon`-Lipschitz.

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Proposition 1. Wang et al. (2026), temporal straightening, arXiv:2603.12231.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_output, check_int, check_nonneg_arrays, check_rng

__all__ = [
    "FIELD_KINDS",
    "VelocityFields",
    "curvature_bound",
    "curvature_bound_sharp",
    "curvature_loss",
    "dynamics_lipschitz_interval",
    "extremal_velocity_field",
    "max_observed_curvature",
    "one_step_curvature",
    "random_velocity_fields",
]

#: Families of :func:`random_velocity_fields`.
FIELD_KINDS = ("affine", "sine")


def _check_eps(eps: ArrayLike) -> np.ndarray:
    e = np.asarray(eps, dtype=float)
    if e.size == 0 or not np.all((e > 0) & (e < 1)):  # also rejects nan
        raise ValueError(f"eps must lie strictly between 0 and 1 (Proposition 1 needs "
                         f"0 < eps < 1), got {eps!r}")
    return e


# --------------------------------------------------------------------------- loss and bounds


def curvature_loss(v_t: ArrayLike, v_next: ArrayLike) -> Any:
    r"""The curvature loss :math:`1-\cos(v_t, v_{t+1})` of Proposition 1.

    Parameters
    ----------
    v_t, v_next : array_like, shape (..., d)
        Consecutive velocities :math:`v(z_t)` and :math:`v(z_{t+1})`; the last axis is the latent
        dimension, leading axes broadcast.

    Returns
    -------
    float or ndarray
        :math:`1-\langle v_t,v_{t+1}\rangle/(\|v_t\|\|v_{t+1}\|)\in[0,2]`, one value per leading
        index (a ``float`` for single vectors).

    Raises
    ------
    ValueError
        If the inputs are not finite, have no vector axis, do not broadcast, or any vector is zero
        (the cosine is undefined there; Proposition 1 assumes :math:`v(z_t)\ne0`).

    Examples
    --------
    >>> curvature_loss([1.0, 0.0], [1.0, 1.0])  # 1 - cos(45 degrees)
    0.29289321881345...
    """
    a = np.asarray(v_t, dtype=float)
    b = np.asarray(v_next, dtype=float)
    if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-1] or a.shape[-1] == 0:
        raise ValueError(f"v_t and v_next must be vectors along their last axis with the same "
                         f"length d >= 1; got shapes {a.shape} and {b.shape}")
    try:
        a, b = np.broadcast_arrays(a, b)
    except ValueError:
        raise ValueError(f"the leading axes of v_t {a.shape} and v_next {b.shape} do not "
                         "broadcast") from None
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("v_t and v_next must be finite")
    # Divide by the largest entry first: norms and dot products of huge vectors would overflow.
    ma, mb = np.abs(a).max(axis=-1, keepdims=True), np.abs(b).max(axis=-1, keepdims=True)
    if np.any(ma == 0) or np.any(mb == 0):
        raise ValueError("the curvature loss needs non-zero velocities: the cosine of a zero "
                         "vector is undefined (Proposition 1 assumes v(z_t) != 0)")
    a, b = a / ma, b / mb
    a, b = a / np.linalg.norm(a, axis=-1, keepdims=True), b / np.linalg.norm(b, axis=-1,
                                                                           keepdims=True)
    cos = np.sum(a * b, axis=-1)
    return as_output(1.0 - np.clip(cos, -1.0, 1.0))


def curvature_bound(eps: ArrayLike) -> Any:
    r"""The paper's bound of Proposition 1: :math:`\varepsilon^2/(2(1-\varepsilon))`.

    Parameters
    ----------
    eps : float or array_like
        Lipschitz constant of the velocity field, :math:`0<\varepsilon<1`.

    Returns
    -------
    float or ndarray
        The bound on :math:`\mathcal L_{\rm curv}(t)`; valid, but not sharp, and it diverges as
        :math:`\varepsilon\to1` (compare :func:`curvature_bound_sharp`).

    Raises
    ------
    ValueError
        If any ``eps`` is outside the open interval (0, 1).

    Examples
    --------
    >>> curvature_bound(0.5)  # 0.25 / (2 * 0.5)
    0.25
    """
    e = _check_eps(eps)
    return as_output(e**2 / (2.0 * (1.0 - e)))


def curvature_bound_sharp(eps: ArrayLike) -> Any:
    r"""The sharp form of Proposition 1: :math:`1-\sqrt{1-\varepsilon^2}`.

    If :math:`v` is :math:`\varepsilon`-Lipschitz, :math:`v(z_{t+1})` lies in the ball of radius
    :math:`\varepsilon\|v(z_t)\|` around :math:`v(z_t)`; seen from the origin that ball subtends a
    half-angle :math:`\theta` with :math:`\sin\theta=\varepsilon`, so
    :math:`\cos(v(z_t),v(z_{t+1}))\ge\sqrt{1-\varepsilon^2}`. Equality holds for the field of
    :func:`extremal_velocity_field`, so no smaller function of :math:`\varepsilon` is a bound.
    It is below the paper's :math:`\varepsilon^2/(2(1-\varepsilon))` for every
    :math:`0<\varepsilon<1` and stays below 1 as :math:`\varepsilon\to1`.

    Computed as :math:`\varepsilon^2/(1+\sqrt{1-\varepsilon^2})` (the same number, without the
    cancellation of :math:`1-\sqrt{\cdot}` at small :math:`\varepsilon`).

    Parameters
    ----------
    eps : float or array_like
        Lipschitz constant of the velocity field, :math:`0<\varepsilon<1`.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If any ``eps`` is outside the open interval (0, 1).

    Examples
    --------
    >>> curvature_bound_sharp(0.6)  # 1 - sqrt(1 - 0.36) = 1 - 0.8
    0.19999999999999...
    """
    e = _check_eps(eps)
    return as_output(e**2 / (1.0 + np.sqrt(1.0 - e**2)))


def dynamics_lipschitz_interval(eps: ArrayLike) -> tuple[Any, Any]:
    r"""Where the Lipschitz constant :math:`L_f` of the latent dynamics :math:`f=\mathrm{id}+v`
    lies when its velocity field :math:`v` has Lipschitz constant :math:`\varepsilon`:
    :math:`|1-\varepsilon|\le L_f\le1+\varepsilon`.

    Upper end: :math:`\|f(x)-f(y)\|\le\|x-y\|+\|v(x)-v(y)\|\le(1+\varepsilon)\|x-y\|`. Lower end:
    :math:`\|f(x)-f(y)\|\ge\|x-y\|-\|v(x)-v(y)\|\ge(1-\varepsilon)\|x-y\|` for every pair, so
    :math:`L_f\ge1-\varepsilon`; and :math:`v=f-\mathrm{id}` gives :math:`\varepsilon\le L_f+1`.
    Both ends are attained, by :math:`v(z)=\varepsilon z` and :math:`v(z)=-\varepsilon z`. In
    Proposition 1's setting, :math:`0<\varepsilon<1` an upper bound on the constant of :math:`v`,
    the interval is :math:`[1-\varepsilon,1+\varepsilon]`: straight trajectories, guaranteed by a
    small :math:`\varepsilon`, come with :math:`L_f` near 1, not near 0 (chapter 2). For
    :math:`\varepsilon\ge1` the lower end :math:`\varepsilon-1` needs the exact constant of
    :math:`v`; with only an upper bound it is 0.

    Parameters
    ----------
    eps : float or array_like
        Lipschitz constant of :math:`v`, finite and >= 0.

    Returns
    -------
    lower, upper : float or ndarray
        :math:`|1-\varepsilon|` and :math:`1+\varepsilon`.

    Raises
    ------
    ValueError
        If any ``eps`` is negative or not finite.

    Examples
    --------
    >>> dynamics_lipschitz_interval(0.25)
    (0.75, 1.25)
    """
    (e,) = check_nonneg_arrays(eps=eps)
    return as_output(np.abs(1.0 - e)), as_output(1.0 + e)


# --------------------------------------------------------------------------- test fields


@dataclass(frozen=True)
class VelocityFields:
    r"""A batch of ``n`` velocity fields :math:`v_i:\mathbb R^d\to\mathbb R^d`, each exactly
    :math:`\varepsilon_i`-Lipschitz in the Euclidean norm.

    ``kind="affine"``: :math:`v_i(z)=A_iz+c_i`, :math:`\|A_i\|_2=\varepsilon_i`.
    ``kind="sine"``: :math:`v_i(z)=c_i+\varepsilon_i\,Q_i\sin(P_iz+\varphi_i)`, :math:`P_i,Q_i`
    orthogonal.

    Attributes
    ----------
    kind : {"affine", "sine"}
    eps : ndarray, shape (n,)
        The Lipschitz constants.
    linear : ndarray, shape (n, d, d)
        :math:`A_i` (affine) or :math:`Q_i` (sine).
    inner : ndarray, shape (n, d, d)
        :math:`P_i` (sine); the identity for affine fields (unused).
    phase : ndarray, shape (n, d)
        :math:`\varphi_i` (sine); zeros for affine fields.
    offset : ndarray, shape (n, d)
        :math:`c_i`.
    """

    kind: Literal["affine", "sine"]
    eps: NDArray[np.float64]
    linear: NDArray[np.float64] = field(repr=False)
    inner: NDArray[np.float64] = field(repr=False)
    phase: NDArray[np.float64] = field(repr=False)
    offset: NDArray[np.float64] = field(repr=False)

    @property
    def n(self) -> int:
        return int(self.eps.shape[0])

    @property
    def dim(self) -> int:
        return int(self.offset.shape[1])

    def dynamics_lipschitz(self) -> NDArray[np.float64]:
        r"""The exact Lipschitz constant of each latent dynamics :math:`f_i=\mathrm{id}+v_i`.

        Affine: :math:`\|I+A_i\|_2`. Sine: the Jacobian
        :math:`I+\varepsilon_iQ_i\,\mathrm{diag}(\cos(P_iz+\varphi_i))\,P_i` takes every diagonal
        in :math:`[-1,1]^d` as :math:`z` ranges over :math:`\mathbb R^d` (:math:`P_i` is
        invertible), its norm is convex in the diagonal, so the supremum is the largest norm
        over the :math:`2^d` sign diagonals, each attained (where every cosine is :math:`\pm1`).
        Either way the value lies in :func:`dynamics_lipschitz_interval` of
        :math:`\varepsilon_i`.

        Returns
        -------
        ndarray, shape (n,)

        Raises
        ------
        ValueError
            For sine fields of dimension above 12 (the :math:`2^d` sign diagonals).
        """
        eye = np.eye(self.dim)
        if self.kind == "affine":
            return np.linalg.norm(eye + self.linear, ord=2, axis=(1, 2))
        if self.dim > 12:
            raise ValueError(f"dynamics_lipschitz of sine fields enumerates 2**d sign patterns; "
                             f"d = {self.dim} > 12")
        signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * self.dim)).reshape(self.dim, -1).T
        jac = eye + self.eps[:, None, None, None] * np.einsum(
            "nij,sj,njk->nsik", self.linear, signs, self.inner)
        return np.linalg.norm(jac, ord=2, axis=(2, 3)).max(axis=1)

    def __call__(self, z: ArrayLike) -> NDArray[np.float64]:
        """Evaluate every field at its points: ``z`` of shape (n, P, d) -> (n, P, d)."""
        z = np.asarray(z, dtype=float)
        if z.ndim != 3 or z.shape[0] != self.n or z.shape[2] != self.dim:
            raise ValueError(f"z must have shape (n, P, d) = ({self.n}, P, {self.dim}), "
                             f"got {z.shape}")
        if self.kind == "affine":
            return np.einsum("nij,npj->npi", self.linear, z) + self.offset[:, None, :]
        u = np.sin(np.einsum("nij,npj->npi", self.inner, z) + self.phase[:, None, :])
        return (self.eps[:, None, None] * np.einsum("nij,npj->npi", self.linear, u)
                + self.offset[:, None, :])


def _orthogonal(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    # Haar-distributed orthogonal matrices: QR of a Gaussian with the signs of R's diagonal fixed.
    q, r = np.linalg.qr(rng.standard_normal((n, d, d)))
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def random_velocity_fields(
    kind: Literal["affine", "sine"], eps: ArrayLike, dim: int, *, rng: np.random.Generator,
    offset_scale: float = 1.0,
) -> VelocityFields:
    r"""Random velocity fields with exactly known Lipschitz constants (see :class:`VelocityFields`).

    Affine: :math:`A=\varepsilon\,G/\|G\|_2` with :math:`G` standard Gaussian, so
    :math:`\|A\|_2=\varepsilon` exactly. Sine: :math:`P,Q` Haar-orthogonal, phases uniform on
    :math:`[0,2\pi)`. Offsets :math:`c\sim\mathcal N(0,\texttt{offset\_scale}^2I)`.

    Parameters
    ----------
    kind : {"affine", "sine"}
    eps : array_like, shape (n,) or scalar
        One Lipschitz constant per field, each in (0, 1).
    dim : int
        Latent dimension :math:`d\ge1`.
    rng : numpy.random.Generator
    offset_scale : float
        Standard deviation of the offsets, >= 0.

    Returns
    -------
    VelocityFields

    Raises
    ------
    ValueError
        For an unknown ``kind``, ``eps`` outside (0, 1), ``dim < 1``, a negative
        ``offset_scale`` or a ``rng`` that is not a Generator.
    """
    if kind not in FIELD_KINDS:
        raise ValueError(f"kind must be one of {FIELD_KINDS}, got {kind!r}")
    e = np.atleast_1d(_check_eps(eps)).astype(float)
    if e.ndim != 1:
        raise ValueError(f"eps must be a scalar or a 1-D array, got shape {e.shape}")
    d = check_int("dim", dim, 1)
    rng = check_rng(rng)
    if not (np.isfinite(offset_scale) and offset_scale >= 0):
        raise ValueError(f"offset_scale must be finite and >= 0, got {offset_scale!r}")
    n = e.shape[0]
    if kind == "affine":
        g = rng.standard_normal((n, d, d))
        linear = e[:, None, None] * g / np.linalg.norm(g, ord=2, axis=(1, 2))[:, None, None]
        inner, phase = np.broadcast_to(np.eye(d), (n, d, d)).copy(), np.zeros((n, d))
    else:
        linear, inner = _orthogonal(rng, n, d), _orthogonal(rng, n, d)
        phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, d))
    offset = offset_scale * rng.standard_normal((n, d))
    return VelocityFields(kind, e, linear, inner, phase, offset)


def extremal_velocity_field(eps: float, dim: int = 2) -> VelocityFields:
    r"""The linear field that attains the sharp bound at every step: :math:`v(z)=\varepsilon R z`.

    :math:`R` rotates the first two coordinates by :math:`\pi/2+\arcsin\varepsilon` (and is the
    identity on the others), so :math:`v` is exactly :math:`\varepsilon`-Lipschitz. For any
    :math:`z_t\ne0` in the plane of the first two coordinates, :math:`a=v(z_t)` and
    :math:`b=v(z_t+a)=a+\varepsilon Ra`: the difference :math:`b-a` has length
    :math:`\varepsilon\|a\|` and makes the angle :math:`\pi/2+\arcsin\varepsilon` with :math:`a`, so
    :math:`b\propto(\sqrt{1-\varepsilon^2},\varepsilon)` in the frame of :math:`a` and
    :math:`\mathcal L_{\rm curv}=1-\sqrt{1-\varepsilon^2}` exactly.

    Parameters
    ----------
    eps : float
        In (0, 1).
    dim : int
        Latent dimension, >= 2.

    Returns
    -------
    VelocityFields
        One affine field (``n = 1``) with zero offset.

    Raises
    ------
    ValueError
        If ``eps`` is outside (0, 1) or ``dim < 2``.
    """
    e = float(_check_eps(eps))
    d = check_int("dim", dim, 2)
    phi = 0.5 * np.pi + np.arcsin(e)
    rot = np.eye(d)
    rot[:2, :2] = [[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]]
    return VelocityFields("affine", np.array([e]), (e * rot)[None], np.eye(d)[None],
                          np.zeros((1, d)), np.zeros((1, d)))


def one_step_curvature(fields: VelocityFields, z: ArrayLike) -> NDArray[np.float64]:
    r""":math:`\mathcal L_{\rm curv}` after one step of :math:`z_{t+1}=z_t+v(z_t)` from each point.

    Parameters
    ----------
    fields : VelocityFields
        ``n`` fields.
    z : array_like, shape (n, P, d)
        ``P`` starting points :math:`z_t` per field.

    Returns
    -------
    ndarray, shape (n, P)
        :math:`1-\cos(v(z_t), v(z_t+v(z_t)))`.

    Raises
    ------
    ValueError
        If ``z`` has the wrong shape, or a velocity is zero (:func:`curvature_loss`).
    """
    a = fields(z)
    b = fields(np.asarray(z, dtype=float) + a)
    return np.asarray(curvature_loss(a, b))


def max_observed_curvature(
    kind: Literal["affine", "sine"], eps: ArrayLike, dim: int, *, n_fields: int, n_points: int,
    rng: np.random.Generator, offset_scale: float = 1.0,
) -> NDArray[np.float64]:
    r"""The largest :math:`\mathcal L_{\rm curv}` seen on random fields, per :math:`\varepsilon`.

    For every value of ``eps``, draws ``n_fields`` fields (:func:`random_velocity_fields`) and
    ``n_points`` standard Gaussian starting points per field, takes one step and returns the
    maximum curvature loss. By Proposition 1 (sharp form) every value is at most
    :func:`curvature_bound_sharp` of its ``eps``.

    Parameters
    ----------
    kind : {"affine", "sine"}
    eps : array_like, shape (k,)
        Lipschitz constants in (0, 1).
    dim, n_fields, n_points : int
        Latent dimension and sample sizes, each >= 1.
    rng : numpy.random.Generator
    offset_scale : float
        As in :func:`random_velocity_fields`.

    Returns
    -------
    ndarray, shape (k,)
    """
    e = np.atleast_1d(_check_eps(eps))
    n_fields = check_int("n_fields", n_fields, 1)
    n_points = check_int("n_points", n_points, 1)
    d = check_int("dim", dim, 1)
    out = np.empty(e.shape[0])
    for i, value in enumerate(e):
        fields = random_velocity_fields(kind, np.full(n_fields, value), d, rng=rng,
                                        offset_scale=offset_scale)
        z = rng.standard_normal((n_fields, n_points, d))
        out[i] = one_step_curvature(fields, z).max()
    return out
