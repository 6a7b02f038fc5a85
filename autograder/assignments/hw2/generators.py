"""HW2's graded inputs and the reference's outputs for them (see HW1's ``generators.py`` for the
contract: ``GENERATORS``, ``generate(component, seed, ref, count)``, no degenerate case).

The case's ``index`` picks the geometry, so the public cases and any hidden set of as many cases
cover every branch a convolution or a pooling has: stride 1 and more, padding 0 and more, and a
length the windows do not tile ((L + 2p - K) not a multiple of the stride: the last inputs reach no
window and get gradient 0). Kernel size, stride and padding are stored in the case as 0-d settings.
"""
import zlib

import numpy as np

# 0-d values that are settings of the call, not values to grade (they may be 0 or repeat)
SETTINGS = {"kernel", "stride", "padding", "in_channels", "image_size", "num_classes"}
MAX_DRAWS = 1000

# index % 4 -> (kernel, stride, padding); the length is drawn, then nudged so that index 2's
# windows do not tile the padded input
CONV_GEOMETRY = [(3, 1, 0), (3, 2, 1), (2, 2, 0), (3, 3, 2)]


def _conv_geometry(rng, index):
    kernel, stride, padding = CONV_GEOMETRY[index % len(CONV_GEOMETRY)]
    size = int(rng.integers(kernel + 2, kernel + 6))
    if index % len(CONV_GEOMETRY) == 2 and (size + 2 * padding - kernel) % stride == 0:
        size += 1
    return kernel, stride, padding, size


def conv(dims):
    def generate(rng, ref, index=0):
        kernel, stride, padding, size = _conv_geometry(rng, index)
        N, C_in, C_out = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
        cls = ref.nn.Conv1d if dims == 1 else ref.nn.Conv2d
        layer = cls(C_in, C_out, kernel, stride=stride, padding=padding)
        layer.W = rng.normal(size=layer.W.shape)
        layer.b = rng.normal(size=layer.b.shape)
        A = rng.normal(size=(N, C_in) + (size,) * dims)
        case = dict(A=A, W=layer.W.copy(), b=layer.b.copy(), kernel=np.asarray(kernel),
                    stride=np.asarray(stride), padding=np.asarray(padding))
        case["Z"] = layer.forward(A).copy()
        case["dLdZ"] = rng.normal(size=case["Z"].shape)
        case["dLdA"] = layer.backward(case["dLdZ"]).copy()
        case["dLdW"], case["dLdb"] = layer.dLdW.copy(), layer.dLdb.copy()
        return case
    generate.__name__ = f"conv{dims}d"
    return generate


# index % 3 -> (kernel, stride): windows that tile, that overlap, and that skip entries
POOL_GEOMETRY = [(2, 2), (3, 1), (2, 3)]


def pool(kind):
    def generate(rng, ref, index=0):
        kernel, stride = POOL_GEOMETRY[index % len(POOL_GEOMETRY)]
        N, C = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        H, W = int(rng.integers(kernel + 1, kernel + 5)), int(rng.integers(kernel + 1, kernel + 5))
        layer = (ref.nn.MaxPool2d if kind == "max" else ref.nn.AvgPool2d)(kernel, stride=stride)
        A = rng.normal(size=(N, C, H, W))  # continuous: no ties for the max
        case = dict(A=A, kernel=np.asarray(kernel), stride=np.asarray(stride))
        case["Z"] = layer.forward(A).copy()
        case["dLdZ"] = rng.normal(size=case["Z"].shape)
        case["dLdA"] = layer.backward(case["dLdZ"]).copy()
        return case
    generate.__name__ = f"{kind}pool"
    return generate


def flatten(rng, ref, index=0):
    shape = (int(rng.integers(1, 4)), int(rng.integers(2, 4)), int(rng.integers(2, 5)),
             int(rng.integers(2, 5)))
    layer = ref.nn.Flatten()
    A = rng.normal(size=shape)
    case = dict(A=A, Z=layer.forward(A).copy())
    case["dLdZ"] = rng.normal(size=case["Z"].shape)
    case["dLdA"] = layer.backward(case["dLdZ"]).copy()
    return case


# The CNN of the graded cases: small; a 10-pixel image leaves a 1×1 map after the last MaxPool2d
# (``size < 1`` and ``size <= 1`` differ), a 15-pixel one a 2×2 map (channels × size × size and
# channels × size differ) after a first pooling that leaves a row out.
CNN_CHANNELS, CNN_KERNEL, CNN_CLASSES = (2, 3), 3, 4


def cnn(rng, ref, index=0):
    in_channels, image_size = 1 + index % 2, (10, 15)[index % 2]
    model = ref.models.CNN(in_channels, image_size, CNN_CHANNELS, CNN_KERNEL, CNN_CLASSES)
    N = int(rng.integers(1, 4))
    case = dict(in_channels=np.asarray(in_channels), image_size=np.asarray(image_size),
                channels=np.asarray(CNN_CHANNELS), kernel=np.asarray(CNN_KERNEL),
                num_classes=np.asarray(CNN_CLASSES),
                A0=rng.normal(size=(N, in_channels, image_size, image_size)))
    weighted = [layer for layer in model.layers if hasattr(layer, "W")]
    for k, layer in enumerate(weighted):
        layer.W = rng.normal(0, 1, layer.W.shape)
        layer.b = rng.normal(0.3, 0.5, layer.b.shape)
        case[f"W{k}"], case[f"b{k}"] = layer.W.copy(), layer.b.copy()
    case["out"] = model.forward(case["A0"]).copy()
    case["dLdout"] = rng.normal(size=case["out"].shape)
    case["dLdA0"] = model.backward(case["dLdout"]).copy()
    for k, layer in enumerate(weighted):
        case[f"dLdW{k}"], case[f"dLdb{k}"] = layer.dLdW.copy(), layer.dLdb.copy()
    A = case["A0"]
    for k, layer in enumerate(model.layers):  # each layer's output, for degeneracy only
        A = layer.forward(A)
        case[f"act{k}"] = A.copy()
    return case


def degeneracy(component, case):
    """Why ``case`` cannot tell right from wrong, or None: an array that is not finite, all zeros,
    or constant (settings aside)."""
    for key, value in case.items():
        value = np.asarray(value)
        if value.ndim == 0 and key in SETTINGS:
            continue
        if not np.all(np.isfinite(value)):
            return f"{key} is not finite"
        if not np.any(value):
            return f"{key} is all zeros"
        if value.size > 1 and np.ptp(value) <= 1e-12 * np.abs(value).max():
            return f"{key} is constant"
    acts = [case[f"act{k}"] for k in range(sum(key.startswith("act") for key in case))]
    for k, (before, after) in enumerate(zip([case.get("A0")] + acts, acts)):
        if before.shape == after.shape and np.allclose(before, after):
            return f"layer {k} returns its input (skipping it would not show)"
    return None


# component -> (generator, number of public cases)
GENERATORS = {
    "conv1d": (conv(1), 4),
    "conv2d": (conv(2), 4),
    "maxpool": (pool("max"), 3),
    "avgpool": (pool("avg"), 3),
    "flatten": (flatten, 2),
    "cnn": (cnn, 2),
}


def generate(component, seed, ref, count=None):
    """The list of cases for ``component``, a pure function of (component, seed, reference)."""
    generator, default_count = GENERATORS[component]
    index = zlib.crc32(component.encode())
    cases = []
    for i in range(default_count if count is None else count):
        rng = np.random.default_rng([seed, index, i])
        for _ in range(MAX_DRAWS):
            case = generator(rng, ref, i)
            if degeneracy(component, case) is None:
                break
        else:
            raise RuntimeError(f"{component}: no non-degenerate case in {MAX_DRAWS} draws "
                               f"(last: {degeneracy(component, case)})")
        cases.append(case)
    return cases
