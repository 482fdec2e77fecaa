"""difftrain test stand-in: the command-line and file contract of difftrain, without its models."""

__version__ = "0.1.0"
