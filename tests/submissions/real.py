"""Mistakes and correct variants as real students write them (Linear, activations, losses).

Same form as ``buggy.py`` (the reference with text edits; the exact failing items and quantities,
the hints, and the diagnosis ids every failing item must record). Each one is graded only on the
tasks its edit can reach.
"""
from tests.submissions.buggy import ACT, BN, BN_TASKS, LINEAR, LOSS, Variant, edit

LINEAR_ONLY = ("1.1", "1.2")


def _cases(test, component, keep):
    from autograder.grading.assignment import find
    from autograder.grading.case_store import load_cases

    cases = load_cases(component, find("hw1").cases_dir)
    return tuple(f"{test}[case{i}]" for i, case in enumerate(cases) if keep(case))


def _square(case):
    """A Linear case whose W is square: A @ W runs (and gives wrong numbers) instead of raising."""
    return case["W"].shape[0] == case["W"].shape[1]


REAL_BUGS = [
    Variant(
        "batchnorm_dLdBW_flat", "BatchNorm1d.backward stores dLdBW as (C,) with the right values: "
        "one shape mistake, charged its share once per reference-output check",
        (edit(BN, "self.dLdBW = np.sum(dLdBZ * self.NZ, axis=0, keepdims=True)",
              "self.dLdBW = np.sum(dLdBZ * self.NZ, axis=0)"),),
        fails={"5.2": (("test_batchnorm.py::test_backward", "self.dLdBW:shape"),
                       ("test_batchnorm.py::test_backward_eval", "self.dLdBW:shape"))},
        hints={"5.2": "the values are right: reshape to (1,"},
        diagnoses={"5.2": {"dLdBW.shape"}}, tasks=BN_TASKS),
    Variant(
        "linear_bias_as_column", "Linear.forward adds b, a (C_out, 1) column, without transposing",
        (edit(LINEAR, "            Z += self.b.T  #", "            Z = Z + self.b  #"),),
        fails={},  # filled in below: which cases broadcast (N = 1 or N = C_out) and which raise
        hints={"1.1": "b has shape (C_out, 1), a column"},
        diagnoses={"1.1": {"linear.Z.bias_as_column"}}, tasks=LINEAR_ONLY),
    Variant(
        "linear_A_at_W", "Linear.forward computes A @ W (W is (C_out, C_in)): NumPy's matmul error",
        (edit(LINEAR, "        Z = A @ self.W.T\n", "        Z = A @ self.W\n"),),
        fails={"1.1": ("test_linear.py::test_forward", "test_linear.py::test_forward_without_bias",
                       "test_linear.py::test_works_in_float64")},
        hints={"1.1": "the product is A @ W.T"},
        diagnoses={"1.1": {"linear.Z.W_not_transposed"}}, tasks=LINEAR_ONLY),
    Variant(
        "linear_dLdA_W_transposed", "Linear.backward computes dLdA = dLdZ @ W.T",
        (edit(LINEAR, "dLdA = dLdZ @ self.W if self.input_grad else None",
              "dLdA = dLdZ @ self.W.T if self.input_grad else None"),),
        fails={},  # filled in below: which cases have a square W
        hints={"1.2": "no transpose here"},
        diagnoses={"1.2": {"linear.dLdA.W_transposed"}}, tasks=LINEAR_ONLY),
    Variant(
        "sigmoid_missing_one_minus_A", "Sigmoid.backward forgets the factor (1 - A)",
        (edit(ACT, "dLdZ = dLdA * self.A * (1.0 - self.A)", "dLdZ = dLdA * self.A"),),
        fails={"2.1": (("test_activation.py::test_sigmoid", "dLdZ"),
                       "test_activation.py::test_sigmoid_gradient_check")},
        hints={"2.1": "the factor (1 - A) is missing"},
        diagnoses={"2.1": {"sigmoid.dLdZ.one_minus_A_missing"}}, tasks=("2.1",)),
    Variant(
        "gelu_pdf_unnormalised", "GELU.backward's φ lacks the factor 1/√(2π)",
        (edit(ACT, "pdf = np.exp(-0.5 * Z * Z) / math.sqrt(2.0 * math.pi)",
              "pdf = np.exp(-0.5 * Z * Z)"),),
        fails={"2.4": (("test_activation.py::test_gelu", "dLdZ"),
                       "test_activation.py::test_gelu_gradient_check")},
        hints={"2.4": "1/√(2π) is missing"},
        diagnoses={"2.4": {"gelu.dLdZ.pdf_unnormalised"}}, tasks=("2.4",)),
    Variant(
        "softmax_jacobian_diagonal_doubled",
        "Softmax.backward with the Jacobian diag(a(1-a)) - aaᵀ",
        (edit(ACT, "dLdZ = self.A * (dLdA - (dLdA * self.A).sum(axis=1, keepdims=True))",
              "dLdZ = dLdA * self.A * (1 - self.A) - self.A * (dLdA * self.A).sum(axis=1, "
              "keepdims=True)"),),
        fails={"2.5": (("test_activation.py::test_softmax", "dLdZ"),
                       ("test_activation.py::test_softmax_large_inputs", "dLdZ"),
                       "test_activation.py::test_softmax_gradient_check")},
        hints={"2.5": "not diag(a·(1 - a)) - a·aᵀ"},
        diagnoses={"2.5": {"softmax.jacobian_diagonal_doubled"}}, tasks=("2.5",)),
    Variant(
        "softmax_leading_A_missing", "Softmax.backward without the leading factor A",
        (edit(ACT, "dLdZ = self.A * (dLdA - (dLdA * self.A).sum(axis=1, keepdims=True))",
              "dLdZ = dLdA - (dLdA * self.A).sum(axis=1, keepdims=True)"),),
        fails={"2.5": (("test_activation.py::test_softmax", "dLdZ"),
                       ("test_activation.py::test_softmax_large_inputs", "dLdZ"),
                       "test_activation.py::test_softmax_gradient_check")},
        hints={"2.5": "the leading factor A is missing"},
        diagnoses={"2.5": {"softmax.dLdZ.leading_A_missing"}}, tasks=("2.5",)),
    Variant(
        "relu_mask_inverted", "ReLU.backward passes the gradient where A <= 0",
        (edit(ACT, "dLdZ = dLdA * (self.A > 0)", "dLdZ = dLdA * (self.A <= 0)"),),
        fails={"2.3": (("test_activation.py::test_relu", "dLdZ"),
                       "test_activation.py::test_relu_gradient_check",
                       ("test_activation.py::test_relu_gradient_at_zero", "dLdZ"))},
        hints={"2.3": "the mask is inverted"},
        diagnoses={"2.3": {"relu.dLdZ.mask_inverted"}}, tasks=("2.3",)),
    Variant(
        "mse_factor_2_missing", "MSELoss.backward forgets the 2 of the square's derivative",
        (edit(LOSS, "dLdA = 2.0 * (self.A - self.Y) / (self.N * self.C)",
              "dLdA = (self.A - self.Y) / (self.N * self.C)"),),
        fails={"3.1": (("test_loss.py::test_mse", "dLdA"),
                       "test_loss.py::test_mse_gradient_check")},
        hints={"3.1": "the factor 2 from the derivative of the square is missing"},
        diagnoses={"3.1": {"mse.dLdA.factor_2_missing"}}, tasks=("3.1",)),
]


REAL_CORRECT = [
    # eps inside the square root, computed the ways students write it (all within rounding of
    # sqrt(V + 1e-8)); eps = 1e-12 instead is rejected by the near-constant feature (NZ off by 0.32)
    Variant(
        "batchnorm_var_by_hand", "BatchNorm1d computes V = mean((Z - M)²) itself: correct code",
        (edit(BN, "            self.V = Z.var(axis=0, keepdims=True)\n",
              "            self.V = ((Z - self.M) ** 2).mean(axis=0, keepdims=True)\n"),),
        fails={}, tasks=BN_TASKS),
    Variant(
        "batchnorm_rsqrt_power", "BatchNorm1d multiplies by (V + eps) ** -0.5 in forward and "
        "backward: correct code",
        (edit(BN, "self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)",
              "self.NZ = (Z - self.M) * (self.V + self.eps) ** -0.5"),
         edit(BN, "inv_std = 1.0 / np.sqrt(self.V + self.eps)",
              "inv_std = (self.V + self.eps) ** -0.5")),
        fails={}, tasks=BN_TASKS),
    Variant(
        "batchnorm_var_from_std", "BatchNorm1d squares np.std for V, then sqrt(V + eps): correct "
        "code",
        (edit(BN, "            self.V = Z.var(axis=0, keepdims=True)\n",
              "            self.V = np.std(Z, axis=0, keepdims=True) ** 2\n"),),
        fails={}, tasks=BN_TASKS),
    Variant(
        "ce_log_softmax_plus_1e-8", "CrossEntropyLoss takes log(softmax + 1e-8): off by <= 7e-6 on "
        "ordinary cases (within the loss tolerance); only logits ~800 apart show the eps",
        (edit(LOSS, "        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, "
                    "keepdims=True))\n        self.softmax = np.exp(log_softmax)\n",
              "        E = np.exp(shifted)\n        self.softmax = E / E.sum(axis=1, "
              "keepdims=True)\n"
              "        log_softmax = np.log(self.softmax + 1e-8)\n"),),
        fails={"3.2": tuple(("test_loss.py::test_cross_entropy_large_logits" + f"[case{i}]", "L")
                            for i in range(3))},
        hints={"3.2": "log(softmax + eps) cannot go below log(eps)"},
        diagnoses={"3.2": {"ce.log_of_softmax_plus_eps"}}, tasks=("3.2",)),
    Variant(
        "batchnorm_V_kept_flat", "BatchNorm1d keeps V as (C,) (no keepdims): it broadcasts, "
        "matches PyTorch, and backward relies on it: correct code",
        (edit(BN, "            self.V = Z.var(axis=0, keepdims=True)\n",
              "            self.V = Z.var(axis=0)\n"),),
        fails={}, tasks=BN_TASKS),
    Variant(
        "ce_log_softmax_plus_eps", "CrossEntropyLoss takes log(softmax + 1e-12): its backward is "
        "exactly PyTorch's, so only the loss of logits ~800 apart (where 1e-12 dominates) is wrong",
        (edit(LOSS, "        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, "
                    "keepdims=True))\n        self.softmax = np.exp(log_softmax)\n",
              "        E = np.exp(shifted)\n        self.softmax = E / E.sum(axis=1, "
              "keepdims=True)\n"
              "        log_softmax = np.log(self.softmax + 1e-12)\n"),),
        fails={"3.2": tuple(("test_loss.py::test_cross_entropy_large_logits" + f"[case{i}]", "L")
                            for i in range(3))},
        hints={"3.2": "log(softmax + eps) cannot go below log(eps)"},
        diagnoses={"3.2": {"ce.log_of_softmax_plus_eps"}}, tasks=("3.2",)),
    Variant(
        "linear_without_bias_parameter", "Linear(in_features, out_features, ...) has no bias "
        "parameter (always a bias): only the bias=False tests can fail",
        (edit(LINEAR, "    def __init__(self, in_features, out_features, bias=True, rng=None):",
              "    def __init__(self, in_features, out_features, rng=None):\n"
              "        bias = True"),),
        fails={"1.1": ("test_linear.py::test_forward_without_bias",),
               "1.2": ("test_linear.py::test_backward_without_bias",)},
        hints={"1.1": "unexpected keyword argument 'bias'"}, tasks=LINEAR_ONLY),
    Variant(
        "float32_throughout", "Linear, the activations and the losses compute in float32: only "
        "the documented float64 test is lost",
        (edit(LINEAR, "        self.A = A\n        self.N = A.shape[0]\n        Z = A @ self.W.T\n",
              "        A = A.astype(np.float32)\n        self.A = A\n        self.N = A.shape[0]\n"
              "        Z = A @ self.W.T.astype(np.float32)\n"),
         edit(LINEAR, "            Z += self.b.T  #", "            Z += "
                                                      "self.b.T.astype(np.float32)  #"),
         edit(LINEAR, "dLdA = dLdZ @ self.W if self.input_grad else None",
              "dLdZ = dLdZ.astype(np.float32)\n"
              "        dLdA = dLdZ @ self.W.astype(np.float32) if self.input_grad else None"),
         edit(ACT, "        self.A = np.tanh(Z)\n", "        self.A = "
                                                    "np.tanh(Z.astype(np.float32))\n"),
         edit(ACT, "        E = np.exp(-np.abs(Z))\n", "        Z = Z.astype(np.float32)\n"
                                                     "        E = np.exp(-np.abs(Z))\n"),
         edit(ACT, "        self.A = np.maximum(Z, 0)\n",
              "        self.A = np.maximum(Z.astype(np.float32), 0)\n"),
         edit(ACT, "        E = np.exp(Z - Z.max(axis=1, keepdims=True))  #",
              "        Z = Z.astype(np.float32)\n        E = np.exp(Z - Z.max(axis=1, "
              "keepdims=True))  #"),
         edit(LOSS, "        self.A, self.Y = A, Y\n",
              "        A, Y = A.astype(np.float32), Y.astype(np.float32)\n"
              "        self.A, self.Y = A, Y\n"),
         edit(LOSS, "        self.Y = Y\n        self.N = A.shape[0]\n",
              "        A, Y = A.astype(np.float32), Y.astype(np.float32)\n"
              "        self.Y = Y\n        self.N = A.shape[0]\n")),
        fails={"1.1": ("test_linear.py::test_works_in_float64",)},
        hints={"1.1": "must compute in float64"},
        diagnoses={"1.1": {"linear.not_float64"}},
        tasks=("1.1", "1.2", "2.1", "2.2", "2.3", "2.5", "3.1", "3.2")),
]


def _fill():
    """Z + b raises unless it broadcasts; dLdZ @ W.T raises (before dLdW and dLdb are stored)
    unless W is square; then only dLdA is wrong."""
    by_name = {v.name: v for v in REAL_BUGS}
    # (C_out = 1: b.T is b.) The float64 check fails where Z + b raises and is withheld elsewhere
    # (zeros are float64 too: it counts only once test_forward passes)
    by_name["linear_bias_as_column"].fails["1.1"] = _cases(
        "test_linear.py::test_forward", "linear", lambda c: c["W"].shape[0] != 1) + (
        "test_linear.py::test_works_in_float64",)
    raising = ("dLdA", "self.dLdW", "self.dLdb")  # backward raised before storing dLdW, dLdb

    def items(test, component, bad):
        return tuple((item, *(bad if not square else ("dLdA",)))
                     for square in (False, True)
                     for item in _cases(test, component, lambda c, s=square: _square(c) == s))

    by_name["linear_dLdA_W_transposed"].fails["1.2"] = (
        items("test_linear.py::test_backward", "linear", raising)
        + items("test_linear.py::test_backward_without_bias", "linear_nobias", raising[:2])
        + tuple((item, *raising[1:]) for item in _cases(
            "test_linear.py::test_backward_overwrites_gradients", "linear",
            lambda c: not _square(c)))
        + (("test_linear.py::test_gradient_check", *raising),))


_fill()
REAL = REAL_BUGS + REAL_CORRECT
