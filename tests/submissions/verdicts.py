"""The cases quoted in the verdicts issue (round 3), each with its exact expected per-task scores
(from ``fails`` / ``not_graded`` and the rubric's weights, see ``buggy.py``) and hints.

* Task 6 grades what students write: MLP4 without its last ReLU loses Task 6.3's points.
* "Not graded" is not "lost": a Linear or ReLU bug costs nothing in Tasks 6.x, a BatchNorm forward
  bug nothing in Task 5.2 (its gradient check is not graded, and Task 5.2's other tests carry its
  points).
* The catalogue names the mistakes the issue lists (dLdW divided by N, GELU's pdf exponent, ...).
"""
from tests.submissions.buggy import ACT, BN, BN_TASKS, LINEAR, LOSS, MLP, SGD, Variant, edit

LINEAR_TASKS = ("1.1", "1.2", "4.1", "6.1", "6.2", "6.3")
LOOPS = ("test_mlp.py::test_loops_one_dense", "test_mlp.py::test_loops_two_dense",
         "test_mlp.py::test_loops_five_dense", "test_mlp.py::test_loops_random_inputs")

VERDICT_CASES = [
    Variant(
        "mlp4_last_relu_missing", "MLP4 declares no ReLU after its last Linear layer",
        (edit(MLP, "self.layers += [Linear(c_in, c_out, rng=rng), ReLU()]",
              "self.layers += [Linear(c_in, c_out, rng=rng), ReLU()]\n"
              "        self.layers.pop()"),),
        fails={"6.3": ("test_mlp.py::test_mlp4_layers",)},
        hints={"6.3": "the last one included, is followed by a ReLU"},
        diagnoses={"6.3": {"mlp.layers.last_activation_missing"}}, tasks=("6.1", "6.2", "6.3")),
    Variant(
        "linear_backward_raises", "Linear.backward raises: Task 6.1's loops cannot be told by "
        "these layers, so those checks are not graded and MLP0's layer list carries 6.1",
        (edit(LINEAR, "self.dLdW = dLdZ.T @ self.A", "self.dLdW = dLdZ @ self.A"),),
        fails={"1.2": (("test_linear.py::test_backward[case0]", "dLdA", "self.dLdW", "self.dLdb"),
                       ("test_linear.py::test_backward[case2]", "dLdA", "self.dLdW", "self.dLdb"),
                       ("test_linear.py::test_backward[case3]", "dLdA", "self.dLdW", "self.dLdb"),
                       ("test_linear.py::test_backward_without_bias[case0]", "dLdA", "self.dLdW"),
                       "test_linear.py::test_gradient_check",
                       ("test_linear.py::test_backward_overwrites_gradients[case0]", "self.dLdW",
                        "self.dLdb"),
                       ("test_linear.py::test_backward_overwrites_gradients[case2]", "self.dLdW",
                        "self.dLdb"),
                       ("test_linear.py::test_backward_overwrites_gradients[case3]", "self.dLdW",
                        "self.dLdb"))},
        # (on MLP0's one layer the wrong product happens to have a shape that runs, and is the
        # same both ways: graded, and right)
        not_graded={"6.1": LOOPS[1:]},
        hints={"6.1": "not graded"}, tasks=LINEAR_TASKS),
    Variant(
        "relu_forward_zeros", "ReLU.forward returns zeros: costs Task 2.3 only",
        (edit(ACT, "self.A = np.maximum(Z, 0)", "self.A = np.minimum(Z, 0) * 0.0"),),
        fails={"2.3": (("test_activation.py::test_relu", "A", "dLdZ"),
                       "test_activation.py::test_relu_gradient_check",
                       ("test_activation.py::test_relu_gradient_at_zero", "A", "dLdZ"))},
        not_graded={"6.1": LOOPS},
        tasks=("2.3", "6.1", "6.2", "6.3")),
    Variant(
        "batchnorm_std_for_var", "BatchNorm1d's forward uses the standard deviation as V: costs "
        "Task 5.1; Task 5.2's gradient check is not graded, its other tests carry the points",
        (edit(BN, "self.V = Z.var(axis=0, keepdims=True)",
              "self.V = Z.std(axis=0, keepdims=True)"),),
        fails={"5.1": (("test_batchnorm.py::test_forward_train", "BZ", "self.NZ"),
                       ("test_batchnorm.py::test_running_statistics", "self.running_V"))},
        not_graded={"5.2": ("test_batchnorm.py::test_gradient_check",)},
        hints={"5.1": "V is the variance, not the standard deviation", "5.2": "not graded"},
        diagnoses={"5.1": {"bn.std_used_for_var"}}, tasks=BN_TASKS),
    Variant(
        "gelu_pdf_exponent", "GELU's pdf written exp(-Z²)",
        (edit(ACT, "pdf = np.exp(-0.5 * Z * Z) / math.sqrt(2.0 * math.pi)",
              "pdf = np.exp(-Z * Z) / math.sqrt(2.0 * math.pi)"),),
        fails={"2.4": (("test_activation.py::test_gelu", "dLdZ"),
                       ("test_activation.py::test_gelu_gradient_check", "dLdZ"))},
        hints={"2.4": "the exponent is -Z²/2"}, diagnoses={"2.4": {"gelu.dLdZ.pdf_exponent"}},
        tasks=("2.4",)),
    Variant(
        "softmax_max_wrong_axis", "softmax subtracts each column's max",
        (edit(ACT, "E = np.exp(Z - Z.max(axis=1, keepdims=True))",
              "E = np.exp(Z - Z.max(axis=0, keepdims=True))"),),
        fails={"2.5": (("test_activation.py::test_softmax", "A", "dLdZ"),
                       ("test_activation.py::test_softmax_large_inputs", "A", "dLdZ"),
                       "test_activation.py::test_softmax_gradient_check")},
        hints={"2.5": "subtract each ROW's max"}, tasks=("2.5",)),
    Variant(
        "sgd_ascent", "SGD adds the step: p += lr·v",
        (edit(SGD, "p -= self.lr * v", "p += self.lr * v"),),
        fails={"4.1": "*"}, hints={"4.1": "descent subtracts the step"},
        diagnoses={"4.1": {"sgd.uphill"}}, tasks=("4.1",)),
    Variant(
        "sgd_parameter_is_gradient", "SGD sets each parameter to its gradient (W = dLdW)",
        (edit(SGD, "p -= self.lr * v", "p[...] = grad"),),
        fails={"4.1": "*"}, hints={"4.1": "the parameter was replaced by its gradient"},
        tasks=("4.1",)),
    Variant(
        "sgd_bias_velocity_from_dLdW", "b's velocity built from dLdW (raises in place)",
        (edit(SGD, "        for v, (p, grad) in zip(self.velocities, self.model.parameters()):\n"
                   "            v *= self.momentum\n            v += grad\n",
              "        pairs = self.model.parameters()\n"
              "        for k, (v, (p, grad)) in enumerate(zip(self.velocities, pairs)):\n"
              "            v *= self.momentum\n"
              "            v += pairs[k - 1][1] if p.shape[1:] == (1,) and k else grad\n"),),
        fails={"4.1": "*"},  # (BatchNorm's (1, C) Bb takes BW's gradient too)
        hints={"4.1": "b's velocity was built from dLdW"}, tasks=("4.1",)),
    Variant(
        "ce_logsumexp_unshifted", "cross-entropy's logsumexp without the max shift",
        (edit(LOSS, "log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
              "log_softmax = A - np.log(np.exp(A).sum(axis=1, keepdims=True))"),),
        fails={"3.2": (("test_loss.py::test_cross_entropy_large_logits[case0]", "L", "dLdA"),
                       ("test_loss.py::test_cross_entropy_large_logits[case1]", "L", "dLdA"))},
        # (case2's logits overflow nothing: right there; a loss that is not finite names the
        # mistake once, its gradient with the same id)
        hints={"3.2": "exp overflows"}, diagnoses={"3.2": {"ce.not_log_sum_exp"}},
        tasks=("3.2",)),
]
