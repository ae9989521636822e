"""Quantpick's engine: formats, quantization, conversion, hardware, hub, recommendation. No Qt, ever."""
