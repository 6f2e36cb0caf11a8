# Aggregation of every cell into tidy study tables, then figures, tables and the report.


rule aggregate:
    input:
        metrics=all_cell_files("metrics.parquet"),
        epochs=all_cell_files("epochs.parquet"),
        classes=all_cell_files("classes.parquet"),
    output:
        cells=f"results/{STUDY}/tables/cells.parquet",
        epochs=f"results/{STUDY}/tables/epochs.parquet",
        classes=f"results/{STUDY}/tables/classes.parquet",
        missing=f"results/{STUDY}/tables/missing.csv",
    params:
        cell_dirs=[cell.directory for cell in CELLS],
    log:
        f"logs/aggregate/{STUDY}.log",
    benchmark:
        f"logs/benchmarks/aggregate/{STUDY}.tsv"
    localrule: True
    script:
        "../workflow/scripts/aggregate.py"


def all_targets(wildcards):
    return [f"results/{STUDY}/tables/cells.parquet"]
