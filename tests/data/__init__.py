"""Tests of vpbench.data; ``native_formats`` writes synthetic datasets for any suite to reuse."""
