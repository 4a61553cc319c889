# Stage 3: pooling per outcome, with its forest plot.


rule pool:
    input:
        table=f"{RESULTS}/{{review}}/extraction/by_outcome/{{outcome}}.csv",
        protocol=ancient(f"{PROTOCOLS}/{{review}}.yaml"),
    output:
        fit=f"{RESULTS}/{{review}}/pooled/{{outcome}}.json",
        svg=f"{RESULTS}/{{review}}/forest/{{outcome}}.svg",
        png=f"{RESULTS}/{{review}}/forest/{{outcome}}.png",
    log:
        f"{RESULTS}/{{review}}/logs/pool/{{outcome}}.log",
    conda:
        "../envs/metareview.yaml"
    params:
        settings=settings_of,
    script:
        "../scripts/pool.py"
