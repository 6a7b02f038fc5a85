"""Tasks 5.1 BatchNorm1d: forward · 5.2 BatchNorm1d: backward (train and eval modes)."""
import numpy as np
import pytest

from autograder.channel.errors import NotImplementedYet, StudentError
from autograder.checking import strategies as st
from autograder.checking.checks import (
    Diagnosis,
    Mismatch,
    NotGradable,
    close,
    expect_close,
    expect_gradient,
    property_check,
)
from autograder.checking.gradcheck import perturbations, vjp_from

from .. import mistakes

EPS = 1e-8


def make_bn(sub, case, running="before"):
    """A BatchNorm1d with the case's BW, Bb, alpha and (non-default) running statistics: those
    before the training step (``running="before"``) or eval mode's own (``"eval"``); never those
    after the step, which are test_running_statistics' answer."""
    C = case["Z"].shape[1]
    bn = sub.new("mytorch.nn.BatchNorm1d", C, alpha=float(case["alpha"]))
    bn.BW, bn.Bb = case["BW"], case["Bb"]
    bn.running_M, bn.running_V = case["running_M_" + running], case["running_V_" + running]
    return bn


# How a forward evaluates: the classic switch, the layer's eval() (PyTorch's way), or the eval()
# of a model holding the layer, which must reach it.
EVAL_WAYS = ("eval=True", "layer.eval()", "model.eval()")


def eval_forward(sub, bn, way):
    """``bn``'s forward in evaluation mode, entered ``way``: a callable taking Z."""
    if way == "eval=True":
        return lambda Z: bn.forward(Z, eval=True)
    if way == "layer.eval()":
        bn.eval()
    else:
        model = sub.new("mytorch.models.Sequential")
        model.layers = [bn]
        model.eval()
    return bn.forward


def normalise(Z, M, V, BW, Bb, sqrt=True, std=None):
    scale = std(V) if std else np.sqrt(V + EPS) if sqrt else V + EPS
    with np.errstate(divide="ignore", invalid="ignore"):
        return BW * (Z - M) / scale + Bb


def train_backward(dLdBZ, NZ, V, BW, std=None):
    """dLdZ of the training-mode normalisation (batch statistics depend on Z)."""
    dLdNZ = dLdBZ * BW
    with np.errstate(divide="ignore", invalid="ignore"):
        return (dLdNZ - dLdNZ.mean(axis=0, keepdims=True)
                - NZ * (dLdNZ * NZ).mean(axis=0, keepdims=True)) / (std(V) if std else
                                                                     np.sqrt(V + EPS))


# Where eps goes: each mistake (id, hint) as the standard deviation it divides by. The public cases
# have a constant feature (V = 0) and a near-constant one (V ~ eps), where these differ from
# sqrt(V + eps). One id per mistake in every quantity and test: forward and backward alike.
EPS_MISTAKES = {
    ("bn.eps_outside_sqrt", "eps is outside the square root: divide by sqrt(V + eps), not "
     "sqrt(V) + eps"): lambda V: np.sqrt(V) + EPS,
    ("bn.eps_1e-5", "eps is 1e-5 (PyTorch's default); this BatchNorm1d uses self.eps = 1e-8"):
    lambda V: np.sqrt(V + 1e-5),
    ("bn.eps_missing", "eps is missing: divide by sqrt(V + eps), so that a constant feature "
     "(V = 0) stays finite"): np.sqrt,
}


def eps_diagnoses(value):
    """The eps mistakes, each as what ``value(std)`` gives (``value`` recomputes the quantity with
    that standard deviation)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return [Diagnosis(id, hint, value=value(std)) for (id, hint), std in EPS_MISTAKES.items()]


def expect_finite(actual, expected, name, Z):
    """A NaN or inf where the expected value is finite, in a constant feature: eps is missing."""
    if not (isinstance(actual, np.ndarray) and actual.shape == expected.shape
            and actual.dtype.kind == "f") or np.all(np.isfinite(actual)):
        return
    constant = np.ptp(Z, axis=0) == 0
    bad = ~np.isfinite(actual) & np.isfinite(expected)
    if np.any(bad & constant):
        column = int(np.argwhere(bad & constant)[0][1])
        raise Mismatch(name, f"is not finite in column {column}, where every row of Z is equal "
                       "(batch variance 0)", "eps keeps the division finite: divide by "
                       "sqrt(V + eps), with eps = self.eps inside the square root",
                       "bn.eps_missing")


# ----------------------------------------------------------------------------- 5.1 forward

@pytest.mark.cases("batchnorm")
def test_forward_train(sub, case, quantities):
    """forward(Z) in training mode: batch statistics, then BW·NZ + Bb (BZ and the stored NZ)."""
    Z, BW, Bb = case["Z"], case["BW"], case["Bb"]
    bn = make_bn(sub, case)
    BZ = bn.forward(Z)
    M, V = Z.mean(axis=0, keepdims=True), Z.var(axis=0, keepdims=True)
    std_for_var = [d for d in mistakes.batchnorm(Z, BW, Bb, np.zeros_like(Z))["BZ"]
                   if d.id == "bn.std_used_for_var"]
    with quantities.check("BZ"):
        expect_finite(BZ, case["BZ"], "BZ = BatchNorm1d.forward(Z) (training mode)", Z)
        expect_close(BZ, case["BZ"], "BZ = BatchNorm1d.forward(Z) (training mode)",
                     diagnoses=eps_diagnoses(lambda std: normalise(Z, M, V, BW, Bb, std=std))
                     + std_for_var,
                     alternatives={
                         "used the running statistics while training: eval=False normalises with "
                         "the batch mean and variance of Z":
                         normalise(Z, case["running_M_before"], case["running_V_before"], BW,
                                   Bb),
                         "normalised with the unbiased variance (ddof=1); normalise with the "
                         "biased batch variance V = mean((Z - M)²) (N/(N-1) only enters running_V)":
                         normalise(Z, M, Z.var(axis=0, ddof=1, keepdims=True), BW, Bb),
                         "statistics over the wrong axis: mean and variance are per feature "
                         "(axis=0, over the N rows)":
                         normalise(Z, Z.mean(axis=1, keepdims=True), Z.var(axis=1, keepdims=True),
                                   BW, Bb),
                         "divided by V + eps instead of sqrt(V + eps)": normalise(Z, M, V, BW, Bb,
                                                                                  sqrt=False),
                         "BW and Bb are not applied: BZ = BW * NZ + Bb": case["NZ"],
                         "BW and Bb are swapped: BZ = BW * NZ + Bb": Bb * case["NZ"] + BW})
    with quantities.check("self.NZ"):
        expect_finite(bn.NZ, case["NZ"], "self.NZ (the normalised Z stored by forward)", Z)
        expect_close(bn.NZ, case["NZ"], "self.NZ (the normalised Z stored by forward)",
                     diagnoses=eps_diagnoses(lambda std: normalise(Z, M, V, 1.0, 0.0, std=std)))


@pytest.mark.cases("batchnorm")
def test_running_statistics(sub, case, quantities):
    """One training forward updates running_M and running_V (unbiased variance, as PyTorch)."""
    Z, a = case["Z"], float(case["alpha"])
    bn = make_bn(sub, case)
    bn.forward(Z)
    M_old, V_old = case["running_M_before"], case["running_V_before"]
    M, V = Z.mean(axis=0, keepdims=True), Z.var(axis=0, keepdims=True)
    N = Z.shape[0]
    with quantities.check("self.running_M"):
        expect_close(bn.running_M, case["running_M"], "self.running_M after one training forward",
                     alternatives={"running_M was not updated: in training mode, running_M = "
                                   "alpha·running_M + (1 - alpha)·M": M_old,
                                   "alpha and 1 - alpha are swapped: running_M = alpha·running_M + "
                                   "(1 - alpha)·M": (1 - a) * M_old + a * M,
                                   "running_M was replaced by the batch mean; it is a running "
                                   "average: alpha·running_M + (1 - alpha)·M": M})
    with quantities.check("self.running_V"):
        expect_close(bn.running_V, case["running_V"], "self.running_V after one training forward",
                     alternatives={f"used the biased batch variance: running_V tracks the unbiased "
                                   f"variance V·N/(N-1) (here N = {N}), as PyTorch":
                                   a * V_old + (1 - a) * V,
                                   "running_V was not updated: in training mode, running_V = "
                                   "alpha·running_V + (1 - alpha)·V·N/(N-1)": V_old,
                                   "alpha and 1 - alpha are swapped: running_V = alpha·running_V + "
                                   "(1 - alpha)·V·N/(N-1)": (1 - a) * V_old + a * V * N / (N - 1),
                                   "alpha and 1 - alpha are swapped, and V is the biased variance "
                                   "(use V·N/(N-1))": (1 - a) * V_old + a * V,
                                   ("bn.std_used_for_var", "V is the variance, not the standard "
                                    "deviation: V = mean((Z - M)²) (np.var)"):
                                   a * V_old + (1 - a) * np.sqrt(V) * N / (N - 1)})


@pytest.mark.parametrize("way", EVAL_WAYS)
@pytest.mark.cases("batchnorm")
def test_forward_eval(sub, case, quantities, way):
    """forward in evaluation mode (``forward(Z, eval=True)``, after the layer's ``eval()``, or
    after a model's) normalises with the running statistics, stores NZ and changes nothing."""
    Z, BW, Bb = case["Z_eval"], case["BW"], case["Bb"]
    bn = make_bn(sub, case, running="eval")
    rM, rV = case["running_M_eval"], case["running_V_eval"]
    BZ = eval_forward(sub, bn, way)(Z)
    M, V = Z.mean(axis=0, keepdims=True), Z.var(axis=0, keepdims=True)
    with quantities.check("BZ"):
        expect_close(BZ, case["BZ_eval"], f"BZ = BatchNorm1d.forward(Z) in eval mode ({way})",
                     diagnoses=eps_diagnoses(lambda std: normalise(Z, rM, rV, BW, Bb, std=std)),
                     alternatives={("bn.eval.batch_statistics",
                                    "used the batch statistics in eval mode: eval=True normalises "
                                   "with running_M and running_V"): normalise(Z, M, V, BW, Bb),
                                   "used the running variance as a standard deviation: divide by "
                                   "sqrt(running_V + eps)":
                                   normalise(Z, rM, rV, BW, Bb, sqrt=False),
                                   "BW and Bb are not applied in eval mode":
                                   normalise(Z, rM, rV, 1.0, 0.0)})
    with quantities.check("self.NZ"):  # backward reads it: stored in both modes
        try:
            NZ = bn.NZ
        except StudentError as exc:
            if exc.type != "AttributeError":
                raise
            raise Mismatch(f"self.NZ after an eval-mode forward ({way})", exc.feedback(),
                           "forward stores NZ in evaluation mode too (normalised with the "
                           "running statistics): backward reads it", "bn.eval.NZ_not_stored") \
                from None
        expect_close(NZ, case["NZ_eval"], f"self.NZ after an eval-mode forward ({way})",
                     alternatives={("bn.eval.NZ_not_stored",
                                    "self.NZ is not the eval forward's: store NZ (and Z, M, V) "
                                   "in evaluation mode too, normalised with the running "
                                   "statistics"): (Z - M) / np.sqrt(V + EPS)})
    a, N = float(case["alpha"]), Z.shape[0]
    hint = "eval=True must not update the running statistics (only training forwards do)"
    with quantities.check("self.running_M"):
        expect_close(bn.running_M, rM, "self.running_M after forward(Z, eval=True)",
                     alternatives={hint: a * rM + (1 - a) * M})
    with quantities.check("self.running_V"):
        expect_close(bn.running_V, rV, "self.running_V after forward(Z, eval=True)",
                     alternatives={hint: a * rV + (1 - a) * V * N / max(N - 1, 1),
                                   hint + " ": a * rV + (1 - a) * V})


# ----------------------------------------------------------------------------- 5.2 backward

def forward_for_backward(bn, forward, Z, expected_BZ, expected_NZ):
    """The student's forward on Z; True when it was right (BZ and the stored NZ). An error there
    is Task 5.1's (its own tests report it)."""
    try:
        BZ = forward(Z)
        NZ = bn.NZ
    except StudentError:
        return False
    return all(isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.shape == e.shape
               and close(a.astype(np.float64), e) for a, e in ((BZ, expected_BZ),
                                                                 (NZ, expected_NZ)))


def isolate_backward(bn, forward, case, eval):
    """After a wrong forward: backward is graded on ``Z_iso``, an input no forward check uses,
    with what the docstring says forward stores (Z, N, M, V, NZ, BZ, ``evaluating``) set right
    by the grader after the student's own forward on it. So a forward bug costs Task 5.1 only, and
    nothing the grader sends answers another check. Returns the case's keys of the expected
    gradients."""
    Z = case["Z_iso"]
    try:
        forward(Z)  # for whatever else it caches
    except StudentError:
        pass
    suffix = "_iso_eval" if eval else "_iso"
    M, V = ((case["running_M_eval"], case["running_V_eval"]) if eval
            else (case["M_iso"], case["V_iso"]))
    bn.Z, bn.N, bn.M, bn.V, bn.evaluating = Z, Z.shape[0], M, V, eval
    bn.NZ, bn.BZ = case["NZ" + suffix], case["BZ" + suffix]
    return suffix


def forward_raised(exc):
    """A gradient check of backward whose forward raised: Task 5.1's, not graded here."""
    return NotGradable("BatchNorm1d backward: not graded", "your forward raised an error, so "
                       "backward cannot be checked against it. Fix Task 5.1 first; the other "
                       "checks of this task carry these points meanwhile.\n" + exc.feedback())


def backward_twice(bn, dLdBZ, set_by_grader):
    """``bn.backward(dLdBZ)``, twice (the gradients are assigned, not accumulated with +=). An error
    on the state the grader set after a wrong forward says so: the shapes it read are the
    documented ones the grader set, not ones the student's own forward made."""
    try:
        bn.backward.submit(dLdBZ)
        return bn.backward(dLdBZ)
    except StudentError as exc:
        if not set_by_grader or isinstance(exc, NotImplementedYet):
            raise
        raise Mismatch("BatchNorm1d.backward(dLdBZ)", "raised an error on the state the grader "
                       "set. Your forward was wrong on this case (Task 5.1 reports it), so the "
                       "grader ran it on another input and then set what forward stores as the "
                       "docstring documents (Z, N, M and V of shape (1, C), NZ, BZ): the error "
                       "below comes from backward reading those arrays, not from a shape your "
                       "own forward made.\n" + exc.feedback(),
                       "backward must work on the documented state: M and V of shape (1, C), "
                       "NZ and BZ of shape (N, C)", "bn.backward.documented_state") from None


@pytest.mark.cases("batchnorm")
def test_backward(sub, case, quantities):
    """backward(dLdBZ) after a training forward: dLdZ (through the batch statistics), dLdBW and
    dLdBb. Graded on the state your forward stored when it was right."""
    bn = make_bn(sub, case)
    suffix = ""
    if not forward_for_backward(bn, bn.forward, case["Z"], case["BZ"], case["NZ"]):
        suffix = isolate_backward(bn, bn.forward, case, eval=False)
    Z, BW, dLdBZ, NZ = case["Z" + suffix], case["BW"], case["dLdBZ"], case["NZ" + suffix]
    dLdZ = backward_twice(bn, dLdBZ, set_by_grader=suffix == "_iso")
    N = Z.shape[0]
    V = Z.var(axis=0, keepdims=True)
    found = mistakes.batchnorm(Z, BW, case["Bb"], dLdBZ)
    with quantities.check("dLdZ"):
        expect_finite(dLdZ, case["dLdZ" + suffix],
                      "dLdZ = BatchNorm1d.backward(dLdBZ) (training mode)", Z)
        expect_close(dLdZ, case["dLdZ" + suffix],
                     "dLdZ = BatchNorm1d.backward(dLdBZ) (training mode)",
                     diagnoses=eps_diagnoses(lambda std: train_backward(dLdBZ, NZ, V, BW, std))
                     + found["dLdZ"],
                     alternatives={"treated the batch mean and variance as constants: in training "
                                   "mode they depend on Z, which adds two terms to dLdZ":
                                   dLdBZ * BW / np.sqrt(V + EPS),
                                   "forgot the gradient through the variance (the term with "
                                   "mean(dLdNZ · NZ))":
                                   (dLdBZ * BW - (dLdBZ * BW).mean(axis=0, keepdims=True))
                                   / np.sqrt(V + EPS),
                                   "forgot the gradient through the mean (the term with "
                                   "mean(dLdNZ))":
                                   (dLdBZ * BW
                                    - NZ * (dLdBZ * BW * NZ).mean(axis=0, keepdims=True))
                                   / np.sqrt(V + EPS),
                                   "BW is missing: dLdNZ = dLdBZ * BW": case["dLdZ" + suffix] / BW},
                     batch=N)
    with quantities.check("self.dLdBW"):
        expect_finite(bn.dLdBW, case["dLdBW" + suffix], "self.dLdBW", Z)
        expect_close(bn.dLdBW, case["dLdBW" + suffix], "self.dLdBW", batch=N,
                     diagnoses=found["dLdBW"])
    with quantities.check("self.dLdBb"):
        expect_close(bn.dLdBb, case["dLdBb" + suffix], "self.dLdBb", batch=N,
                     diagnoses=found["dLdBb"])


@pytest.mark.parametrize("way", EVAL_WAYS)
@pytest.mark.cases("batchnorm")
def test_backward_eval(sub, case, quantities, way):
    """backward after an eval-mode forward: the running statistics are constants. Graded on the
    state your forward stored when it was right."""
    bn = make_bn(sub, case, running="eval")
    forward = eval_forward(sub, bn, way)
    suffix = "_eval"
    if not forward_for_backward(bn, forward, case["Z_eval"], case["BZ_eval"], case["NZ_eval"]):
        suffix = isolate_backward(bn, forward, case, eval=True)
    Z = case["Z_iso"] if suffix == "_iso_eval" else case["Z_eval"]
    BW, dLdBZ = case["BW"], case["dLdBZ"]
    rM, rV = case["running_M_eval"], case["running_V_eval"]
    dLdZ = backward_twice(bn, dLdBZ, set_by_grader=suffix == "_iso_eval")
    NZ_eval = case["NZ" + suffix]
    M, V = Z.mean(axis=0, keepdims=True), Z.var(axis=0, keepdims=True)
    NZ_batch = (Z - M) / np.sqrt(V + EPS)
    found = mistakes.batchnorm(Z, BW, case["Bb"], dLdBZ, rM, rV, eval=True)
    with quantities.check("dLdZ"):
        expect_close(dLdZ, case["dLdZ" + suffix],
                     f"dLdZ = BatchNorm1d.backward(dLdBZ) after an eval-mode forward ({way})",
                     diagnoses=eps_diagnoses(lambda std: dLdBZ * BW / std(rV))
                     + found["dLdZ"],
                     alternatives={("bn.eval.dLdZ_training_formula",
                                    "used the training-mode formula in eval mode: with the running "
                                   "statistics the normalisation is affine, dLdZ = dLdBZ · BW / "
                                   "sqrt(running_V + eps)"): train_backward(dLdBZ, NZ_eval, rV, BW),
                                   ("bn.eval.batch_statistics",
                                    "used the batch variance in eval mode: divide by "
                                   "sqrt(running_V + eps)"): dLdBZ * BW / np.sqrt(V + EPS)})
    with quantities.check("self.dLdBW"):
        expect_close(bn.dLdBW, case["dLdBW" + suffix], "self.dLdBW after an eval-mode forward",
                     diagnoses=found["dLdBW"],
                     alternatives={("bn.eval.NZ_not_stored",
                                    "dLdBW must use the NZ of the eval forward (normalised "
                                   "with the running statistics)"):
                                   (dLdBZ * NZ_batch).sum(axis=0, keepdims=True)})
    with quantities.check("self.dLdBb"):
        expect_close(bn.dLdBb, case["dLdBb" + suffix], "self.dLdBb after an eval-mode forward",
                     diagnoses=found["dLdBb"])


def spread_batch(seed, shape):
    """(N, C) inputs whose columns have variance >= ~0.1: rows 0 and 1 differ by at least 1 in
    every column, so 1/sqrt(V) stays moderate and central differences stay accurate."""
    N, C = shape
    Z = st.values(seed, shape)
    Z[1] = Z[0] + st.values(seed + 7, (C,), -2.0, 2.0, away_from_zero=1.0)
    return Z


@property_check(shape=st.batch_shapes(min_rows=2, max_rows=4, max_cols=3),
                seed=st.seeds())
def test_gradient_check(sub, quantities, shape, seed):
    """Training-mode backward agrees with central differences of your forward (dLdZ, dLdBW and
    dLdBb), each a quantity gated on the same quantity of test_backward. A gradient of the right
    size is compared by its values: test_backward charges a wrong shape, once."""
    quantities.new_example()
    N, C = shape
    Z = spread_batch(seed, shape)
    BW, Bb = st.values(seed + 1, (1, C), 0.5, 2.0), st.values(seed + 2, (1, C))
    dLdBZ = st.upstream(seed + 3, shape)
    bn = sub.new("mytorch.nn.BatchNorm1d", C)
    bn.BW, bn.Bb = BW, Bb
    forward = bn.forward.submit(Z)
    backward = bn.backward.submit(dLdBZ)
    stored = sub.read(bn, "dLdBW", "dLdBb", wait=False)
    # One request for all perturbed forwards: x stacks Z (N rows), BW and Bb (one row each).
    # Training-mode forwards also update the running statistics; the output does not use them.
    stacked = np.concatenate([Z, BW, Bb])
    xs = perturbations(stacked)
    try:  # a forward that raises or differs from the reference is Task 5.1's: not graded here
        BZ = forward.result()  # (its reply comes before backward's: an error here is forward's)
    except StudentError as exc:  # Task 5.1's stub too
        raise forward_raised(exc) from None
    analytic = dict(zip(("dLdZ", "self.dLdBW", "self.dLdBb"),
                        (backward.result(), *stored.result())))  # backward's own errors: charged
    try:
        outputs = sub.call_many(bn, "forward", [(x[:N],) for x in xs],
                                [{"BW": x[N:N + 1], "Bb": x[N + 1:]} for x in xs])  # 1 round trip
    except StudentError as exc:
        raise forward_raised(exc) from None
    right = normalise(Z, Z.mean(axis=0, keepdims=True), Z.var(axis=0, keepdims=True), BW, Bb)
    if not (isinstance(BZ, np.ndarray) and BZ.shape == shape and close(BZ, right)):
        raise NotGradable("BatchNorm1d backward: not graded", "your forward differs from the "
                          "reference on this input, so a gradient check of backward against it "
                          "would grade the forward again. Fix Task 5.1 first; the other checks "
                          "of this task carry these points meanwhile.")
    grad = vjp_from(outputs, stacked, dLdBZ)
    numeric = {"dLdZ": grad[:N], "self.dLdBW": grad[N:N + 1], "self.dLdBb": grad[N + 1:]}
    V = Z.var(axis=0, keepdims=True)
    alternatives = {"dLdZ": {"treated the batch mean and variance as constants: in training "
                             "mode they depend on Z, which adds two terms to dLdZ":
                             dLdBZ * BW / np.sqrt(V + EPS)}}
    for name, value in analytic.items():
        with quantities.check(name):
            expect_gradient(value, numeric[name], f"{name} (training mode)",
                            alternatives=alternatives.get(name), any_shape=True)
    quantities.end_example()
