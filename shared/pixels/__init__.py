"""Pixel data: decoding, encoding in other transfer syntaxes, and rendering frames as images."""
