"""Graded inputs and the reference's outputs for them.

Each generator draws one case from ``rng`` and runs the reference (``ref``, the ``mytorch`` package)
on it; ``index`` (the case's position) picks what every set of cases must cover, so the public cases
and any hidden set of as many cases run every branch of the reference (momentum 0 and not, a
constant and a near-constant BatchNorm feature where eps matters). ``python -m autograder cases``
stores public cases in ``public_cases/<component>.npz``; hidden tests call the same generators with
a secret seed at grading time.
Cases are dicts of float64 arrays (and small integers stored as 0-d arrays).

No case is degenerate (``degeneracy``): an expected output that is all zeros or constant, or a
network with a dead layer, would let a wrong answer (zeros, a skipped layer) pass. ``generate``
redraws such a case from the same generator until it is not.
"""
import zlib

import numpy as np

# The 0-d values a case holds as settings of the call (a learning rate, a number of steps), not as
# values to grade: ``degeneracy`` lets them be zero or repeat. A generator whose cases carry other
# settings adds their names here.
SETTINGS = {"lr", "momentum", "steps", "alpha"}
ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "gelu": "GELU",
               "softmax": "Softmax"}


def _shape(rng, rows=(1, 6), cols=(1, 6)):
    return int(rng.integers(*rows)), int(rng.integers(*cols))


def _away_from_zero(rng, shape, scale=2.0, gap=1e-2):
    x = rng.uniform(gap, scale, shape)
    return x * rng.choice([-1.0, 1.0], shape)


def linear(rng, ref, index=0, bias=True):
    N, C_in = _shape(rng)
    C_out = int(rng.integers(1, 6))
    A, dLdZ = rng.normal(size=(N, C_in)), rng.normal(size=(N, C_out))
    layer = ref.nn.Linear(C_in, C_out, bias=bias)
    layer.W = rng.normal(size=(C_out, C_in))
    case = dict(A=A, W=layer.W.copy(), dLdZ=dLdZ)
    if bias:
        layer.b = rng.normal(size=(C_out, 1))
        case["b"] = layer.b.copy()
    case["Z"] = layer.forward(A)
    case["dLdA"] = layer.backward(dLdZ)
    case["dLdW"] = layer.dLdW
    if bias:
        case["dLdb"] = layer.dLdb
    return case


def linear_nobias(rng, ref, index=0):
    return linear(rng, ref, index, bias=False)


def activation(name):
    def generate(rng, ref, index=0):
        shape = _shape(rng, cols=(2, 6) if name == "softmax" else (1, 6))
        Z = _away_from_zero(rng, shape, scale=3.0) if name == "relu" else rng.normal(0, 2, shape)
        dLdA = rng.normal(size=shape)
        layer = getattr(ref.nn, ACTIVATIONS[name])()
        return dict(Z=Z, dLdA=dLdA, A=layer.forward(Z), dLdZ=layer.backward(dLdA))
    generate.__name__ = name
    return generate


def softmax_large(rng, ref, index=0):
    """Inputs in the thousands: a softmax without the max shift overflows. Each row sits around its
    own large offset with O(1) differences inside it, so the softmax is not saturated (a saturated
    one has a zero gradient, which any backward returning zeros would match), and one entry ~1000
    below the rest (shifting by the row's min instead of its max overflows too)."""
    shape = _shape(rng, rows=(2, 6), cols=(2, 6))
    Z = rng.uniform(-3000, 3000, (shape[0], 1)) + rng.normal(0, 2, shape)
    Z[np.arange(shape[0]), rng.integers(0, shape[1], shape[0])] -= 1000.0  # a spread of ~1000 too
    layer = ref.nn.Softmax()
    dLdA = rng.normal(size=shape)
    return dict(Z=Z, dLdA=dLdA, A=layer.forward(Z), dLdZ=layer.backward(dLdA))


def mse(rng, ref, index=0):
    shape = _shape(rng)
    A, Y = rng.normal(size=shape), rng.normal(size=shape)
    loss = ref.nn.MSELoss()
    return dict(A=A, Y=Y, L=np.asarray(loss.forward(A, Y)), dLdA=loss.backward())


# An ordinary case, not a stability test (test_cross_entropy_large_logits is one): a true class
# given less than 1e-3 would make a correct log(softmax + 1e-8) differ by more than rounding.
MIN_TRUE_PROBABILITY = 1e-3


def _softmax_rows(A):
    E = np.exp(A - A.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def cross_entropy(rng, ref, index=0):
    N, C = _shape(rng, cols=(2, 6))
    for _ in range(MAX_DRAWS):  # ordinary logits: the true class keeps a probability >= 1e-3
        A = rng.normal(0, 3, (N, C))
        Y = np.eye(C)[rng.integers(0, C, N)]
        if np.min(np.sum(Y * _softmax_rows(A), axis=1)) >= MIN_TRUE_PROBABILITY:
            break
    loss = ref.nn.CrossEntropyLoss()
    return dict(A=A, Y=Y, L=np.asarray(loss.forward(A, Y)), dLdA=loss.backward())


def batchnorm(rng, ref, index=0):
    """Case 1 (mod 3) has a constant feature (V = 0: only eps keeps 1/sqrt(V + eps) finite) and
    case 2 a near-constant one (V ~ eps: eps outside the square root, or 1e-5, changes BZ)."""
    N, C = _shape(rng, rows=(2, 7), cols=(2, 6))
    Z = rng.normal(1.0, 2.0, (N, C))
    column = int(rng.integers(C))
    if index % 3 == 1:
        Z[:, column] = rng.normal(1.0, 2.0)
    elif index % 3 == 2:
        Z[:, column] = rng.normal(1.0, 2.0) + rng.normal(0, 1e-4, N)
    bn = ref.nn.BatchNorm1d(C, alpha=float(rng.choice([0.9, 0.8])))
    bn.BW, bn.Bb = rng.normal(1, 0.5, (1, C)), rng.normal(0, 0.5, (1, C))
    bn.running_M, bn.running_V = rng.normal(0, 1, (1, C)), rng.uniform(0.5, 2, (1, C))
    case = dict(Z=Z, alpha=np.asarray(bn.alpha), BW=bn.BW.copy(), Bb=bn.Bb.copy(),
                running_M_before=bn.running_M.copy(), running_V_before=bn.running_V.copy(),
                dLdBZ=rng.normal(size=(N, C)))
    case["BZ"] = bn.forward(Z).copy()
    case["NZ"] = bn.NZ.copy()
    case["running_M"], case["running_V"] = bn.running_M.copy(), bn.running_V.copy()
    case["dLdZ"] = bn.backward(case["dLdBZ"])
    case["dLdBW"], case["dLdBb"] = bn.dLdBW, bn.dLdBb
    Z_eval = rng.normal(1.0, 2.0, (N, C))
    case["Z_eval"] = Z_eval
    # eval mode runs on running statistics of its own: those after the step above are the answer
    # of test_running_statistics, and the grader sets a layer's running statistics in the worker
    bn.running_M, bn.running_V = rng.normal(0, 1, (1, C)), rng.uniform(0.5, 2, (1, C))
    case["running_M_eval"], case["running_V_eval"] = bn.running_M.copy(), bn.running_V.copy()
    case["BZ_eval"] = bn.forward(Z_eval, eval=True)
    case["NZ_eval"] = bn.NZ.copy()
    case["dLdZ_eval"] = bn.backward(case["dLdBZ"])
    case["dLdBW_eval"], case["dLdBb_eval"] = bn.dLdBW, bn.dLdBb
    # Backward of a wrong forward is graded on an input no forward check uses (Z_iso), with the
    # state forward should store set by the grader: nothing it sets answers another check.
    Z_iso = _batchnorm_input(rng, N, C, index)
    case["Z_iso"] = Z_iso
    bn.forward(Z_iso)
    for key in ("M", "V", "NZ", "BZ"):
        case[key + "_iso"] = getattr(bn, key).copy()
    case["dLdZ_iso"] = bn.backward(case["dLdBZ"])
    case["dLdBW_iso"], case["dLdBb_iso"] = bn.dLdBW, bn.dLdBb
    bn.running_M, bn.running_V = case["running_M_eval"], case["running_V_eval"]
    case["BZ_iso_eval"] = bn.forward(Z_iso, eval=True)
    case["NZ_iso_eval"] = bn.NZ.copy()
    case["dLdZ_iso_eval"] = bn.backward(case["dLdBZ"])
    case["dLdBW_iso_eval"], case["dLdBb_iso_eval"] = bn.dLdBW, bn.dLdBb
    return case


def _batchnorm_input(rng, N, C, index):
    """(N, C) inputs; a constant column (index 1 mod 3) or a near-constant one (2 mod 3)."""
    Z = rng.normal(1.0, 2.0, (N, C))
    column = int(rng.integers(C))
    if index % 3 == 1:
        Z[:, column] = rng.normal(1.0, 2.0)
    elif index % 3 == 2:
        Z[:, column] = rng.normal(1.0, 2.0) + rng.normal(0, 1e-4, N)
    return Z


def sgd(rng, ref, index=0):
    """A 2-3-2 MLP (MLP1's shape); several steps with fresh gradients each time. Momentum cycles
    through 0 (plain SGD, its own branch), 0.9 and 0.5 with the case index."""
    steps = 3
    model = ref.models.MLP1()
    linears = [layer for layer in model.layers if isinstance(layer, ref.nn.Linear)]
    lr, momentum = float(rng.choice([0.1, 0.05])), (0.0, 0.9, 0.5)[index % 3]
    case = dict(lr=np.asarray(lr), momentum=np.asarray(momentum), steps=np.asarray(steps))
    for i, layer in enumerate(linears):
        layer.W, layer.b = rng.normal(size=layer.W.shape), rng.normal(size=layer.b.shape)
        case[f"W{i}"], case[f"b{i}"] = layer.W.copy(), layer.b.copy()
    opt = ref.optim.SGD(model, lr=lr, momentum=momentum)
    for s in range(steps):
        for i, layer in enumerate(linears):
            layer.dLdW, layer.dLdb = rng.normal(size=layer.W.shape), rng.normal(size=layer.b.shape)
            case[f"step{s}_dLdW{i}"], case[f"step{s}_dLdb{i}"] = layer.dLdW, layer.dLdb
        opt.step()
        for i, layer in enumerate(linears):
            case[f"step{s}_W{i}"], case[f"step{s}_b{i}"] = layer.W.copy(), layer.b.copy()
    return case


def mlp(model_name):
    def generate(rng, ref, index=0):
        model = getattr(ref.models, model_name)()
        linears = [layer for layer in model.layers if isinstance(layer, ref.nn.Linear)]
        N = int(rng.integers(1, 6))
        case = dict(A0=rng.normal(size=(N, 2)))
        for i, layer in enumerate(linears):
            layer.W, layer.b = rng.normal(size=layer.W.shape), rng.normal(0.5, 1, layer.b.shape)
            case[f"W{i}"], case[f"b{i}"] = layer.W.copy(), layer.b.copy()
        case["out"] = model.forward(case["A0"])
        case["dLdout"] = rng.normal(size=case["out"].shape)
        case["dLdA0"] = model.backward(case["dLdout"])
        for i, layer in enumerate(linears):
            case[f"dLdW{i}"], case[f"dLdb{i}"] = layer.dLdW, layer.dLdb
        case.update(_activations(model, case["A0"]))
        return case
    generate.__name__ = model_name.lower()
    return generate


def _activations(model, A0):
    """act{k}: the output of layer k of ``model`` on A0 (read back after forward, for the checks
    that a case can tell right wiring from wrong; the graded tests do not use them)."""
    out, A = {}, A0
    for k, layer in enumerate(model.layers):
        A = layer.forward(A, eval=True) if hasattr(layer, "running_M") else layer.forward(A)
        out[f"act{k}"] = A
    return out


def degeneracy(component, case):
    """Why ``case`` cannot tell right from wrong, or None.

    Every array a case holds (inputs and the reference's outputs) must be non-zero and, with two or
    more entries, not constant; a network's layers must each change what they are given (no dead or
    identity layer)."""
    for key, value in case.items():
        value = np.asarray(value)
        if value.ndim == 0 and key in SETTINGS:
            continue  # settings, not values
        if not np.all(np.isfinite(value)):
            return f"{key} is not finite"
        if not np.any(value):
            return f"{key} is all zeros"
        if value.size > 1 and np.ptp(value) <= 1e-12 * np.abs(value).max():
            return f"{key} is constant"
    acts = [case[f"act{k}"] for k in range(sum(key.startswith("act") for key in case))]
    previous = case.get("A0")
    for k, act in enumerate(acts):
        if not np.any(act):
            return f"layer {k} is dead (its output is all zeros)"
        if act.shape == previous.shape and np.allclose(act, previous):
            return f"layer {k} returns its input (skipping it would not show)"
        previous = act
    if acts and np.any(np.all(acts[-1] == 0, axis=0)):
        return "an output unit is dead for the whole batch"
    return None


# component -> (generator, number of public cases)
GENERATORS = {
    "linear": (linear, 4),
    "linear_nobias": (linear_nobias, 2),
    **{name: (activation(name), 3) for name in ACTIVATIONS},
    "softmax_large": (softmax_large, 2),
    "mse": (mse, 3),
    "cross_entropy": (cross_entropy, 3),
    "batchnorm": (batchnorm, 3),
    "sgd": (sgd, 3),
    "mlp0": (mlp("MLP0"), 2),
    "mlp1": (mlp("MLP1"), 2),
    "mlp4": (mlp("MLP4"), 2),
}
MAX_DRAWS = 1000


def generate(component, seed, ref, count=None):
    """The list of cases for ``component``, a pure function of (component, seed, reference)."""
    generator, default_count = GENERATORS[component]
    index = zlib.crc32(component.encode())  # stable per component, whatever else is added
    cases = []
    for i in range(default_count if count is None else count):
        rng = np.random.default_rng([seed, index, i])
        for _ in range(MAX_DRAWS):  # the same generator again, further along the same stream
            case = generator(rng, ref, i)
            if degeneracy(component, case) is None:
                break
        else:
            raise RuntimeError(f"{component}: no non-degenerate case in {MAX_DRAWS} draws "
                               f"(last: {degeneracy(component, case)})")
        cases.append(case)
    return cases
