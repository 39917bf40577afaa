# Reference values for model/golden/stats.test.ts, computed with scipy
# (python -m venv v && v/bin/pip install scipy && v/bin/python testing/golden/scipy-fixture.py
#  > testing/golden/scipy-fixture.json).
import json
import scipy
from scipy.stats import binom, binomtest, beta

cdf = [[k, n, p, float(binom.cdf(k, n, p))] for (k, n, p) in [
    (0, 1, 0.5), (3, 10, 0.5), (7, 20, 0.3), (50, 100, 0.5), (480, 1000, 0.5), (0, 40, 0.01), (12, 400, 0.05), (2, 5000, 0.001)]]
mcnemar = []
for (b, c) in [(0, 0), (1, 0), (5, 5), (10, 2), (2, 10), (3, 12), (30, 18), (100, 140), (0, 7)]:
    m = b + c
    p = 1.0 if m == 0 else float(binomtest(b, m, 0.5).pvalue)
    mid = 1.0 if m == 0 else float(min(1.0, 2 * binom.cdf(min(b, c), m, 0.5) - binom.pmf(min(b, c), m, 0.5)))
    mcnemar.append([b, c, p, mid])
cp = [[k, m, a, float(beta.ppf(a, k, m - k + 1))] for (k, m, a) in [
    (1, 1, 0.05), (5, 10, 0.05), (9, 10, 0.05), (18, 48, 0.05), (140, 240, 0.025), (3, 12, 0.1), (1000, 1500, 0.05)]]
print(json.dumps({"scipy": scipy.__version__, "binomialCdf": cdf, "mcnemar": mcnemar, "clopperPearsonLower": cp}, indent=1))
