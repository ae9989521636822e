"""``make bench``: quantization throughput, ours beside llama-quantize's, written as a markdown table."""
