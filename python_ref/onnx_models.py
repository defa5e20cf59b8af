# Small ONNX models (opset 17, float32) of the xsep operators built from plain ONNX
# Conv / Split / Concat / Mul / Add / Relu / Clip / HardSwish nodes, and a runner
# on onnxruntime's CPUExecutionProvider: an independent check of xsep_ref.
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import xsep_ref

OPSET = 17
IR_VERSION = 8  # the IR version that introduced opset 17

# Copied from SPEC 2.1 rather than taken from xsep_ref, so a slip there shows up here.
ONNX_PADS_2X2 = {  # [top, left, bottom, right]
    "TOP_LEFT": [1, 1, 0, 0],
    "TOP_RIGHT": [1, 0, 0, 1],
    "BOTTOM_LEFT": [0, 1, 1, 0],
    "BOTTOM_RIGHT": [0, 0, 1, 1],
}
SYMMETRIC_GROUP_DIRECTIONS = ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT"]


class Graph:
    """Accumulates nodes and float32 initializers; tensor names are generated."""

    def __init__(self):
        self.nodes, self.inits, self._n = [], [], 0

    def name(self, prefix):
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, value, dtype=np.float32):
        nm = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), nm))
        return nm

    def node(self, op, inputs, n_out=1, **attrs):
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, **attrs))
        return outs[0] if n_out == 1 else outs

    def dwconv(self, inp, w, pads, strides):
        """Depthwise Conv: w is [C,kh,kw], pads = [top, left, bottom, right]."""
        w = np.asarray(w, dtype=np.float32)
        c, kh, kw = w.shape
        top, left, bottom, right = pads
        return self.node("Conv", [inp, self.const(w.reshape(c, 1, kh, kw))],
                         group=c, kernel_shape=[kh, kw],
                         pads=[top, left, bottom, right], strides=list(strides))

    def dwconv2x2(self, inp, w, pad):
        """One 2x2 direction as a Conv, or SYMMETRIC as Split -> one Conv per group -> Concat."""
        pad = xsep_ref.pad_name(pad)
        w = np.asarray(w, dtype=np.float32)
        if pad != "SYMMETRIC":
            return self.dwconv(inp, w, ONNX_PADS_2X2[pad], (1, 1))
        groups = [(idx, d) for idx, d in
                  zip(np.array_split(np.arange(w.shape[0]), 4), SYMMETRIC_GROUP_DIRECTIONS) if len(idx)]
        # Empty groups (C < 4) are left out: a Conv with zero channels is not valid ONNX.
        if len(groups) == 1:
            idx, d = groups[0]
            return self.dwconv(inp, w[idx], ONNX_PADS_2X2[d], (1, 1))
        sizes = self.const([len(idx) for idx, _ in groups], dtype=np.int64)
        parts = self.node("Split", [inp, sizes], n_out=len(groups), axis=1)
        outs = [self.dwconv(p, w[idx], ONNX_PADS_2X2[d], (1, 1))
                for p, (idx, d) in zip(parts, groups)]
        return self.node("Concat", outs, axis=1)

    def epilogue(self, inp, scale, bias, act):
        """Mul by scale[1,C,1,1], Add bias, then Relu / Clip(0,6) / HardSwish."""
        act = xsep_ref.act_name(act)
        if scale is not None:
            inp = self.node("Mul", [inp, self.const(np.reshape(scale, (1, -1, 1, 1)))])
        if bias is not None:
            inp = self.node("Add", [inp, self.const(np.reshape(bias, (1, -1, 1, 1)))])
        if act == "RELU":
            inp = self.node("Relu", [inp])
        elif act == "RELU6":
            inp = self.node("Clip", [inp, self.const(0.0), self.const(6.0)])
        elif act == "HARDSWISH":
            inp = self.node("HardSwish", [inp])  # x * max(0, min(1, x/6 + 1/2))
        return inp

    def model(self, out):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "C", "H", "W"])
        y = helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", "C", "Ho", "Wo"])
        g = helper.make_graph(self.nodes, "xsep", [x], [y], initializer=self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = IR_VERSION  # pinned so an older onnxruntime still loads it
        onnx.checker.check_model(m)
        return m


def _single(build):
    """A one-input model whose body is build(graph, 'x') -> output name."""
    g = Graph()
    return g.model(build(g, "x"))


def dwconv2x2_model(w, pad, ep=None):
    return _single(lambda g, x: _ep(g, g.dwconv2x2(x, w, pad), ep))


def dwconv1xk_model(w, stride, ep=None):
    w = np.asarray(w)
    k = w.shape[-1]
    return _single(lambda g, x: _ep(g, g.dwconv(x, w.reshape(-1, 1, k),
                                                 (0, k // 2, 0, k // 2), (1, stride)), ep))


def dwconvkx1_model(w, stride, ep=None):
    w = np.asarray(w)
    k = w.shape[-1]
    return _single(lambda g, x: _ep(g, g.dwconv(x, w.reshape(-1, k, 1),
                                                 (k // 2, 0, k // 2, 0), (stride, 1)), ep))


def dwconvkxk_model(w, stride, ep=None):
    w = np.asarray(w)
    p = w.shape[-1] // 2
    return _single(lambda g, x: _ep(g, g.dwconv(x, w, (p, p, p, p), (stride, stride)), ep))


def epilogue_model(scale, bias, act):
    return _single(lambda g, x: g.epilogue(x, scale, bias, act))


def xsepconv_model(w2x2, w1xk, wkx1, k, stride, pad, ep2x2=None, ep1xk=None, epkx1=None):
    """2x2 (stride 1) -> ep -> 1xK (stride on W) -> ep -> Kx1 (stride on H) -> ep."""
    def build(g, x):
        t = _ep(g, g.dwconv2x2(x, w2x2, pad), ep2x2)
        t = _ep(g, g.dwconv(t, np.reshape(w1xk, (-1, 1, k)), (0, k // 2, 0, k // 2), (1, stride)), ep1xk)
        return _ep(g, g.dwconv(t, np.reshape(wkx1, (-1, k, 1)), (k // 2, 0, k // 2, 0), (stride, 1)), epkx1)
    return _single(build)


def _ep(g, t, ep):
    return t if ep is None else g.epilogue(t, *ep)


def run(model, x):
    """Run a model on x (NCHW) in float32 with onnxruntime's CPU provider."""
    import onnxruntime as ort  # imported here so xsep_ref users need not have it
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]
