# Aggregation of every cell into tidy study tables, then statistics, figures, tables, model cards and the
# report. Every cell file that is read is a declared input; figures and tables read only aggregated tables.


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


# Dense-versus-compressed comparisons (paired across seeds and by a paired bootstrap over test samples,
# corrected per heatmap), per-cell bootstrap intervals and per-configuration intervals (docs/statistics.md).
rule stats:
    input:
        cells=paths.table(STUDY.name, "cells"),
        predictions=dag.cell_files(STUDY, ("test_probs.npy", "test_labels.npy")),
    output:
        **{name: paths.table(STUDY.name, name) for name in STATS_TABLES},
    params:
        cell_dirs=[cell.directory for cell in STUDY.cells],
        correction=STUDY.report["correction"],
        alpha=STUDY.report["alpha"],
        resamples=STUDY.report["bootstrap_resamples"],
    conda:
        "../envs/vpbench.yaml"
    log:
        f"logs/stats/{STUDY.name}.log",
    benchmark:
        f"logs/benchmarks/stats/{STUDY.name}.tsv"
    localrule: True
    script:
        "../workflow/scripts/stats.py"


rule figures:
    input:
        unpack(figure_inputs),
    output:
        [figure_output(spec) for spec in FIGURE_PLAN],
    params:
        plan=FIGURE_PLAN,
        options=dict(STUDY.report),
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
        comparisons=paths.table(STUDY.name, "comparisons"),
        intervals=paths.table(STUDY.name, "intervals"),
        missing=paths.table(STUDY.name, "missing", "csv"),
    output:
        [table_output(name) for name in TABLES],
    params:
        tables=TABLES,
        recipes=recipes_json(STUDY),  # the resolved recipe per method: a changed setting rebuilds the tables
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
        built=report_targets(),
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
        html=report(
            paths.table(STUDY.name, "models", "html"),
            caption="../report/table_models.rst",
            category=category_label("models"),
            subcategory="model cards",
            labels={"table": "model cards"},
        ),
        csv=paths.table(STUDY.name, "models", "csv"),
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
