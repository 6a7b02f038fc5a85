"""HW2's catalogue of named mistakes (convolutions, pooling, Flatten), applied to the reference
inputs on the trusted side; see HW1's ``mistakes.py`` for the conventions (one list of
``Diagnosis`` per quantity, the same in every test; ids ``<layer>.<quantity>.<what>``).

The correct values are computed here with one small loop over the kernel offsets (``_forward``,
``_backward``), written unlike the reference's im2col; a mistake is that computation with one thing
changed. Conv1d is the 2-D computation on inputs of height 1 (kernel height 1, no vertical padding
or stride), so one catalogue serves both layers.
"""
import numpy as np

from ...checking.checks import Diagnosis as D

# ----------------------------------------------------------------------------- convolution

def _as_2d(x):
    """(N, C, L) -> (N, C, 1, L): a 1-D signal as an image of height 1."""
    return x[:, :, None, :]


def _geometry(dims, stride, padding):
    """((vertical, horizontal) stride, (vertical, horizontal) padding)."""
    if dims == 1:
        return (1, stride), (0, padding)
    return (stride, stride), (padding, padding)


def _pad(A, pad):
    return np.pad(A, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))


def _out_size(A_pad, W, step):
    return tuple((A_pad.shape[2 + d] - W.shape[2 + d]) // step[d] + 1 for d in range(2))


def _forward(A, W, b, step, pad):
    """Z (N, C_out, H_out, W_out) of a cross-correlation, one kernel offset at a time."""
    A_pad = _pad(A, pad)
    H_out, W_out = _out_size(A_pad, W, step)
    Z = np.zeros((A.shape[0], W.shape[0], H_out, W_out))
    for u in range(W.shape[2]):
        for v in range(W.shape[3]):
            patch = A_pad[:, :, u:u + step[0] * H_out:step[0], v:v + step[1] * W_out:step[1]]
            Z += np.einsum("nchw,oc->nohw", patch, W[:, :, u, v])
    return Z if b is None else Z + b[None, :, None, None]


def _backward(A, W, dLdZ, step, pad, place=None, crop=True, add=True):
    """(dLdA, dLdW) of ``_forward``. ``place``: the stride at which each window's gradient is put
    back into dLdA (a mistake may use another); ``crop=False`` keeps the padding's rows;
    ``add=False`` assigns each kernel offset's share where overlapping windows add up."""
    place = step if place is None else place
    A_pad = _pad(A, pad)
    H_out, W_out = dLdZ.shape[-2:]
    dA_pad, dW = np.zeros(A_pad.shape), np.zeros(W.shape)
    for u in range(W.shape[2]):
        for v in range(W.shape[3]):
            rows = slice(u, u + step[0] * H_out, step[0])
            cols = slice(v, v + step[1] * W_out, step[1])
            dW[:, :, u, v] = np.einsum("nohw,nchw->oc", dLdZ, A_pad[:, :, rows, cols])
            put_rows = slice(u, u + place[0] * H_out, place[0])
            put_cols = slice(v, v + place[1] * W_out, place[1])
            share = np.einsum("nohw,oc->nchw", dLdZ, W[:, :, u, v])
            target = dA_pad[:, :, put_rows, put_cols]
            if add:
                target += share[:, :, :target.shape[2], :target.shape[3]]
            else:
                target[...] = share[:, :, :target.shape[2], :target.shape[3]]
    if crop:
        dA_pad = dA_pad[:, :, pad[0]:pad[0] + A.shape[2], pad[1]:pad[1] + A.shape[3]]
    return dA_pad, dW


def conv_reference(A, W, b, stride, padding, dLdZ=None):
    """{quantity: value} of a correct Conv1d (A 3-D) or Conv2d (A 4-D)."""
    dims = A.ndim - 2
    step, pad = _geometry(dims, stride, padding)
    back = (lambda x: x[:, :, 0, :]) if dims == 1 else (lambda x: x)
    A2, W2 = (_as_2d(A), _as_2d(W)) if dims == 1 else (A, W)
    out = {"Z": back(_forward(A2, W2, b, step, pad))}
    if dLdZ is not None:
        dZ = _as_2d(dLdZ) if dims == 1 else dLdZ
        dA, dW = _backward(A2, W2, dZ, step, pad)
        out.update(dLdA=back(dA), dLdW=back(dW), dLdb=dZ.sum(axis=(0, 2, 3)))
    return out


def conv(A, W, b, stride, padding, dLdZ=None):
    """Conv1d / Conv2d: ``A`` (N, C_in, L) or (N, C_in, H, W), ``W`` (C_out, C_in, K[, K]),
    ``b`` (C_out,)."""
    dims = A.ndim - 2
    layer = f"conv{dims}d"
    step, pad = _geometry(dims, stride, padding)
    back = (lambda x: x[:, :, 0, :]) if dims == 1 else (lambda x: x)
    A2, W2 = (_as_2d(A), _as_2d(W)) if dims == 1 else (A, W)
    flipped = W2[:, :, ::-1, ::-1]
    spatial = tuple(range(2, A.ndim))
    Z = [D(f"{layer}.Z.kernel_flipped", "the kernel is flipped: like PyTorch, Conv computes a "
           "cross-correlation, Z[n, o, i] = sum over c, k of W[o, c, k] * A_pad[n, c, s*i + k] "
           "(no flip in forward)", value=back(_forward(A2, flipped, b, step, pad))),
         D(f"{layer}.Z.bias_missing", "the bias b is missing: add b[o] to every position of "
           "output channel o", value=back(_forward(A2, W2, None, step, pad))),
         D(f"{layer}.Z.bias_subtracted", "the bias was subtracted instead of added",
           value=back(_forward(A2, W2, None, step, pad)) - b[(slice(None),) + (None,) * dims]),
         D(f"{layer}.Z.bias_only", "Z holds the bias only: the weighted sum over the window is "
           "missing (Z = sum of W times the window, plus b)", value=back(
               np.broadcast_to(b[None, :, None, None], _forward(A2, W2, b, step, pad).shape))),
         D(f"{layer}.Z.bias_on_last_axis", "b has shape (C_out,): broadcast it over the channel "
           "axis, b[None, :, None]" + ("" if dims == 1 else "[..., None]") + ", not over the "
           "last axis", replay=lambda: back(_forward(A2, W2, None, step, pad)) + b)]
    if padding:
        Z.append(D(f"{layer}.Z.padding_ignored", f"the padding is missing: pad the input with "
                   f"{padding} zeros on each side of every spatial axis before sliding the kernel",
                   value=back(_forward(A2, W2, b, step, (0, 0)))))
    if stride > 1:
        Z.append(D(f"{layer}.Z.stride_ignored", f"the stride is ignored: keep every {stride}-th "
                   "window (output size (L + 2p - K) // s + 1)",
                   value=back(_forward(A2, W2, b, (1, 1), pad))))
    out = {"Z": Z}
    if dLdZ is None:
        return out
    dZ = _as_2d(dLdZ) if dims == 1 else dLdZ
    dA, dW = _backward(A2, W2, dZ, step, pad)
    N = A.shape[0]
    out["dLdA"] = [
        D(f"{layer}.dLdA.kernel_not_flipped", "dLdA is a full convolution of dLdZ with the kernel "
          "flipped (each window's gradient dLdZ[n, o, i] * W[o, c, k] goes back to A_pad[n, c, "
          "s*i + k]); this is the kernel the other way round",
          value=back(_backward(A2, flipped, dZ, step, pad)[0]))]
    if stride > 1:
        out["dLdA"].append(D(f"{layer}.dLdA.stride_ignored", f"backward ignores the stride: the "
                             f"window of output position i starts at input position {stride}*i, "
                             "so its gradient goes back there",
                             value=back(_backward(A2, W2, dZ, step, pad, place=(1, 1))[0])))
    if stride < A2.shape[2] and W.shape[-1] > stride:
        out["dLdA"].append(D(f"{layer}.dLdA.overwritten", "where windows overlap, an input "
                             "entry gets the SUM of the gradients of every window holding it "
                             "(+=, not =)", value=back(_backward(A2, W2, dZ, step, pad,
                                                                 add=False)[0])))
    if padding:
        out["dLdA"].append(D(f"{layer}.dLdA.padding_not_removed", f"the padding is still there: "
                             f"cut {padding} entries off each side of every spatial axis of the "
                             "padded input's gradient (the zeros are not inputs)",
                             value=back(_backward(A2, W2, dZ, step, pad, crop=False)[0])))
    out["dLdW"] = [D(f"{layer}.dLdW.kernel_flipped", "dLdW is flipped along the kernel axes: "
                     "dLdW[o, c, k] = sum over n, i of dLdZ[n, o, i] * A_pad[n, c, s*i + k]",
                     value=back(dW[:, :, ::-1, ::-1]))]
    if N > 1:
        out["dLdW"].append(D(f"{layer}.dLdW.averaged", f"divided by N = {N}: dLdW is a sum over "
                             "the batch, not a mean", value=back(dW) / N))
    summed = dZ.sum(axis=(0, 2, 3))
    positions = int(np.prod(dLdZ.shape[2:]))
    out["dLdb"] = [D(f"{layer}.dLdb.not_summed_over_positions", "dLdb sums dLdZ over the batch "
                     "AND every output position: dLdZ.sum(axis=" + str((0, *spatial)) + ")",
                     value=dLdZ.sum(axis=0)),
                   D(f"{layer}.dLdb.not_summed_over_batch", "dLdb sums dLdZ over the batch too "
                     "(axis 0), not only over the positions", value=dLdZ.sum(axis=spatial))]
    if positions > 1:
        out["dLdb"].append(D(f"{layer}.dLdb.averaged_over_positions", f"divided by the "
                             f"{positions} output positions: dLdb is a sum, not a mean",
                             value=summed / positions))
    if N * positions > 1:
        out["dLdb"].append(D(f"{layer}.dLdb.averaged", "averaged where dLdb is the sum of dLdZ "
                             "over the batch and the positions", value=dLdZ.mean(axis=(0,
                                                                                 *spatial))))
    return out


# ----------------------------------------------------------------------------- pooling

def _windows(A, kernel, stride):
    """(N, C, H_out, W_out, K, K) copies of every window."""
    H_out = (A.shape[2] - kernel) // stride + 1
    W_out = (A.shape[3] - kernel) // stride + 1
    out = np.empty(A.shape[:2] + (H_out, W_out, kernel, kernel))
    for i in range(H_out):
        for j in range(W_out):
            top, left = i * stride, j * stride
            out[:, :, i, j] = A[:, :, top:top + kernel, left:left + kernel]
    return out


def _scatter(shares, shape, stride, overwrite=False):
    """Each window's (K, K) gradient added back where the window came from (stride ``stride``);
    ``overwrite``: with = where += belongs (the last window to touch an entry with a nonzero
    share wins)."""
    dA = np.zeros(shape)
    kernel = shares.shape[-1]
    for i in range(shares.shape[2]):
        for j in range(shares.shape[3]):
            rows = slice(i * stride, i * stride + kernel)
            cols = slice(j * stride, j * stride + kernel)
            piece = dA[:, :, rows, cols]
            share = shares[:, :, i, j, :piece.shape[2], :piece.shape[3]]
            if overwrite:
                dA[:, :, rows, cols] = np.where(share != 0, share, piece)
            else:
                piece += share
    return dA


def _argmax_mask(win):
    flat = win.reshape(win.shape[:4] + (-1,))
    mask = np.zeros_like(flat)
    np.put_along_axis(mask, flat.argmax(axis=-1)[..., None], 1.0, axis=-1)
    return mask.reshape(win.shape)


def pool_reference(kind, A, kernel, stride, dLdZ=None):
    win = _windows(A, kernel, stride)
    if kind == "max":
        out = {"Z": win.max(axis=(4, 5))}
        shares = _argmax_mask(win)
    else:
        out = {"Z": win.mean(axis=(4, 5))}
        shares = np.full(win.shape, 1.0 / kernel ** 2)
    if dLdZ is not None:
        out["dLdA"] = _scatter(shares * dLdZ[..., None, None], A.shape, stride)
    return out


def pool(kind, A, kernel, stride, dLdZ=None):
    """MaxPool2d (``kind`` "max") or AvgPool2d ("avg"): ``A`` (N, C, H, W)."""
    layer = f"{kind}pool"
    win = _windows(A, kernel, stride)
    mask = _argmax_mask(win)
    if kind == "max":
        Z = [D(f"{layer}.Z.min", "the minimum of each window: MaxPool keeps the largest entry",
               value=win.min(axis=(4, 5))),
             D(f"{layer}.Z.mean", "the mean of each window: that is AvgPool; MaxPool keeps the "
               "largest entry", value=win.mean(axis=(4, 5)))]
    else:
        Z = [D(f"{layer}.Z.not_divided", f"the sum of each window: divide by the "
               f"{kernel * kernel} entries of a {kernel}×{kernel} window for the mean",
               value=win.sum(axis=(4, 5))),
             D(f"{layer}.Z.max", "the largest entry of each window: that is MaxPool; AvgPool "
               "takes the mean", value=win.max(axis=(4, 5)))]
    if stride != kernel:
        Z.append(D(f"{layer}.Z.stride_ignored", f"windows start every {stride} entries "
                   f"(stride {stride}), not every kernel_size ({kernel}) entries",
                   value=pool_reference(kind, A, kernel, kernel)["Z"]))
    out = {"Z": Z}
    if dLdZ is None:
        return out
    up = dLdZ[..., None, None]
    ones = np.ones(win.shape)
    if kind == "max":
        dLdA = [D(f"{layer}.dLdA.routed_to_all", "the gradient of a window goes to its largest "
                  "entry only (where the max came from), not to every entry",
                  value=_scatter(ones * up, A.shape, stride)),
                D(f"{layer}.dLdA.averaged", "that is AvgPool's backward: MaxPool sends each "
                  "window's gradient to its largest entry only",
                  value=_scatter(ones * up / kernel ** 2, A.shape, stride))]
    else:
        dLdA = [D(f"{layer}.dLdA.not_divided", f"each entry of a window gets dLdZ / "
                  f"{kernel * kernel} (the mean divides by the window's size)",
                  value=_scatter(ones * up, A.shape, stride)),
                D(f"{layer}.dLdA.routed_to_max", "that is MaxPool's backward: every entry of an "
                  "AvgPool window gets an equal share", value=_scatter(mask * up, A.shape,
                                                                       stride))]
    shares = mask if kind == "max" else ones / kernel ** 2
    if stride != kernel:
        dLdA.append(D(f"{layer}.dLdA.stride_ignored", f"backward puts window (i, j)'s gradient "
                      f"back at rows {stride}*i.. and columns {stride}*j.. (the stride), as "
                      "forward read it", value=_scatter(shares * up, A.shape, kernel)))
    overwritten = "where windows overlap, an entry gets the SUM of the gradients of every window " \
        "holding it (+=, not =)"
    dLdA.append(D(f"{layer}.dLdA.overwritten", overwritten,
                  value=_scatter(shares * up, A.shape, stride, overwrite=True)))
    dLdA.append(D(f"{layer}.dLdA.overwritten", overwritten,
                  value=_overwrite_by_offset(shares * up, A.shape, stride)))
    out["dLdA"] = dLdA
    return out


def _overwrite_by_offset(shares, shape, stride):
    """``_scatter`` one kernel offset at a time with = where += belongs: the last offset wins."""
    dA = np.zeros(shape)
    kernel = shares.shape[-1]
    H_out, W_out = shares.shape[2:4]
    for u in range(kernel):
        for v in range(kernel):
            dA[:, :, u:u + stride * H_out:stride, v:v + stride * W_out:stride] = \
                shares[:, :, :, :, u, v]
    return dA


# ----------------------------------------------------------------------------- Flatten

def flatten(A, dLdZ=None):
    """Flatten: ``A`` (N, C, H, W) -> (N, C*H*W) in C order (channel first)."""
    N = A.shape[0]
    out = {"Z": [D("flatten.Z.channels_last", "the order is (H, W, C): flatten in C order with "
                   "the channel axis first, A.reshape(N, -1)",
                   value=A.transpose(0, 2, 3, 1).reshape(N, -1)),
                 D("flatten.Z.batch_flattened", "the batch axis was flattened too: keep N rows, "
                   "A.reshape(N, -1)", value=A.reshape(-1)),
                 D("flatten.Z.fortran_order", "Fortran (column-major) order: use NumPy's "
                   "default C order, A.reshape(N, -1)", value=A.reshape(N, -1, order="F"))]}
    if dLdZ is None:
        return out
    shape = A.shape
    out["dLdA"] = [D("flatten.dLdA.channels_last", "the gradient is unflattened as (N, H, W, C): "
                     "reshape dLdZ back to the input's shape, dLdZ.reshape(A.shape)",
                     value=dLdZ.reshape(N, shape[2], shape[3], shape[1]).transpose(0, 3, 1, 2)),
                   D("flatten.dLdA.fortran_order", "Fortran (column-major) order: reshape back "
                     "in C order, dLdZ.reshape(A.shape)",
                     value=dLdZ.reshape(shape, order="F"))]
    return out
