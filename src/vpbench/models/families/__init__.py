"""Family modules; each registers its entries on import. Every module in this folder is imported, so
adding a family is adding a module."""

import importlib
import pkgutil

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_module.name}")
