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
