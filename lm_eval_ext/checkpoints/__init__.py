"""Checkpoints on disk and on the hub: loading their tokenizers, hashing their files."""
