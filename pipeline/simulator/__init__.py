"""Two-channel sample calls spoken by espeak-ng from scripts, with known outcomes."""
