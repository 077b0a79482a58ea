"""Per-cell minimum over several runs of the same markdown table (numeric columns only).
usage: python3 minof.py FILE... ; ratio columns are recomputed when named."""
import sys
tabs = [open(f).read().splitlines() for f in sys.argv[1:]]
head = tabs[0][:2]
print("\n".join(head))
for rows in zip(*[t[2:] for t in tabs]):
    cells = [[c.strip() for c in r.strip().strip('|').split('|')] for r in rows]
    out = []
    for i, c in enumerate(cells[0]):
        try:
            out.append(min(float(x[i].replace(',', '')) for x in cells))
        except ValueError:
            out.append(c)
    hdr = [h.strip() for h in head[0].strip('|').split('|')]
    for i, h in enumerate(hdr):
        if h == 'ratio':
            out[i] = f"{out[i-1]/out[i-2]:.2f}×"
    print("| " + " | ".join(f"{x:,.0f}" if isinstance(x, float) else x for x in out) + " |")
