"""Compacts car-measure bench outputs: per-cell minimum over the runs given.
usage: python3 car-table.py RUN_FILE..."""
import sys
rows, order = {}, []
for f in sys.argv[1:]:
    for l in open(f).read().splitlines()[2:]:
        c = [x.strip() for x in l.strip('|').split('|')]
        k = (c[0], c[3])
        if k not in rows:
            rows[k] = (c[1], c[2], []); order.append(k)
        rows[k][2].append(float(c[4]))
cars = list(dict.fromkeys(k[0] for k in order))
readers = list(dict.fromkeys(k[1] for k in order))
R = {r: i for i, r in enumerate(readers)}
o, ir, ic = R["atrelay CarReader (stream, hash-checked)"], R["iroh-car (no hash check)"], R["iroh-car + verify_block"]
oi, ici = R["atrelay Car::read (indexed, hash-checked)"], R["iroh-car + verify_block + HashMap index"]
print("| CAR | blocks | bytes | atrelay CarReader (checked) | iroh-car (unchecked) | iroh-car + sha256 check | iroh+check ÷ ours | atrelay Car::read (indexed) | iroh-car + check + HashMap |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in cars:
    b, by, _ = rows[(c, readers[0])]
    ns = [min(rows[(c, r)][2]) for r in readers]
    cell = lambda i: f"{ns[i]:,.0f} ns · {int(by)/ns[i]*1e3:,.0f} MB/s"
    print(f"| {c} | {b} | {int(by):,} | {cell(o)} | {cell(ir)} | {cell(ic)} | {ns[ic]/ns[o]:.2f}× | {cell(oi)} | {cell(ici)} |")
