#!/usr/bin/env python3
"""Draw the figures of the writeup (``autograder/assignments/hw2/writeup.md``) as PNG files.

    python autograder/assignments/hw2/figures/make_figures.py            # next to this script
    python autograder/assignments/hw2/figures/make_figures.py --out DIR  # into DIR

Figures:
  conv1d_windows.png  the windows of a 1-D convolution (K = 3, stride 2, padding 1), forward and
                      where their gradients go back in backward
  pooling.png         MaxPool2d routes a window's gradient to its maximum, AvgPool2d spreads it

Needs matplotlib (optional: ``pip install matplotlib``). Without it the script prints a note and
exits with status 0. The committed PNGs are this script's output; re-run it after changing one.
"""
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DPI = 100

FWD, BWD, PAD, OPS = "#dbe9f6", "#fbe0d6", "#eeeeee", "#555555"
FWD_EDGE, GRAD_EDGE = "#2f5f8f", "#c0504d"


def cell(ax, x, y, text, color, size=0.9, fontsize=11):
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x - size / 2, y - size / 2), size, size, facecolor=color,
                           edgecolor="#333333", linewidth=1.1, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3,
            family="monospace")


def conv1d_windows(plt):
    """A_pad (7 cells: 1 of padding each side of L = 5), three windows of K = 3 at stride 2, the
    outputs Z; below, the gradients of the outputs sent back into dLdA_pad, then cropped."""
    K, s, p, L = 3, 2, 1, 5
    L_out = (L + 2 * p - K) // s + 1
    fig, ax = plt.subplots(figsize=(12, 6.2))
    ax.set_xlim(-2.6, 9.2)
    ax.set_ylim(-4.6, 4.2)
    ax.axis("off")
    colors = ["#2f5f8f", "#4f9a4f", "#c07a2f"]
    y_a, y_z, y_dz, y_da = 3.0, 1.0, -1.4, -3.4
    ax.text(-2.5, y_a, "A_pad", fontsize=12, va="center", fontweight="bold")
    for x in range(L + 2 * p):
        padding = x < p or x >= L + p
        cell(ax, x, y_a, "0" if padding else f"a{x - p}", PAD if padding else FWD)
    ax.text(-2.5, y_z, "Z", fontsize=12, va="center", fontweight="bold")
    ax.text(-2.5, y_dz, "dLdZ", fontsize=12, va="center", fontweight="bold")
    ax.text(-2.5, y_da, "dLdA_pad", fontsize=12, va="center", fontweight="bold")
    for i in range(L_out):
        zx = 1.0 + 2.2 * i
        cell(ax, zx, y_z, f"z{i}", FWD)
        cell(ax, zx, y_dz, f"g{i}", BWD)
        start = s * i
        ax.plot([start - 0.45, start + K - 0.55], [y_a - 0.6 - 0.12 * i] * 2, color=colors[i],
                lw=3)
        for k in range(K):
            ax.annotate("", xy=(zx, y_z + 0.45), xytext=(start + k, y_a - 0.6 - 0.12 * i),
                        arrowprops=dict(arrowstyle="-|>", color=colors[i], lw=1.0, alpha=0.7))
            ax.annotate("", xy=(start + k, y_da + 0.45), xytext=(zx, y_dz - 0.45),
                        arrowprops=dict(arrowstyle="-|>", color=colors[i], lw=1.0, alpha=0.7,
                                        linestyle="--"))
    for x in range(L + 2 * p):
        padding = x < p or x >= L + p
        sources = [i for i in range(L_out) if 0 <= x - s * i < K]
        text = " + ".join(f"g{i}·w{x - s * i}" for i in sources)
        cell(ax, x, y_da, "", PAD if padding else BWD)
        ax.text(x, y_da, text.replace(" + ", "\n+ "), ha="center", va="center", fontsize=8,
                zorder=3, family="monospace")
    ax.text(2.9, 4.0, f"forward: z_i = Σ_k w_k · A_pad[{s}·i + k]   (K = {K}, s = {s}, p = {p})",
            fontsize=12, color=FWD_EDGE, ha="center")
    ax.text(2.9, -4.45, "backward: window i adds g_i · w into dLdA_pad[2i : 2i + 3]; overlaps add "
            "up; then cut the padding off", fontsize=12, color=GRAD_EDGE, ha="center")
    return fig


def pooling(plt):
    """A 4×4 input, 2×2 windows at stride 2: MaxPool's gradient goes to each window's maximum,
    AvgPool's is split evenly."""
    A = [[1, 3, 2, 0], [4, 2, 1, 5], [0, 1, 3, 2], [2, 6, 1, 1]]
    g = [["g0", "g1"], ["g2", "g3"]]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, kind in zip(axes, ("max", "avg")):
        ax.set_xlim(-0.8, 10.2)
        ax.set_ylim(-0.8, 4.6)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title("MaxPool2d(2): the gradient goes to the maximum" if kind == "max" else
                     "AvgPool2d(2): each entry gets a quarter", fontsize=12)
        for r in range(4):
            for c in range(4):
                cell(ax, c, 3 - r, str(A[r][c]), FWD)
                block = [A[r // 2 * 2 + u][c // 2 * 2 + v] for u in range(2) for v in range(2)]
                if kind == "max":
                    text = g[r // 2][c // 2] if A[r][c] == max(block) else "0"
                else:
                    text = g[r // 2][c // 2] + "/4"
                cell(ax, c + 6, 3 - r, text, BWD, fontsize=10)
        for x in (1.5, 7.5):
            ax.plot([x, x], [-0.5, 3.5], color=OPS, lw=2.5)
            ax.plot([x - 2, x + 2], [1.5, 1.5], color=OPS, lw=2.5)
        ax.text(1.5, -0.75, "A (forward reads 2×2 windows)", ha="center", fontsize=10)
        ax.text(7.5, -0.75, "dLdA (backward)", ha="center", fontsize=10)
        ax.annotate("", xy=(4.9, 1.5), xytext=(4.1, 1.5),
                    arrowprops=dict(arrowstyle="-|>", color=GRAD_EDGE, lw=2))
    return fig


FIGURES = {"conv1d_windows.png": conv1d_windows, "pooling.png": pooling}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Draw the writeup's figures as PNG files.")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="folder to write the PNGs into [default: this script's folder]")
    args = parser.parse_args(argv)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("make_figures.py: matplotlib is not installed, so no figures were drawn.\n"
              "  The writeup's PNGs are committed already; to redraw them: pip install matplotlib")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in FIGURES.items():
        fig = draw(plt)
        path = args.out / name
        fig.savefig(path, dpi=DPI, metadata={"Software": None})  # byte-identical re-runs
        plt.close(fig)
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
