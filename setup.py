"""Build of the native part: the ristretto255 multi-scalar multiplication (voting/crypto/_msm.c).

pyproject.toml stays the source of the project's metadata; this file only declares the C
extension, built against libdecaf (Debian ``libdecaf-dev``).  It is optional: without libdecaf the
build goes on without it and voting.crypto.batch falls back to libsodium (docs/SPEC.md §3.11).
"""

from setuptools import Extension, setup

setup(
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
