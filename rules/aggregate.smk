# Aggregation of every cell into tidy study tables, then figures, tables, model cards and the report.


rule aggregate:
    input:
        all_cells_done(),
    output:
        cells=f"results/{STUDY}/tables/cells.parquet",
        epochs=f"results/{STUDY}/tables/epochs.parquet",
        classes=f"results/{STUDY}/tables/classes.parquet",
        missing=f"results/{STUDY}/tables/missing.csv",
    params:
        cell_dirs=[cell.directory for cell in CELLS],
    conda:
        "../envs/vpbench.yaml"
    log:
        f"logs/aggregate/{STUDY}.log",
    benchmark:
        f"logs/benchmarks/aggregate/{STUDY}.tsv"
    localrule: True
    script:
        "../workflow/scripts/aggregate.py"


rule figures:
    input:
        cells=f"results/{STUDY}/tables/cells.parquet",
        epochs=f"results/{STUDY}/tables/epochs.parquet",
        classes=f"results/{STUDY}/tables/classes.parquet",
        done=all_cells_done(),
    output:
        [figure_output(spec) for spec in FIGURE_PLAN],
    params:
        plan=FIGURE_PLAN,
        mapping_classes=config.get("report", {}).get("mapping_classes", 10),
    conda:
        "../envs/vpbench.yaml"
    log:
        f"logs/figures/{STUDY}.log",
    benchmark:
        f"logs/benchmarks/figures/{STUDY}.tsv"
    localrule: True
    script:
        "../workflow/scripts/figures.py"


rule tables:
    input:
        cells=f"results/{STUDY}/tables/cells.parquet",
    output:
        [table_output(name) for name in TABLES],
    conda:
        "../envs/vpbench.yaml"
    log:
        f"logs/tables/{STUDY}.log",
    benchmark:
        f"logs/benchmarks/tables/{STUDY}.tsv"
    localrule: True
    script:
        "../workflow/scripts/tables.py"


rule model_table:
    input:
        all_variant_cards(),
    output:
        report(
            f"results/{STUDY}/tables/models.html",
            caption="../report/table_models.rst",
            category="Models",
            labels={"table": "model cards"},
        ),
    params:
        dense={model: vpstudy.dense_variant(config, model) for model in config["models"]},
    conda:
        "../envs/vpbench.yaml"
    log:
        f"logs/model_table/{STUDY}.log",
    benchmark:
        f"logs/benchmarks/model_table/{STUDY}.tsv"
    localrule: True
    script:
        "../workflow/scripts/model_table.py"
