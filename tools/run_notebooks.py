"""Run every notebook top to bottom in a real Jupyter kernel (ipykernel via nbclient), as a learner would.

Each notebook runs on its own, in its own kernel, from the nbs/ folder. Cells that `nbdev_test` skips are
skipped here the same way: `#| eval: false` and cells carrying a flag from settings.ini's `tst_flags`
(`#| slow`, `#| gpu`), unless the flag is passed with --flags.

    python tools/run_notebooks.py                 # all notebooks, 2 at a time, report times
    python tools/run_notebooks.py nbs/02_*.ipynb  # some of them
    python tools/run_notebooks.py --write         # also save the outputs (plots) into the notebooks
"""
import argparse, configparser, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent

def directives(src:str) -> list:
    "The `#| ...` directive lines at the top of a cell, as lists of words."
    out = []
    for line in src.splitlines():
        if not line.strip(): continue
        if not line.startswith('#|'): break
        out.append(line[2:].replace(':', ' ').split())
    return out

def skipped(cell, flags_skipped) -> bool:
    if cell.cell_type != 'code': return False
    for d in directives(cell.source):
        if d[:2] == ['eval', 'false'] or (d and d[0] in flags_skipped): return True
    return False

def run_one(path:str, flags_skipped:set, write:bool, timeout:int):
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    keep = [i for i, c in enumerate(nb.cells) if not skipped(c, flags_skipped)]
    sub = nbformat.from_dict({**nb, 'cells': [nb.cells[i] for i in keep]})
    t0 = time.perf_counter()
    try:
        NotebookClient(sub, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}}).execute()
        err = None
    except Exception as e:  # CellExecutionError carries the cell and traceback
        err = str(e)
    dt = time.perf_counter() - t0
    if write and err is None:
        for i, c in zip(keep, sub.cells): nb.cells[i] = c
        nbformat.write(nb, path)
    return path.name, dt, err

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='*')
    p.add_argument('--flags', default='', help='test flags to run rather than skip, e.g. "slow"')
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--timeout', type=int, default=900, help='seconds per cell')
    p.add_argument('--write', action='store_true', help='save outputs into the notebooks')
    a = p.parse_args()
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    flags_skipped = set(cfg['DEFAULT'].get('tst_flags', '').split()) - set(a.flags.split())
    nbs = a.notebooks or sorted(str(p) for p in (ROOT/'nbs').glob('**/*.ipynb') if not p.name.startswith('_') and '.ipynb_checkpoints' not in str(p))
    os.environ.setdefault('OMP_NUM_THREADS', '1' if a.workers > 1 else str(os.cpu_count()))
    os.environ['MPLBACKEND'] = 'module://matplotlib_inline.backend_inline'   # pictures into the outputs, even where MPLBACKEND=Agg
    t0, failed = time.perf_counter(), []
    with ProcessPoolExecutor(a.workers) as ex:
        for name, dt, err in ex.map(run_one, nbs, [flags_skipped]*len(nbs), [a.write]*len(nbs), [a.timeout]*len(nbs)):
            print(f"{'ok  ' if err is None else 'FAIL'} {name:<24} {dt:6.1f} s (real kernel)", flush=True)
            if err: failed.append(name); print(err[-4000:], file=sys.stderr)
    print(f"{len(nbs) - len(failed)} passed, {len(failed)} failed ({time.perf_counter() - t0:.0f} s)")
    sys.exit(1 if failed else 0)

if __name__ == '__main__': main()
