"""Generate README.md from nbs/index.ipynb (what `nbdev_readme` does, without Quarto).

    python tools/make_readme.py          # write README.md
    python tools/make_readme.py --check  # exit 1 if README.md is not what index.ipynb gives
"""
import sys, re
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parent.parent

def render() -> str:
    nb = nbformat.read(ROOT/'nbs'/'index.ipynb', as_version=4)
    # Cells marked `#| hide` are for the notebook only (the Colab install cell).
    nb.cells = [c for c in nb.cells if not re.search(r'^#\|\s*hide\b', c.source, re.M)]
    md, _ = MarkdownExporter().from_notebook_node(nb)
    md = re.sub(r'\n{3,}', '\n\n', md).strip() + '\n'
    return "<!-- Generated from nbs/index.ipynb by `python tools/make_readme.py`: edit the notebook, not this file. -->\n\n" + md

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit("README.md is out of date with nbs/index.ipynb: run `python tools/make_readme.py` and commit it.")
        print("README.md matches nbs/index.ipynb")
    else:
        readme.write_text(text); print("wrote README.md")
