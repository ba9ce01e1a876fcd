"""int8 rounding of the export (asr.inference.quantize): GPTQ against round to
nearest, on matrices where the answer is known."""

import numpy as np

from asr.inference.quantize import gptq_codes, round_to_nearest, row_scales


def _matrices(seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((48, 32)).astype(np.float32)
    mixing = rng.standard_normal((32, 32)) * 0.3 + np.eye(32)  # correlated inputs
    inputs = rng.standard_normal((2000, 32)) @ mixing
    return weights, inputs


def test_gptq_with_independent_unit_inputs_rounds_to_nearest():
    """With H = I no column's error can be made up by another: GPTQ is plain
    rounding (the damping only scales H)."""
    weights, _ = _matrices()
    scale = row_scales(weights)
    codes = gptq_codes(weights, scale, np.eye(32) * 5.0)
    assert np.array_equal(codes, round_to_nearest(weights, scale))


def test_gptq_keeps_the_layer_output_closer_than_rounding():
    weights, inputs = _matrices()
    scale = row_scales(weights)
    hessian = inputs.T @ inputs

    def output_error(codes):
        return np.linalg.norm(inputs @ (weights - codes * scale[:, None]).T)

    nearest = round_to_nearest(weights, scale)
    gptq = gptq_codes(weights, scale, hessian)
    assert gptq.dtype == np.int8 and np.abs(gptq.astype(int)).max() <= 127
    assert np.abs(gptq.astype(int) - nearest).max() <= 3  # a few codes off, no more
    assert output_error(gptq) < 0.8 * output_error(nearest)


def test_inputs_that_never_vary_do_not_break_gptq():
    weights, inputs = _matrices(1)
    inputs[:, 5] = 0.0  # a dead input: a zero row and column in H
    scale = row_scales(weights)
    codes = gptq_codes(weights, scale, inputs.T @ inputs)
    assert np.isfinite(codes.astype(float)).all()
    assert (codes[:, 5] == 0).all()  # its weights cannot matter: zero
    assert (row_scales(np.zeros((2, 3))) == 1.0).all()  # an all-zero row: scale 1
