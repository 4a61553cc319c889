# Stage 5: the HTML report, the audit against published values and the manifest.


rule report:
    input:
        protocol=f"{PROTOCOLS}/{{review}}.yaml",
        template="workflow/templates/report.html.j2",
        effects=f"{RESULTS}/{{review}}/extraction/effects.csv",
        validation=f"{RESULTS}/{{review}}/extraction/validation.json",
        fits=lambda wc: expand(
            f"{RESULTS}/{{review}}/pooled/{{outcome}}.json",
            review=wc.review,
            outcome=outcomes(wc.review),
        ),
        forests=lambda wc: expand(
            f"{RESULTS}/{{review}}/forest/{{outcome}}.svg",
            review=wc.review,
            outcome=outcomes(wc.review),
        ),
    output:
        html=f"{RESULTS}/{{review}}/report.html",
        audit=f"{RESULTS}/{{review}}/audit.json",
    log:
        f"{RESULTS}/{{review}}/logs/report.log",
    conda:
        "../envs/metareview.yaml"
    script:
        "../scripts/report.py"


rule manifest:
    input:
        protocol=f"{PROTOCOLS}/{{review}}.yaml",
        raw=lambda wc: [raw(wc.review, "studies"), raw(wc.review, "extraction")],
        template="workflow/templates/report.html.j2",
        outputs=lambda wc: [
            f"{RESULTS}/{wc.review}/report.html",
            f"{RESULTS}/{wc.review}/audit.json",
            f"{RESULTS}/{wc.review}/extraction/effects.csv",
            f"{RESULTS}/{wc.review}/extraction/validation.json",
        ]
        + expand(
            f"{RESULTS}/{wc.review}/{{kind}}/{{outcome}}.{{ext}}",
            kind=["forest"],
            outcome=outcomes(wc.review),
            ext=["svg", "png"],
        )
        + expand(
            f"{RESULTS}/{wc.review}/pooled/{{outcome}}.json",
            outcome=outcomes(wc.review),
        )
        + expand(
            f"{RESULTS}/{wc.review}/extraction/by_outcome/{{outcome}}.csv",
            outcome=outcomes(wc.review),
        ),
    output:
        f"{RESULTS}/{{review}}/manifest.json",
    log:
        f"{RESULTS}/{{review}}/logs/manifest.log",
    conda:
        "../envs/metareview.yaml"
    params:
        config=lambda wc: protocol(wc.review),
    script:
        "../scripts/manifest.py"
