"""``python -m imagen``: the same as the ``imagen`` command."""

from imagen.cli import main

main()
