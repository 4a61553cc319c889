# Stages 2-3 per outcome: the validated 2x2 (or single-arm) table with effect sizes, the
# pooled model and its forest plot. One job per outcome: the raw tables are `ancient`
# inputs and the outcome's own rows (a sha256 digest) and settings are params, so editing
# one outcome's rows reruns that outcome only.


rule pool:
    input:
        protocol=ancient(f"{PROTOCOLS}/{{review}}.yaml"),
        studies=ancient(f"{RAW}/{{review}}/studies.csv"),
        extraction=ancient(f"{RAW}/{{review}}/extraction.csv"),
    output:
        table=L.outcome_table("{outcome}"),
        fit=L.pooled("{outcome}"),
        figure=[
            (
                report(
                    f,
                    caption="../report/forest.rst",
                    category="Forest plots",
                    subcategory="{review}",
                    labels={"review": "{review}", "outcome": "{outcome}"},
                )
                if f.endswith(".svg")
                else f
            )
            for f in L.figure(L.forest("{outcome}"))
        ],
        pages=directory(L.forest_pages("{outcome}")),
    log:
        L.log("pool", "{outcome}"),
    conda:
        "../envs/metareview.yaml"
    threads: 1
    resources:
        mem_mb=400,
        runtime=10,
    params:
        forest=L.forest("{outcome}"),
        digest=outcome_digest,
        settings=settings_of,
        presentation=presentation_of,
    script:
        "../scripts/pool.py"
