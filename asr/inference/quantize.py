"""int8 recurrent weights for an exported ONNX model (``asr export --quantize int8``).

Each GRU/LSTM weight matrix (input weights W and recurrent weights R, nearly all of the
model) is stored as int8 codes with one float scale per row (symmetric: the row's
largest |weight| maps to 127) and turned back into float by a ``DequantizeLinear``
node in front of the RNN: the file is about a quarter of the size, the arithmetic
stays float.

How the codes are rounded decides how close the export stays to the float model.
Rounding each weight to its nearest code leaves errors that add up along the rows;
with calibration audio the codes are chosen by GPTQ (Frantar et al., 2022, "GPTQ:
Accurate Post-Training Quantization for Generative Pre-trained Transformers"): one
column at a time is rounded and its error is pushed onto the columns not yet rounded,
weighted by the inverse of H = sum x x^T over the inputs x that matrix meets (the
layer's input frames for W, its hidden states for R). On the English model this
halved the words that the int8 export changes (docs/export.md).

Written here rather than taken from a library: ONNX Runtime's quantisers
(``quantize_dynamic``, ``quantize_static``, ``MatMul4BitsQuantizer``) leave GRU
weights in float, and the GPTQ packages target transformer layers in torch. Imports
no torch: it works on the ONNX file and runs ONNX Runtime for the calibration.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RNN_OPS = ("GRU", "LSTM", "RNN")
DAMPING = 0.01  # added to H's diagonal, as a share of its mean (GPTQ's default)
Features = list[tuple[np.ndarray, np.ndarray]]  # (feats, feat_lens) model inputs


def row_scales(weights: np.ndarray) -> np.ndarray:
    """One symmetric scale per row of a (rows, columns) matrix: max |w| / 127."""
    scale = np.abs(weights).max(axis=-1) / 127.0
    return np.where(scale > 0, scale, 1.0).astype(np.float32)


def round_to_nearest(weights: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """int8 codes of a (rows, columns) matrix, each weight to its nearest code."""
    return np.clip(np.round(weights / scale[:, None]), -127, 127).astype(np.int8)


def gptq_codes(weights: np.ndarray, scale: np.ndarray, hessian: np.ndarray,
               damping: float = DAMPING) -> np.ndarray:  # fmt: skip
    """int8 codes of a (rows, columns) matrix W that keep W x close for the inputs
    x behind ``hessian`` = sum x x^T (columns x columns), with the given row scales.

    Column i is rounded, and its error, divided by the i-th diagonal entry of the
    upper Cholesky factor U of H^-1, is taken off the later columns through row i
    of U: the least-squares update of the weights not yet rounded."""
    work = weights.astype(np.float64).copy()
    h = np.array(hessian, dtype=np.float64)
    dead = np.diag(h) == 0  # inputs that never vary: their weights do not matter
    h[dead, dead] = 1.0
    work[:, dead] = 0.0
    h += damping * np.mean(np.diag(h)) * np.eye(len(h))
    upper = np.linalg.cholesky(np.linalg.inv(h)).T
    codes = np.zeros(work.shape, dtype=np.int8)
    for i in range(work.shape[1]):
        column = work[:, i]
        codes[:, i] = np.clip(np.round(column / scale), -127, 127)
        error = (column - codes[:, i] * scale) / upper[i, i]
        work[:, i + 1 :] -= np.outer(error, upper[i, i + 1 :])
    return codes


def input_hessians(proto, features: Features) -> dict:
    """{W or R initializer name: sum x x^T} over the calibration ``features``
    ((feats, feat_lens) batches, as the model's inputs), from the input frames
    (for W) and the hidden states (for R, the outputs h_t standing in for h_(t-1))
    of every RNN of ``proto``."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    rnns = [n for n in probe.graph.node if n.op_type in RNN_OPS]
    taps = []
    for node in rnns:
        for tensor in (node.input[0], node.output[0]):
            taps.append(tensor)
            probe.graph.output.append(onnx.helper.make_tensor_value_info(
                tensor, onnx.TensorProto.FLOAT, None))  # fmt: skip
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    sums: dict[str, np.ndarray] = {}
    for feats, lens in features:
        outputs = session.run(taps, {"feats": feats, "feat_lens": lens})
        for node, x, y in zip(rnns, outputs[0::2], outputs[1::2], strict=True):
            for name, frames in ((node.input[1], x), (node.input[2], y)):
                rows = frames.reshape(-1, frames.shape[-1]).astype(np.float64)
                sums[name] = sums.get(name, 0.0) + rows.T @ rows
    return sums


def quantize_onnx(source: Path, target: Path, features: Features | None = None) -> str:
    """Write ``source`` with int8 recurrent weights to ``target``; GPTQ rounding
    over the calibration ``features`` when given, else round to nearest.

    Returns:
        the rounding used, "gptq" or "nearest" (the export records it).
    """
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(str(source))
    graph = proto.graph
    hessians = input_hessians(proto, features) if features else {}
    weights = {init.name: init for init in graph.initializer}
    dequantized: dict[str, str] = {}
    nodes = []
    for node in graph.node:
        if node.op_type not in RNN_OPS:
            continue
        for slot in (1, 2):  # W (input weights) and R (recurrent weights)
            name = node.input[slot]
            if name not in dequantized and name in weights:
                matrix = numpy_helper.to_array(weights[name]).astype(np.float32)
                if matrix.shape[0] != 1:
                    raise ValueError("the export writes one direction per RNN")
                scale = row_scales(matrix[0])
                if name in hessians:
                    codes = gptq_codes(matrix[0], scale, hessians[name])
                else:
                    codes = round_to_nearest(matrix[0], scale)
                graph.initializer.remove(weights[name])
                graph.initializer.extend([
                    numpy_helper.from_array(codes[None], f"{name}.int8"),
                    numpy_helper.from_array(scale, f"{name}.scale"),
                ])  # fmt: skip
                nodes.append(helper.make_node(
                    "DequantizeLinear", [f"{name}.int8", f"{name}.scale"],
                    [f"{name}.float"], axis=1, name=f"{name}.dequantize",
                ))  # fmt: skip
                dequantized[name] = f"{name}.float"
            node.input[slot] = dequantized.get(name, name)
    for node in reversed(nodes):
        graph.node.insert(0, node)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(target))
    return "gptq" if hessians else "nearest"
