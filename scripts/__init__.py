"""Developer tools run from the checkout (``python -m scripts.services``), not part of the app."""
