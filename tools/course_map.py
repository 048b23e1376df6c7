"""The "you are here" map at the top of every lesson: one markdown cell, after the title, generated from the sidebar.

    python tools/course_map.py           # write the map into every lesson (the cell is replaced if it is there)
    python tools/course_map.py --check   # exit status 1 if a lesson's map is missing or out of date (CI)

The lessons and their order come from nbs/sidebar.yml; each lesson's short name is its notebook's title (`# ...`).
"""
import argparse, hashlib, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = '**The course:**'
PARTS = [('the model', ('00', '01', '02', '03', '04', '05')), ('training it', ('06',)), ('using it', ('07', '08', '09')),
         ('beyond', ('10', '11', '12', '13', '14', '15'))]

def lessons() -> list:
    "(notebook name, title) of every numbered lesson, in the sidebar's order."
    names = re.findall(r"^\s*-\s*(\d\d\w*\.ipynb)\s*$", (ROOT/'nbs'/'sidebar.yml').read_text(), re.M)
    out = []
    for n in names:
        nb = json.loads((ROOT/'nbs'/n).read_text())
        title = next((re.match(r"#\s+(.*)", ''.join(c['source'])).group(1).strip() for c in nb['cells']
                      if c['cell_type'] == 'markdown' and re.match(r"#\s", ''.join(c['source']))), n)
        out.append((n, re.sub(r"\s*\(.*\)$", '', title)))
    return out

def course_map(current:str, all_lessons:list) -> str:
    "The map's markdown: every lesson by part, linked, with the current one in bold."
    parts = []
    for label, prefixes in PARTS:
        items = [(n, t) for n, t in all_lessons if n[:2] in prefixes]
        if not items: continue
        shown = [f"**{n[:n.index('_')]} {t} (you are here)**" if n == current else f"[{n[:n.index('_')]} {t}]({n})" for n, t in items]
        parts.append(f"*{label}:* " + ' › '.join(shown))
    return MARK + ' ' + ' · '.join(parts)

def update(path:Path, text:str, write:bool) -> bool:
    "Put `text` in the map cell of `path` (after the title); True if it was already there and current."
    nb = json.loads(path.read_text())
    cells = nb['cells']
    at = next((i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and ''.join(c['source']).startswith(MARK)), None)
    if at is not None and ''.join(cells[at]['source']) == text: return True
    if not write: return False
    if at is None:
        title = next(i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and re.match(r"#\s", ''.join(c['source'])))
        cells.insert(title + 1, {'cell_type': 'markdown', 'id': 'map' + hashlib.md5(path.name.encode()).hexdigest()[:5], 'metadata': {}, 'source': text})
    else: cells[at]['source'] = text
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return False

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--check', action='store_true')
    a = p.parse_args()
    all_lessons, stale = lessons(), []
    for n, _ in all_lessons:
        if not update(ROOT/'nbs'/n, course_map(n, all_lessons), not a.check): stale.append(n)
    if a.check and stale:
        print(f"course map missing or out of date in: {', '.join(stale)}; run python tools/course_map.py"); sys.exit(1)
    print(f"course map: {len(all_lessons)} lessons" + ('' if a.check else f", {len(stale)} updated"))

if __name__ == '__main__': main()
