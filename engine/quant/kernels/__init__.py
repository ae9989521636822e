"""One module per family of types; importing this package registers them all."""

from engine.quant.kernels import floats  # noqa: F401
