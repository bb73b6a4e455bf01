"""Charter's reference Constitutional-AI training pipeline (see ../CONTRACT.md and ../README.md)."""

__version__ = "1.0.0"
