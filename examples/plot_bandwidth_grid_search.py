"""
Choosing the bandwidth by cross-validation in a Pipeline
========================================================

A rule of thumb (Scott, Silverman) picks a bandwidth from the sample size
and the data covariance alone. Cross-validation picks the one that predicts
held-out data best. :class:`~skdensity.GaussianKDE` is a scikit-learn
estimator, so :class:`~sklearn.model_selection.GridSearchCV` does this out
of the box, here inside a :class:`~sklearn.pipeline.Pipeline` that first
standardises the two Old Faithful variables (minutes of eruption, minutes of
waiting), whose scales differ tenfold.
"""

# %%
# The search
# ----------
#
# ``GaussianKDE.score`` is the total held-out log-likelihood, which is what
# ``GridSearchCV`` maximises. Floats are isotropic kernels (in standardised
# units); the two rules are searched alongside.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdensity import GaussianKDE
from skdensity.datasets import load_faithful

X, names = load_faithful()
pipeline = make_pipeline(StandardScaler(), GaussianKDE())
bandwidths = np.geomspace(0.05, 1.5, 25)
search = GridSearchCV(
    pipeline,
    {"gaussiankde__bandwidth": [*bandwidths, "scott", "silverman"]},
    cv=KFold(5, shuffle=True, random_state=0),
).fit(X)

scores = search.cv_results_["mean_test_score"]
best = search.best_params_["gaussiankde__bandwidth"]
best = best if isinstance(best, str) else round(float(best), 3)
print(f"best bandwidth: {best}; held-out log-likelihood {search.best_score_:.2f}")
for rule, score in zip(["scott", "silverman"], scores[-2:], strict=True):
    print(f"{rule:>9s} rule: held-out log-likelihood {score:.2f}")

# %%
# (In two dimensions Scott's and Silverman's factors coincide:
# :math:`(n (d+2)/4)^{-1/(d+4)} = n^{-1/6}` when :math:`d = 2`.)

# %%
# Held-out likelihood against bandwidth
# -------------------------------------
#
# Too small a bandwidth puts a spike on every training point and predicts
# new eruptions badly; too large a one blurs the two clusters together.

rule_factor = {
    rule: GaussianKDE(rule).fit(StandardScaler().fit_transform(X)).factor_
    for rule in ("scott", "silverman")
}
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.semilogx(bandwidths, scores[: len(bandwidths)], "o-", label="isotropic h")
for (rule, factor), score, marker in zip(
    rule_factor.items(), scores[-2:], ["s", "D"], strict=True
):
    ax.plot(factor, score, marker, ms=9, label=f"{rule} (factor {factor:.2f})")
ax.set(
    xlabel="bandwidth or rule factor (standardised units)",
    ylabel="mean held-out log-likelihood",
    title="5-fold cross-validation",
)
ax.legend()
plt.show()

# %%
# The chosen density, and its derivatives in the original units
# -------------------------------------------------------------
#
# The pipeline's ``score_samples`` is the log-density of the standardised
# variable :math:`z = (x - m) / s`. In the original units the density is
# :math:`f_x(x) = f_z(z) / \prod_j s_j`, and by the chain rule
# :math:`\nabla_x \log f_x = \nabla_z \log f_z / s`. A gradient is measured
# per unit of each variable, so with variables in different units its arrow
# is best drawn as the mean-shift step :math:`H_x \nabla_x \log f_x`
# (:math:`H_x = S H_z S`, :math:`S = \mathrm{diag}(s)`): the move from a point
# to the local mean of the kernels around it, uphill.

scaler, kde = search.best_estimator_[0], search.best_estimator_[-1]
g0, g1 = np.meshgrid(np.linspace(1.2, 5.6, 120), np.linspace(38, 100, 120))
grid = np.column_stack([g0.ravel(), g1.ravel()])
log_f = search.best_estimator_.score_samples(grid) - np.log(scaler.scale_).sum()
arrows = X[::3]
grad_z = kde.gradient(scaler.transform(arrows), log=True)
grad_x = grad_z / scaler.scale_
print(f"grad log f at {arrows[0]} (per minute of {names}): {grad_x[0]}")
step_x = scaler.scale_ * (grad_z @ kde.covariance_)

fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
ax.contourf(g0, g1, np.exp(log_f).reshape(g0.shape), levels=15, cmap="Blues")
ax.scatter(*X.T, s=4, c="0.3")
ax.quiver(*arrows.T, *step_x.T, color="tab:red", angles="xy", scale_units="xy", scale=1)
ax.set(
    xlabel=names[0],
    ylabel=names[1],
    title=f"GaussianKDE(bandwidth={best}) after StandardScaler:\n"
    "density and mean-shift steps",
)
plt.show()
