"""Layer 0: bytes <-> typed descriptions of checkpoints. No quantization math here."""
