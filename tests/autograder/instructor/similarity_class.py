"""A class for measuring ``similarity``: independent correct solutions and planted copies of them.

* ``INDEPENDENT``: four students who each wrote every solution region their own way (textbook
  ``np.dot`` and ones vectors; compact ``@`` and keepdims; explicit loops; NumPy functions and
  ``tensordot``/``einsum``). Where a task has one natural answer (``np.tanh``, the layer loop) they
  coincide, as real students do. With ``correct_but_different`` from ``tests/submissions`` they are
  the independent authors.
* ``plagiarise``: what a student does to hide a copy: local variables renamed, the methods of each
  class in reverse order, comments and layout changed, and equivalent expressions swapped
  (``np.dot(a, b)`` <-> ``a @ b``, ``x.sum(axis=0)`` -> ``ones @ x``).

A submission is the reference ``mytorch/`` with each ``# BEGIN SOLUTION`` block (markers included)
replaced by the student's code: exactly the handout with the TODO stubs filled in.
"""
import ast
import shutil
import textwrap
from pathlib import Path

from autograder.instructor.handout import solution_regions

LIN, ACT, LOSS = "mytorch/nn/linear.py", "mytorch/nn/activation.py", "mytorch/nn/loss.py"
BN, SGD, MLP = "mytorch/nn/batchnorm.py", "mytorch/optim/sgd.py", "mytorch/models/mlp.py"


def _student(**bodies):
    """region key ("file:Class.method" with the file abbreviated) -> dedented code."""
    files = {"LIN": LIN, "ACT": ACT, "LOSS": LOSS, "BN": BN, "SGD": SGD, "MLP": MLP}
    out = {}
    for name, body in bodies.items():
        file, cls, method = name.split("__")
        out[f"{files[file]}:{cls}.{method}"] = textwrap.dedent(body).strip("\n") + "\n"
    return out


INDEPENDENT = {
    "ana": _student(
        LIN__Linear__forward="""
            self.A = A
            self.N = A.shape[0]
            self.Ones = np.ones((self.N, 1))
            if self.b is None:
                Z = np.dot(A, self.W.T)
            else:
                Z = np.dot(A, self.W.T) + np.dot(self.Ones, self.b.T)
        """,
        LIN__Linear__backward="""
            dLdA = np.dot(dLdZ, self.W)
            self.dLdW = np.dot(dLdZ.T, self.A)
            if self.b is not None:
                self.dLdb = np.dot(dLdZ.T, self.Ones)
        """,
        ACT__Sigmoid__forward="self.A = 1 / (1 + np.exp(-Z))",
        ACT__Sigmoid__backward="dLdZ = dLdA * (self.A - self.A * self.A)",
        ACT__Tanh__forward="self.A = np.tanh(Z)",
        ACT__Tanh__backward="dLdZ = dLdA * (1 - np.square(self.A))",
        ACT__ReLU__forward="self.A = np.where(Z > 0, Z, 0.0)",
        ACT__ReLU__backward="dLdZ = np.where(self.A > 0, dLdA, 0.0)",
        ACT__GELU__forward="""
            self.Z = Z
            self.cdf = 0.5 * (1 + _erf(Z / np.sqrt(2)))
            self.A = Z * self.cdf
        """,
        ACT__GELU__backward="""
            pdf = np.exp(-self.Z ** 2 / 2) / np.sqrt(2 * np.pi)
            dLdZ = dLdA * (self.cdf + self.Z * pdf)
        """,
        ACT__Softmax__forward="""
            Zmax = np.max(Z, axis=1, keepdims=True)
            expZ = np.exp(Z - Zmax)
            self.A = expZ / np.sum(expZ, axis=1, keepdims=True)
        """,
        ACT__Softmax__backward="""
            N, C = dLdA.shape
            dLdZ = np.zeros((N, C))
            for i in range(N):
                a = self.A[i, :].reshape(C, 1)
                J = np.diagflat(a) - np.dot(a, a.T)
                dLdZ[i, :] = np.dot(J, dLdA[i, :])
        """,
        LOSS__MSELoss__forward="""
            self.A = A
            self.Y = Y
            self.N = A.shape[0]
            self.C = A.shape[1]
            se = (A - Y) * (A - Y)
            sse = np.dot(np.dot(np.ones((1, self.N)), se), np.ones((self.C, 1)))
            L = float(sse[0, 0]) / (self.N * self.C)
        """,
        LOSS__MSELoss__backward="dLdA = 2 * (self.A - self.Y) / (self.N * self.C)",
        LOSS__CrossEntropyLoss__forward="""
            self.A = A
            self.Y = Y
            self.N, self.C = A.shape
            shifted = A - np.max(A, axis=1).reshape(-1, 1)
            e = np.exp(shifted)
            self.softmax = e / np.sum(e, axis=1).reshape(-1, 1)
            crossentropy = -np.sum(Y * (shifted - np.log(np.sum(e, axis=1)).reshape(-1, 1)), axis=1)
            L = float(np.sum(crossentropy)) / self.N
        """,
        LOSS__CrossEntropyLoss__backward="dLdA = (self.softmax - self.Y) / self.N",
        SGD__SGD__step="""
            params = self.model.parameters()
            for i in range(len(params)):
                W, dW = params[i]
                if self.mu == 0:
                    W -= self.lr * dW
                else:
                    self.v[i] = self.mu * self.v[i] + dW
                    W -= self.lr * self.v[i]
        """,
        BN__BatchNorm1d__forward="""
            self.Z = Z
            self.N = Z.shape[0]
            if eval:
                self.M = self.running_M
                self.V = self.running_V
            else:
                self.M = np.mean(Z, axis=0, keepdims=True)
                self.V = np.mean((Z - self.M) ** 2, axis=0, keepdims=True)
                self.running_M = self.alpha * self.running_M + (1 - self.alpha) * self.M
                unbiased = self.V * self.N / (self.N - 1)
                self.running_V = self.alpha * self.running_V + (1 - self.alpha) * unbiased
            self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)
            self.BZ = self.NZ * self.BW + self.Bb
        """,
        BN__BatchNorm1d__backward="""
            self.dLdBb = np.sum(dLdBZ, axis=0, keepdims=True)
            self.dLdBW = np.sum(dLdBZ * self.NZ, axis=0, keepdims=True)
            dLdNZ = dLdBZ * self.BW
            if self.eval:
                return dLdNZ / np.sqrt(self.V + self.eps)
            dLdV = -0.5 * np.sum(dLdNZ * (self.Z - self.M) * (self.V + self.eps) ** -1.5, axis=0,
                                 keepdims=True)
            dLdM = (-np.sum(dLdNZ * (self.V + self.eps) ** -0.5, axis=0, keepdims=True)
                    - (2 / self.N) * dLdV * np.sum(self.Z - self.M, axis=0, keepdims=True))
            dLdZ = (dLdNZ * (self.V + self.eps) ** -0.5 + dLdV * (2 / self.N) * (self.Z - self.M)
                    + dLdM / self.N)
        """,
        MLP__Sequential__forward="""
            for i in range(len(self.layers)):
                A = self.layers[i].forward(A)
        """,
        MLP__Sequential__backward="""
            for i in reversed(range(len(self.layers))):
                dLdA = self.layers[i].backward(dLdA)
        """,
        MLP__MLP__forward="""
            for layer in self.layers:
                if isinstance(layer, BatchNorm1d):
                    A = layer.forward(A, eval)
                else:
                    A = layer.forward(A)
        """,
    ),
    "ben": _student(
        LIN__Linear__forward="""
            self.A, self.N = A, len(A)
            Z = A @ self.W.T
            if self.b is not None:
                Z = Z + self.b.reshape(1, -1)
        """,
        LIN__Linear__backward="""
            self.dLdW = dLdZ.T @ self.A
            if self.b is not None:
                self.dLdb = np.sum(dLdZ, axis=0)[:, None]
            dLdA = dLdZ @ self.W
        """,
        ACT__Sigmoid__forward="self.A = np.exp(-np.logaddexp(0, -Z))",
        ACT__Sigmoid__backward="dLdZ = self.A * (1 - self.A) * dLdA",
        ACT__Tanh__forward="""
            e2 = np.exp(-2 * np.abs(Z))
            self.A = np.sign(Z) * (1 - e2) / (1 + e2)
        """,
        ACT__Tanh__backward="dLdZ = (1 - self.A ** 2) * dLdA",
        ACT__ReLU__forward="""
            self.mask = Z > 0
            self.A = Z * self.mask
        """,
        ACT__ReLU__backward="dLdZ = dLdA * self.mask",
        ACT__GELU__forward="""
            self.Z = Z
            self.A = Z * (1 + _erf(Z / math.sqrt(2))) / 2
        """,
        ACT__GELU__backward="""
            z = self.Z
            phi = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
            Phi = (1 + _erf(z / math.sqrt(2))) / 2
            dLdZ = dLdA * (Phi + z * phi)
        """,
        ACT__Softmax__forward="""
            shifted = Z - Z.max(axis=-1, keepdims=True)
            ex = np.exp(shifted)
            self.A = ex / ex.sum(axis=-1, keepdims=True)
        """,
        ACT__Softmax__backward="""
            s = np.einsum("nc,nc->n", dLdA, self.A)[:, None]
            dLdZ = self.A * (dLdA - s)
        """,
        LOSS__MSELoss__forward="""
            self.A, self.Y = A, Y
            self.N, self.C = A.shape
            L = float(np.mean((A - Y) ** 2))
        """,
        LOSS__MSELoss__backward="dLdA = (self.A - self.Y) * (2 / self.A.size)",
        LOSS__CrossEntropyLoss__forward="""
            self.Y, self.N = Y, len(A)
            m = A.max(axis=1, keepdims=True)
            lse = m + np.log(np.exp(A - m).sum(axis=1, keepdims=True))
            self.softmax = np.exp(A - lse)
            L = float((Y * (lse - A)).sum() / self.N)
        """,
        LOSS__CrossEntropyLoss__backward="""
            dLdA = self.softmax - self.Y
            dLdA = dLdA / self.N
        """,
        SGD__SGD__step="""
            for k, (param, g) in enumerate(self.model.parameters()):
                self.v[k] *= self.mu
                self.v[k] += g
                param -= self.lr * self.v[k]
        """,
        BN__BatchNorm1d__forward="""
            self.Z, self.N = Z, Z.shape[0]
            if not eval:
                mean = Z.mean(0, keepdims=True)
                var = ((Z - mean) ** 2).mean(0, keepdims=True)
                self.M, self.V = mean, var
                mom = self.alpha
                self.running_M = mom * self.running_M + (1 - mom) * mean
                self.running_V = mom * self.running_V + (1 - mom) * var * self.N / (self.N - 1)
            else:
                self.M, self.V = self.running_M, self.running_V
            std = np.sqrt(self.V + self.eps)
            self.NZ = (Z - self.M) / std
            self.BZ = self.NZ * self.BW + self.Bb
        """,
        BN__BatchNorm1d__backward="""
            self.dLdBW = (dLdBZ * self.NZ).sum(axis=0, keepdims=True)
            self.dLdBb = dLdBZ.sum(axis=0, keepdims=True)
            g = dLdBZ * self.BW
            std = np.sqrt(self.V + self.eps)
            if self.eval:
                return g / std
            N = self.N
            dLdZ = (N * g - g.sum(0, keepdims=True)
                    - self.NZ * (g * self.NZ).sum(0, keepdims=True)) / (N * std)
        """,
        MLP__Sequential__forward="""
            for layer in self.layers:
                A = layer.forward(A)
        """,
        MLP__Sequential__backward="""
            for layer in self.layers[::-1]:
                dLdA = layer.backward(dLdA)
        """,
        MLP__MLP__forward="""
            for layer in self.layers:
                kwargs = {"eval": eval} if isinstance(layer, BatchNorm1d) else {}
                A = layer.forward(A, **kwargs)
        """,
    ),
    "cai": _student(
        LIN__Linear__forward="""
            self.A = A
            self.N = A.shape[0]
            output = np.matmul(A, np.transpose(self.W))
            if self.b is not None:
                for row in range(self.N):
                    output[row] += self.b[:, 0]
            Z = output
        """,
        LIN__Linear__backward="""
            grad_input = np.matmul(dLdZ, self.W)
            self.dLdW = np.matmul(np.transpose(dLdZ), self.A)
            if self.b is not None:
                total = np.zeros((self.out_features, 1))
                for row in range(dLdZ.shape[0]):
                    total[:, 0] += dLdZ[row]
                self.dLdb = total
            dLdA = grad_input
        """,
        ACT__Sigmoid__forward="""
            positive = Z >= 0
            result = np.empty_like(Z, dtype=float)
            result[positive] = 1 / (1 + np.exp(-Z[positive]))
            expz = np.exp(Z[~positive])
            result[~positive] = expz / (1 + expz)
            self.A = result
        """,
        ACT__Sigmoid__backward="""
            derivative = self.A * (1 - self.A)
            dLdZ = derivative * dLdA
        """,
        ACT__Tanh__forward="self.A = 2 / (1 + np.exp(-2 * Z)) - 1",
        ACT__Tanh__backward="""
            derivative = 1 - self.A ** 2
            dLdZ = derivative * dLdA
        """,
        ACT__ReLU__forward="""
            self.A = Z.copy()
            self.A[self.A < 0] = 0
        """,
        ACT__ReLU__backward="""
            derivative = (self.A > 0).astype(float)
            dLdZ = derivative * dLdA
        """,
        ACT__GELU__forward="""
            self.Z = Z
            cdf = 0.5 * (1.0 + _erf(Z * (1.0 / math.sqrt(2.0))))
            self.A = Z * cdf
        """,
        ACT__GELU__backward="""
            cdf = 0.5 * (1.0 + _erf(self.Z / math.sqrt(2.0)))
            density = (1.0 / math.sqrt(2.0 * math.pi)) * np.exp(-(self.Z ** 2) / 2.0)
            derivative = cdf + self.Z * density
            dLdZ = derivative * dLdA
        """,
        ACT__Softmax__forward="""
            self.A = np.zeros_like(Z, dtype=float)
            for row in range(Z.shape[0]):
                shifted = Z[row] - np.max(Z[row])
                exps = np.exp(shifted)
                self.A[row] = exps / np.sum(exps)
        """,
        ACT__Softmax__backward="""
            dLdZ = np.zeros_like(dLdA, dtype=float)
            for row in range(dLdA.shape[0]):
                a = self.A[row]
                dot = np.sum(dLdA[row] * a)
                dLdZ[row] = a * (dLdA[row] - dot)
        """,
        LOSS__MSELoss__forward="""
            self.A = A
            self.Y = Y
            self.N = A.shape[0]
            self.C = A.shape[1]
            total = 0.0
            for row in range(self.N):
                total += np.sum((A[row] - Y[row]) ** 2)
            L = float(total / (self.N * self.C))
        """,
        LOSS__MSELoss__backward="""
            derivative = 2 * (self.A - self.Y)
            dLdA = derivative / (self.N * self.C)
        """,
        LOSS__CrossEntropyLoss__forward="""
            self.Y = Y
            self.N = A.shape[0]
            self.softmax = np.zeros_like(A, dtype=float)
            total = 0.0
            for row in range(self.N):
                shifted = A[row] - np.max(A[row])
                log_norm = np.log(np.sum(np.exp(shifted)))
                self.softmax[row] = np.exp(shifted - log_norm)
                total -= np.sum(Y[row] * (shifted - log_norm))
            L = float(total / self.N)
        """,
        LOSS__CrossEntropyLoss__backward="""
            dLdA = np.zeros_like(self.softmax)
            for row in range(self.N):
                dLdA[row] = (self.softmax[row] - self.Y[row]) / self.N
        """,
        SGD__SGD__step="""
            index = 0
            for param, gradient in self.model.parameters():
                velocity = self.v[index]
                if self.mu != 0:
                    velocity[:] = self.mu * velocity + gradient
                    param[:] = param - self.lr * velocity
                else:
                    param[:] = param - self.lr * gradient
                index += 1
        """,
        BN__BatchNorm1d__forward="""
            self.Z = Z
            self.N = Z.shape[0]
            if eval:
                mean = self.running_M
                variance = self.running_V
            else:
                mean = np.sum(Z, axis=0, keepdims=True) / self.N
                variance = np.sum((Z - mean) ** 2, axis=0, keepdims=True) / self.N
                self.running_M = self.alpha * self.running_M + (1 - self.alpha) * mean
                self.running_V = (self.alpha * self.running_V
                                  + (1 - self.alpha) * (variance * self.N / (self.N - 1)))
            self.M = mean
            self.V = variance
            self.NZ = (Z - mean) / np.sqrt(variance + self.eps)
            self.BZ = self.BW * self.NZ + self.Bb
        """,
        BN__BatchNorm1d__backward="""
            self.dLdBb = np.sum(dLdBZ, axis=0, keepdims=True)
            self.dLdBW = np.sum(dLdBZ * self.NZ, axis=0, keepdims=True)
            grad_norm = dLdBZ * self.BW
            inv = 1.0 / np.sqrt(self.V + self.eps)
            if self.eval:
                return grad_norm * inv
            centered = self.Z - self.M
            grad_var = np.sum(grad_norm * centered, axis=0, keepdims=True) * -0.5 * inv ** 3
            grad_mean = (np.sum(-grad_norm * inv, axis=0, keepdims=True)
                         + grad_var * np.mean(-2.0 * centered, axis=0, keepdims=True))
            dLdZ = grad_norm * inv + grad_var * 2.0 * centered / self.N + grad_mean / self.N
        """,
        MLP__Sequential__forward="""
            output = A
            for index in range(len(self.layers)):
                output = self.layers[index].forward(output)
            A = output
        """,
        MLP__Sequential__backward="""
            grad = dLdA
            index = len(self.layers) - 1
            while index >= 0:
                grad = self.layers[index].backward(grad)
                index -= 1
            dLdA = grad
        """,
        MLP__MLP__forward="""
            output = A
            for layer in self.layers:
                if type(layer).__name__ == "BatchNorm1d":
                    output = layer.forward(output, eval=eval)
                else:
                    output = layer.forward(output)
            A = output
        """,
    ),
    "dee": _student(
        LIN__Linear__forward="""
            self.A = np.asarray(A)
            self.N = self.A.shape[0]
            Z = np.tensordot(self.A, self.W, axes=([1], [1]))
            if self.b is not None:
                Z = np.add(Z, self.b.T)
        """,
        LIN__Linear__backward="""
            if self.b is not None:
                self.dLdb = dLdZ.sum(0).reshape(self.out_features, 1)
            self.dLdW = np.tensordot(dLdZ, self.A, axes=([0], [0]))
            dLdA = np.tensordot(dLdZ, self.W, axes=([1], [0])) if self.input_grad else None
        """,
        ACT__Sigmoid__forward="self.A = 0.5 * (1.0 + np.tanh(0.5 * Z))",
        ACT__Sigmoid__backward="dLdZ = np.multiply(dLdA, np.multiply(self.A, 1.0 - self.A))",
        ACT__Tanh__forward="self.A = np.tanh(Z)",
        ACT__Tanh__backward="dLdZ = np.multiply(dLdA, 1.0 - np.power(self.A, 2))",
        ACT__ReLU__forward="self.A = np.clip(Z, 0, None)",
        ACT__ReLU__backward="dLdZ = np.multiply(dLdA, np.greater(self.A, 0))",
        ACT__GELU__forward="""
            self.Z = Z
            self.Phi = 0.5 * (1.0 + _erf(np.divide(Z, np.sqrt(2.0))))
            self.A = np.multiply(Z, self.Phi)
        """,
        ACT__GELU__backward="""
            phi = np.exp(-0.5 * np.square(self.Z)) / np.sqrt(2.0 * np.pi)
            dLdZ = np.multiply(dLdA, self.Phi + np.multiply(self.Z, phi))
        """,
        ACT__Softmax__forward="""
            Zs = np.subtract(Z, np.amax(Z, axis=1, keepdims=True))
            num = np.exp(Zs)
            self.A = np.divide(num, np.sum(num, axis=1, keepdims=True))
        """,
        ACT__Softmax__backward="""
            J = (np.einsum("ni,ij->nij", self.A, np.eye(self.A.shape[1]))
                 - np.einsum("ni,nj->nij", self.A, self.A))
            dLdZ = np.einsum("nij,nj->ni", J, dLdA)
        """,
        LOSS__MSELoss__forward="""
            self.A, self.Y = A, Y
            self.N, self.C = A.shape
            r = np.subtract(A, Y)
            L = float(np.vdot(r, r)) / (self.N * self.C)
        """,
        LOSS__MSELoss__backward=("dLdA = np.multiply(2.0 / (self.N * self.C), "
                                 "np.subtract(self.A, self.Y))"),
        LOSS__CrossEntropyLoss__forward="""
            self.Y = Y
            self.N = A.shape[0]
            top = np.amax(A, axis=1, keepdims=True)
            logp = A - top - np.log(np.sum(np.exp(A - top), axis=1, keepdims=True))
            self.softmax = np.exp(logp)
            L = -float(np.einsum("nc,nc->", Y, logp)) / self.N
        """,
        LOSS__CrossEntropyLoss__backward=("dLdA = np.divide(np.subtract(self.softmax, self.Y), "
                                          "self.N)"),
        SGD__SGD__step="""
            grads = self.model.parameters()
            for vel, (w, dw) in zip(self.v, grads):
                np.multiply(vel, self.mu, out=vel)
                np.add(vel, dw, out=vel)
                np.subtract(w, self.lr * vel, out=w)
        """,
        BN__BatchNorm1d__forward="""
            self.Z = Z
            self.N = len(Z)
            if eval:
                self.M = self.running_M
                self.V = self.running_V
            else:
                self.M = np.mean(Z, axis=0, keepdims=True)
                self.V = np.var(Z, axis=0, keepdims=True)
                unbiased = self.V * (self.N / (self.N - 1.0))
                self.running_M = np.add(self.alpha * self.running_M, (1.0 - self.alpha) * self.M)
                self.running_V = np.add(self.alpha * self.running_V, (1.0 - self.alpha) * unbiased)
            self.NZ = np.divide(Z - self.M, np.sqrt(self.V + self.eps))
            self.BZ = np.add(np.multiply(self.BW, self.NZ), self.Bb)
        """,
        BN__BatchNorm1d__backward="""
            self.dLdBb = np.sum(dLdBZ, axis=0, keepdims=True)
            self.dLdBW = np.sum(np.multiply(dLdBZ, self.NZ), axis=0, keepdims=True)
            dNZ = np.multiply(dLdBZ, self.BW)
            sigma = np.sqrt(self.V + self.eps)
            if not self.eval:
                dNZ = (dNZ - np.mean(dNZ, axis=0, keepdims=True)
                       - self.NZ * np.mean(dNZ * self.NZ, axis=0, keepdims=True))
            dLdZ = np.divide(dNZ, sigma)
        """,
        MLP__Sequential__forward="""
            x = A
            for m in self.layers:
                x = m.forward(x)
            A = x
        """,
        MLP__Sequential__backward="""
            g = dLdA
            for m in self.layers[::-1]:
                g = m.backward(g)
            dLdA = g
        """,
        MLP__MLP__forward="""
            for layer in self.layers:
                A = layer.forward(A, eval=eval) if type(layer) is BatchNorm1d else layer.forward(A)
        """,
    ),
}


def write_submission(reference_root, dest, bodies):
    """``dest/mytorch``: the reference with each solution block replaced by ``bodies[region]``
    (a region missing from ``bodies`` keeps the reference's code, markers included)."""
    reference_root, dest = Path(reference_root), Path(dest)
    shutil.copytree(reference_root / "mytorch", dest / "mytorch",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in sorted({key.split(":")[0] for key in bodies}):
        lines, regions = solution_regions(reference_root / path, path)
        out, last = [], 0
        for qualname, begin, end, indent in regions:
            body = bodies.get(f"{path}:{qualname}")
            if body is None:
                continue
            out += lines[last:begin] + [indent + line if line.strip() else ""
                                        for line in body.splitlines()]
            last = end + 1
        out += lines[last:]
        (dest / path).write_text("\n".join(out) + "\n", encoding="utf-8")
    return dest


def reference_bodies(reference_root):
    """region key -> the reference's own code (what a leaked solution holds)."""
    out = {}
    for path in sorted({p.relative_to(reference_root).as_posix()
                        for p in (Path(reference_root) / "mytorch").rglob("*.py")}):
        lines, regions = solution_regions(Path(reference_root) / path, path)
        for qualname, begin, end, _indent in regions:
            out[f"{path}:{qualname}"] = textwrap.dedent("\n".join(lines[begin + 1:end])) + "\n"
    return out


# -- disguising a copy ------------------------------------------------------------------------
KEEP_NAMES = {"self", "np", "math", "_erf", "BatchNorm1d", "eval", "range", "len", "float", "zip",
              "enumerate", "reversed", "isinstance", "type", "A", "Z", "Y", "dLdA", "dLdZ",
              "dLdBZ", "L"}
# (modules, builtins, the methods' parameters and the names the starter's `return` reads)


class _Disguise(ast.NodeTransformer):
    """Rename local variables and swap equivalent expressions."""

    def __init__(self, names):
        self.names = names

    def visit_Name(self, node):
        if node.id in self.names:
            node.id = self.names[node.id]
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        # np.dot(a, b) / np.matmul(a, b) -> a @ b
        if isinstance(func, ast.Attribute) and _is_np(func.value) and \
                func.attr in ("dot", "matmul") and len(node.args) == 2 and not node.keywords:
            return ast.BinOp(node.args[0], ast.MatMult(), node.args[1])
        # x.sum(axis=0) -> np.ones(x.shape[0]) @ x  (and with keepdims: a (1, N) row of ones)
        if isinstance(func, ast.Attribute) and func.attr == "sum" and not _is_np(func.value) \
                and not node.args \
                and _keywords(node) in ({"axis": 0}, {"axis": 0, "keepdims": True}):
            x = func.value
            rows = ast.Subscript(ast.Attribute(x, "shape", ast.Load()), ast.Constant(0),
                                 ast.Load())
            shape = ast.Tuple([ast.Constant(1), rows], ast.Load()) \
                if "keepdims" in _keywords(node) else rows
            ones = ast.Call(ast.Attribute(ast.Name("np", ast.Load()), "ones", ast.Load()), [shape],
                            [])
            return ast.BinOp(ones, ast.MatMult(), x)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        # a @ b -> np.dot(a, b), for products the source wrote with @
        if isinstance(node.op, ast.MatMult) and not _is_ones(node.left):
            return ast.Call(ast.Attribute(ast.Name("np", ast.Load()), "dot", ast.Load()),
                            [node.left, node.right], [])
        return node


def _is_np(node):
    return isinstance(node, ast.Name) and node.id == "np"


def _is_ones(node):
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
        node.func.attr == "ones"


def _keywords(call):
    out = {}
    for kw in call.keywords:
        if kw.arg is None or not isinstance(kw.value, ast.Constant):
            return None
        out[kw.arg] = kw.value.value
    return out


def disguise_body(body, serial):
    """The body with its local variables renamed, expressions swapped, comments and layout
    changed."""
    tree = ast.parse(body)
    stored = sorted({node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
                     and isinstance(node.ctx, ast.Store)} - KEEP_NAMES)
    names = {name: f"tmp{serial}_{i}" for i, name in enumerate(stored)}
    # Swaps first, then renaming: the swap of `a @ b` must not see the `ones @ x` it just made.
    swapped = _Disguise({}).visit(tree)
    renamed = _Disguise(names)
    for node in ast.walk(swapped):
        if isinstance(node, ast.Name):
            renamed.visit_Name(node)
    lines = ast.unparse(ast.fix_missing_locations(swapped)).splitlines()
    out = []
    for i, line in enumerate(lines):
        if i % 3 == 0:
            indent = line[:len(line) - len(line.lstrip())]
            out.append(f"{indent}# step {i // 3 + 1}")
        out.append(line + ("  # done" if i % 4 == 1 else ""))
    return "\n".join(out) + "\n\n"


def reverse_methods(text):
    """``text`` (a module) with the methods of every class in reverse order."""
    tree = ast.parse(text)
    lines = text.splitlines()
    replacements = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        methods = [n for n in cls.body if isinstance(n, ast.FunctionDef)]
        if len(methods) < 2 or methods[0] is not cls.body[-len(methods)]:
            continue   # only classes whose body ends with all of its methods
        start = min(m.lineno - 1 - len(m.decorator_list) for m in methods)
        end = methods[-1].end_lineno
        blocks = [lines[m.lineno - 1 - len(m.decorator_list):m.end_lineno] for m in methods]
        new = []
        for block in reversed(blocks):
            new += block + [""]
        replacements.append((start, end, new[:-1]))
    for start, end, new in sorted(replacements, reverse=True):
        lines[start:end] = new
    return "\n".join(lines) + "\n"


def plagiarise(reference_root, dest, bodies):
    """A disguised copy of the submission ``bodies`` would make, written to ``dest``."""
    disguised = {key: disguise_body(body, n)
                 for n, (key, body) in enumerate(sorted(bodies.items()))}
    write_submission(reference_root, dest, disguised)
    for path in sorted({key.split(":")[0] for key in bodies}):
        file = Path(dest) / path
        file.write_text(reverse_methods(file.read_text(encoding="utf-8")), encoding="utf-8")
    return Path(dest)


# -- the class --------------------------------------------------------------------------------
def build_class(reference_root, dest):
    """Write the measured class into ``dest`` (one folder per student); return {student: origin}.

    Students of one origin are copies of each other (directly or through a leaked reference);
    students of different origins wrote their code independently. ``correct_but_different`` keeps
    the reference's code in the regions its edits do not touch, so it is partly of both origins.
    """
    from tests.submissions.buggy import BUGS, CORRECT, apply_variant

    reference_root, dest = Path(reference_root), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    origins = {}
    for name, bodies in INDEPENDENT.items():
        write_submission(reference_root, dest / name, bodies)
        plagiarise(reference_root, dest / f"{name}_copy", bodies)
        origins[name] = origins[f"{name}_copy"] = name
    apply_variant(CORRECT[0], reference_root, dest / "fay")
    plagiarise(reference_root, dest / "fay_copy", reference_bodies(dest / "fay"))
    origins["fay"] = origins["fay_copy"] = "fay"
    # A leaked reference solution, disguised, and two students who started from it and got a bug in.
    plagiarise(reference_root, dest / "leak", reference_bodies(reference_root))
    origins["leak"] = "reference"
    for variant in (BUGS[0], BUGS[5]):
        apply_variant(variant, reference_root, dest / variant.name)
        origins[variant.name] = "reference"
    return origins


def related(origin_a, origin_b):
    """Whether two origins share code by construction (``fay`` is partly the reference)."""
    return origin_a == origin_b or {origin_a, origin_b} == {"fay", "reference"}
