# Aggregation of every cell into tidy study tables, then figures, tables, model cards and the report.
# Every cell file that is read is a declared input; figures read only the aggregated tables.


rule aggregate:
    input:
        cells=dag.cell_files(STUDY),
    output:
        cells=paths.table(STUDY.name, "cells"),
        epochs=paths.table(STUDY.name, "epochs"),
        classes=paths.table(STUDY.name, "classes"),
        reliability=paths.table(STUDY.name, "reliability"),
        missing=paths.table(STUDY.name, "missing", "csv"),
    params:
        cell_dirs=[cell.directory for cell in STUDY.cells],
    conda:
        "../envs/vpbench.yaml"
    log:
        f"logs/aggregate/{STUDY.name}.log",
    benchmark:
        f"logs/benchmarks/aggregate/{STUDY.name}.tsv"
    localrule: True
    script:
        "../workflow/scripts/aggregate.py"


rule figures:
    input:
        cells=paths.table(STUDY.name, "cells"),
        epochs=paths.table(STUDY.name, "epochs"),
        classes=paths.table(STUDY.name, "classes"),
        reliability=paths.table(STUDY.name, "reliability"),
    output:
        [figure_output(spec) for spec in FIGURE_PLAN],
    params:
        plan=FIGURE_PLAN,
        mapping_classes=STUDY.report["mapping_classes"],
    conda:
        "../envs/vpbench.yaml"
    log:
        f"logs/figures/{STUDY.name}.log",
    benchmark:
        f"logs/benchmarks/figures/{STUDY.name}.tsv"
    localrule: True
    script:
        "../workflow/scripts/figures.py"


rule tables:
    input:
        cells=paths.table(STUDY.name, "cells"),
        classes=paths.table(STUDY.name, "classes"),
    output:
        [table_output(name) for name in TABLES],
    params:
        tables=TABLES,
    conda:
        "../envs/vpbench.yaml"
    log:
        f"logs/tables/{STUDY.name}.log",
    benchmark:
        f"logs/benchmarks/tables/{STUDY.name}.tsv"
    localrule: True
    script:
        "../workflow/scripts/tables.py"


rule study_status:
    input:
        missing=paths.table(STUDY.name, "missing", "csv"),
        built=[paths.figure(STUDY.name, spec.stem) for spec in FIGURE_PLAN]
        + [paths.table(STUDY.name, name, "html") for name in TABLES]
        + [paths.table(STUDY.name, "models", "html")],
    output:
        paths.status(STUDY.name),
    params:
        cell_files=paths.cell_files(STUDY),
    conda:
        "../envs/vpbench.yaml"
    log:
        f"logs/study_status/{STUDY.name}.log",
    benchmark:
        f"logs/benchmarks/study_status/{STUDY.name}.tsv"
    localrule: True
    script:
        "../workflow/scripts/study_status.py"


rule model_table:
    input:
        cards=dag.variant_cards(STUDY),
        top1=dag.imagenet_top1_files(STUDY),
    output:
        report(
            paths.table(STUDY.name, "models", "html"),
            caption="../report/table_models.rst",
            category="Models",
            labels={"table": "model cards"},
        ),
    params:
        dense=dag.dense_variants(STUDY),
    conda:
        "../envs/vpbench.yaml"
    log:
        f"logs/model_table/{STUDY.name}.log",
    benchmark:
        f"logs/benchmarks/model_table/{STUDY.name}.tsv"
    localrule: True
    script:
        "../workflow/scripts/model_table.py"
