"""The cluster path: SLURM requests that fit the partition, job arrays, slices, the grid priced up front.

- :mod:`~vpbench.cluster.limits`: the partition limits a profile declares once (its ``cluster:`` file);
- :mod:`~vpbench.cluster.requests`: the sbatch request of a job (last retry, groups) and its violations;
- :mod:`~vpbench.cluster.arrays`: array plans the SLURM executor plugin would hang on or sbatch refuse;
- :mod:`~vpbench.cluster.profiles`: a profile's requests read from its YAML, without Snakemake;
- :mod:`~vpbench.cluster.targets`: a study's training jobs as targets, and slices of them;
- :mod:`~vpbench.cluster.hooks`: the checks ``rules/`` runs while Snakemake builds the DAG;
- :mod:`~vpbench.cluster.throughput`, :mod:`~vpbench.cluster.pricing`,
  :mod:`~vpbench.cluster.price_report`: GPU-hours of a study's grid, and predicted vs measured;
- :mod:`~vpbench.cluster.cli`: ``python -m vpbench.cluster [--profile P] | price --configfile S``.

docs/CLUSTER.md explains the whole path.
"""
