"""Every exported module imports on its own, and every name it exports exists.

Catches the classic nbdev bug: exported code that leans on a name only the notebook defined."""
import importlib, subprocess, sys
import pytest
from gpt_course._modidx import d

MODULES = sorted({v[1].split('.py')[0].replace('/', '.') for v in d['syms'].values() for v in v.values()})

def test_modules_found():
    assert {'gpt_course.data', 'gpt_course.model', 'gpt_course.optim', 'gpt_course.checkpoint', 'gpt_course.training'} <= set(MODULES)

def test_modules_import_in_a_fresh_interpreter():
    "Each module imports in a fresh process (module namespaces are separate, so one process serves them all)."
    code = ("import importlib, traceback\n"
            f"for mod in {MODULES!r}:\n"
            "    try: importlib.import_module(mod)\n"
            "    except Exception: print(mod); traceback.print_exc()\n")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stdout and not r.stderr, r.stdout + r.stderr

@pytest.mark.parametrize('mod', MODULES)
def test_exported_names_exist(mod):
    m = importlib.import_module(mod)
    assert m.__all__, f'{mod} exports nothing'
    for name in m.__all__: assert hasattr(m, name), f'{mod}.__all__ names {name} but it is not defined'

def test_sampling_does_not_need_the_training_module():
    "Sampling a checkpoint (the `sample` command's path) imports neither the training loop nor its optimizers."
    code = ("import sys, gpt_course.sampling, gpt_course.checkpoint; "
            "bad = [m for m in ('gpt_course.training', 'gpt_course.optim') if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_notebooks_need_only_the_runtime_install():
    """A learner's `pip install .` (or the Colab cell) runs every lesson: notebooks import only the standard library,
    the runtime requirements, and the extras their own install cell names."""
    import ast, json, configparser, re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    cfg = configparser.ConfigParser(); cfg.read(root/'settings.ini')
    dist = lambda reqs: {re.split(r'[<>=\[ ]', r)[0].replace('-', '_').lower() for r in reqs.split()}
    runtime = dist(cfg['DEFAULT']['requirements']) | {'gpt_course', 'ipython', 'google'}   # google: google.colab, Colab-only cells
    extras = {'gpt2': dist(cfg['DEFAULT'].get('gpt2_requirements', ''))}
    for nb in sorted((root/'nbs').glob('**/*.ipynb')):
        cells = [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
        allowed = set(runtime)
        for extra, mods in extras.items():
            if any(f'gpt_course[{extra}]' in c for c in cells[:2]): allowed |= mods
        for src in cells:
            src = '\n'.join(l[:len(l) - len(l.lstrip())] + 'pass' if l.lstrip().startswith(('%', '!')) else l for l in src.splitlines())
            for node in ast.walk(ast.parse(src)):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                        [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                for m in mods:
                    top = m.split('.')[0].lower()
                    assert top in sys.stdlib_module_names or top in allowed, \
                        f"{nb.name} imports {m}, which `pip install .` does not install (add it to the runtime or an extra)"
