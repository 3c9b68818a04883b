"""Refuse a shadowed package: Python started in the folder that holds the clone imports the repository folder
(also called ``mmclipdepth``) as an empty namespace package, so ``mmclipdepth/__init__.py`` — which registers
every component and installs the compatibility shims — never runs, and an editable install still serves the
subpackages. Every subpackage imports this module first (docs/install.md)."""
import sys

_pkg = sys.modules.get(__name__.rpartition('.')[0])
if _pkg is not None and getattr(_pkg, '__file__', None) is None:
    raise ImportError(
        f"mmclipdepth was imported as an empty namespace package from {list(getattr(_pkg, '__path__', []))}: Python "
        'was started in the folder that contains the clone, so the repository folder shadows the installed '
        'package and nothing is registered. Start Python inside the clone or anywhere else (docs/install.md, '
        "\"Running Python from the clone's parent folder\").")
