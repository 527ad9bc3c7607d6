"""Sum oneDNN verbose exec lines after the "=== MEASURE" marker per (primitive, pass, kernel),
per training step (ResNet-20 runs 19 convolutions forward per step)."""
import sys, collections
lines = open(sys.argv[1]).read().split("=== MEASURE")[-1].splitlines()
agg = collections.defaultdict(lambda: [0, 0.0])
for l in lines:
    if ",primitive,exec,cpu," not in l: continue
    p = l.split(",")
    kind, impl, prop = p[5], p[6], p[7]
    agg[(kind, prop, impl)][0] += 1
    agg[(kind, prop, impl)][1] += float(p[-1])
fwd = sum(v[0] for k, v in agg.items() if k[0] == "convolution" and k[1] == "forward_training")
steps = fwd / 19
print(f"steps={steps:.1f}")
for k, (n, t) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
    print(f"{t/steps:8.1f} ms/step  n/step={n/steps:5.1f}  {k}")
