"""Tensors (scaffold)."""
