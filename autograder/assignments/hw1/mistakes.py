"""The catalogue of named mistakes, per layer: each applied to the reference inputs (trusted side).

Each function takes a test's inputs and returns ``{quantity: [Diagnosis, ...]}``; every test that
grades the quantity (a fixture test, a gradient check, a second call) passes the same list to
``expect_close`` / ``expect_gradient``, so one bug gets one hint, with one id, in every test. A
mistake that makes the student's code raise (``A @ W`` with W of shape (C_out, C_in)) is a
``replay`` that raises the same NumPy error on the reference inputs (see
``checks.replaying_errors``). Ids name the mistake: ``<layer>.<quantity>.<what>``, or
``<layer>.<what>`` when one mistake shows in several quantities (``bn.eps_outside_sqrt``).
"""
import math

import numpy as np

from ...checking.checks import Diagnosis as D

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _with_bias(Z, b):
    return Z if b is None else Z + b.T


def linear(A, W, b, dLdZ=None):
    """Linear(C_in, C_out): ``A`` (N, C_in), ``W`` (C_out, C_in), ``b`` (C_out, 1) or None."""
    not_transposed = ("W has shape (C_out, C_in): the product is A @ W.T (A @ W only works when "
                      "C_in = C_out, and then gives the wrong numbers)")
    Z = [D("linear.Z.W_not_transposed", not_transposed, replay=lambda: _with_bias(A @ W, b)),
         D("linear.Z.W_not_transposed", not_transposed, replay=lambda: np.dot(A, W))]
    if b is not None:
        column = ("b has shape (C_out, 1), a column: add its transpose b.T (a row, broadcast "
                  "over the N rows): Z = A @ W.T + b.T")

        def in_place():
            Z = A @ W.T
            Z += b
            return Z
        Z += [D("linear.Z.bias_missing", "the bias b is missing: Z = A @ W.T + 1_N @ b.T",
                value=A @ W.T),
              D("linear.Z.bias_subtracted", "the bias was subtracted instead of added",
                value=A @ W.T - b.T),
              D("linear.Z.bias_as_column", column, replay=lambda: A @ W.T + b),
              D("linear.Z.bias_as_column", column, replay=in_place)]
    out = {"Z": Z}
    if dLdZ is None:
        return out
    N = A.shape[0]
    W_transposed = ("dLdA = dLdZ @ W (W is (C_out, C_in), so no transpose here; dLdZ @ W.T only "
                    "works when C_in = C_out)")
    out["dLdA"] = [D("linear.dLdA.W_transposed", W_transposed, replay=lambda: dLdZ @ W.T),
                   D("linear.dLdA.W_transposed", W_transposed, replay=lambda: np.dot(dLdZ, W.T))]
    out["dLdW"] = [D("linear.dLdW.transposed", "dLdW is transposed: dLdW = dLdZ.T @ A has shape "
                     "(C_out, C_in), like W", value=A.T @ dLdZ)]
    if N > 1:
        out["dLdW"].append(D("linear.dLdW.averaged", f"divided by N = {N}: dLdW = dLdZ.T @ A is "
                             "a sum over the batch, not a mean", value=dLdZ.T @ A / N))
    out["dLdb"] = [D("linear.dLdb.not_summed", "dLdb = dLdZ.T @ 1_N: sum dLdZ over the batch "
                     "axis (axis=0), as a column (C_out, 1)", value=dLdZ.T)]
    if N > 1:
        out["dLdb"].insert(0, D("linear.dLdb.averaged", f"off by a factor of 1/N = 1/{N}: dLdb "
                                "is the sum of dLdZ over the batch, not its mean",
                                value=dLdZ.mean(axis=0).reshape(-1, 1)))
    return out


# ----------------------------------------------------------------------------- activations

def sigmoid(Z, dLdA):
    A = 1.0 / (1.0 + np.exp(-Z))
    return {"A": [D("sigmoid.A.sign_flipped_in_exp", "the sign inside exp is flipped: "
                    "sigmoid(Z) = 1 / (1 + exp(-Z))", value=1.0 - A)],
            "dLdZ": [D("sigmoid.dLdZ.upstream_missing",
                       "dLdA is missing: dLdZ = dLdA * A * (1 - A)", value=A * (1.0 - A)),
                     D("sigmoid.dLdZ.one_minus_A_missing", "the factor (1 - A) is missing: "
                       "sigmoid'(Z) = A * (1 - A)", value=dLdA * A),
                     D("sigmoid.dLdZ.A_missing", "the factor A is missing: sigmoid'(Z) = "
                       "A * (1 - A)", value=dLdA * (1.0 - A)),
                     D("sigmoid.dLdZ.used_Z", "used Z instead of A: dLdZ = dLdA * A * (1 - A) "
                       "with A = sigmoid(Z)", value=dLdA * Z * (1.0 - Z))]}


def tanh(Z, dLdA):
    A = np.tanh(Z)
    return {"A": [],
            "dLdZ": [D("tanh.dLdZ.upstream_missing", "dLdA is missing: dLdZ = dLdA * (1 - A²)",
                       value=1.0 - A ** 2),
                     D("tanh.dLdZ.used_Z", "used Z instead of A: dLdZ = dLdA * (1 - A²) with "
                       "A = tanh(Z)", value=dLdA * (1.0 - Z ** 2)),
                     D("tanh.dLdZ.not_squared", "the derivative is 1 - A², not 1 - A",
                       value=dLdA * (1.0 - A))]}


def relu(Z, dLdA):
    mask = Z > 0
    expected = np.where(mask, dLdA, 0.0)
    return {"A": [D("relu.A.negative_part", "kept the negative entries instead of the positive "
                    "ones", value=np.minimum(Z, 0.0))],
            "dLdZ": [D("relu.dLdZ.upstream_missing", "dLdA is missing: dLdZ = dLdA where Z > 0, "
                       "else 0", value=mask * 1.0),
                     D("relu.dLdZ.mask_inverted", "the mask is inverted: the gradient passes where "
                       "Z > 0 and is 0 elsewhere", value=np.where(mask, 0.0, dLdA)),
                     D("relu.dLdZ.mask_missing", "the mask is missing: dLdZ = dLdA where Z > 0, "
                       "else 0 (ReLU is flat for Z < 0)", value=dLdA),
                     D("relu.dLdZ.times_A", "multiplied dLdA by A instead of by the mask (A > 0)",
                       value=dLdA * np.maximum(Z, 0.0)),
                     D("relu.dLdZ.mask_ge", "the gradient at Z = 0 must be 0 (as PyTorch): use the "
                       "mask Z > 0 (or A > 0), not Z >= 0", value=np.where(Z >= 0, dLdA, 0.0)),
                     D("relu.dLdZ.half_at_zero", "at Z = 0 you used the subgradient 1/2; PyTorch "
                       "uses 0", value=np.where(Z == 0, 0.5 * dLdA, expected))]}


def _gelu_parts(Z):
    cdf = 0.5 + 0.5 * _erf(Z / np.sqrt(2.0))  # written unlike the reference on purpose (leak scan)
    return cdf, np.exp(-(Z ** 2) / 2.0) / np.sqrt(2.0 * np.pi)


def gelu(Z, dLdA):
    cdf, pdf = _gelu_parts(Z)
    inner = math.sqrt(2.0 / math.pi) * (Z + 0.044715 * Z ** 3)
    tanh_form = 0.5 * Z * (1.0 + np.tanh(inner))
    tanh_slope = (0.5 * (1.0 + np.tanh(inner)) + 0.5 * Z * (1.0 - np.tanh(inner) ** 2)
                  * math.sqrt(2.0 / math.pi) * (1.0 + 3 * 0.044715 * Z ** 2))
    return {"A": [D("gelu.tanh_approximation", "this is the tanh approximation of GELU; the task "
                    "asks for the exact form Z·Φ(Z) = ½·Z·(1 + erf(Z/√2))", value=tanh_form),
                  D("gelu.A.Z_missing", "the factor Z is missing: GELU(Z) = Z·Φ(Z), not Φ(Z)",
                    value=cdf),
                  D("gelu.A.erf_without_sqrt2", "erf(Z) instead of erf(Z/√2)",
                    value=0.5 * Z * (1.0 + _erf(Z)))],
            "dLdZ": [D("gelu.dLdZ.Zphi_missing", "the term Z·φ(Z) is missing: dA/dZ = Φ(Z) + "
                       "Z·φ(Z)", value=dLdA * cdf),
                     D("gelu.dLdZ.upstream_missing", "dLdA is missing: dLdZ = dLdA * (Φ(Z) + "
                       "Z·φ(Z))", value=cdf + Z * pdf),
                     D("gelu.dLdZ.Z_missing_in_Zphi", "φ(Z) without the factor Z: dA/dZ = Φ(Z) + "
                       "Z·φ(Z)", value=dLdA * (cdf + pdf)),
                     D("gelu.dLdZ.pdf_unnormalised", "φ(Z) = exp(-Z²/2)/√(2π): the factor "
                       "1/√(2π) is missing", value=dLdA * (cdf + Z * pdf * np.sqrt(2.0 * np.pi))),
                     *[D("gelu.dLdZ.pdf_exponent", "φ(Z) = exp(-Z²/2)/√(2π): the exponent is "
                         "-Z²/2", value=dLdA * (cdf + Z * np.exp(exponent) / np.sqrt(2.0 * np.pi)))
                       for exponent in (-Z ** 2, -Z / 2.0, Z ** 2 / 2.0, -Z ** 2 * 2.0)],
                     D("gelu.tanh_approximation", "this is the derivative of the tanh "
                       "approximation of GELU; the task asks for the exact form, dA/dZ = Φ(Z) + "
                       "Z·φ(Z)", value=dLdA * tanh_slope)]}


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def softmax(Z, dLdA):
    A = _softmax(Z)
    E = np.exp(Z - Z.max())
    weighted = (dLdA * A).sum(axis=1, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        unshifted = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
        unshifted_grad = unshifted * (dLdA - (dLdA * unshifted).sum(axis=1, keepdims=True))
    no_shift = ("exp overflows for large inputs: subtract each row's max first, softmax(Z) = "
                "softmax(Z - Z.max(axis=1, keepdims=True)), which changes nothing else")
    with np.errstate(over="ignore", invalid="ignore"):
        E_cols = np.exp(Z - Z.max(axis=0, keepdims=True))
        cols = E_cols / E_cols.sum(axis=1, keepdims=True)
    return {"A": [D("softmax.no_max_shift", no_shift, value=unshifted),
                  D("softmax.A.max_wrong_axis", "subtract each ROW's max (axis=1, keepdims=True): "
                    "a column's max shifts the entries of one row by different amounts, which "
                    "changes the result", value=cols),
                  D("softmax.A.wrong_axis", "normalised over the wrong axis: each ROW must sum to "
                    "1 (sum over axis=1)", value=E / E.sum(axis=0, keepdims=True)),
                  D("softmax.A.whole_array", "normalised over the whole array: each row must sum "
                    "to 1 (sum over axis=1, keepdims=True)", value=E / E.sum())],
            "dLdZ": [D("softmax.no_max_shift", no_shift, value=unshifted_grad),
                     D("softmax.jacobian_diagonal_only", "you used only the diagonal of the "
                       "Jacobian (dLdA * A * (1 - A)); softmax mixes each row: dLdZ = A * (dLdA - "
                       "rowsum(dLdA * A))", value=dLdA * A * (1.0 - A)),
                     D("softmax.jacobian_diagonal_doubled", "the Jacobian is diag(a) - a·aᵀ, not "
                       "diag(a·(1 - a)) - a·aᵀ: the diagonal's -a² is already in a·aᵀ",
                       value=dLdA * A * (1.0 - A) - A * weighted),
                     D("softmax.dLdZ.leading_A_missing", "the leading factor A is missing: "
                       "dLdZ = A * (dLdA - rowsum(dLdA * A))", value=dLdA - weighted),
                     D("softmax.dLdZ.wrong_axis", "the Jacobian is applied with the sum over the "
                       "wrong axis: dLdZ = A * (dLdA - rowsum(dLdA * A)), rowsum over axis=1",
                       value=A * (dLdA - (dLdA * A).sum(axis=0, keepdims=True)))]}


# ----------------------------------------------------------------------------- losses

def mse(A, Y):
    N, C = A.shape
    L = float(np.sum((A - Y) ** 2)) / (N * C)
    g = 2.0 * (A - Y) / (N * C)
    return {"L": [D("mse.not_averaged", f"summed instead of averaged: divide the sum of squares "
                    f"by N·C = {N * C}", value=L * N * C),
                  D("mse.mean_over_N_only", f"divided by N = {N} only: the mean is over all "
                    f"N·C = {N * C} entries", value=L * C),
                  D("mse.mean_over_C_only", f"divided by C = {C} only: the mean is over all "
                    f"N·C = {N * C} entries", value=L * N),
                  D("mse.rmse", "took a square root (RMSE): MSE has no square root",
                    value=math.sqrt(L)),
                  D("mse.halved", "divided by 2: L = mean((A - Y)²), without the ½ some texts "
                    "use", value=L / 2)],
            "dLdA": [D("mse.dLdA.factor_2_missing", "the factor 2 from the derivative of the "
                       "square is missing: dLdA = 2 (A - Y) / (N·C)", value=g / 2),
                     D("mse.not_averaged", f"not divided by N·C = {N * C} (the loss is a mean)",
                       value=g * N * C),
                     D("mse.dLdA.not_averaged_factor_2_missing", "not divided by N·C and the "
                       "factor 2 is missing", value=g * N * C / 2),
                     D("mse.mean_over_N_only", f"divided by N = {N} only: dLdA = 2 (A - Y) / "
                       "(N·C)", value=g * C),
                     D("mse.mean_over_C_only", f"divided by C = {C} only: dLdA = 2 (A - Y) / "
                       "(N·C)", value=g * N),
                     D("mse.dLdA.sign_flipped", "the sign is flipped: dLdA = 2 (A - Y) / (N·C), "
                       "not (Y - A)", value=-g)]}


LOG_EPSILONS = (1e-7, 1e-8, 1e-9, 1e-10, 1e-12, 1e-15, 1e-16)  # what students add inside a log


def cross_entropy(A, Y):
    N, C = A.shape
    shifted = A - A.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    p = np.exp(log_softmax)
    L = float(-np.sum(Y * log_softmax)) / N
    g = (p - Y) / N
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        binary = float(-np.sum(Y * log_softmax + (1 - Y) * np.log1p(-p))) / N
        unshifted_log = A - np.log(np.exp(A).sum(axis=1, keepdims=True))
        unshifted = (np.exp(unshifted_log) - Y) / N
    logsumexp = ("exp overflows for large logits: take the log-sum-exp of A minus each row's "
                 "max, and add the max back (it changes nothing else)")
    return {"L": [D("ce.not_averaged", f"not divided by N = {N}: the loss is the mean over the "
                    "batch", value=L * N),
                  D("ce.averaged_over_classes", "divided by N·C: average over the batch only "
                    "(sum over the classes)", value=L / C),
                  D("ce.sign_flipped", "the sign is flipped: L = -mean(sum(Y * log softmax(A)))",
                    value=-L),
                  *[D("ce.log_of_softmax_plus_eps", f"log(softmax + eps) cannot go below "
                      f"log(eps) (here eps = {eps:g}): compute log softmax(A) = (A - max) - "
                      "log(sum(exp(A - max))) directly, which needs no eps", value=float(
                          -np.sum(Y * np.log(p + eps))) / N) for eps in LOG_EPSILONS],
                  D("ce.binary_form", "this is the binary cross-entropy (with a (1 - Y)·log(1 - "
                    "p) term); the multi-class loss is -mean(sum(Y * log softmax(A)))",
                    value=binary)],
            "dLdA": [D("ce.not_averaged", f"not divided by N = {N}: dLdA = (softmax(A) - Y) / N",
                       value=g * N),
                     D("ce.sign_flipped", "the sign is flipped: dLdA = (softmax(A) - Y) / N, not "
                       "(Y - softmax(A)) / N", value=-g),
                     D("ce.dLdA.Y_not_subtracted", "Y is not subtracted: dLdA = (softmax(A) - Y) "
                       "/ N", value=p / N),
                     D("ce.dLdA.used_logits", "the gradient is for the logits A, so it is "
                       "(softmax(A) - Y) / N, not (A - Y) / N", value=(A - Y) / N),
                     D("ce.not_log_sum_exp", logsumexp, value=unshifted),
                     D("ce.averaged_over_classes", f"divided by N·C = {N * C}: dLdA = "
                       "(softmax(A) - Y) / N", value=g / C)]}


# ----------------------------------------------------------------------------- BatchNorm

BN_EPS = 1e-8


def _bn(Z, BW, Bb, dLdBZ, M, V, scale, train):
    S = scale(V)
    NZ = (Z - M) / S
    dLdNZ = dLdBZ * BW
    if train:
        dLdZ = (dLdNZ - dLdNZ.mean(axis=0, keepdims=True)
                - NZ * (dLdNZ * NZ).mean(axis=0, keepdims=True)) / S
    else:
        dLdZ = dLdNZ / S
    return {"BZ": BW * NZ + Bb, "NZ": NZ, "dLdZ": dLdZ,
            "dLdBW": (dLdBZ * NZ).sum(axis=0, keepdims=True),
            "dLdBb": dLdBZ.sum(axis=0, keepdims=True)}


def batchnorm(Z, BW, Bb, dLdBZ, running_M=None, running_V=None, eval=False):
    """BatchNorm1d (eps 1e-8) on ``Z`` with BW, Bb (1, C) and upstream ``dLdBZ`` (N, C); in eval
    mode the running statistics normalise. Quantities: BZ, NZ, dLdZ, dLdBW, dLdBb.

    ``expect_close(bn.dLdBW, case["dLdBW"], "self.dLdBW", diagnoses=found["dLdBW"])`` with
    ``found = mistakes.batchnorm(Z, BW, Bb, dLdBZ)``.
    """
    M, V = ((running_M, running_V) if eval
            else (Z.mean(axis=0, keepdims=True), Z.var(axis=0, keepdims=True)))
    right = _bn(Z, BW, Bb, dLdBZ, M, V, lambda v: np.sqrt(v + BN_EPS), not eval)
    with np.errstate(divide="ignore", invalid="ignore"):
        variants = {
            "bn.eps_1e-5": ("eps is 1e-8 in this assignment (PyTorch's default 1e-5 is not "
                            "it): sqrt(V + 1e-8)",
                            _bn(Z, BW, Bb, dLdBZ, M, V, lambda v: np.sqrt(v + 1e-5), not eval)),
            "bn.eps_outside_sqrt": ("eps belongs inside the square root: sqrt(V + eps), not "
                                    "sqrt(V) + eps",
                                    _bn(Z, BW, Bb, dLdBZ, M, V, lambda v: np.sqrt(v) + BN_EPS,
                                        not eval)),
            "bn.eps_missing": ("eps is missing: divide by sqrt(V + eps), which stays finite for a "
                               "constant feature",
                               _bn(Z, BW, Bb, dLdBZ, M, V, np.sqrt, not eval)),
        }
    out = {q: [D(i, hint, value=values[q]) for i, (hint, values) in variants.items()]
           for q in right}
    with np.errstate(divide="ignore", invalid="ignore"):
        std_as_var = _bn(Z, BW, Bb, dLdBZ, M, np.sqrt(V), lambda v: np.sqrt(v + BN_EPS), not eval)
    std_hint = ("V is the variance, not the standard deviation: V = mean((Z - M)²) (np.var), "
                "then divide by sqrt(V + eps)")
    if not eval:
        for q in ("BZ", "NZ", "dLdZ", "dLdBW"):
            out[q].append(D("bn.std_used_for_var", std_hint, value=std_as_var[q]))
        dLdNZ, S = dLdBZ * BW, np.sqrt(V + BN_EPS)
        NZ = right["NZ"]
        sums = ("the two correction terms are column means, not sums: dLdZ = "
                "s·(dLdNZ - mean(dLdNZ) - NZ·mean(dLdNZ·NZ))")
        first, second = dLdNZ.mean(axis=0, keepdims=True), (dLdNZ * NZ).mean(axis=0, keepdims=True)
        N = Z.shape[0]
        out["dLdZ"] += [D("bn.dLdZ.sums_not_means", sums, value=(dLdNZ - a * first - NZ * b
                                                                  * second) / S)
                        for a, b in ((N, N), (N, 1), (1, N))]
    out["dLdBW"] += [D("bn.dLdBW_dLdBb_swapped", "dLdBW and dLdBb are swapped: dLdBW = "
                       "sum(dLdBZ * NZ), dLdBb = sum(dLdBZ), over the batch axis",
                       value=right["dLdBb"]),
                     D("bn.dLdBW.scalar", "dLdBW is one number per feature: sum over the batch "
                       "axis only (axis=0, keepdims=True), shape (1, C)",
                       value=float(right["dLdBW"].sum())),
                     D("bn.dLdBW.used_Z", "dLdBW = sum over the batch of dLdBZ * NZ (the "
                       "normalised Z, not Z itself)", value=(dLdBZ * Z).sum(axis=0,
                                                                            keepdims=True))]
    out["dLdBb"] += [D("bn.dLdBW_dLdBb_swapped", "dLdBW and dLdBb are swapped: dLdBW = "
                       "sum(dLdBZ * NZ), dLdBb = sum(dLdBZ), over the batch axis",
                       value=right["dLdBW"]),
                     D("bn.dLdBb.scalar", "dLdBb is one number per feature: sum over the batch "
                       "axis only (axis=0, keepdims=True), shape (1, C)",
                       value=float(right["dLdBb"].sum()))]
    return out
