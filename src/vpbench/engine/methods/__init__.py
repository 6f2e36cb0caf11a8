"""Transfer-method registry; importing this package registers every method module in it.

Adding a method is one module in this folder (picked up automatically) or one plugin module.
"""

import importlib
import pkgutil

from vpbench.engine.methods.base import METHODS, VPMethod, get_method, method_order, register_method

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METHODS", "VPMethod", "get_method", "method_order", "register_method"]
