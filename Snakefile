# vpbench: the hidden cost of model compression under visual prompting.
# `snakemake --cores 2` runs the demo study (config.yaml); `--profile profiles/slurm` runs the paper grid.
import sys

from snakemake.utils import min_version

min_version("9.0")


# The demo study unless the command line (or a profile) names another: Snakemake would otherwise MERGE
# config.yaml into the chosen study, and the demo's models and datasets would join the paper grid.
if not config:
    # vpbench reads the file first: Snakemake's reader keeps the last of two equal keys and reports a
    # Python-object tag as a whitespace problem
    sys.path.insert(0, f"{workflow.basedir}/src")
    from vpbench.study.configfile import read_study_file_or_stop

    read_study_file_or_stop("config.yaml")

    configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/acquire.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/train.smk"
include: "rules/aggregate.smk"
include: "rules/clip.smk"
include: "rules/features.smk"


rule all:
    default_target: True
    input:
        all_targets,
    localrule: True
