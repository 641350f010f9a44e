"""Build every cffi extension into the source tree (ocirt/*.so).

pip builds them into site-packages; tests and the dev launcher import ocirt
from the checkout, so tests/install-deps.sh also runs this.
Usage: python3 native/build_inplace.py
"""
import importlib.util
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
BUILDERS = ("build_syscalls.py", "build_seccomp.py")


def main() -> None:
    tmp = os.path.join(HERE, "..", "build", "native")
    for name in BUILDERS:
        spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(HERE, name))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        built = module.ffibuilder.compile(tmpdir=tmp, verbose=False)
        # copy, then rename over: writing into the old file in place would
        # change the pages of every running process that has it mapped
        dest = os.path.join(HERE, "..", "ocirt", os.path.basename(built))
        shutil.copy(built, dest + ".new")
        os.replace(dest + ".new", dest)


if __name__ == "__main__":
    main()
