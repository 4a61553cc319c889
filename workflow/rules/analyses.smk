# Stage 4 per outcome: the protocol's subgroup, meta-regression, sensitivity and small-study
# analyses, in one job (each job is a new Python process; one import of the plotting stack
# serves them all). The protocol is an `ancient` input and the outcome's analysis plan a
# param, so editing one outcome's plan reruns that outcome only. Per review: the studies' tables
# (all outcomes' effect sizes, data warnings) and their risk of bias.


rule analyses:
    input:
        table=L.outcome_table("{outcome}"),
        fit=L.pooled("{outcome}"),
        protocol=ancient(f"{PROTOCOLS}/{{review}}.yaml"),
    output:
        subgroup=directory(L.subgroup_dir("{outcome}")),
        metaregression=directory(L.metaregression_dir("{outcome}")),
        sensitivity=directory(L.sensitivity_dir("{outcome}")),
        bias=L.bias("{outcome}"),
        funnel=[
            (
                report(
                    f,
                    caption="../report/funnel.rst",
                    category="Funnel plots",
                    subcategory="{review}",
                    labels={"review": "{review}", "outcome": "{outcome}"},
                )
                if f.endswith(".svg")
                else f
            )
            for f in L.figure(L.funnel("{outcome}"))
        ],
        contour=L.figure(L.contour_funnel("{outcome}")),
    log:
        L.log("analyses", "{outcome}"),
    conda:
        "../envs/metareview.yaml"
    threads: 1
    resources:
        mem_mb=400,
        runtime=10,
    params:
        review_dir=lambda wc: Layout.of(RESULTS, wc.review).root,
        funnel=L.funnel("{outcome}"),
        contour=L.contour_funnel("{outcome}"),
        settings=settings_of,
        presentation=presentation_of,
        plan=plan_of,
    script:
        "../scripts/analyses.py"


rule studies:
    input:
        protocol=f"{PROTOCOLS}/{{review}}.yaml",
        studies=f"{RAW}/{{review}}/studies.csv",
        extraction=f"{RAW}/{{review}}/extraction.csv",
        rob_template=lambda wc: rob_template(wc.review),
        tables=lambda wc: expand(
            L.outcome_table("{outcome}"), review=wc.review, outcome=outcomes(wc.review)
        ),
        fits=lambda wc: expand(
            L.pooled("{outcome}"), review=wc.review, outcome=outcomes(wc.review)
        ),
    output:
        effects=L.effects,
        validation=L.validation,
        rob=directory(L.rob_dir),
    log:
        L.log("studies"),
    conda:
        "../envs/metareview.yaml"
    threads: 1
    resources:
        mem_mb=300,
        runtime=10,
    params:
        review_dir=lambda wc: Layout.of(RESULTS, wc.review).root,
        rob=lambda wc: protocol(wc.review).get("risk_of_bias"),
        figures=FIGURES,
    script:
        "../scripts/studies.py"
