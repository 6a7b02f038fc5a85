#!/usr/bin/env python3
"""Draw the figures of the writeup (``autograder/assignments/hw1/writeup.md``) as PNG files.

    python autograder/assignments/hw1/figures/make_figures.py            # next to this script
    python autograder/assignments/hw1/figures/make_figures.py --out DIR  # into DIR

Figures:
  mlp_flow.png        forward and backward through a two-layer MLP, with every shape
  batchnorm_graph.png the computation graph of BatchNorm1d in training mode

Needs matplotlib (an optional extra: ``pip install matplotlib``). Without it the script prints a
note and exits with status 0, so nothing else ever depends on it. The committed PNGs are the output
of this script; re-run it after changing a figure.
"""
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DPI = 100

# Colours: data in the forward pass, gradients in the backward pass, parameters, operations.
FWD = "#dbe9f6"
BWD = "#fbe0d6"
PAR = "#e3f1dc"
OPS = "#555555"
GRAD_EDGE = "#c0504d"
FWD_EDGE = "#2f5f8f"


def box(ax, x, y, title, shape, color, width=1.25, height=0.72, fontsize=12):
    """A rounded box centred at (x, y) with a name on top and its shape below."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=color, edgecolor="#333333", linewidth=1.2, zorder=2))
    ax.text(x, y + 0.12, title, ha="center", va="center", fontsize=fontsize, zorder=3,
            fontweight="bold")
    ax.text(x, y - 0.17, shape, ha="center", va="center", fontsize=fontsize - 2, zorder=3,
            family="monospace", color="#222222")


def arrow(ax, start, end, color, label=None, label_offset=(0.0, 0.16), style="-|>", ls="-",
          fontsize=10, shrink=0.0, rad=0.0):
    ax.annotate("", xy=end, xytext=start, zorder=1,
                arrowprops=dict(arrowstyle=style, color=color, lw=1.6, linestyle=ls,
                                shrinkA=shrink, shrinkB=shrink,
                                connectionstyle=f"arc3,rad={rad}"))
    if label:
        mx = (start[0] + end[0]) / 2 + label_offset[0]
        my = (start[1] + end[1]) / 2 + label_offset[1]
        ax.text(mx, my, label, ha="center", va="bottom", fontsize=fontsize, color=color,
                zorder=3, linespacing=1.15)


def mlp_flow(plt):
    """Forward (top row, left to right) and backward (bottom row, right to left) of
    Linear -> ReLU -> Linear -> activation -> loss."""
    fig, ax = plt.subplots(figsize=(14, 7.6))
    ax.set_xlim(-0.9, 13.1)
    ax.set_ylim(-1.75, 6.35)
    ax.axis("off")

    xs = [0.0, 2.5, 5.0, 7.5, 10.0, 12.4]
    y_f, y_b, y_p, y_g = 3.5, 1.1, 5.0, -0.65
    fwd = [("A0", "(N, C0)"), ("Z1", "(N, C1)"), ("A1", "(N, C1)"), ("Z2", "(N, C2)"),
           ("A2", "(N, C2)"), ("L", "scalar")]
    bwd = [("dLdA0", "(N, C0)"), ("dLdZ1", "(N, C1)"), ("dLdA1", "(N, C1)"),
           ("dLdZ2", "(N, C2)"), ("dLdA2", "(N, C2)")]
    ops_f = ["Linear 1\nZ1 = A0·W1ᵀ + 1·b1ᵀ\n(stores A0, N)", "ReLU\nA1 = max(Z1, 0)\n(stores A1)",
             "Linear 2\nZ2 = A1·W2ᵀ + 1·b2ᵀ\n(stores A1, N)", "activation f\nA2 = f(Z2)\n",
             "loss\nL = loss(A2, Y)\n"]
    ops_b = ["linear1.backward\ndLdA0 = dLdZ1·W1", "relu.backward\ndLdZ1 = dLdA1 ⊙ 1[Z1 > 0]",
             "linear2.backward\ndLdA1 = dLdZ2·W2", "f.backward\ndLdZ2 = dLdA2 ⊙ f′(Z2)"]

    ax.text(-0.85, 6.1, "forward:  A2 = model.forward(A0), then L = loss.forward(A2, Y)",
            fontsize=13, color=FWD_EDGE, fontweight="bold", va="center")
    ax.text(-0.85, -1.6, "backward:  model.backward(loss.backward()), right to left",
            fontsize=13, color=GRAD_EDGE, fontweight="bold", va="center")

    for x, (name, shape) in zip(xs, fwd):
        box(ax, x, y_f, name, shape, FWD)
    for x, (name, shape) in zip(xs, bwd):
        box(ax, x, y_b, name, shape, BWD)
    for i, label in enumerate(ops_f):
        arrow(ax, (xs[i] + 0.65, y_f), (xs[i + 1] - 0.65, y_f), FWD_EDGE, label,
              label_offset=(0, -0.85), fontsize=9.5)
    # Loss to its gradient: the start of the backward pass.
    arrow(ax, (xs[5], y_f - 0.38), (xs[4] + 0.66, y_b + 0.1), GRAD_EDGE,
          "loss.backward()\nreturns dLdA2", label_offset=(0.75, -0.2), fontsize=9.5)
    for i, label in enumerate(ops_b):
        arrow(ax, (xs[i + 1] - 0.65, y_b), (xs[i] + 0.65, y_b), GRAD_EDGE, label,
              label_offset=(0, 0.4), fontsize=9.5)

    # Parameters feed the Linear layers; their gradients branch off the Linear backward steps.
    for layer, i in ((1, 0), (2, 2)):
        xm = (xs[i] + xs[i + 1]) / 2
        c_in, c_out = f"C{layer - 1}", f"C{layer}"
        box(ax, xm - 0.68, y_p, f"W{layer}", f"({c_out}, {c_in})", PAR, width=1.25, height=0.62,
            fontsize=11)
        box(ax, xm + 0.68, y_p, f"b{layer}", f"({c_out}, 1)", PAR, width=1.25, height=0.62,
            fontsize=11)
        arrow(ax, (xm - 0.4, y_p - 0.32), (xm - 0.12, y_f + 0.08), "#5b8c3a")
        arrow(ax, (xm + 0.4, y_p - 0.32), (xm + 0.12, y_f + 0.08), "#5b8c3a")
        box(ax, xm - 0.72, y_g, f"dLdW{layer}", f"({c_out}, {c_in})", BWD, width=1.35,
            height=0.62, fontsize=11)
        box(ax, xm + 0.72, y_g, f"dLdb{layer}", f"({c_out}, 1)", BWD, width=1.35, height=0.62,
            fontsize=11)
        arrow(ax, (xm - 0.12, y_b - 0.08), (xm - 0.45, y_g + 0.32), GRAD_EDGE)
        arrow(ax, (xm + 0.12, y_b - 0.08), (xm + 0.45, y_g + 0.32), GRAD_EDGE)
        ax.text(xm - 0.72, y_g - 0.5, f"= dLdZ{layer}ᵀ·A{layer - 1}", ha="center", va="center",
                fontsize=9.5, color=GRAD_EDGE)
        ax.text(xm + 0.72, y_g - 0.5, f"= dLdZ{layer}ᵀ·1", ha="center", va="center",
                fontsize=9.5, color=GRAD_EDGE)
    ax.text(xs[5] - 0.2, y_g, "N: batch size,   C0: input features,\nC1: hidden units,   "
            "C2: outputs,\n1: a column of N ones.", fontsize=9.5, va="center", ha="center",
            color="#333333", bbox=dict(facecolor="white", edgecolor="#bbbbbb"))
    fig.tight_layout()
    return fig


def batchnorm_graph(plt):
    """BatchNorm1d in training mode: the graph of forward, with the backward formulas."""
    fig, ax = plt.subplots(figsize=(13, 6.6))
    ax.set_xlim(-0.8, 12.6)
    ax.set_ylim(-3.0, 5.0)
    ax.axis("off")

    Z, M, V = (0.3, 1.6), (3.3, 3.0), (3.3, 0.2)
    NZ, BZ = (7.2, 1.6), (10.6, 1.6)
    BW, Bb = (9.6, 3.5), (11.6, 3.5)
    RM, RV = (6.4, 3.75), (6.4, -0.45)
    box(ax, *Z, "Z", "(N, C)", FWD)
    box(ax, *M, "M", "(1, C)", FWD)
    box(ax, *V, "V", "(1, C)", FWD)
    box(ax, *NZ, "NZ", "(N, C)", FWD)
    box(ax, *BZ, "BZ", "(N, C)", FWD)
    box(ax, *BW, "BW", "(1, C)", PAR)
    box(ax, *Bb, "Bb", "(1, C)", PAR)
    box(ax, *RM, "running_M", "(1, C)", "#eeeeee", width=1.7)
    box(ax, *RV, "running_V", "(1, C)", "#eeeeee", width=1.7)

    arrow(ax, (Z[0] + 0.5, Z[1] + 0.38), (M[0] - 0.66, M[1]), FWD_EDGE,
          "M = mean over rows", label_offset=(-0.7, 0.15))
    arrow(ax, (Z[0] + 0.5, Z[1] - 0.38), (V[0] - 0.66, V[1]), FWD_EDGE,
          "V = mean of (Z − M)²\n(biased: divide by N)", label_offset=(-0.85, -0.8))
    arrow(ax, (M[0], M[1] - 0.38), (V[0], V[1] + 0.38), FWD_EDGE)
    arrow(ax, (Z[0] + 0.66, Z[1]), (NZ[0] - 0.66, NZ[1]), FWD_EDGE,
          "NZ = (Z − M) / √(V + eps)", label_offset=(1.55, 0.04))
    arrow(ax, (M[0] + 0.66, M[1] - 0.15), (NZ[0] - 0.5, NZ[1] + 0.38), FWD_EDGE)
    arrow(ax, (V[0] + 0.66, V[1] + 0.15), (NZ[0] - 0.5, NZ[1] - 0.38), FWD_EDGE)
    arrow(ax, (NZ[0] + 0.66, NZ[1]), (BZ[0] - 0.66, BZ[1]), FWD_EDGE,
          "BZ = BW ⊙ NZ + Bb", label_offset=(0, -0.6))
    arrow(ax, (BW[0] + 0.3, BW[1] - 0.38), (BZ[0] - 0.3, BZ[1] + 0.38), "#5b8c3a")
    arrow(ax, (Bb[0] - 0.3, Bb[1] - 0.38), (BZ[0] + 0.3, BZ[1] + 0.38), "#5b8c3a")
    arrow(ax, (M[0] + 0.66, M[1] + 0.2), (RM[0] - 0.88, RM[1] - 0.1), "#888888", ls="--")
    arrow(ax, (V[0] + 0.66, V[1] - 0.2), (RV[0] - 0.88, RV[1] + 0.1), "#888888", ls="--")
    ax.text(RM[0], RM[1] + 0.52, "running_M ← α·running_M + (1−α)·M", ha="center",
            fontsize=9.5, color="#555555")
    ax.text(RV[0], RV[1] - 0.62, "running_V ← α·running_V + (1−α)·V·N/(N−1)", ha="center",
            fontsize=9.5, color="#555555", va="top")
    ax.text(RV[0] + 1.05, RV[1] + 0.05, "updated once per training forward;\n"
            "eval=True uses them in place of M and V\nand updates nothing", fontsize=9.5,
            va="center", color="#555555")
    ax.text(-0.7, 4.8, "BatchNorm1d, training mode (eval=False); statistics per column",
            fontsize=13, fontweight="bold", color=FWD_EDGE, va="center")

    backward = (
        "backward(dLdBZ); every sum and mean runs over the N rows (axis 0, keepdims):\n"
        "  dLdBb = Σ dLdBZ          dLdBW = Σ dLdBZ ⊙ NZ          both (1, C)\n"
        "  dLdNZ = dLdBZ ⊙ BW       (N, C)\n"
        "  dLdZ  = (dLdNZ − mean(dLdNZ) − NZ ⊙ mean(dLdNZ ⊙ NZ)) / √(V + eps)\n"
        "  (first term: the direct path Z → NZ; second: the path through M; third: through V)"
    )
    ax.text(-0.6, -2.25, backward, fontsize=10.5, family="monospace", va="center",
            color=GRAD_EDGE, bbox=dict(facecolor=BWD, edgecolor=GRAD_EDGE, alpha=0.6,
                                       boxstyle="round,pad=0.4"))
    fig.tight_layout()
    return fig


FIGURES = {"mlp_flow.png": mlp_flow, "batchnorm_graph.png": batchnorm_graph}


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
        # Fixed metadata: re-running the script gives byte-identical files.
        fig.savefig(path, dpi=DPI, metadata={"Software": None})
        plt.close(fig)
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
