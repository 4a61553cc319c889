# Stage 1: the screening table -> records, PRISMA 2020 counts and flow diagram.
# The export file(s) are the protocol's screening.file under data/raw/<review>/.


rule ingest:
    input:
        screening=lambda wc: screening_inputs(wc.review),
        protocol=f"{PROTOCOLS}/{{review}}.yaml",
        studies=f"{RAW}/{{review}}/studies.csv",
        extraction=f"{RAW}/{{review}}/extraction.csv",
    output:
        records=f"{RESULTS}/{{review}}/screening/records.csv",
        json=f"{RESULTS}/{{review}}/screening/prisma.json",
        csv=f"{RESULTS}/{{review}}/screening/prisma.csv",
        svg=f"{RESULTS}/{{review}}/screening/prisma.svg",
        png=f"{RESULTS}/{{review}}/screening/prisma.png",
        index=f"{RESULTS}/{{review}}/screening/index.json",
    log:
        f"{RESULTS}/{{review}}/logs/ingest.log",
    conda:
        "../envs/metareview.yaml"
    threads: 1
    resources:
        mem_mb=300,
        runtime=10,
    script:
        "../scripts/ingest.py"
