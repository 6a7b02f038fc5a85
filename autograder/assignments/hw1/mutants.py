"""Named mutants of ``python -m autograder audit`` (instructor-only: not in a handout).

The audit's syntax-tree rewrites make mistakes of a few kinds everywhere; these are the mistakes
real students make that no rewrite produces, each a text edit of one solution region of the
reference, with the catalogue id (``mistakes.py`` or a suite module's own) that the hint of the
mutant's own task must name. The audit reports how many get that hint ("right hint").
Each entry: (file, text that occurs once in it, its replacement, what the mistake is, the id).
"""
LINEAR, ACT, LOSS = "mytorch/nn/linear.py", "mytorch/nn/activation.py", "mytorch/nn/loss.py"
BN, SGD, MLP = "mytorch/nn/batchnorm.py", "mytorch/optim/sgd.py", "mytorch/models/mlp.py"

NAMED = [
    (LINEAR, "self.dLdW = dLdZ.T @ self.A", "self.dLdW = dLdZ.T @ self.A / self.N",
     "dLdW divided by N", "linear.dLdW.averaged"),
    (LINEAR, "self.dLdb = dLdZ.sum(axis=0).reshape(-1, 1)",
     "self.dLdb = dLdZ.mean(axis=0).reshape(-1, 1)", "dLdb averaged", "linear.dLdb.averaged"),
    (ACT, "pdf = np.exp(-0.5 * Z * Z) / math.sqrt(2.0 * math.pi)",
     "pdf = np.exp(-Z * Z) / math.sqrt(2.0 * math.pi)", "GELU's pdf with exp(-Z²)",
     "gelu.dLdZ.pdf_exponent"),
    (ACT, "pdf = np.exp(-0.5 * Z * Z) / math.sqrt(2.0 * math.pi)",
     "pdf = np.exp(-0.5 * Z) / math.sqrt(2.0 * math.pi)", "GELU's pdf with exp(-Z/2)",
     "gelu.dLdZ.pdf_exponent"),
    (ACT, "E = np.exp(Z - Z.max(axis=1, keepdims=True))",
     "E = np.exp(Z - Z.max(axis=0, keepdims=True))", "softmax's max over the wrong axis",
     "softmax.A.max_wrong_axis"),
    (LOSS, "log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
     "log_softmax = A - np.log(np.exp(A).sum(axis=1, keepdims=True))",
     "cross-entropy's logsumexp unshifted", "ce.not_log_sum_exp"),
    (SGD, "p -= self.lr * v", "p += self.lr * v", "SGD ascent", "sgd.uphill"),
    (SGD, "p -= self.lr * v", "p[...] = grad", "W = dLdW (the parameter replaced by its gradient)",
     "sgd.assigned_the_gradient"),
    (SGD, "        for v, (p, grad) in zip(self.velocities, self.model.parameters()):\n"
          "            v *= self.momentum\n            v += grad\n",
     "        pairs = self.model.parameters()\n"
     "        for k, (v, (p, grad)) in enumerate(zip(self.velocities, pairs)):\n"
     "            v *= self.momentum\n"
     "            v += pairs[k - 1][1] if p.shape[1:] == (1,) and k else grad\n",
     "b's velocity built from dLdW", "sgd.bias_velocity_from_dLdW"),
    (BN, "self.V = Z.var(axis=0, keepdims=True)", "self.V = Z.std(axis=0, keepdims=True)",
     "std used for var", "bn.std_used_for_var"),
    (BN, "dLdZ = inv_std * (dLdNZ - dLdNZ.mean(axis=0, keepdims=True)\n"
         "                          - self.NZ * (dLdNZ * self.NZ).mean(axis=0, keepdims=True))",
     "dLdZ = inv_std * (dLdNZ - dLdNZ.sum(axis=0, keepdims=True)\n"
     "                          - self.NZ * (dLdNZ * self.NZ).sum(axis=0, keepdims=True))",
     "BatchNorm backward with sums instead of means", "bn.dLdZ.sums_not_means"),
    (BN, "self.dLdBW = np.sum(dLdBZ * self.NZ, axis=0, keepdims=True)\n"
         "        self.dLdBb = np.sum(dLdBZ, axis=0, keepdims=True)",
     "self.dLdBb = np.sum(dLdBZ * self.NZ, axis=0, keepdims=True)\n"
     "        self.dLdBW = np.sum(dLdBZ, axis=0, keepdims=True)",
     "dLdBW and dLdBb swapped", "bn.dLdBW_dLdBb_swapped"),
    (BN, "        if self.evaluating:\n            self.M, self.V = self.running_M, "
         "self.running_V\n        else:\n",
     "        if False:\n            self.M, self.V = self.running_M, self.running_V\n"
     "        else:\n", "eval mode ignored: batch statistics always",
     "bn.eval.batch_statistics"),
    (BN, "        self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)\n"
         "        self.BZ = self.BW * self.NZ + self.Bb\n",
     "        NZ = (Z - self.M) / np.sqrt(self.V + self.eps)\n"
     "        if not self.evaluating:\n            self.NZ = NZ\n"
     "        self.BZ = self.BW * NZ + self.Bb\n", "eval forward does not store NZ",
     "bn.eval.NZ_not_stored"),
    (BN, "        if self.evaluating:  # running statistics are constants",
     "        if False:  # running statistics are constants", "eval backward with the training "
     "formula", "bn.eval.dLdZ_training_formula"),
    (MLP, "self.layers += [Linear(c_in, c_out, rng=rng), ReLU()]",
     "self.layers += [Linear(c_in, c_out, rng=rng), ReLU()][:1 + (c_out != 2)]",
     "MLP4 without its last ReLU", "mlp.layers.last_activation_missing"),
    (MLP, "for layer in reversed(self.layers):\n            dLdA = layer.backward(dLdA)",
     "for layer in self.layers:\n            dLdA = layer.backward(dLdA)",
     "backward visits the layers first to last", "mlp.backward.order"),
]
