"""Generate README.md from nbs/index.ipynb (what `nbdev_readme` does, without Quarto).

    python tools/make_readme.py          # write README.md
    python tools/make_readme.py --check  # exit 1 if README.md is not what index.ipynb gives
"""
import json, sys, re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def render() -> str:
    "Markdown cells as they are, code cells as Python blocks; cells marked `#| hide` (the Colab install cell) left out."
    parts = []
    for c in json.loads((ROOT/'nbs'/'index.ipynb').read_text(encoding='utf-8'))['cells']:
        src = ''.join(c['source'])
        if re.search(r'^#\|\s*hide\b', src, re.M): continue
        parts.append(src if c['cell_type'] == 'markdown' else f"```python\n{src}\n```")
    md = re.sub(r'\n{3,}', '\n\n', '\n\n'.join(parts)).strip() + '\n'
    return "<!-- Generated from nbs/index.ipynb by `python tools/make_readme.py`: edit the notebook, not this file. -->\n\n" + md

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit("README.md is out of date with nbs/index.ipynb: run `python tools/make_readme.py` and commit it.")
        print("README.md matches nbs/index.ipynb")
    else:
        readme.write_text(text); print("wrote README.md")
