r"""Teacher-student learning curves: the experiment of §4.1 and Figure 1 (chapter 3).

The paper measures how the errors of a learned dynamics model and a learned reward model fall with
their sample sizes (Eq. (3)) on frozen random *teacher* networks: two-layer ReLU MLPs of width 64
with weights :math:`\mathcal N(0,1)`, :math:`d_s=12`, :math:`d_a=4`,

.. math::

   s_{t+1}=\tanh\bigl(f_{\rm dyn}([s_t,a_t])\bigr),\qquad r_t=f_{\rm rew}([s_t,a_t])/\sqrt{64},

and *students* of the same architecture trained with Adam (lr :math:`10^{-3}`, batch 256, 200
epochs) on :math:`N` transitions, 100 seeds per :math:`N`.

Each size's students are trained as one batched ensemble by
:func:`~imagination.ensemble.train_ensemble` (chapter 3; the trainer lives in
:mod:`imagination.ensemble`, whose names this module also re-exports so that the old path
``imagination.teacher_student.train_ensemble`` keeps working).

Decisions the paper leaves open (documented in chapter 3):

* behaviour policy: :math:`s_0\sim U[-1,1]^{d_s}`, :math:`a_t\sim U[-1,1]^{d_a}` i.i.d., episodes of
  500 steps;
* each seed draws its own subset of :math:`N` transitions from a pool of collected episodes twice
  the largest :math:`N`, plus its own initialisation and data order (teachers fixed);
* students: the teacher's architecture, PyTorch's default ``nn.Linear`` initialisation, and the
  dynamics student keeps the teacher's ``tanh`` output;
* error of one held-out transition: the Euclidean norm :math:`\|\hat y-y\|` (the norm of Eq. (1));
  the metrics are its mean square (MSE), the root of that (RMSE) and its maximum over the held-out
  set (an empirical sup: an *estimate* of Eq. (1)'s :math:`\varepsilon`).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from .book.records import machine_record
from .ensemble import (
    ERROR_METRICS,
    Ensemble,
    Params,
    heldout_errors,
    init_members,
    member_generators,
    mlp_forward,
    train_ensemble,
    train_sequential,
)
from .scaling import PowerLaw, PowerLawFit, fit_power_law

__all__ = [
    "BEHAVIOURS",
    "ERROR_METRICS",
    "PAPER_FIGURE1",
    "PAPER_SIZES",
    "SCHEDULES",
    "Ensemble",
    "MetricAgreement",
    "ScalingResult",
    "Teachers",
    "collect_transitions",
    "heldout_errors",
    "load_scaling_record",
    "load_scaling_studies",
    "make_teachers",
    "member_generators",
    "mlp_forward",
    "paper_law_agreement",
    "scaling_experiment",
    "scaling_study",
    "train_ensemble",
    "train_sequential",
]

#: The sample sizes of Figure 1 (§4.1): 2k to 200k transitions.
PAPER_SIZES: tuple[int, ...] = (2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000)


# --------------------------------------------------------------------------- teachers and data
@dataclass(frozen=True)
class Teachers:
    """The frozen teachers of §4.1: ``s'=tanh(f_dyn([s, a]))`` and ``r=f_rew([s, a])/sqrt(width)``.

    Attributes
    ----------
    dyn, rew : list of (W, b)
        Single-member stacked parameters (float64) of the two MLPs.
    d_s, d_a, width : int
    init : str
        ``"normal"`` (weights and biases :math:`\\mathcal N(0,1)`, the paper) or ``"fan_in"``
        (:math:`\\mathcal N(0,1/\\text{fan-in})`).
    """

    dyn: Params = field(repr=False)
    rew: Params = field(repr=False)
    d_s: int
    d_a: int
    width: int
    init: str

    def _inputs(self, s: ArrayLike, a: ArrayLike) -> torch.Tensor:
        sa = np.concatenate([np.asarray(s, float), np.asarray(a, float)], axis=-1)
        if sa.shape[-1] != self.d_s + self.d_a:
            raise ValueError(f"states must have {self.d_s} and actions {self.d_a} coordinates")
        return torch.from_numpy(sa.reshape(1, -1, sa.shape[-1]))

    def preactivation(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        """``f_dyn([s, a])``, the dynamics teacher's output before ``tanh``."""
        out = mlp_forward(self.dyn, self._inputs(s, a))
        return out[0].numpy().reshape(*np.shape(s)[:-1], self.d_s)

    def step(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        """The true next state ``tanh(f_dyn([s, a]))``."""
        return np.tanh(self.preactivation(s, a))

    def reward(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        """The true reward ``f_rew([s, a]) / sqrt(width)``."""
        out = mlp_forward(self.rew, self._inputs(s, a))[0, :, 0].numpy()
        return out.reshape(np.shape(s)[:-1]) / math.sqrt(self.width)


def make_teachers(
    d_s: int = 12, d_a: int = 4, width: int = 64, *, init: str = "normal", seed: int = 0
) -> Teachers:
    """Draw the two frozen teachers of §4.1 (one hidden layer of ``width``, with biases).

    Parameters
    ----------
    d_s, d_a, width : int
        State and action dimensions and hidden width (the paper: 12, 4, 64).
    init : {"normal", "fan_in"}
        ``"normal"``: weights and biases :math:`\\mathcal N(0,1)`, as the paper states;
        ``"fan_in"``: :math:`\\mathcal N(0,1/\\text{fan-in})`, which does not saturate ``tanh``.
    seed : int
        Seed of the teachers' generator.
    """
    for name, value in (("d_s", d_s), ("d_a", d_a), ("width", width)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if init not in ("normal", "fan_in"):
        raise ValueError(f"teacher init must be 'normal' or 'fan_in', got {init!r}")
    g = torch.Generator().manual_seed(int(seed))
    d_in = d_s + d_a
    dyn = init_members((d_in, width, d_s), [g], init, torch.float64)
    rew = init_members((d_in, width, 1), [g], init, torch.float64)
    return Teachers(dyn, rew, int(d_s), int(d_a), int(width), init)


#: Behaviour policies of :func:`collect_transitions` (ours: the paper does not state one).
BEHAVIOURS = ("uniform", "policy", "attractor")


def collect_transitions(
    teachers: Teachers, n_episodes: int, *, episode_length: int = 500, rng: np.random.Generator,
    behaviour: str = "uniform",
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    r"""Roll out a behaviour policy on the teachers: ``n_episodes`` episodes, vectorised.

    The paper does not state its behaviour policy; these are ours (``behaviour``):

    * ``"uniform"`` (the default): :math:`s_0\sim U[-1,1]^{d_s}` and actions
      :math:`a_t\sim U[-1,1]^{d_a}` i.i.d.: the data cover the whole action box;
    * ``"policy"``: on-policy rollouts of one fixed random policy with exploration,
      :math:`a_t=\mathrm{clip}(\tanh(Gs_t)+0.3\,\xi_t,\pm1)`, :math:`G` Gaussian with
      variance :math:`1/d_s` (drawn once), :math:`\xi_t\sim U[-1,1]^{d_a}`, from
      :math:`s_0\sim U[-1,1]^{d_s}`: the data follow the closed loop's trajectories;
    * ``"attractor"``: the same policy with less exploration (:math:`0.1\,\xi_t`), each episode
      started where 100 noise-free steps of the closed loop from :math:`U[-1,1]^{d_s}` end:
      the data concentrate near the closed loop's attractor.

    Every draw comes from ``rng``; ``"uniform"`` draws exactly what it always did.

    Returns
    -------
    x : ndarray, shape (n_episodes * episode_length, d_s + d_a)
        The inputs :math:`[s_t, a_t]`, episode by episode.
    s_next : ndarray, shape (n_episodes * episode_length, d_s)
    r : ndarray, shape (n_episodes * episode_length,)
    """
    for name, value in (("n_episodes", n_episodes), ("episode_length", episode_length)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"behaviour must be one of {BEHAVIOURS}, got {behaviour!r}")
    d_s, d_a = teachers.d_s, teachers.d_a
    s = rng.uniform(-1, 1, size=(n_episodes, d_s))
    states = np.empty((episode_length + 1, n_episodes, d_s))
    if behaviour == "uniform":
        a = rng.uniform(-1, 1, size=(episode_length, n_episodes, d_a))
        states[0] = s
        for t in range(episode_length):  # only time is sequential
            states[t + 1] = teachers.step(states[t], a[t])
    else:
        gain = rng.standard_normal((d_a, d_s)) / np.sqrt(d_s)
        noise = 0.3 if behaviour == "policy" else 0.1
        if behaviour == "attractor":
            for _ in range(100):  # burn-in of the noise-free closed loop
                s = teachers.step(s, np.tanh(s @ gain.T))
        xi = rng.uniform(-1, 1, size=(episode_length, n_episodes, d_a))
        a = np.empty((episode_length, n_episodes, d_a))
        states[0] = s
        for t in range(episode_length):  # the action depends on the state: sequential in t
            a[t] = np.clip(np.tanh(states[t] @ gain.T) + noise * xi[t], -1.0, 1.0)
            states[t + 1] = teachers.step(states[t], a[t])
    x = np.concatenate([states[:-1], a], axis=-1).transpose(1, 0, 2).reshape(-1, d_s + d_a)
    r = teachers.reward(x[:, :d_s], x[:, d_s:])
    return x, states[1:].transpose(1, 0, 2).reshape(-1, d_s), r


# --------------------------------------------------------------------------- the experiment
@dataclass(frozen=True)
class ScalingResult:
    """Learning curves of :func:`scaling_experiment`.

    Attributes
    ----------
    sizes : ndarray, shape (S,)
        The sample sizes :math:`N`.
    errors : dict
        ``errors[model][metric]`` of shape ``(S, n_seeds)``; ``model`` in ``{"dyn", "rew"}``,
        ``metric`` in :data:`ERROR_METRICS`. (:func:`scaling_study`: one column per teacher and
        seed, ``groups`` naming the teacher.)
    steps : ndarray, shape (S,)
        Optimiser steps per member at each size.
    seconds : float
        Wall-clock time of the training.
    preactivation_std : float
        Standard deviation of the dynamics teacher's pre-``tanh`` output on the data.
    saturated_fraction : float
        Fraction of next-state coordinates with :math:`|s'|>0.99` (``tanh`` saturated).
    """

    sizes: np.ndarray
    errors: dict[str, dict[str, np.ndarray]] = field(repr=False)
    steps: np.ndarray
    seconds: float
    preactivation_std: float
    saturated_fraction: float
    config: dict[str, Any] = field(default_factory=dict)
    #: the teacher of each column (:func:`scaling_study`); fits then resample teachers
    groups: np.ndarray | None = None

    @property
    def metrics(self) -> tuple[str, ...]:
        """The error metrics recorded (those of :data:`ERROR_METRICS` the run measured)."""
        return tuple(k for k in ERROR_METRICS if k in next(iter(self.errors.values())))

    @property
    def n_seeds(self) -> int:
        return int(next(iter(self.errors.values()))["rmse"].shape[1])

    def at_sizes(self, sizes: Sequence[int]) -> ScalingResult:
        """The learning curves at ``sizes`` only (each one of ``self.sizes``; ``seconds`` kept).

        For comparing two runs on the sizes they share, e.g. a capped run with the recorded
        paper-scale one.
        """
        wanted = np.asarray(sizes)
        missing = sorted(set(wanted.ravel().tolist()) - set(self.sizes.tolist()))
        if wanted.ndim != 1 or wanted.size == 0 or missing:
            raise ValueError(f"sizes must be a non-empty subset of {self.sizes.tolist()}; "
                             f"not in it: {missing}")
        keep = np.isin(self.sizes, wanted)
        return replace(self, sizes=self.sizes[keep], steps=self.steps[keep],
                       errors={m: {k: v[keep] for k, v in d.items()}
                               for m, d in self.errors.items()})

    def fit(self, model: str, metric: str = "rmse", *, n_boot: int = 1000,
            rng: np.random.Generator) -> PowerLawFit:
        """Fit Eq. (3) to one learning curve (every seed a row) with :func:`fit_power_law`.

        With :attr:`groups` (several teachers) the bootstrap resamples whole teachers with their
        seeds (``fit_power_law(groups=...)``), so the interval includes teacher-to-teacher
        variation; otherwise it resamples seeds within each size.
        """
        if model not in self.errors or metric not in self.metrics:
            raise ValueError(f"model must be one of {tuple(self.errors)} and metric one of "
                             f"{self.metrics}, got {model!r} and {metric!r}")
        err = self.errors[model][metric]
        groups = None if self.groups is None else np.tile(self.groups, err.shape[0])
        return fit_power_law(np.repeat(self.sizes, err.shape[1]), err.ravel(), n_boot=n_boot,
                             rng=rng, groups=groups)

    def fit_by_teacher(self, model: str, metric: str = "rmse", *, n_boot: int = 1000,
                       rng: np.random.Generator) -> list[PowerLawFit]:
        """One fit per teacher draw (its own students only, intervals resampling them): what a
        study of that one draw would report.

        Raises
        ------
        ValueError
            If the result has no :attr:`groups` (one teacher draw), or on a bad model or metric.
        """
        if self.groups is None:
            raise ValueError("this result has one teacher draw (no groups); use fit()")
        if model not in self.errors or metric not in self.metrics:
            raise ValueError(f"model must be one of {tuple(self.errors)} and metric one of "
                             f"{self.metrics}, got {model!r} and {metric!r}")
        out = []
        for g in np.unique(self.groups):
            err = self.errors[model][metric][:, self.groups == g]
            out.append(fit_power_law(np.repeat(self.sizes, err.shape[1]), err.ravel(),
                                     n_boot=n_boot, rng=rng))
        return out

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_record` reads it back exactly)."""
        return {"sizes": self.sizes.tolist(), "steps": self.steps.tolist(),
                "seconds": self.seconds, "preactivation_std": self.preactivation_std,
                "saturated_fraction": self.saturated_fraction, "config": self.config,
                "groups": None if self.groups is None else self.groups.tolist(),
                "errors": {m: {k: v.tolist() for k, v in d.items()}
                           for m, d in self.errors.items()}}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ScalingResult:
        """The result a :meth:`to_record` dict holds.

        Raises
        ------
        ValueError
            If a field is missing.
        """
        try:
            return cls(np.asarray(record["sizes"]),
                       {m: {k: np.asarray(v, dtype=float) for k, v in d.items()}
                        for m, d in record["errors"].items()},
                       np.asarray(record["steps"]), float(record["seconds"]),
                       float(record["preactivation_std"]), float(record["saturated_fraction"]),
                       dict(record.get("config", {})),
                       None if record.get("groups") is None else np.asarray(record["groups"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a ScalingResult record: missing {exc}") from None


#: Figure 1's reported laws (§4.1): the fitted power law and the 95% interval of its exponent.
PAPER_FIGURE1: dict[str, tuple[PowerLaw, tuple[float, float]]] = {
    "dyn": (PowerLaw(0.34, 0.11), (0.09, 0.13)),
    "rew": (PowerLaw(90.4, 0.96), (0.93, 0.99)),
}


@dataclass(frozen=True)
class MetricAgreement:
    """How one error metric's two fitted laws compare with the paper's four numbers.

    Attributes
    ----------
    metric : str
        One of :data:`ERROR_METRICS`.
    fits : dict
        ``{"dyn": PowerLawFit, "rew": PowerLawFit}``.
    coef_ci : dict
        95% percentile-bootstrap interval of each model's coefficient.
    holds : dict
        ``{"A_d", "alpha", "A_r", "beta"}`` -> bool: an exponent holds when its 95% interval
        meets the paper's; a coefficient when the paper's value lies in its 95% interval.
    """

    metric: str
    fits: dict[str, PowerLawFit]
    coef_ci: dict[str, tuple[float, float]]
    holds: dict[str, bool]

    @property
    def all_four(self) -> bool:
        """Whether this one metric holds the paper's four numbers together."""
        return all(self.holds.values())


def paper_law_agreement(result: ScalingResult, *, rng: np.random.Generator,
                        n_boot: int = 1000,
                        fits: dict[tuple[str, str], PowerLawFit] | None = None,
                        ) -> list[MetricAgreement]:
    """Compare every metric of ``result`` with the paper's Figure 1 laws, both models jointly.

    The paper names no error metric and surely used one for both models, so each metric is
    judged on all four reported numbers at once (:data:`PAPER_FIGURE1`): the coefficients
    :math:`A_d`, :math:`A_r` and the exponents :math:`\alpha`, :math:`\beta` of Eq. (3).

    ``fits`` (``{(model, metric): PowerLawFit}``, e.g. fits a page already shows) are used where
    given, so the judgement agrees with the intervals printed beside it; the rest are fitted.

    Raises
    ------
    ValueError
        If ``result`` lacks one of the two models.
    """
    if set(result.errors) != {"dyn", "rew"}:
        raise ValueError(f"result must hold both models, got {sorted(result.errors)}")
    rows = []
    for metric in result.metrics:
        pair = {m: (fits or {}).get((m, metric)) or result.fit(m, metric, n_boot=n_boot, rng=rng)
                for m in ("dyn", "rew")}
        coef_ci = {m: (float(np.percentile(f.boot[:, 0], 2.5)),
                       float(np.percentile(f.boot[:, 0], 97.5))) for m, f in pair.items()}
        holds = {}
        for m, (a_name, e_name) in (("dyn", ("A_d", "alpha")), ("rew", ("A_r", "beta"))):
            law, (lo, hi) = PAPER_FIGURE1[m]
            holds[a_name] = coef_ci[m][0] <= law.coef <= coef_ci[m][1]
            holds[e_name] = pair[m].exponent_ci[0] <= hi and pair[m].exponent_ci[1] >= lo
        rows.append(MetricAgreement(metric, pair, coef_ci,
                                    {k: holds[k] for k in ("A_d", "alpha", "A_r", "beta")}))
    return rows


def _check_experiment(sizes: Any, models: Any, dyn_output: Any, **counts: Any) -> np.ndarray:
    """The sizes as an int array, after checking them, the models, the head and every count."""
    size_arr = np.asarray(sizes)
    if size_arr.ndim != 1 or size_arr.size < 1 or np.any(size_arr < 1) or not np.all(
            size_arr == np.round(size_arr)):
        raise ValueError(f"sizes must be a non-empty sequence of positive integers, got {sizes!r}")
    for name, value in counts.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not models or any(m not in ("dyn", "rew") for m in models):
        raise ValueError(f"models must be a non-empty subset of ('dyn', 'rew'), got {models!r}")
    if dyn_output not in ("tanh", "linear"):
        raise ValueError(f"dyn_output must be 'tanh' or 'linear', got {dyn_output!r}")
    return size_arr.astype(int)


def scaling_experiment(
    sizes: Sequence[int],
    n_seeds: int,
    *,
    epochs: int = 200,
    max_steps: int | None = None,
    d_s: int = 12,
    d_a: int = 4,
    width: int = 64,
    teacher_init: str = "normal",
    n_test: int = 5000,
    episode_length: int = 500,
    models: Sequence[str] = ("dyn", "rew"),
    behaviour: str = "uniform",
    dyn_output: str = "tanh",
    seed: int = 0,
    checkpoint: str | os.PathLike[str] | None = None,
    on_chunk: Callable[[str, int, dict[str, Any]], None] | None = None,
    device: str = "cpu",
) -> ScalingResult:
    """Run the §4.1 teacher-student experiment: learning curves of dynamics and reward students.

    For every size ``N`` in ``sizes``, ``n_seeds`` students of each model are trained as one
    :func:`train_ensemble`, each on its own random subset of ``N`` transitions drawn without
    replacement from a pool of ``2 * max(sizes)`` collected transitions, with its own
    initialisation and data order; errors are measured on ``n_test`` held-out transitions from
    separate episodes.

    Parameters
    ----------
    sizes : sequence of int
        Sample sizes (the paper: 2k, 5k, 10k, 20k, 50k, 100k, 200k).
    n_seeds : int
        Students per size and model (the paper: 100).
    epochs, max_steps : int
        Passes over the data (the paper: 200) and an optional cap on optimiser steps.
    d_s, d_a, width, teacher_init
        Teacher dimensions and initialisation (:func:`make_teachers`).
    n_test, episode_length : int
        Held-out transitions (the paper: 5,000) and episode length (500).
    models : sequence of str
        Which students to train: ``"dyn"``, ``"rew"`` or both.
    behaviour : str
        The behaviour policy that collects the data (:func:`collect_transitions`; the held-out
        transitions come from the same policy).
    dyn_output : {"tanh", "linear"}
        The dynamics student's output head: the teacher's ``tanh`` (default) or linear.
    seed : int
        Seeds the teachers, the data, the subsets and the students.
    checkpoint : path, optional
        A JSON file that makes a long run resumable (the paper scale takes hours on 2 CPU cores).
        After each *chunk* (one model at one size) its errors, optimiser steps, wall-clock seconds
        and :func:`~imagination.timing.machine_record` are written there; a later call with the
        same configuration skips the chunks the file holds and trains the rest. Every random draw
        is made in the same order either way, so a resumed run gives the straight run's result.
    on_chunk : callable, optional
        Called as ``on_chunk(model, n, chunk)`` after each chunk is trained (and checkpointed),
        with ``chunk`` the dict just recorded; an exception it raises stops the run there (a
        runner with a deadline does that).
    device : str
        Where the students train (:func:`train_ensemble`'s ``device``: ``"cpu"``, ``"cuda"``);
        the result equals the CPU's to float32 rounding, and each chunk records its device.

    Returns
    -------
    ScalingResult
        ``seconds`` is the sum of the chunks' measured times (recorded ones included).

    Raises
    ------
    ValueError
        On bad sizes or counts, or a ``checkpoint`` written for another configuration.
    """
    size_arr = _check_experiment(sizes, models, dyn_output, n_seeds=n_seeds, n_test=n_test)
    seeds = np.random.SeedSequence(seed).spawn(3)
    teachers = make_teachers(d_s, d_a, width, init=teacher_init,
                             seed=int(seeds[0].generate_state(1)[0]))
    rng = np.random.default_rng(seeds[1])
    pool_size = 2 * int(size_arr.max())
    x, s_next, r = collect_transitions(teachers, math.ceil(pool_size / episode_length),
                                       episode_length=episode_length, rng=rng,
                                       behaviour=behaviour)
    x_test, s_test, r_test = collect_transitions(teachers, math.ceil(n_test / episode_length),
                                                 episode_length=episode_length, rng=rng,
                                                 behaviour=behaviour)
    x_test, s_test, r_test = x_test[:n_test], s_test[:n_test], r_test[:n_test]
    pre = teachers.preactivation(x[:, :d_s], x[:, d_s:])
    targets = {"dyn": (s_next, dyn_output, s_test), "rew": (r, "linear", r_test)}
    config = dict(n_seeds=int(n_seeds), epochs=epochs, max_steps=max_steps, d_s=d_s, d_a=d_a,
                  width=width, teacher_init=teacher_init, n_test=n_test,
                  episode_length=episode_length, seed=seed,
                  **({} if behaviour == "uniform" else {"behaviour": behaviour}),
                  **({} if dyn_output == "tanh" else {"dyn_output": dyn_output}))
    data = {"preactivation_std": float(pre.std()),
            "saturated_fraction": float(np.mean(np.abs(s_next) > 0.99))}
    store = _Checkpoint(checkpoint, {**config, "sizes": size_arr.tolist(),
                                     "models": list(models)}, data)
    chunks = store.chunks
    student_seeds = seeds[2].generate_state(2 * size_arr.size)
    for i, n in enumerate(size_arr):
        # Each seed its own subset: the first n of an independent permutation of the pool.
        index = np.argsort(rng.random((int(n_seeds), x.shape[0])), axis=1)[:, :n]
        for j, model in enumerate(models):
            key = f"{model}:{n}"
            if key in chunks:
                continue
            y, output, y_test = targets[model]
            start = time.perf_counter()
            ens = train_ensemble(x, y, index=index, output=output, epochs=epochs,  # type: ignore[arg-type]
                                 max_steps=max_steps, seed=int(student_seeds[2 * i + j]),
                                 device=device)
            err = heldout_errors(ens.predict(x_test), y_test)
            store.add(key, {"model": model, "n": int(n), "steps": int(ens.steps),
                            "seconds": time.perf_counter() - start, "device": str(device),
                            "errors": {k: v.tolist() for k, v in err.items()}})
            if on_chunk is not None:
                on_chunk(model, int(n), chunks[key])
    return _result_from_chunks(chunks, size_arr.tolist(), list(models), config, data)


def _result_from_chunks(chunks: dict[str, dict[str, Any]], sizes: list[int], models: list[str],
                        config: dict[str, Any], data: dict[str, float]) -> ScalingResult:
    """Assemble the learning curves of ``sizes`` (every model of each recorded in ``chunks``)."""
    used = [chunks[f"{m}:{n}"] for n in sizes for m in models]
    # the metrics every chunk holds (a record written before per-element metrics has three)
    metrics = [k for k in ERROR_METRICS if all(k in c["errors"] for c in used)]
    return ScalingResult(
        sizes=np.array(sizes, dtype=int),
        errors={m: {k: np.array([chunks[f"{m}:{n}"]["errors"][k] for n in sizes])
                    for k in metrics} for m in models},
        steps=np.array([chunks[f"{models[-1]}:{n}"]["steps"] for n in sizes]),
        seconds=float(sum(c["seconds"] for c in used)),
        config=config,
        **data,
    )


def load_scaling_record(path: str | os.PathLike[str]) -> ScalingResult:
    """The learning curves recorded so far in a :func:`scaling_experiment` checkpoint file.

    A long run (``benchmarks/paper_scale_figure1.py``: Figure 1 at the paper's scale) is recorded
    chunk by chunk; this returns the sizes at which every model is recorded, in order, and lists
    the others in ``config["pending_sizes"]`` (empty once the run is complete).

    Parameters
    ----------
    path : path
        The checkpoint (a JSON file written by :func:`scaling_experiment`).

    Returns
    -------
    ScalingResult
        ``seconds`` is the measured training time of the sizes returned.

    Raises
    ------
    ValueError
        If the file is missing, is not such a checkpoint, or holds no complete size yet.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no scaling_experiment record at {path}")
    data = _read_checkpoint(path)
    config, chunks = dict(data["config"]), data["chunks"]
    sizes, models = config.pop("sizes"), config.pop("models")
    done = [n for n in sizes if all(f"{m}:{n}" in chunks for m in models)]
    if not done:
        raise ValueError(f"{path} holds no size at which every model is trained yet")
    config["pending_sizes"] = [n for n in sizes if n not in done]
    return _result_from_chunks(chunks, done, models, config, data["data"])


_CHECKPOINT_KIND = "scaling_experiment checkpoint"


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """The JSON object of a checkpoint file, or ValueError if it is not one."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("kind") != _CHECKPOINT_KIND:
        raise ValueError(f"{path} is not a scaling_experiment checkpoint")
    return data


#: Training schedules of :func:`scaling_study`: a fixed number of steps for every size, a fixed
#: number of epochs (more steps for more data), or early stopping on a validation split.
SCHEDULES = ("steps", "epochs", "converged")


def scaling_study(
    sizes: Sequence[int],
    *,
    n_teachers: int = 5,
    n_seeds: int = 4,
    schedule: str = "epochs",
    budget: int = 200,
    patience: int = 10,
    d_s: int = 12,
    d_a: int = 4,
    width: int = 64,
    teacher_init: str = "normal",
    behaviour: str = "uniform",
    dyn_output: str = "tanh",
    models: Sequence[str] = ("dyn", "rew"),
    n_test: int = 2000,
    episode_length: int = 500,
    seed: int = 0,
    device: str = "cpu",
) -> ScalingResult:
    r"""The §4.1 experiment over several teacher draws, with a chosen training schedule.

    :func:`scaling_experiment` draws one pair of teachers; an exponent's interval from it
    resamples seeds under that one draw. Here each of ``n_teachers`` independent draws gets its
    own data pool and held-out set, ``n_seeds`` students per teacher, and all
    ``n_teachers * n_seeds`` students of one size and model train as one ensemble (each on its
    own data). The result's :attr:`~ScalingResult.groups` names each column's teacher, so its
    fits resample whole teachers.

    Parameters
    ----------
    sizes : sequence of int
        Sample sizes :math:`N`.
    n_teachers, n_seeds : int
        Teacher draws, and students per teacher, model and size.
    schedule : {"steps", "epochs", "converged"}
        ``"steps"``: ``budget`` optimiser steps at every size (equal optimisation);
        ``"epochs"``: ``budget`` passes over the data (the paper's schedule, 200);
        ``"converged"``: early stopping (:func:`train_ensemble`'s ``validation``) on a
        validation split of ``max(N // 4, 256)`` further transitions of the student's pool, at
        most ``budget`` epochs, ``patience`` epochs without improvement; each student returns
        its best epoch.
    d_s, d_a, width, teacher_init, behaviour, dyn_output, models, n_test, episode_length
        As in :func:`scaling_experiment` (``n_test`` held-out transitions per teacher).
    seed : int
        Seeds every draw.
    device : str
        Where the students train.

    Returns
    -------
    ScalingResult
        ``errors[model][metric]`` of shape ``(S, n_teachers * n_seeds)``, teacher-major;
        ``steps`` the mean steps a student took at each size (at its best, when converged);
        ``preactivation_std`` and ``saturated_fraction`` averaged over the teachers.

    Raises
    ------
    ValueError
        On a bad schedule, budget, count or size.

    Notes
    -----
    Every student's data and generator depend on the seed, its teacher, its size and its model
    only, so a study of one model, or of fewer teachers' seeds, repeats the corresponding
    students of a larger one exactly (the data pool is sized by ``max(sizes)``).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    size_arr = _check_experiment(sizes, models, dyn_output, n_teachers=n_teachers,
                                 n_seeds=n_seeds, budget=budget, patience=patience, n_test=n_test)
    n_val = [max(int(n) // 4, 256) for n in size_arr]
    pool_size = int(max(n + v for n, v in zip(size_arr, n_val, strict=True)))
    streams = np.random.SeedSequence(seed).spawn(n_teachers + 1)
    data, pre, sat = [], [], []
    for t in range(n_teachers):
        t_seeds = streams[t].spawn(2)
        teachers = make_teachers(d_s, d_a, width, init=teacher_init,
                                 seed=int(t_seeds[0].generate_state(1)[0]))
        rng = np.random.default_rng(t_seeds[1])
        x, s_next, r = collect_transitions(teachers, math.ceil(pool_size / episode_length),
                                           episode_length=episode_length, rng=rng,
                                           behaviour=behaviour)
        xt, st, rt = (a[:n_test] for a in collect_transitions(
            teachers, math.ceil(n_test / episode_length), episode_length=episode_length,
            rng=rng, behaviour=behaviour))
        pre.append(float(teachers.preactivation(x[:, :d_s], x[:, d_s:]).std()))
        sat.append(float(np.mean(np.abs(s_next) > 0.99)))
        data.append({"x": x, "dyn": s_next, "rew": r[:, None], "x_test": xt, "dyn_test": st,
                     "rew_test": rt[:, None], "perm": [rng.permutation(x.shape[0])
                                                       for _ in range(n_seeds)]})
    outputs = {"dyn": dyn_output, "rew": "linear"}
    # each (size, model)'s students from their own stream: a run of one model, or of other
    # sizes, trains exactly the same students (a record can be checked piece by piece)
    student_seed = {(n, m): int(np.random.SeedSequence(
        [int(streams[-1].generate_state(1)[0]), int(n), ("dyn", "rew").index(m)]
    ).generate_state(1)[0] >> 1) for n in size_arr for m in models}
    errors: dict[str, dict[str, list[NDArray[np.float64]]]] = {m: {} for m in models}
    steps = []
    start = time.perf_counter()
    for i, n in enumerate(size_arr):
        rows = [(d, p[:n], p[n:n + n_val[i]]) for d in data for p in d["perm"]]
        size_steps = []
        for model in models:
            x = np.stack([d["x"][tr] for d, tr, _ in rows])
            y = np.stack([d[model][tr] for d, tr, _ in rows])
            kw: dict[str, Any] = {"epochs": budget}
            if schedule == "steps":
                kw = {"epochs": 2**62, "max_steps": budget}
            elif schedule == "converged":
                kw["validation"] = (np.stack([d["x"][va] for d, _, va in rows]),
                                    np.stack([d[model][va] for d, _, va in rows]))
                kw["patience"] = patience
            ens = train_ensemble(x, y, output=outputs[model], seed=student_seed[n, model],
                                 device=device, **kw)  # type: ignore[arg-type]
            pred = ens.predict(np.repeat(np.stack([d["x_test"] for d in data]), n_seeds, axis=0))
            err = [heldout_errors(pred[t * n_seeds:(t + 1) * n_seeds], data[t][f"{model}_test"])
                   for t in range(n_teachers)]
            for k in err[0]:
                errors[model].setdefault(k, []).append(np.concatenate([e[k] for e in err]))
            size_steps.append(ens.steps if ens.best_steps is None else ens.best_steps.mean())
        steps.append(float(np.mean(size_steps)))
    config = {"n_teachers": n_teachers, "n_seeds": n_seeds, "schedule": schedule,
              "budget": budget, "patience": patience, "d_s": d_s, "d_a": d_a, "width": width,
              "teacher_init": teacher_init, "behaviour": behaviour, "dyn_output": dyn_output,
              "n_test": n_test, "episode_length": episode_length, "seed": seed}
    return ScalingResult(size_arr, {m: {k: np.stack(v) for k, v in d.items()}
                                    for m, d in errors.items()},
                         np.asarray(steps), time.perf_counter() - start, float(np.mean(pre)),
                         float(np.mean(sat)), config,
                         np.repeat(np.arange(n_teachers), n_seeds))


class _Checkpoint:
    """Chunk records keyed ``"model:n"``, kept in a JSON file when a path is given."""

    def __init__(self, path: str | os.PathLike[str] | None, config: dict[str, Any],
                 data: dict[str, float]) -> None:
        self.path = None if path is None else Path(path)
        self.config = json.loads(json.dumps(config))  # as JSON returns it: tuples become lists
        self.data = data  # statistics of the collected data: a fingerprint of teachers and data
        self.chunks: dict[str, dict[str, Any]] = {}
        if self.path is not None and self.path.exists():
            saved = _read_checkpoint(self.path)
            if saved["config"] != self.config:
                raise ValueError(
                    f"checkpoint {self.path} was written for another configuration "
                    f"({saved['config']}; this run: {self.config}): give a new path or delete "
                    f"the file")
            # same configuration but other data means the code that draws them has changed
            if not all(np.isclose(saved["data"][k], v, rtol=1e-9, atol=0) for k, v in data.items()):
                raise ValueError(
                    f"checkpoint {self.path} was written for other teachers or data "
                    f"({saved['data']}; this run: {data}): the code that draws them has changed")
            self.chunks = saved["chunks"]

    def add(self, key: str, chunk: dict[str, Any]) -> None:
        """Record a chunk (with where and when it ran) and rewrite the file atomically."""
        self.chunks[key] = {**chunk, **machine_record()}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({"kind": _CHECKPOINT_KIND, "config": self.config,
                                       "data": self.data, "chunks": self.chunks},
                                      indent=1) + "\n")
            os.replace(tmp, self.path)  # a run killed mid-write leaves the old file whole


def load_scaling_studies(path: str | os.PathLike[str]) -> list[tuple[dict[str, Any],
                                                                     ScalingResult]]:
    """The cells of a ``benchmarks/figure1_studies.py`` record: ``(params, result)`` pairs.

    ``params`` are the cell's :func:`scaling_study` arguments beyond the record's ``config``
    (which each result's ``config`` also holds); a missing file gives an empty list.

    Raises
    ------
    ValueError
        If the file is not a Figure 1 studies record.
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        record = json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path} is not JSON") from None
    if not isinstance(record, dict) or record.get("kind") != "figure1 studies":
        raise ValueError(f"{path} is not a Figure 1 studies record")
    return [(dict(cell["params"]), ScalingResult.from_record(cell["result"]))
            for cell in record.get("cells", {}).values()]
