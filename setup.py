"""Build of the native part: the ristretto255 multi-scalar multiplication (voting/crypto/_msm.c).

pyproject.toml stays the source of the project's metadata; this file only declares the C
extension, built against libdecaf (Debian ``libdecaf-dev``).  It is optional: without libdecaf the
build goes on without it and voting.crypto.batch falls back to libsodium (docs/SPEC.md §3.11).
"""

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """``pip install -e .`` copies the built module into the work tree: replace the file (a new inode)
    rather than overwrite it, so a process that has the old one loaded (a server, an audit, another
    test run) keeps its mapping intact instead of crashing."""

    def copy_file(self, infile, outfile, *args, **kwargs):
        if str(outfile).endswith(".so") and os.path.isfile(outfile):
            os.unlink(outfile)
        return super().copy_file(infile, outfile, *args, **kwargs)


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "voting.crypto._msm",
            ["voting/crypto/_msm.c"],
            include_dirs=["/usr/include/decaf"],
            libraries=["decaf"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
            optional=True,
        )
    ],
)
