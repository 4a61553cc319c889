# Stage 5 per review: the summary of findings (GRADE), the HTML report, the audit against
# published values, the manuscript tables (CSV, DOCX) and the provenance manifest (one job:
# the manifest hashes the report it follows).


rule report:
    input:
        protocol=f"{PROTOCOLS}/{{review}}.yaml",
        template="workflow/templates/report.html.j2",
        raw=lambda wc: [raw(wc.review, "studies"), raw(wc.review, "extraction")]
        + screening_inputs(wc.review)
        + rob_template(wc.review),
        files=[
            "workflow/schemas/protocol.schema.yaml",
            "workflow/schemas/config.schema.yaml",
        ],
        results=lambda wc: review_results(wc.review),
    output:
        html=report(
            L.report,
            caption="../report/review_report.rst",
            category="Reports",
            labels={"review": "{review}", "file": "report.html"},
        ),
        audit=report(
            L.audit,
            caption="../report/audit.rst",
            category="Reports",
            labels={"review": "{review}", "file": "audit.json"},
        ),
        sof_json=L.sof_json,
        sof_csv=L.sof_csv,
        tables=L.manuscript_files,
        manifest=L.manifest,
    log:
        L.log("report"),
    conda:
        "../envs/metareview.yaml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=10,
    params:
        review_dir=lambda wc: Layout.of(RESULTS, wc.review).root,
        protocol=lambda wc: protocol(wc.review),
        studies=lambda wc: raw(wc.review, "studies"),
        config=lambda wc: review_config(wc.review),
    script:
        "../scripts/report.py"
