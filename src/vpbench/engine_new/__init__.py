"""Cores of newer visual-prompting methods (BLM/BLM+, SMM, LoR-VP), checked against the authors' code.

Each module holds the published defaults, pure functions where possible and small modules with the
duck-typed interfaces of :mod:`vpbench.prompts` and :mod:`vpbench.output_mapping`.
"""
