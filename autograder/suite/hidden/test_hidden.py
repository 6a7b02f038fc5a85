"""Hidden cases: the public reference-output tests, re-run on cases drawn from the instructor's secret.

The plugin parametrizes every test collected from this folder with cases generated at grading time by
the reference solution (in the trusted process) from the secret seed; nothing here is on disk.
"""
from autograder.suite.test_activation import test_gelu as test_hidden_gelu  # noqa: F401
from autograder.suite.test_activation import test_relu as test_hidden_relu  # noqa: F401
from autograder.suite.test_activation import test_sigmoid as test_hidden_sigmoid  # noqa: F401
from autograder.suite.test_activation import test_softmax as test_hidden_softmax  # noqa: F401
from autograder.suite.test_activation import test_tanh as test_hidden_tanh  # noqa: F401
from autograder.suite.test_batchnorm import (
    test_backward as test_hidden_batchnorm_backward,  # noqa
)
from autograder.suite.test_batchnorm import (
    test_forward_eval as test_hidden_batchnorm_eval,  # noqa
)
from autograder.suite.test_batchnorm import (
    test_forward_train as test_hidden_batchnorm_train,  # noqa
)
from autograder.suite.test_linear import test_backward as test_hidden_linear_backward  # noqa: F401
from autograder.suite.test_linear import test_forward as test_hidden_linear_forward  # noqa: F401
from autograder.suite.test_loss import test_cross_entropy as test_hidden_cross_entropy  # noqa: F401
from autograder.suite.test_loss import test_mse as test_hidden_mse  # noqa: F401
from autograder.suite.test_mlp import test_mlp0 as test_hidden_mlp0  # noqa: F401
from autograder.suite.test_mlp import test_mlp1 as test_hidden_mlp1  # noqa: F401
from autograder.suite.test_mlp import test_mlp4 as test_hidden_mlp4  # noqa: F401
from autograder.suite.test_sgd import test_sgd_steps as test_hidden_sgd  # noqa: F401
