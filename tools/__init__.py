"""Helpers outside the product: database launchers, the demo-art drawer (demo_art.py)."""
