"""Sum cargo --timings unit seconds for crates not already in the relay's Cargo.lock.
usage: python3 marginal.py TARGET_DIR"""
import os
import re, json, glob, sys
lock = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'Cargo.lock')).read()
have = set(re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"', lock))
names = {n for n, _ in have}
f = sorted(glob.glob(sys.argv[1] + '/cargo-timings/cargo-timing-*.html'))[-1]
units = json.loads(re.search(r'const UNIT_DATA = (\[.*?\]);\n', open(f).read(), re.S).group(1))
new = [u for u in units if (u['name'].replace('-', '_'), u['version']) not in {(n.replace('-', '_'), v) for n, v in have}
       and not u['name'].startswith('xrpc') and not u['name'].startswith('car')]
tot = sum(u['duration'] for u in units)
print(f"all units: {len(units)}, {tot:.1f} unit-s")
print(f"units whose name@version is not in the relay's Cargo.lock: {len(new)}, {sum(u['duration'] for u in new):.1f} unit-s")
for u in sorted(new, key=lambda u: -u['duration']):
    flag = '' if u['name'] in names else ' (new name)'
    print(f"   {u['name']} {u['version']} {u['target'].strip()} {u['duration']:.1f}s{flag}")
