"""Report figures, one module per figure kind; every builder returns a :class:`~vpbench.figures.style.Plot`.

Import the submodules directly (``vpbench.figures.nshot_curves`` …); ``labels`` has no plotting dependency.
"""
