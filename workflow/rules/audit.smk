# The `audit` target: fails when a pre-specified primary outcome's published values do not
# reproduce (audit.json is written by the report, in either job layout).


rule audit_check:
    input:
        audit=L.audit,
    output:
        L.audit_ok,
    log:
        L.log("audit_check"),
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
        expand(L.audit_ok, review=READY),
    localrule: True
