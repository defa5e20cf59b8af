# Float64 numpy reference for the xsep operators, written from shared/SPEC.md
# sections 2 and 3 (not from any C++). Tensors are NCHW; every result is float64.
# Deliberately naive: explicit zero padding with np.pad, then one strided slice per tap.
import numpy as np

# Integer enums of the C API (xsep_pad / xsep_activation in include/xsep/xsep.h).
PAD = {"TOP_LEFT": 0, "TOP_RIGHT": 1, "BOTTOM_LEFT": 2, "BOTTOM_RIGHT": 3, "SYMMETRIC": 4}
ACT = {"NONE": 0, "RELU": 1, "RELU6": 2, "HARDSWISH": 3}
PAD_NAME = {v: k for k, v in PAD.items()}
ACT_NAME = {v: k for k, v in ACT.items()}

# Zero rows/columns added by each 2x2 direction, as (top, left, bottom, right)
# (the ONNX `pads` order of SPEC 2.1).
PADS_2X2 = {
    "TOP_LEFT": (1, 1, 0, 0),
    "TOP_RIGHT": (1, 0, 0, 1),
    "BOTTOM_LEFT": (0, 1, 1, 0),
    "BOTTOM_RIGHT": (0, 0, 1, 1),
}
# Direction of each of the 4 channel groups of SYMMETRIC, in group order (Wu et al.).
SYMMETRIC_ORDER = ("BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT")


def pad_name(pad):
    """Accept a direction as its name or its integer enum."""
    return PAD_NAME[pad] if isinstance(pad, (int, np.integer)) else str(pad)


def act_name(act):
    """Accept an activation as its name or its integer enum."""
    return ACT_NAME[act] if isinstance(act, (int, np.integer)) else str(act)


def symmetric_groups(c):
    """Channel index groups of SYMMETRIC: numpy.array_split(range(C), 4)."""
    return np.array_split(np.arange(c), 4)


def out_size(n, stride):
    """Output length along a strided axis (K//2 zeros each side, K odd): floor((n-1)/s)+1."""
    return (n - 1) // stride + 1


def _dwconv(x, w, pads, strides):
    """Depthwise cross-correlation: y[n,c,h,w] = sum_ij w[c,i,j] * xp[n,c,s_h*h+i,s_w*w+j],
    xp = x zero-padded by pads = (top, left, bottom, right). w is [C,kh,kw]."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n, c, h, wd = x.shape
    _, kh, kw = w.shape
    assert w.shape[0] == c, "one filter per channel"
    top, left, bottom, right = pads
    sh, sw = strides
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    ho = (h + top + bottom - kh) // sh + 1
    wo = (wd + left + right - kw) // sw + 1
    y = np.zeros((n, c, ho, wo), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            tap = xp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
            y += w[None, :, i, j, None, None] * tap
    return y


def dwconv2x2(x, w, pad):
    """2x2 depthwise, stride 1, output HxW (SPEC 2.1). w is [C,2,2]."""
    pad = pad_name(pad)
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64).reshape(x.shape[1], 2, 2)
    if pad != "SYMMETRIC":
        return _dwconv(x, w, PADS_2X2[pad], (1, 1))
    y = np.zeros_like(x)
    for idx, direction in zip(symmetric_groups(x.shape[1]), SYMMETRIC_ORDER):
        if len(idx):  # C < 4 leaves the last groups empty
            y[:, idx] = _dwconv(x[:, idx], w[idx], PADS_2X2[direction], (1, 1))
    return y


def dwconv1xk(x, w, stride):
    """1xK depthwise along the width, K//2 zeros left and right, stride on W only (SPEC 2.2)."""
    w = np.asarray(w, dtype=np.float64)
    k = w.shape[-1]
    assert k % 2 == 1, "K is odd"
    return _dwconv(x, w.reshape(-1, 1, k), (0, k // 2, 0, k // 2), (1, stride))


def dwconvkx1(x, w, stride):
    """Kx1 depthwise along the height, K//2 zeros top and bottom, stride on H only (SPEC 2.2)."""
    w = np.asarray(w, dtype=np.float64)
    k = w.shape[-1]
    assert k % 2 == 1, "K is odd"
    return _dwconv(x, w.reshape(-1, k, 1), (k // 2, 0, k // 2, 0), (stride, 1))


def dwconvkxk(x, w, stride):
    """KxK depthwise, K//2 zeros on every side, same stride on H and W (SPEC 2.3)."""
    w = np.asarray(w, dtype=np.float64)
    k = w.shape[-1]
    assert k % 2 == 1 and w.shape[-2] == k, "K is odd and the filter square"
    p = k // 2
    return _dwconv(x, w.reshape(-1, k, k), (p, p, p, p), (stride, stride))


def apply_act(v, act):
    """The activations of SPEC 2.4."""
    act = act_name(act)
    if act == "NONE":
        return v
    if act == "RELU":
        return np.maximum(v, 0.0)
    if act == "RELU6":
        return np.minimum(np.maximum(v, 0.0), 6.0)
    if act == "HARDSWISH":
        return v * np.minimum(np.maximum(v + 3.0, 0.0), 6.0) / 6.0
    raise ValueError(f"unknown activation {act!r}")


def epilogue(y, scale, bias, act):
    """y = act(y * scale[c] + bias[c]) (SPEC 2.4); absent scale/bias mean 1 and 0."""
    y = np.asarray(y, dtype=np.float64)
    if scale is not None:
        y = y * np.asarray(scale, dtype=np.float64)[None, :, None, None]
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return apply_act(y, act)


def _ep(y, ep):
    """Apply an epilogue tuple (scale|None, bias|None, act); None is the identity."""
    if ep is None:
        return np.asarray(y, dtype=np.float64)
    scale, bias, act = ep
    return epilogue(y, scale, bias, act)


def xsepconv(x, w2x2, w1xk, wkx1, k, stride, pad, ep2x2=None, ep1xk=None, epkx1=None):
    """The XSepConv block of SPEC 2.5: E3(Kx1_s(E2(1xK_s(E1(dw2x2_d(x)))))).
    The 2x2 pass is always stride 1; intermediates stay float64."""
    w1xk = np.asarray(w1xk, dtype=np.float64).reshape(-1, k)
    wkx1 = np.asarray(wkx1, dtype=np.float64).reshape(-1, k)
    t = _ep(dwconv2x2(x, w2x2, pad), ep2x2)
    t = _ep(dwconv1xk(t, w1xk, stride), ep1xk)
    return _ep(dwconvkx1(t, wkx1, stride), epkx1)


def padding_schedule(n_layers):
    """Directions of the N 2x2 layers of a network (SPEC 3): cycle BR, TL, BL, TR;
    when N is odd the last layer uses SYMMETRIC."""
    dirs = [SYMMETRIC_ORDER[l % 4] for l in range(n_layers)]
    if n_layers % 2 == 1:
        dirs[-1] = "SYMMETRIC"
    return dirs
