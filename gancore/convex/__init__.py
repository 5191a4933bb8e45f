"""Convex duality for Wasserstein GANs (Sahiner et al., "Hidden Convexity of Wasserstein GANs", ICLR 2022).

Real samples X (n_r x d, rows are samples), noise Z (n_f x d_f), fake samples G (n_f x d). A two-layer
discriminator D(x) = sum_j v_j sigma(u_j^T x) with weight decay beta_d turns WGAN training into

    min_theta R_g(theta)   s.t.   max_{||u||_2 <= 1} | 1^T sigma(X u) - 1^T sigma(G u) | <= beta_d,

with SUMS over samples (with means instead of sums, beta_d is rescaled by the sample count). The
activation decides what the generator has to match:

* linear:     ||X^T 1 - G^T 1||_2 <= beta_d                    (mean matching, a second-order cone);
* quadratic:  ||X^T X - G^T G||_2 <= beta_d                    (second-moment matching, spectral norm);
* polynomial a t^2 + b t + c: a quadratic form over the unit sphere, an SDP by the S-lemma;
* ReLU:       piecewise mean matching over the hyperplane arrangement of [X; G].

One idea per module, every public name re-exported here (``convex.quadratic_closed_form``,
``convex.ProCoGAN``, ``convex.gda_fit``, ...):

* :mod:`~gancore.convex.arrays`: array conversion and argument checks (:func:`check_beta`; inf or
  NaN inputs are reported by the argument's name);
* :mod:`~gancore.convex.closed_form`: closed forms for a linear generator G = Z W, their optimal
  values, and the objective and constraint a GDA baseline is scored with;
* :mod:`~gancore.convex.programs`: the cvxpy programs that check the closed forms and treat the
  polynomial activation;
* :mod:`~gancore.convex.relu`: hyperplane arrangements and the ReLU programs;
* :mod:`~gancore.convex.procogan`: ProCoGAN, the progressive stack of closed-form linear generators;
* :mod:`~gancore.convex.gda`: the gradient descent-ascent baselines, trained by :func:`gancore.train.fit`;
* :mod:`~gancore.convex.compare`: the chapter's experiments, convex solutions beside GDA, as tables.

Closed forms accept numpy arrays or torch tensors and return the same kind; the cvxpy programs return
numpy arrays.
"""

from .arrays import check_beta
from .compare import (BetaSweep, ProCoGANComparison, QuadraticComparison, beta_sweep, compare_quadratic,
                      comparison_problem, convex_solution, procogan_comparison, procogan_runs, procogan_steps, resize,
                      toy_comparison, toy_problem)
from .closed_form import (constraint_value, constraint_violation, linear_closed_form, linear_optimal_value,
                          quadratic_closed_form, quadratic_optimal_value, second_moment_gap, wgan_objective)
from .gda import (FixedNoiseLinear, GDAResult, ProgressiveGDA, ProgressiveLinearGenerator, SumWasserstein,
                  TwoLayerDiscriminator, gda_fit, polynomial_constraint_value, progressive_gda, time_to_target,
                  violation)
from .procogan import ProCoGAN, StageRecord, downsample, upsample
from .programs import linear_socp, polynomial_sdp, quadratic_sdp
from .relu import hyperplane_arrangement, relu_constraint_value, relu_generator_fit, relu_program

__all__ = [
    "check_beta",
    "quadratic_closed_form", "quadratic_optimal_value", "linear_closed_form", "linear_optimal_value",
    "wgan_objective", "constraint_value", "constraint_violation", "second_moment_gap",
    "quadratic_sdp", "linear_socp", "polynomial_sdp",
    "hyperplane_arrangement", "relu_constraint_value", "relu_program", "relu_generator_fit",
    "downsample", "upsample", "StageRecord", "ProCoGAN",
    "TwoLayerDiscriminator", "FixedNoiseLinear", "SumWasserstein", "GDAResult", "gda_fit",
    "polynomial_constraint_value", "violation", "time_to_target",
    "ProgressiveLinearGenerator", "ProgressiveGDA", "progressive_gda",
    "toy_problem", "convex_solution", "toy_comparison", "comparison_problem", "QuadraticComparison",
    "compare_quadratic", "BetaSweep", "beta_sweep", "ProCoGANComparison", "procogan_comparison", "procogan_runs",
    "procogan_steps", "resize",
]
