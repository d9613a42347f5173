"""
New handwritten digits from a Gaussian mixture, and its prototype digits
========================================================================

A density model of images can generate new ones. Here the 8 x 8 handwritten
digits that ship with scikit-learn are projected on their first principal
components, a :class:`~skdensity.GaussianMixtureGrad` is fitted there with
the number of components chosen by BIC, new digits are drawn from it, and
the modes of the mixture, found with :func:`~skdensity.find_modes`, are
shown as *prototype digits*: the images of locally highest density.
"""

# %%
# Project, then fit mixtures of growing size
# ------------------------------------------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from skdensity import GaussianMixtureGrad, find_modes

X, y = load_digits(return_X_y=True)
pca = PCA(n_components=12, random_state=0).fit(X)
Z = pca.transform(X)
print(f"12 principal components keep {pca.explained_variance_ratio_.sum():.0%} "
      "of the pixel variance")  # fmt: skip

candidates = list(range(6, 15, 2))
fits = [GaussianMixtureGrad(k, random_state=0).fit(Z) for k in candidates]
bic = np.array([gmm.bic(Z) for gmm in fits])
gmm = fits[int(np.argmin(bic))]
print(f"BIC chooses {gmm.n_components} components")

fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
ax.plot(candidates, bic, "o-")
ax.set(xlabel="components", ylabel="BIC", title="Choosing the number of components")
plt.show()

# %%
# New digits
# ----------
#
# ``sample`` draws in the principal-component space; the PCA maps the draws
# back to pixels.

Z_new, _ = gmm.sample(30, random_state=0)
digits_new = np.clip(pca.inverse_transform(Z_new), 0, 16)


def show(images, titles, rows, title):
    fig, axes = plt.subplots(
        rows,
        len(images) // rows,
        figsize=(10, 1.5 * rows + 0.5),
        layout="constrained",
    )
    for ax, image, label in zip(axes.ravel(), images, titles, strict=True):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
        ax.set_title(label, fontsize=8)
        ax.set_axis_off()
    fig.suptitle(title)
    plt.show()


show(digits_new, [""] * 30, 3, "Drawn from the mixture")

# %%
# Prototype digits: the modes
# ---------------------------
#
# Ascending the log-density from every training digit ends at one of the
# mixture's modes; the digits that reach the same mode form its basin. Each
# mode, mapped back to pixels, is a prototype, shown with the number of
# digits in its basin and the share of the most common true class there
# (the mixture never saw the classes).

result = find_modes(gmm, Z)
titles = []
for i in range(len(result.modes)):
    members = y[result.labels == i]
    counts = np.bincount(members, minlength=10)
    titles.append(
        f"{len(members)} digits\n{counts.max() / len(members):.0%} '{counts.argmax()}'"
    )
prototypes = np.clip(pca.inverse_transform(result.modes), 0, 16)
rows = 2 if len(prototypes) % 2 == 0 else 1
show(prototypes, titles, rows, "Modes of the mixture, by decreasing density")

nearest_mean = np.array(
    [np.linalg.norm(gmm.means_ - mode, axis=1).min() for mode in result.modes]
)
all_negative = bool(np.all(result.hessian_eigenvalues < 0))
print(f"{len(result.modes)} modes for {gmm.n_components} components; all Hessian "
      f"eigenvalues negative: {all_negative}")  # fmt: skip
print(f"largest distance from a mode to the nearest component mean: "
      f"{nearest_mean.max():.3f} (PCA units; the digits spread over "
      f"{np.sqrt(pca.explained_variance_[0]):.1f})")  # fmt: skip

# %%
# In twelve dimensions these components barely overlap, so each mode sits
# next to a component mean and the two pictures look alike; where components
# overlap (see the example on modes versus means) they part ways. The modes
# still carry what the means do not: a Hessian, whose eigenvalues say how
# sharply each prototype is peaked, and a basin, which clusters the digits.
