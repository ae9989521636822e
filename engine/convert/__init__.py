"""Layer 2: conversion pipeline (plan, then stream tensors through the quantizer into a GGUF file)."""
