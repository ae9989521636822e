"""The headless command line: ``quantpick <command>``; one module per command, listed in ``main``."""
