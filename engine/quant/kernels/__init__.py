"""One module per family of types; importing this package registers them all."""

from engine.quant.kernels import floats  # noqa: F401
from engine.quant.kernels import iq4, legacy  # noqa: F401
from engine.quant.kernels import q3k  # noqa: F401
from engine.quant.kernels import q6k  # noqa: F401
from engine.quant.kernels import q45k  # noqa: F401
from engine.quant.kernels import q2k  # noqa: F401
