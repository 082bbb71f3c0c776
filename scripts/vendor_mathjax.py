"""Copy MathJax 3 into ``_vendor/mathjax`` so the built book renders equations without a network.

Sphinx's default ``mathjax_path`` is a CDN URL: offline (and on any machine that cannot reach the CDN) every equation
would show as raw TeX. MathJax comes from the ``django-static-mathjax`` wheel pinned in requirements.txt (pure static
files, no dependencies); ``_config.yml`` adds ``_vendor`` to ``html_static_path`` and points ``mathjax_path`` at
the copy.
Not ``_static``: Jupyter Book adds every ``.js`` file under ``_static`` to every page. Run by ``make book``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "_vendor" / "mathjax"


def source() -> Path:
    spec = importlib.util.find_spec("mathjax")  # the wheel's top-level package; importing it is not needed
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("MathJax is not installed: run `make setup` (requirements.txt pins django-static-mathjax)")
    es5 = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").exists():
        raise SystemExit(f"{es5} has no tex-chtml.js: unexpected layout of the MathJax package")
    return es5


def main() -> None:
    es5 = source()
    stamp = TARGET / ".source"
    if stamp.exists() and stamp.read_text() == str(es5) and (TARGET / "tex-chtml.js").exists():
        return
    shutil.rmtree(TARGET, ignore_errors=True)
    shutil.copytree(es5, TARGET)
    stamp.write_text(str(es5))
    print(f"MathJax copied from {es5} to {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
