"""A corpus of submissions made from the reference ``mytorch/`` by small text edits.

Each ``Variant`` is a copy of the reference with ``edits`` applied. An edit's ``old`` text must
occur exactly once in the reference file (``apply_variant`` checks it), so when the reference
changes the corpus breaks loudly instead of silently testing nothing.

For every variant the expected outcome is stated:

* ``fails``: task id -> the graded test items that must fail, as ``"module.py::test_name"`` (every
  case of that test) or ``"module.py::test_name[case1]"`` (that case only); a tuple
  ``("module.py::test_name", "dLdW", ...)`` fails only those quantities of the test (each
  quantity of a test earns its own share of its points, see autograder/checking/quantities.py).
  Every
  other task must get full marks; the expected score of each task follows from the rubric's weights.
* ``hints``: task id -> a piece of text that must appear in that task's feedback.
* ``not_graded``: task id -> the items (as ``fails``) that another task's bug makes impossible to
  grade: status "not graded", no cost, their points carried by the task's other items.
* ``diagnoses``: task id -> the set of diagnosis ids (``checks.Diagnosis``) that every failing item
  of the task must record in results.json's data: one bug gets one hint in every test.

Three kinds: ``BUGS`` (plausible student mistakes: the grader must see them and say what they are),
``CORRECT`` (correct code written differently: full marks) and ``FAULTS`` (code that attacks or
breaks the grader: only the task concerned loses its points, and the run still reports every task).
"""
import shutil
from dataclasses import dataclass, field
from pathlib import Path

LINEAR, ACT, LOSS, BN = ("mytorch/nn/linear.py", "mytorch/nn/activation.py", "mytorch/nn/loss.py",
                         "mytorch/nn/batchnorm.py")
SGD, MLP, NN_INIT = "mytorch/optim/sgd.py", "mytorch/models/mlp.py", "mytorch/nn/__init__.py"

ALL = "*"  # every graded test item of the task fails
LINEAR_TASKS = ("1.1", "1.2", "4.1", "6.1", "6.2", "6.3")  # SGD and the MLPs build Linear layers
BN_TASKS = ("4.1", "5.1", "5.2")  # SGD updates a BatchNorm1d too


@dataclass(frozen=True)
class Edit:
    path: str          # relative to the submission folder
    old: str | None    # text that occurs exactly once in the reference; None: append ``new``
    new: str


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    edits: tuple
    fails: dict = field(default_factory=dict)   # task -> tuple of failing items, or ALL
    hints: dict = field(default_factory=dict)   # task -> text that must be in the feedback
    diagnoses: dict = field(default_factory=dict)  # task -> the diagnosis ids every failing item
    #                                                of the task records (one bug, one id)
    not_graded: dict = field(default_factory=dict)  # task -> items another task's bug makes
    #                                                 ungradable: they cost nothing, the task's
    #                                                 other items carry their points
    args: tuple = ()                            # extra grader arguments (e.g. --timeout 1)
    tasks: tuple = ()  # grade only these tasks (-k), the ones whose code the edit can reach;
    #                    () = every task, for faults: those must leave the full table intact

    def grader_args(self):
        if not self.tasks:
            return tuple(self.args)
        return tuple(self.args) + ("-k", " or ".join("task" + t.replace(".", "_")
                                                     for t in self.tasks))


def edit(path, old, new):
    return Edit(path, old, new)


class CorpusError(AssertionError):
    pass


def apply_variant(variant, reference_root, dest):
    """Copy ``reference_root/mytorch`` to ``dest/mytorch`` and apply ``variant.edits``."""
    dest = Path(dest)
    shutil.copytree(Path(reference_root) / "mytorch", dest / "mytorch",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for e in variant.edits:
        path = dest / e.path
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if e.old is None:
            text += e.new
        else:
            count = text.count(e.old)
            if count != 1:
                raise CorpusError(f"variant {variant.name!r}: the text to replace occurs {count} "
                                  f"times in {e.path} (expected once; has the reference "
                                  f"changed?):\n{e.old}")
            text = text.replace(e.old, e.new)
        path.write_text(text, encoding="utf-8")
    return dest


# =============================================================================== bugs

BUGS = [
    Variant(
        "linear_dLdW_transposed", "Linear.backward stores dLdW transposed: A.T @ dLdZ",
        (edit(LINEAR, "self.dLdW = dLdZ.T @ self.A", "self.dLdW = self.A.T @ dLdZ"),),
        fails={"1.2": (("test_linear.py::test_backward", "self.dLdW"),
                       ("test_linear.py::test_backward_without_bias", "self.dLdW"),
                       ("test_linear.py::test_gradient_check", "self.dLdW"),
                       ("test_linear.py::test_backward_overwrites_gradients", "self.dLdW"))},
        # (Task 6.1 compares the loops with these same layers: nothing is charged there)
        hints={"1.2": "dLdW is transposed"},
        diagnoses={"1.2": {"linear.dLdW.transposed"}}, tasks=LINEAR_TASKS),
    Variant(
        "linear_dLdb_averaged", "Linear.backward averages dLdb over the batch instead of summing",
        (edit(LINEAR, "self.dLdb = dLdZ.sum(axis=0).reshape(-1, 1)",
              "self.dLdb = dLdZ.mean(axis=0).reshape(-1, 1)"),),
        fails={},  # filled in below (which cases have N > 1)
        hints={"1.2": "factor of 1/N"}, diagnoses={"1.2": {"linear.dLdb.averaged"}},
        tasks=LINEAR_TASKS),
    Variant(
        "linear_bias_missing", "Linear.forward forgets to add the bias",
        (edit(LINEAR, "            Z += self.b.T  #", "            pass  #"),),
        # (its backward equals the reference, so the gradient check passes: principle 3; the
        # float64 check, which zeros pass too, is withheld while test_forward fails)
        fails={"1.1": ("test_linear.py::test_forward", "test_linear.py::test_works_in_float64")},
        hints={"1.1": "the bias b is missing"},
        diagnoses={"1.1": {"linear.Z.bias_missing"}},
        tasks=LINEAR_TASKS),
    Variant(
        "relu_mask_ge", "ReLU.backward masks with Z >= 0, so relu'(0) = 1",
        (edit(ACT, "        self.A = np.maximum(Z, 0)\n",
              "        self.Z = Z\n        self.A = np.maximum(Z, 0)\n"),
         edit(ACT, "dLdZ = dLdA * (self.A > 0)", "dLdZ = dLdA * (self.Z >= 0)")),
        fails={"2.3": (("test_activation.py::test_relu_gradient_at_zero", "dLdZ"),)},
        hints={"2.3": "not Z >= 0"}, diagnoses={"2.3": {"relu.dLdZ.mask_ge"}},
        tasks=("2.3", "6.1", "6.2", "6.3")),
    Variant(
        "softmax_no_max_shift", "Softmax.forward exponentiates Z without subtracting the row max",
        (edit(ACT, "E = np.exp(Z - Z.max(axis=1, keepdims=True))", "E = np.exp(Z)"),),
        fails={"2.5": ("test_activation.py::test_softmax_large_inputs",)},
        hints={"2.5": "subtract each row's max"}, diagnoses={"2.5": {"softmax.no_max_shift"}},
        tasks=("2.5", "3.2")),
    Variant(
        "softmax_backward_elementwise", "Softmax.backward uses only the Jacobian's diagonal",
        (edit(ACT, "dLdZ = self.A * (dLdA - (dLdA * self.A).sum(axis=1, keepdims=True))",
              "dLdZ = dLdA * self.A * (1.0 - self.A)"),),
        fails={"2.5": (("test_activation.py::test_softmax", "dLdZ"),
                       ("test_activation.py::test_softmax_large_inputs", "dLdZ"),
                       "test_activation.py::test_softmax_gradient_check")},
        hints={"2.5": "only the diagonal of the Jacobian"},
        diagnoses={"2.5": {"softmax.jacobian_diagonal_only"}}, tasks=("2.5", "3.2")),
    Variant(
        "cross_entropy_not_averaged", "CrossEntropyLoss sums over the batch (no /N), forward "
        "and backward alike",
        (edit(LOSS, "L = float(-np.sum(Y * log_softmax)) / self.N",
              "L = float(-np.sum(Y * log_softmax))"),
         edit(LOSS, "dLdA = (self.softmax - self.Y) / self.N", "dLdA = self.softmax - self.Y")),
        fails={},  # filled in below (which cases have N > 1)
        hints={"3.2": "not divided by N"}, diagnoses={"3.2": {"ce.not_averaged"}},
        tasks=("3.1", "3.2")),
    Variant(
        "sgd_stale_velocity", "SGD updates the parameter with the previous step's velocity",
        (edit(SGD, "            v *= self.momentum\n            v += grad\n"
                   "            p -= self.lr * v\n",
              "            p -= self.lr * v\n            v *= self.momentum\n"
              "            v += grad\n"),),
        fails={"4.1": ALL},  # with momentum 0 too: the first step then moves nothing
        hints={"4.1": "the previous step's velocity"}, tasks=("4.1",)),
    Variant(
        "batchnorm_running_stats_in_training", "BatchNorm1d normalises with the running "
        "statistics while training (and still updates them)",
        (edit(BN, "        if self.evaluating:\n"
                  "            self.M, self.V = self.running_M, self.running_V\n"
                  "        else:\n            self.M = Z.mean(axis=0, keepdims=True)\n"
                  "            self.V = Z.var(axis=0, keepdims=True)\n            a = self.alpha\n"
                  "            self.running_M = a * self.running_M + (1 - a) * self.M\n"
                  "            self.running_V = a * self.running_V + (1 - a) * self.V * "
                  "(self.N / (self.N - 1))\n",
              "        self.M, self.V = self.running_M, self.running_V\n"
              "        if not self.evaluating:\n            M = Z.mean(axis=0, keepdims=True)\n"
              "            V = Z.var(axis=0, keepdims=True)\n            a = self.alpha\n"
              "            self.running_M = a * self.running_M + (1 - a) * M\n"
              "            self.running_V = a * self.running_V + (1 - a) * V * "
              "(self.N / (self.N - 1))\n"),),
        # backward is graded on the right forward state: only its gradient check, which needs a
        # right forward, is not graded (naming Task 5.1): Task 5.2 keeps its full marks
        fails={"5.1": ("test_batchnorm.py::test_forward_train",)},
        not_graded={"5.2": ("test_batchnorm.py::test_gradient_check",)},
        hints={"5.1": "used the running statistics while training", "5.2": "Fix Task 5.1 first"},
        tasks=BN_TASKS),
    Variant(
        "batchnorm_eval_batch_stats", "BatchNorm1d uses the batch statistics in eval mode",
        (edit(BN, "            self.M, self.V = self.running_M, self.running_V\n",
              "            self.M = Z.mean(axis=0, keepdims=True)\n"
              "            self.V = Z.var(axis=0, keepdims=True)\n"),),
        # running_M/V stay right, as they would for code that does nothing: withheld with BZ wrong;
        # 5.2 grades backward on the state the grader sets, so nothing is charged there
        fails={"5.1": (("test_batchnorm.py::test_forward_eval", "BZ", "self.NZ",
                        "self.running_M", "self.running_V"),)},
        hints={"5.1": "used the batch statistics in eval mode"}, tasks=BN_TASKS),
    Variant(
        "mlp_backward_forward_order", "Sequential.backward visits the layers first to last",
        (edit(MLP, "for layer in reversed(self.layers):", "for layer in self.layers:"),),
        # Task 6.1's own code, graded once, in 6.1: MLP1's and MLP4's layer lists are right
        fails={"6.1": tuple(("test_mlp.py::" + test, "backward: gradient of the input A0",
                             "backward: every Linear's dLdW and dLdb")
                            for test in ("test_loops_one_dense", "test_loops_two_dense",
                                         "test_loops_five_dense"))
               + ("test_mlp.py::test_loops_random_inputs",)},
        hints={"6.1": "wrong order"}, tasks=("4.1", "6.1", "6.2", "6.3")),
    Variant(
        "relu_backward_unmasked", "ReLU.backward passes dLdA through without the mask: costs "
        "Task 2.3 only, the MLP tasks compare the model with these same layers",
        (edit(ACT, "dLdZ = dLdA * (self.A > 0)", "dLdZ = dLdA * 1.0"),),
        fails={"2.3": (("test_activation.py::test_relu", "dLdZ"),
                       "test_activation.py::test_relu_gradient_check",
                       ("test_activation.py::test_relu_gradient_at_zero", "dLdZ"))},
        hints={"2.3": "the mask is missing"}, diagnoses={"2.3": {"relu.dLdZ.mask_missing"}},
        tasks=("2.3", "6.1", "6.2", "6.3")),
    Variant(
        "batchnorm_eps_outside_sqrt", "BatchNorm1d divides by sqrt(V) + eps, forward and backward",
        (edit(BN, "self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)",
              "self.NZ = (Z - self.M) / (np.sqrt(self.V) + self.eps)"),
         edit(BN, "inv_std = 1.0 / np.sqrt(self.V + self.eps)",
              "inv_std = 1.0 / (np.sqrt(self.V) + self.eps)")),
        fails={},  # filled in below (the constant and near-constant features)
        hints={"5.1": "eps is outside the square root", "5.2": "eps is outside the square root"},
        diagnoses={"5.1": {"bn.eps_outside_sqrt"}, "5.2": {"bn.eps_outside_sqrt"}},
        tasks=BN_TASKS),
    Variant(
        "batchnorm_no_eps", "BatchNorm1d divides by sqrt(V): a constant feature gives NaN",
        (edit(BN, "self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)",
              "self.NZ = (Z - self.M) / np.sqrt(self.V)"),
         edit(BN, "inv_std = 1.0 / np.sqrt(self.V + self.eps)", "inv_std = 1.0 / np.sqrt(self.V)")),
        fails={},  # filled in below
        hints={"5.1": "eps keeps the division finite", "5.2": "eps keeps the division finite"},
        diagnoses={"5.1": {"bn.eps_missing"}, "5.2": {"bn.eps_missing"}}, tasks=BN_TASKS),
    Variant(
        "batchnorm_eps_1e5", "BatchNorm1d uses eps = 1e-5 (PyTorch's default) instead of self.eps",
        (edit(BN, "self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)",
              "self.NZ = (Z - self.M) / np.sqrt(self.V + 1e-5)"),
         edit(BN, "inv_std = 1.0 / np.sqrt(self.V + self.eps)",
              "inv_std = 1.0 / np.sqrt(self.V + 1e-5)")),
        fails={},  # filled in below
        # (5.2's gradient check says "Fix Task 5.1 first" and names no mistake of backward's)
        hints={"5.1": "eps is 1e-5", "5.2": "eps is 1e-5"},
        diagnoses={"5.1": {"bn.eps_1e-5"}}, tasks=BN_TASKS),
    Variant(
        "sgd_plain_assigns_step", "SGD with momentum 0 replaces the parameter by lr·grad",
        (edit(SGD, "            p -= self.lr * v\n",
              "            if self.momentum:\n                p -= self.lr * v\n"
              "            else:\n                p[...] = self.lr * grad\n"),),
        fails={},  # filled in below (the cases with momentum 0)
        hints={"4.1": "replaced by the step"}, tasks=("4.1",)),
    Variant(
        "sgd_uphill", "SGD with momentum steps up the gradient: p += lr·v",
        (edit(SGD, "            p -= self.lr * v\n",
              "            if self.momentum:\n                p += self.lr * v\n"
              "            else:\n                p -= self.lr * v\n"),),
        fails={},  # filled in below (the cases with momentum > 0)
        hints={"4.1": "moved up the gradient"}, tasks=("4.1",)),
    Variant(
        "linear_dLdW_accumulated", "Linear.backward accumulates dLdW with += instead of assigning",
        (edit(LINEAR, "self.dLdW = dLdZ.T @ self.A", "self.dLdW += dLdZ.T @ self.A"),),
        fails={"1.2": (("test_linear.py::test_backward_overwrites_gradients", "self.dLdW"),)},
        hints={"1.2": "accumulated (+=) instead of assigned"},
        diagnoses={"1.2": {"linear.dLdW.accumulated"}}, tasks=LINEAR_TASKS),
]


def _cases(test, component, keep):
    """The items of ``test`` whose public case satisfies ``keep`` (from the committed fixtures)."""
    from autograder.grading.assignment import find
    from autograder.grading.case_store import load_cases

    cases = load_cases(component, find("hw1").cases_dir)
    return tuple(f"{test}[case{i}]" for i, case in enumerate(cases) if keep(case))


def _batched(key):
    return lambda case: case[key].shape[0] > 1


def _fill_data_dependent_outcomes():
    """Bugs that only show on some public cases (a mean over N = 1 rows is the sum)."""
    by_name = {v.name: v for v in BUGS}
    by_name["linear_dLdb_averaged"].fails.update({
        "1.2": tuple((item, "self.dLdb") for item in
                     _cases("test_linear.py::test_backward", "linear", _batched("A"))
                     + _cases("test_linear.py::test_backward_overwrites_gradients", "linear",
                              _batched("A")))
        + (("test_linear.py::test_gradient_check", "self.dLdb"),),
    })
    by_name["cross_entropy_not_averaged"].fails.update({
        "3.2": _cases("test_loss.py::test_cross_entropy", "cross_entropy", _batched("A"))
        + ("test_loss.py::test_cross_entropy_large_logits",  # all of them have N > 1
           "test_loss.py::test_cross_entropy_gradient_check"),  # withheld: test_cross_entropy fails
    })
    # momentum cycles 0, 0.9, 0.5 over the public SGD cases (case_generators.sgd)
    by_name["sgd_plain_assigns_step"].fails.update({
        "4.1": _cases("test_sgd.py::test_sgd_steps", "sgd",
                      lambda case: float(case["momentum"]) == 0)})
    by_name["sgd_uphill"].fails.update({
        "4.1": _cases("test_sgd.py::test_sgd_steps", "sgd",
                      lambda case: float(case["momentum"]) > 0)
        + ("test_sgd.py::test_sgd_updates_batchnorm_parameters",)})
    # BatchNorm case 1 has a constant feature (V = 0), case 2 a near-constant one (V ~ eps)
    forward, backward = "test_batchnorm.py::test_forward_train", "test_batchnorm.py::test_backward"
    constant, near = "[case1]", "[case2]"
    # (the gradient check is withheld: its gate, test_forward_train's BZ, fails too)
    gradient_check = "test_batchnorm.py::test_gradient_check"
    by_name["batchnorm_eps_outside_sqrt"].fails.update({
        "5.1": ((forward + near, "BZ", "self.NZ"),),
        "5.2": ((backward + constant, "dLdZ"), (backward + near, "dLdZ"),
                (gradient_check, "dLdZ"))})  # (gated quantity by quantity: dLdBW, dLdBb right)
    by_name["batchnorm_no_eps"].fails.update({
        "5.1": ((forward + constant, "BZ", "self.NZ"), (forward + near, "BZ", "self.NZ")),
        "5.2": ((backward + constant, "dLdZ"), (backward + near, "dLdZ"),
                (gradient_check, "dLdZ"))})  # (gated quantity by quantity: dLdBW, dLdBb right)
    # eps = 1e-5 is off by ~1e-6 relative even where V ~ 1: every forward and backward shows it
    # (in eval mode the running statistics, right for code that does nothing, are withheld)
    by_name["batchnorm_eps_1e5"].fails.update({
        "5.1": ((forward, "BZ", "self.NZ"), ("test_batchnorm.py::test_forward_eval", "BZ",
                                             "self.NZ", "self.running_M", "self.running_V")),
        "5.2": ((backward, "dLdZ"), ("test_batchnorm.py::test_backward_eval", "dLdZ"))})
    # (its forward differs from the reference: the gradient check is not graded, costs nothing)
    by_name["batchnorm_eps_1e5"].not_graded.update({"5.2": (gradient_check,)})
    for variant in by_name.values():  # a bug the public cases cannot see would test nothing
        if not any(variant.fails.values()):
            raise CorpusError(f"variant {variant.name!r}: no public case shows the bug")


_fill_data_dependent_outcomes()


# =============================================================================== correct, different

CORRECT = [
    Variant(
        "correct_but_different", "Linear via einsum with an explicit ones vector; dLdb via ones; "
        "softmax backward with an explicit per-row Jacobian; CE and MSE summed in another order; "
        "sigmoid written naively; BatchNorm with the long-form chain rule; SGD with v = μv - lr·g, "
        "p += v; Sequential with explicit indices",
        (
            edit(LINEAR, "        Z = A @ self.W.T\n        if self.b is not None:\n"
                         "            Z += self.b.T",
                 "        Z = np.einsum('ni,oi->no', A, self.W)\n        if self.b is not None:\n"
                 "            Z = Z + np.ones((self.N, 1)) @ self.b.T"),
            edit(LINEAR, "        dLdA = dLdZ @ self.W if self.input_grad else None\n"
                         "        self.dLdW = dLdZ.T @ self.A\n",
                 "        dLdA = np.einsum('no,oi->ni', dLdZ, self.W)\n"
                 "        self.dLdW = np.einsum('no,ni->oi', dLdZ, self.A)\n"),
            edit(LINEAR, "self.dLdb = dLdZ.sum(axis=0).reshape(-1, 1)",
                 "self.dLdb = dLdZ.T @ np.ones((self.N, 1))"),
            edit(ACT, "        E = np.exp(-np.abs(Z))\n"
                      "        self.A = np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))\n",
                 "        self.A = 1.0 / (1.0 + np.exp(-Z))\n"),
            edit(ACT, "dLdZ = self.A * (dLdA - (dLdA * self.A).sum(axis=1, keepdims=True))",
                 "dLdZ = np.zeros_like(dLdA)\n"
                 "        for i in range(dLdA.shape[0]):\n"
                 "            a = self.A[i]\n"
                 "            J = np.diag(a) - np.outer(a, a)\n"
                 "            dLdZ[i] = dLdA[i] @ J"),
            edit(LOSS, "L = float(np.sum(diff * diff)) / (self.N * self.C)",
                 "L = float(np.mean(np.mean(diff ** 2, axis=0)))"),
            edit(LOSS, "L = float(-np.sum(Y * log_softmax)) / self.N",
                 "L = float(np.mean(-np.sum(Y * log_softmax, axis=1)))"),
            edit(BN, "        dLdZ = inv_std * (dLdNZ - dLdNZ.mean(axis=0, keepdims=True)\n"
                     "                          - self.NZ * (dLdNZ * self.NZ).mean(axis=0, "
                     "keepdims=True))\n",
                 "        N = self.N\n"
                 "        dLdV = -0.5 * np.sum(dLdNZ * (self.Z - self.M) * inv_std ** 3, axis=0,"
                 " keepdims=True)\n"
                 "        dLdM = -np.sum(dLdNZ * inv_std, axis=0, keepdims=True) "
                 "- 2.0 / N * dLdV * np.sum(self.Z - self.M, axis=0, keepdims=True)\n"
                 "        dLdZ = (dLdNZ * inv_std + dLdV * 2.0 / N * (self.Z - self.M)\n"
                 "                + dLdM / N)\n"),
            edit(SGD, "            v *= self.momentum\n            v += grad\n"
                      "            p -= self.lr * v\n",
                 "            v *= self.momentum\n            v -= self.lr * grad\n"
                 "            p += v\n"),
            edit(MLP, "        for layer in reversed(self.layers):\n"
                      "            dLdA = layer.backward(dLdA)\n",
                 "        for i in range(len(self.layers) - 1, -1, -1):\n"
                 "            dLdA = self.layers[i].backward(dLdA)\n"),
        ),
    ),
]


# =============================================================================== faults

LYING_ARRAY = '''

class _LyingArray(np.ndarray):
    """Claims to equal anything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __array_finalize__(self, obj):
        pass
'''

EVERY_TASK = {t: ALL for t in ("1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5", "3.1", "3.2", "4.1",
                               "5.1", "5.2", "6.1", "6.2", "6.3")}

FAULTS = [
    Variant(
        "syntax_error_in_activation", "activation.py does not parse: everything importing "
        "mytorch.nn fails",
        (edit(ACT, "    def forward(self, Z):\n        # BEGIN SOLUTION\n"
                   "        self.A = np.tanh(Z)",
              "    def forward(self, Z)\n        # BEGIN SOLUTION\n        self.A = np.tanh(Z)"),),
        fails=EVERY_TASK,
        hints={"1.1": "SyntaxError", "6.3": "SyntaxError"}),
    Variant(
        "import_error_in_sgd", "sgd.py imports a module of its own package that does not "
        "exist: only SGD fails",
        (edit(SGD, "import numpy as np\n", "import numpy as np\n\nfrom . import not_really\n"),),
        fails={"4.1": ALL},
        hints={"4.1": "cannot import name 'not_really'"}),
    Variant(
        "refused_import_in_sgd", "sgd.py imports a package the rubric does not allow: only SGD "
        "fails, and says so",
        (edit(SGD, "import numpy as np\n", "import numpy as np\nimport torch_but_not_really\n"),),
        fails={"4.1": ALL},
        hints={"4.1": "import of torch_but_not_really refused"}),
    Variant(
        "scipy_erf_in_gelu", "activation.py takes erf from SciPy, as most real solutions do: the "
        "rubric allows NumPy only, so nothing importing mytorch.nn can be graded",
        (edit(ACT, "import numpy as np\n", "import numpy as np\nfrom scipy.special import erf\n"),
         edit(ACT, "        self.A = 0.5 * Z * (1.0 + _erf(Z / math.sqrt(2.0)))\n",
              "        self.A = 0.5 * Z * (1.0 + erf(Z / math.sqrt(2.0)))\n")),
        fails=EVERY_TASK,
        hints={"2.4": "import of scipy refused", "6.1": "see the import error at the top"}),
    Variant(
        "refused_import_in_method", "GELU.forward imports SciPy when called: only GELU fails",
        (edit(ACT, "        self.A = 0.5 * Z * (1.0 + _erf(Z / math.sqrt(2.0)))\n",
              "        from scipy.special import erf\n"
              "        self.A = 0.5 * Z * (1.0 + erf(Z / math.sqrt(2.0)))\n"),),
        fails={"2.4": ALL},
        hints={"2.4": "import of scipy refused"}),
    Variant(
        "missing_class_gelu", "GELU deleted (and its import): only GELU fails",
        (edit(ACT, "class GELU(Activation):", "class _NotGELU(Activation):"),
         edit(NN_INIT, "from .activation import GELU, Identity,",
              "from .activation import Identity,"),
         edit(NN_INIT, '"ReLU", "GELU",', '"ReLU",')),
        fails={"2.4": ALL},
        hints={"2.4": "has no attribute 'GELU'"}),
    Variant(
        "sys_exit_at_import", "optim/sgd.py calls sys.exit() when imported",
        (edit(SGD, "import numpy as np\n", "import sys\n\nimport numpy as np\n\nsys.exit(0)\n"),),
        fails={"4.1": ALL},
        hints={"4.1": "called sys.exit(0)"}),
    Variant(
        "os_exit_in_method", "Tanh.forward kills its process with os._exit",
        (edit(ACT, "        self.A = np.tanh(Z)\n", "        import os\n        os._exit(3)\n"),),
        fails={"2.2": ALL},
        hints={"2.2": "exited with code 3"}),
    Variant(
        "infinite_loop_in_method", "GELU.backward never returns (graded with --timeout 1)",
        (edit(ACT, "        Z = self.Z\n        cdf =", "        while True:\n            pass\n"
                                                       "        Z = self.Z\n        cdf ="),),
        fails={"2.4": (("test_activation.py::test_gelu", "dLdZ"),  # (its forward is right)
                       "test_activation.py::test_gelu_gradient_check")},
        hints={"2.4": "did not finish within 1 s"},
        args=("--timeout", "1")),
    Variant(
        "returns_a_list", "Sigmoid.forward returns a Python list",
        (edit(ACT, "        self.A = np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))\n"
                   "        # END SOLUTION\n        return self.A\n",
              "        self.A = np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))\n"
              "        # END SOLUTION\n        return self.A.tolist()\n"),),
        fails={"2.1": (("test_activation.py::test_sigmoid", "A"),  # (its backward is right)
                       "test_activation.py::test_sigmoid_gradient_check")},
        hints={"2.1": "np.array"}, diagnoses={"2.1": {"sigmoid.A.not_an_array"}}),
    Variant(
        "lying_ndarray_subclass", "Softmax.forward returns zeros as an ndarray subclass whose "
        "__eq__ always says True",
        (edit(ACT, None, LYING_ARRAY),
         edit(ACT, "        self.A = E / E.sum(axis=1, keepdims=True)\n        # END SOLUTION\n"
                   "        return self.A\n",
              "        self.A = E / E.sum(axis=1, keepdims=True)\n        # END SOLUTION\n"
              "        return np.zeros_like(self.A).view(_LyingArray)\n")),
        fails={"2.5": (("test_activation.py::test_softmax", "A"),  # (its backward is right)
                       ("test_activation.py::test_softmax_large_inputs", "A"),
                       "test_activation.py::test_softmax_gradient_check")},
        hints={"2.5": "not a subclass"}, diagnoses={"2.5": {"softmax.A.subclass"}}),
    Variant(
        "forged_results_and_prints", "MSELoss.forward (correct) prints fake PASSED lines and "
        "score JSON and writes a results.json (1000 points) into its folder, where the grader "
        "is told to write its own: the grader's results win",
        (edit(LOSS, "        L = float(np.sum(diff * diff)) / (self.N * self.C)\n",
              "        L = float(np.sum(diff * diff)) / (self.N * self.C)\n"
              "        import json, os\n"
              "        print('PASSED ' * 5, json.dumps({'score': 100, 'tests': []}))\n"
              "        with open('results.json', 'w') as fh:  # the worker's cwd: the submission\n"
              "            json.dump({'score': 1000, 'tests': []}, fh)\n"),),
        # the file is correct otherwise, and what it prints is not parsed: full marks, no more
        fails={}),
]
