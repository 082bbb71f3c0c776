"""Chapter 5: the CNN task (task A -> task B) and the 3-D column-space picture of a low-rank update.

The LoRA layer itself is :mod:`course_lib.nn.lora`; the embedding-bag experiment (news -> sentiment) and the
chapter's settings are shared with ``make claims`` and live in :mod:`course_lib.experiments.bag_transfer`.
"""

from __future__ import annotations

from course_lib.experiments.bag_transfer import (  # noqa: F401  (the chapter's settings and text experiment)
    BAG_STRATEGIES,
    LoRAExperimentConfig,
    build_bag_strategy,
    config_for,
    load_news_text_classifier,
    text_classifier_checkpoint,
    train_bag_strategy,
)


def plot_column_space(matrix, ax=None, title: str = "", limit: float = 3.0):
    """Draw the columns of a ``(3, k)`` matrix as arrows in 3-D and, if they span a plane, that plane.

    The plane is the set of points ``p`` with ``n . p = 0``, where ``n`` spans the null space of ``matrix^T``
    (the one direction orthogonal to every column). Returns the axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from scipy.linalg import null_space

    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != 3:
        raise ValueError(f"expected a matrix with 3 rows (vectors in 3-D), got shape {m.shape}")
    if ax is None:
        ax = plt.figure(figsize=(4, 4)).add_subplot(projection="3d")
    for i in range(m.shape[1]):
        ax.quiver(0, 0, 0, *m[:, i], color=f"C{i}", arrow_length_ratio=0.1, label=f"column {i + 1}")
    normal = null_space(m.T)
    if normal.shape[1] == 1:  # rank 2: the columns span a plane through the origin
        n = normal[:, 0]
        grid = np.linspace(-limit, limit, 10)
        k = int(np.argmax(np.abs(n)))  # solve the plane equation for the coordinate with the largest normal entry
        u, v = np.meshgrid(grid, grid)
        coords = [None, None, None]
        free = [j for j in range(3) if j != k]
        coords[free[0]], coords[free[1]] = u, v
        coords[k] = -(n[free[0]] * u + n[free[1]] * v) / n[k]
        ax.plot_surface(*coords, alpha=0.3, color="green")
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit), zlim=(-limit, limit), xlabel="x", ylabel="y", zlabel="z",
           title=title or f"rank {np.linalg.matrix_rank(m)}")
    ax.legend(loc="upper left", fontsize=7)
    return ax
