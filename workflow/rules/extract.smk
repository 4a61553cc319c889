# Stage 2: validated 2x2 extraction -> per-outcome effect-size tables.


rule extract:
    input:
        protocol=ancient(f"{PROTOCOLS}/{{review}}.yaml"),
        studies=ancient(f"{RAW}/{{review}}/studies.csv"),
        extraction=ancient(f"{RAW}/{{review}}/extraction.csv"),
    output:
        f"{RESULTS}/{{review}}/extraction/by_outcome/{{outcome}}.csv",
    log:
        f"{RESULTS}/{{review}}/logs/extract/{{outcome}}.log",
    conda:
        "../envs/metareview.yaml"
    params:
        digest=outcome_digest,
        settings=settings_of,
    script:
        "../scripts/extract.py"


rule effects:
    input:
        protocol=f"{PROTOCOLS}/{{review}}.yaml",
        studies=f"{RAW}/{{review}}/studies.csv",
        extraction=f"{RAW}/{{review}}/extraction.csv",
        tables=lambda wc: expand(
            f"{RESULTS}/{{review}}/extraction/by_outcome/{{outcome}}.csv",
            review=wc.review,
            outcome=outcomes(wc.review),
        ),
    output:
        effects=f"{RESULTS}/{{review}}/extraction/effects.csv",
        validation=f"{RESULTS}/{{review}}/extraction/validation.json",
    log:
        f"{RESULTS}/{{review}}/logs/effects.log",
    conda:
        "../envs/metareview.yaml"
    script:
        "../scripts/effects.py"
