"""``python -m lava_port``.

Lava executes every ``.py`` file of this directory under the module name
``"__main__"`` while it looks for ProcessModels, so ``__name__`` alone cannot
tell a real ``python -m lava_port`` apart: only runpy gives this module the
spec name ``lava_port.__main__``.
"""
import sys

if __name__ == "__main__" and getattr(__spec__, "name", None) == "lava_port.__main__":
    from lava_port.cli import main

    sys.exit(main())
