"""``python -m billy_interp.figures``: see :mod:`billy_interp.figures.build`."""

from billy_interp.figures.build import main

main()
