"""Task 4.1: SGD with momentum — v = momentum·v + grad; param -= lr·v, for every parameter."""
import numpy as np
import pytest

from autograder.checking.checks import Diagnosis, Mismatch, expect_close, replaying_errors

from .test_mlp import sequential


def linear_layers(model, expected_count, model_name):
    """The Linear layers of a remote model, in order (a Remote's type names its class)."""
    layers = model.layers
    if not isinstance(layers, list):
        raise Mismatch(f"{model_name}.layers", f"expected a list of layers, got "
                       f"{type(layers).__name__}")
    linears = [layer for layer in layers if getattr(layer, "_ref", None) is not None
               and layer._ref.type.endswith(".Linear")]
    if len(linears) != expected_count:
        raise Mismatch(f"{model_name}.layers", f"expected {expected_count} Linear layers, found "
                       f"{len(linears)}")
    return linears


def simulate(params, grads, lr, mu, rule):
    """Trajectories of ``params`` (list of arrays) under an update ``rule``; grads[s][k]."""
    p = [x.copy() for x in params]
    v = [np.zeros_like(x) for x in params]
    out = []
    for step in grads:
        for k, g in enumerate(step):
            if rule == "correct":
                v[k] = mu * v[k] + g
                p[k] = p[k] - lr * v[k]
            elif rule == "no momentum":
                p[k] = p[k] - lr * g
            elif rule == "dampened":
                v[k] = mu * v[k] + (1 - mu) * g
                p[k] = p[k] - lr * v[k]
            elif rule == "stale velocity":
                p[k] = p[k] - lr * v[k]
                v[k] = mu * v[k] + g
            elif rule == "nesterov":
                v[k] = mu * v[k] + g
                p[k] = p[k] - lr * (g + mu * v[k])
            elif rule == "lr inside velocity twice":
                v[k] = mu * v[k] + lr * g
                p[k] = p[k] - lr * v[k]
            elif rule == "uphill":
                v[k] = mu * v[k] + g
                p[k] = p[k] + lr * v[k]
            elif rule == "assigned the step":
                v[k] = mu * v[k] + g
                p[k] = lr * v[k]
            elif rule == "assigned the gradient":
                p[k] = g.copy()
            elif rule == "not updated":
                pass
        out.append([x.copy() for x in p])
    return out


RULE_HINTS = {
    "not updated": "the parameter did not change: update it in place (param -= ...); assigning "
                   "to a loop variable or a local name does not change the layer's array",
    "no momentum": "momentum is ignored: keep a velocity per parameter, v = momentum·v + grad, "
                   "and update param -= lr·v",
    "dampened": "the velocity is an average (v = μ·v + (1-μ)·grad); the rule is "
                "v = μ·v + grad (no dampening, as PyTorch)",
    "stale velocity": "the parameter was updated with the previous step's velocity: update v "
                      "first (v = μ·v + grad), then param -= lr·v",
    "nesterov": "this is Nesterov momentum; plain momentum updates param -= lr·v with "
                "v = μ·v + grad",
    "uphill": "the parameter moved up the gradient: descent subtracts the step, param -= lr·v",
    "assigned the step": "the parameter was replaced by the step lr·v; subtract the step from "
                         "it in place: param -= lr·v",
    "lr inside velocity twice": "lr is applied twice: either v = μ·v + grad and param -= lr·v, "
                                "or v = μ·v - lr·grad and param += v",
    "assigned the gradient": "the parameter was replaced by its gradient: the gradient only "
                             "enters the velocity, and param -= lr·v moves the parameter",
}
RULE_IDS = {rule: "sgd." + rule.replace(" ", "_") for rule in RULE_HINTS}
BIAS_FROM_W = ("sgd.bias_velocity_from_dLdW", "b's velocity was built from dLdW: each parameter's "
               "velocity uses that parameter's own gradient (b with dLdb)")


@pytest.mark.cases("sgd")
def test_sgd_steps(sub, case):
    """Three SGD steps on a model of two Linear layers (2 -> 3 -> 2, with ReLUs, as MLP1; the
    grader lists the layers, so MLP1's own list is Task 6.2's alone), fresh gradients each step;
    W and b checked after every step."""
    lr, mu, steps = float(case["lr"]), float(case["momentum"]), int(case["steps"])
    model, _, linears = sequential(sub, [2, 3, 2], case)
    linears = [layer for _, layer in linears]
    opt = sub.new("mytorch.optim.SGD", model, lr=lr, momentum=mu)

    names = [f"{q}{i}" for i in range(len(linears)) for q in ("W", "b")]
    params = [case[n] for n in names]
    grads = [[case[f"step{s}_dLd{n}"] for n in names] for s in range(steps)]
    expected = simulate(params, grads, lr, mu, "correct")
    reads = []  # reads[s]: W and b of each layer after step s, answered with the next step
    for s in range(steps):
        for i, layer in enumerate(linears):
            layer.dLdW, layer.dLdb = case[f"step{s}_dLdW{i}"], case[f"step{s}_dLdb{i}"]
        with replaying_errors(f"SGD.step() (step {s + 1} of {steps})",
                              [bias_from_W_error(params, grads[s])]):
            opt.step()
        reads.append([sub.read(layer, "W", "b", wait=False) for layer in linears])
    actual = [[v for r in step for v in r.result()] for step in reads]  # in `names` order
    for s in range(steps):
        for k, n in enumerate(names):
            expect_explained(actual[s][k], case[f"step{s}_{n}"],
                             f"{n[0]} of Linear layer {n[1:]} after step {s + 1} of {steps} "
                             f"(lr={lr:g}, momentum={mu:g})",
                             lambda s=s, k=k: explain(actual, expected, params, grads, lr, mu,
                                                      s, k))


def bias_from_W_error(params, grads):
    """The error an in-place ``v += dLdW`` raises on the first bias's (C_out, 1) velocity."""
    def replay():
        v = np.zeros_like(params[1])
        v += grads[0]
    return Diagnosis(*BIAS_FROM_W, replay=replay)


def expect_explained(actual, expected, name, diagnoses):
    """``expect_close``; the (costly) ``diagnoses()`` are computed only for a wrong value."""
    try:
        expect_close(actual, expected, name)
    except Mismatch:
        expect_close(actual, expected, name, diagnoses=diagnoses())


def explain(actual, expected, params, grads, lr, mu, s, k, hints=None):
    """{hint: value} for the update rules that reproduce the student's whole trajectory (all steps,
    all parameters) if any does, else for the rules whose step ``s`` differs from the right one."""
    hints = hints or RULE_HINTS
    wrong = {rule: simulate(params, grads, lr, mu, rule) for rule in hints}

    def same(a, b):
        return isinstance(a, np.ndarray) and a.shape == b.shape and np.allclose(a, b, rtol=1e-6,
                                                                               atol=1e-9)
    whole = [rule for rule in hints
             if all(same(a, w) for a_s, w_s in zip(actual, wrong[rule]) for a, w in zip(a_s, w_s))]
    rules = whole or [rule for rule in hints if not same(wrong[rule][s][k], expected[s][k])]
    found = [Diagnosis(RULE_IDS.get(rule), hints[rule], value=wrong[rule][s][k]) for rule in rules]
    if k % 2 and len(params) % 2 == 0:  # a bias b_i (names W0, b0, W1, b1, ...): from its W's grad
        from_W = [[g_s[i - i % 2] if i % 2 else g for i, g in enumerate(g_s)] for g_s in grads]
        found.append(Diagnosis(*BIAS_FROM_W, value=simulate(params, from_W, lr, mu,
                                                             "correct")[s][k]))
    return found


def test_sgd_updates_batchnorm_parameters(sub):
    """SGD updates BatchNorm1d's BW and Bb like any other parameter (two steps, momentum 0.5)."""
    rng = np.random.default_rng([20261123, 4, 1])
    lr, mu = 0.1, 0.5
    model = sub.new("mytorch.models.MLP", [2, 3, 2], batchnorm=True)
    layers = model.layers
    bns = [layer for layer in layers if getattr(layer, "_ref", None) is not None
           and layer._ref.type.endswith(".BatchNorm1d")] if isinstance(layers, list) else []
    if len(bns) != 1:
        raise Mismatch("MLP([2, 3, 2], batchnorm=True).layers",
                       f"expected one BatchNorm1d layer, found {len(bns)}")
    bn = bns[0]
    BW, Bb = rng.normal(1, 0.5, (1, 3)), rng.normal(0, 0.5, (1, 3))
    bn.BW, bn.Bb = BW, Bb
    opt = sub.new("mytorch.optim.SGD", model, lr=lr, momentum=mu)
    grads = [[rng.normal(size=(1, 3)), rng.normal(size=(1, 3))] for _ in range(2)]
    expected = simulate([BW, Bb], grads, lr, mu, "correct")
    hints = dict(RULE_HINTS)
    hints["not updated"] = ("BatchNorm1d's parameters did not change: update every (parameter, "
                            "gradient) pair that model.parameters() lists — BW/Bb as well as "
                            "W/b — in place")
    actual = []
    for gBW, gBb in grads:
        bn.dLdBW, bn.dLdBb = gBW, gBb
        opt.step()
        actual.append([bn.BW, bn.Bb])
    for s in range(len(grads)):
        for k, q in enumerate(("BW", "Bb")):
            expect_explained(actual[s][k], expected[s][k],
                             f"BatchNorm1d.{q} after step {s + 1} of {len(grads)} "
                             f"(lr={lr:g}, momentum={mu:g})",
                             lambda s=s, k=k: explain(actual, expected, [BW, Bb], grads, lr,
                                                      mu, s, k, hints))
