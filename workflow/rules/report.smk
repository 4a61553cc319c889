# Stage 5 per review: the HTML report, the audit against published values and the
# provenance manifest (one job: the manifest hashes the report it follows), and the
# `audit` target that fails when a pre-specified primary outcome does not reproduce.


rule report:
    input:
        protocol=f"{PROTOCOLS}/{{review}}.yaml",
        template="workflow/templates/report.html.j2",
        raw=lambda wc: [raw(wc.review, "studies"), raw(wc.review, "extraction")]
        + screening_inputs(wc.review)
        + rob_template(wc.review),
        files=[
            "config/config.yaml",
            "workflow/schemas/protocol.schema.yaml",
            "workflow/schemas/config.schema.yaml",
        ],
        results=lambda wc: review_results(wc.review),
    output:
        html=report(
            f"{RESULTS}/{{review}}/report.html",
            caption="../report/review_report.rst",
            category="Reports",
            labels={"review": "{review}", "file": "report.html"},
        ),
        audit=report(
            f"{RESULTS}/{{review}}/audit.json",
            caption="../report/audit.rst",
            category="Reports",
            labels={"review": "{review}", "file": "audit.json"},
        ),
        manifest=f"{RESULTS}/{{review}}/manifest.json",
    log:
        f"{RESULTS}/{{review}}/logs/report.log",
    conda:
        "../envs/metareview.yaml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=10,
    params:
        review_dir=lambda wc: f"{RESULTS}/{wc.review}",
        protocol=lambda wc: protocol(wc.review),
        config=config,
    script:
        "../scripts/report.py"


rule audit_check:
    input:
        audit=f"{RESULTS}/{{review}}/audit.json",
    output:
        f"{RESULTS}/{{review}}/audit.ok",
    log:
        f"{RESULTS}/{{review}}/logs/audit_check.log",
    conda:
        "../envs/metareview.yaml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    params:
        fail_on=lambda wc: protocol(wc.review)["audit"]["fail_on"],
    script:
        "../scripts/audit_check.py"


rule audit:
    input:
        expand(f"{RESULTS}/{{review}}/audit.ok", review=REVIEWS),
    localrule: True
