"""Report figures, one module per figure kind; every builder returns a :class:`~vpbench.results.figures.style.Plot`.

Import the submodules directly (``vpbench.results.figures.nshot_curves`` …); ``labels`` has no plotting dependency.
"""
