"""Back-transformations from the analysis scale to the reporting scale.

They follow metafor's ``transf.*`` functions: ``exp`` for log ratios (OR, RR, HR, ROM) and
log proportions, the identity for differences, means and generic estimates (RD, PR, MD,
SMD, MN, GEN),
``transf.ilogit``, ``transf.iarcsin`` and, for the Freeman-Tukey double arcsine, the
inversion of Miller (1978, Am Stat 32:138) evaluated at the harmonic mean of the sample
sizes (``transf.ipft.hm``).
"""

from __future__ import annotations

import numpy as np

from metareview.engine import measures


def pft(p, n):
    """Freeman-Tukey double arcsine of a proportion ``p`` with sample size ``n``."""
    x = np.asarray(p, dtype=float) * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def ipft(t, n):
    """Inverse Freeman-Tukey transformation (Miller 1978) for sample size ``n``."""
    t = np.asarray(t, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sin(2 * t)
        z = 0.5 * (1 - np.sign(np.cos(2 * t)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
    z = np.where(np.isnan(z), np.nan, z)
    z = np.where(t > pft(1.0, n), 1.0, z)
    z = np.where(t < pft(0.0, n), 0.0, z)
    return z


def harmonic_mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(1 / np.mean(1 / values))


def back_transform(measure: str, values, ni=None):
    """Map ``values`` (scalar or array, NaN allowed) back to the reporting scale of
    ``measure`` (the registry's ``scale``; an unknown measure keeps its values)."""
    arr = np.asarray(values, dtype=float)
    m = measures.find(measure)
    scale = m.scale if m else "identity"
    if scale == "log":
        out = np.exp(arr)
    elif scale == "logit":
        out = 1 / (1 + np.exp(-arr))
    elif scale == "arcsine":
        out = np.sin(np.clip(arr, 0, np.pi / 2)) ** 2
    elif scale == "freeman_tukey":
        if ni is None:
            raise ValueError("PFT back-transformation needs the sample sizes (harmonic mean)")
        out = ipft(arr, harmonic_mean(ni))
    else:  # RD, PR, MD, SMD, MN, GEN: identity
        out = arr
    return out if np.ndim(values) else float(out)
