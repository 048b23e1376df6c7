"""Check that every lesson shows what it says: the committed outputs against the prose.

For every notebook under nbs/ (lessons and solutions):

1. **Figures in the prose are in the outputs.** A time or a ratio stated in a markdown cell (`12 s`, `3.5 minutes`,
   `2.9x`, `4×`) must appear, as the same number, in one of the notebook's committed outputs. A figure quoted from
   elsewhere sits in the same sentence as a link to its source (a paper, the README's results), or, for a rule of
   thumb, is written as a range with words (`between two and three times`). Without that, a lesson that says
   "about 20 seconds" while its cell prints 173.4 s fails here. The README (`index.ipynb`) and `results.ipynb` are
   records of measured runs, each figure beside its machine and command, and are exempt from this rule.
2. **Demonstration cells show something.** At least 80% of the code cells that are not exported code, imports,
   hidden or flagged `gpu` have an output (a value, a table, a plot).
3. **No stray outputs**: no `<torch._C.Generator ...>` or `<matplotlib...>` reprs of a cell's last line, and no
   machine paths (/tmp/, /work/, /home/) in committed outputs.

    python tools/check_lessons.py                  # all notebooks; exit status 1 and one line per finding
    python tools/check_lessons.py --report         # also the per-notebook share of demonstration cells with output
"""
import argparse, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?:\s?(?:s|ms|seconds?|minutes?|min|hours?|h)\b|[x×](?![\w\d]|\s?\d))")   # a time; a ratio (2.9x, not 24 × 64)
STRAY = re.compile(r"<torch\._C\.Generator object|<matplotlib\.\w+|^\[<matplotlib|/tmp/|/work/|/home/", re.M)
SKIP_NOTEBOOKS = {'testing.ipynb'}
RECORD_PAGES = {'index.ipynb', 'results.ipynb'}   # the README and the results page: records of runs, each naming its machine and command

def source(cell) -> str: return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def directives(src:str) -> list:
    out = []
    for line in src.splitlines():
        if not line.strip(): continue
        if not line.startswith('#|'): break
        out.append(line[2:].strip())
    return out

def output_text(cell) -> str:
    parts = []
    for o in cell.get('outputs', []):
        if 'text' in o: parts.append(''.join(o['text']))
        for k, v in o.get('data', {}).items():
            if k.startswith('text/'): parts.append(''.join(v))
    return '\n'.join(parts)

def is_demo(cell) -> bool:
    "A code cell a learner reads as a demonstration: not exported code, not imports only, not hidden, not GPU-only."
    if cell['cell_type'] != 'code': return False
    src, d = source(cell), directives(source(cell))
    if any(x.startswith(('export', 'exports', 'hide', 'default_exp', 'gpu', 'eval: false')) for x in d): return False
    body = [l for l in src.splitlines() if l.strip() and not l.startswith('#')]
    if not body or all(re.match(r"\s*(import |from \S+ import |%|!|device = |splits = |torch\.manual_seed\(\d+\);?$)", l) or
                       l.startswith((' ', ')')) and not l.strip().startswith(('print', 'test_', 'assert')) for l in body):
        return False
    return True

def sentences(text:str) -> list:
    return re.split(r"(?<=[.!?:;])\s+(?=[A-Z*(`])|\n\s*\n|\n[-*\d]+[.)]?\s", text)

def check(path:Path) -> tuple:
    nb = json.loads(path.read_text())
    cells = nb['cells']
    outputs = '\n'.join(output_text(c) for c in cells if c['cell_type'] == 'code')
    numbers = {n.replace(',', '') for n in re.findall(r"\d[\d,]*(?:\.\d+)?", outputs)}
    findings = []
    for i, c in enumerate(cells):
        if c['cell_type'] == 'markdown' and path.name not in RECORD_PAGES:
            for s in sentences(source(c)):
                if 'http' in s or '](' in s: continue                                # quoted, with its source
                for m in FIGURE.finditer(s):
                    n = m.group(1).replace(',', '')
                    if n not in numbers and n.rstrip('0').rstrip('.') not in numbers:
                        findings.append(f"{path.relative_to(ROOT)} cell {i}: the prose states {m.group(0).strip()!r}, which no output shows: "
                                        f"quote the printed value, or cite where the figure comes from")
        elif (t := output_text(c)) and (m := STRAY.search(t)):
            findings.append(f"{path.relative_to(ROOT)} cell {i}: stray output {m.group(0)!r}: end the line with ';', or print what it shows")
    demo = [c for c in cells if is_demo(c)]
    shown = [c for c in demo if c.get('outputs')]
    share = len(shown) / len(demo) if demo else 1.0
    if share < 0.8:
        findings.append(f"{path.relative_to(ROOT)}: {len(shown)} of {len(demo)} demonstration cells have output ({share:.0%}); "
                        "at least 80% should show what they check")
    return findings, (len(shown), len(demo))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='*', type=Path)
    p.add_argument('--report', action='store_true')
    a = p.parse_args()
    paths = [q.resolve() for q in a.notebooks] or sorted(q for q in (ROOT/'nbs').glob('**/*.ipynb')
                                                        if q.name not in SKIP_NOTEBOOKS and '.ipynb_checkpoints' not in str(q))
    found = []
    for q in paths:
        f, (shown, demo) = check(q)
        found += f
        if a.report: print(f"{str(q.relative_to(ROOT)):48s} {shown:3d}/{demo:<3d} demonstration cells with output")
    for f in found: print(f)
    print(f"lesson check: {len(paths)} notebooks, {len(found)} finding(s)")
    sys.exit(1 if found else 0)

if __name__ == '__main__': main()
