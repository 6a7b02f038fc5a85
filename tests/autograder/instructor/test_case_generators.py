"""Generated cases, public and hidden, never let a wrong answer through by being degenerate: no
expected output is all zeros or constant, no network is dead, and each set of cases covers the
reference's branches (momentum 0, constant and near-constant BatchNorm features)."""
import numpy as np
import pytest

from autograder.assignments.hw1 import generators as case_generators
from autograder.grading.assignment import find
from autograder.grading.case_store import load_cases
from autograder.instructor.hidden import HIDDEN_CASES_PER_COMPONENT, secret_seed
from autograder.instructor.reference import load_reference

HW1_CASES = find("hw1").cases_dir

SECRETS = 200
SETTINGS = {"lr", "momentum", "steps", "alpha"}


def relu_stack(case, count):
    """The ReLU outputs of an MLP0/1/4 case, recomputed here from its weights (not from the
    generator's own bookkeeping)."""
    A, outs = case["A0"], []
    for k in range(count):
        A = np.maximum(A @ case[f"W{k}"].T + case[f"b{k}"].T, 0)
        outs.append(A)
    return outs


def assert_not_degenerate(component, case, where):
    for key, value in case.items():
        if key in SETTINGS:
            continue
        assert np.all(np.isfinite(value)), f"{where}: {key} is not finite"
        assert np.any(value != 0), f"{where}: {key} is all zeros"
        if value.size > 1:
            assert np.ptp(value) > 0, f"{where}: {key} is constant"
    linears = {"mlp0": 1, "mlp1": 2, "mlp4": 5}.get(component)
    if linears:
        outs = relu_stack(case, linears)
        assert np.allclose(outs[-1], case["out"]), f"{where}: out is not the network's output"
        for k, out in enumerate(outs):
            assert np.any(out > 0), f"{where}: ReLU layer {k + 1} is dead"
            assert np.any(out == 0), f"{where}: ReLU layer {k + 1} clips nothing"


@pytest.fixture(scope="module")
def ref():
    return load_reference()


def test_public_cases_are_not_degenerate():
    for component in case_generators.GENERATORS:
        for i, case in enumerate(load_cases(component, HW1_CASES)):
            assert_not_degenerate(component, case, f"public {component} case {i}")


def test_hidden_cases_are_not_degenerate_for_many_secrets(ref):
    for n in range(SECRETS):
        seed = secret_seed(f"a secret of the class number {n}")
        for component in case_generators.GENERATORS:
            cases = case_generators.generate(component, seed, ref, HIDDEN_CASES_PER_COMPONENT)
            for i, case in enumerate(cases):
                assert_not_degenerate(component, case, f"secret {n}, {component} case {i}")


def test_a_degenerate_draw_is_recognised(ref):
    """The redraw could be needed: a dead network and a constant output are named."""
    case = case_generators.generate("mlp1", 1, ref, 1)[0]
    dead = dict(case, b0=case["b0"] - 100.0)
    model = ref.models.MLP1()
    for k, layer in enumerate(each for each in model.layers if isinstance(each, ref.nn.Linear)):
        layer.W, layer.b = dead[f"W{k}"], dead[f"b{k}"]
    dead["out"] = model.forward(dead["A0"])
    dead.update(case_generators._activations(model, dead["A0"]))
    assert "all zeros" in case_generators.degeneracy("mlp1", dead)
    assert "constant" in case_generators.degeneracy("relu", dict(Z=np.ones((2, 2)),
                                                                  A=np.ones((2, 2))))


def test_every_case_set_covers_the_branches(ref):
    """Momentum 0 and not; a constant and a near-constant BatchNorm feature, in any 3 cases."""
    for seed in (0, 1, secret_seed("another secret")):
        momenta = {float(c["momentum"]) for c in case_generators.generate("sgd", seed, ref, 3)}
        assert momenta == {0.0, 0.9, 0.5}
        spreads = [np.ptp(c["Z"], axis=0).min()
                   for c in case_generators.generate("batchnorm", seed, ref, 3)]
        assert spreads[0] > 1e-2 and spreads[1] == 0 and 0 < spreads[2] < 1e-3, spreads
