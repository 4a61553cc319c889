# Stage 1: the screening table -> records, PRISMA 2020 counts and flow diagram.
# The export file(s) are the protocol's screening.file under data/raw/<review>/.


rule ingest:
    input:
        screening=lambda wc: screening_inputs(wc.review),
        protocol=f"{PROTOCOLS}/{{review}}.yaml",
        studies=f"{RAW}/{{review}}/studies.csv",
        extraction=f"{RAW}/{{review}}/extraction.csv",
    output:
        records=L.screening("records.csv"),
        json=L.screening("prisma.json"),
        csv=L.screening("prisma.csv"),
        figure=L.figure(L.screening("prisma.svg")),
        index=L.screening("index.json"),
    log:
        L.log("ingest"),
    conda:
        "../envs/metareview.yaml"
    threads: 1
    resources:
        mem_mb=300,
        runtime=10,
    params:
        figures=FIGURES,
    script:
        "../scripts/ingest.py"
