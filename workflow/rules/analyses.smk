# Stage 4 per outcome: the protocol's subgroup, sensitivity and small-study analyses, in
# one job (each job is a new Python process; one import of the plotting stack serves all
# three). The protocol is an `ancient` input and the outcome's analysis plan a param, so
# editing one outcome's plan reruns that outcome only. Per review: the studies' tables
# (all outcomes' effect sizes, data warnings) and their risk of bias.


rule analyses:
    input:
        table=f"{RESULTS}/{{review}}/extraction/by_outcome/{{outcome}}.csv",
        fit=f"{RESULTS}/{{review}}/pooled/{{outcome}}.json",
        protocol=ancient(f"{PROTOCOLS}/{{review}}.yaml"),
    output:
        subgroup=directory(f"{RESULTS}/{{review}}/subgroup/{{outcome}}"),
        sensitivity=directory(f"{RESULTS}/{{review}}/sensitivity/{{outcome}}"),
        bias=f"{RESULTS}/{{review}}/bias/{{outcome}}.json",
        funnel=report(
            f"{RESULTS}/{{review}}/funnel/{{outcome}}.svg",
            caption="../report/funnel.rst",
            category="Funnel plots",
            subcategory="{review}",
            labels={"review": "{review}", "outcome": "{outcome}"},
        ),
        contour=f"{RESULTS}/{{review}}/funnel/{{outcome}}-contour.svg",
    log:
        f"{RESULTS}/{{review}}/logs/analyses/{{outcome}}.log",
    conda:
        "../envs/metareview.yaml"
    threads: 1
    resources:
        mem_mb=400,
        runtime=10,
    params:
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
            f"{RESULTS}/{{review}}/extraction/by_outcome/{{outcome}}.csv",
            review=wc.review,
            outcome=outcomes(wc.review),
        ),
        fits=lambda wc: expand(
            f"{RESULTS}/{{review}}/pooled/{{outcome}}.json",
            review=wc.review,
            outcome=outcomes(wc.review),
        ),
    output:
        effects=f"{RESULTS}/{{review}}/extraction/effects.csv",
        validation=f"{RESULTS}/{{review}}/extraction/validation.json",
        rob=directory(f"{RESULTS}/{{review}}/rob"),
    log:
        f"{RESULTS}/{{review}}/logs/studies.log",
    conda:
        "../envs/metareview.yaml"
    threads: 1
    resources:
        mem_mb=300,
        runtime=10,
    params:
        rob=lambda wc: protocol(wc.review).get("risk_of_bias"),
    script:
        "../scripts/studies.py"
