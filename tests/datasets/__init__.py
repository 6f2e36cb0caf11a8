"""Tests of vpbench.datasets; ``native_formats`` writes synthetic datasets for any suite to reuse."""
