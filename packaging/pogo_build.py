"""pogo's PEP 517 build backend: pip install . and python -m build.

The wheel holds the Python package pogo (python/pogo: the launcher behind
the pogo command and python -m pogo) and the pogo executable, built here
with Go (go build, cgo) against the Python that runs this backend: its
headers and its shared libpython, found at run time through an rpath. So
the wheel is for that CPython only, and is tagged so (cp311-cp311-
linux_x86_64). The sdist is the source tree that builds it.

Nothing here needs a package from PyPI: the wheel and sdist are written
with zipfile and tarfile.
"""
import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "pogo"

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import pyconfig  # noqa: E402 (scripts/pyconfig.py: the flags make build uses)


class BuildError(Exception):
    """A missing prerequisite, said in one line."""


def _version():
    with open(os.path.join(ROOT, "VERSION")) as f:
        return f.read().strip()


def _tag():
    """The wheel tag of this CPython and platform."""
    if sys.implementation.name != "cpython":
        raise BuildError("pogo embeds CPython; this is %s" % sys.implementation.name)
    py = "cp%d%d" % sys.version_info[:2]
    abi = py + getattr(sys, "abiflags", "")
    plat = re.sub(r"[-.]", "_", sysconfig.get_platform())
    return "%s-%s-%s" % (py, abi, plat)


def _metadata(version):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return (
        "Metadata-Version: 2.1\n"
        "Name: %s\n"
        "Version: %s\n"
        "Summary: A WSGI server in Go that embeds CPython: gunicorn's command line, faster and safer\n"
        "License: MIT\n"
        "Requires-Python: >=3.9\n"
        "Classifier: Programming Language :: Python :: 3\n"
        "Classifier: Topic :: Internet :: WWW/HTTP :: WSGI :: Server\n"
        "Description-Content-Type: text/markdown\n"
        "\n%s" % (NAME, version, readme)
    )


def _go():
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "building pogo needs Go on PATH (https://go.dev/dl/; go.mod says %s), "
            "and there is no prebuilt pogo wheel for this Python" % _go_wanted()
        )
    return go


def _go_wanted():
    with open(os.path.join(ROOT, "go.mod")) as f:
        m = re.search(r"^go (\S+)", f.read(), re.M)
    return "go " + m.group(1) if m else "a recent Go"


def _flags(what):
    """pyconfig's output for what (cflags, ldflags, exe), or a BuildError."""
    out = io.StringIO()
    old = sys.stdout
    sys.stdout = out
    try:
        pyconfig.main(what)
    except SystemExit as e:
        raise BuildError(str(e)) from None
    finally:
        sys.stdout = old
    return out.getvalue().strip()


def build_executable(dest, version):
    """go build ./cmd/pogo into dest, against this Python."""
    go = _go()
    env = dict(os.environ)
    env.update(
        CGO_ENABLED="1",
        CGO_CFLAGS=_flags("cflags"),
        CGO_LDFLAGS=_flags("ldflags"),
    )
    link = "-X github.com/pogoserver/pogo/internal/cpython.DefaultProgram=%s -X github.com/pogoserver/pogo/internal/cli.version=%s" % (
        _flags("exe"),
        version,
    )
    cmd = [go, "build", "-trimpath", "-ldflags", link, "-o", dest, "./cmd/pogo"]
    print("pogo_build: " + " ".join(cmd), file=sys.stderr)
    r = subprocess.run(cmd, cwd=ROOT, env=env)
    if r.returncode != 0:
        raise BuildError("go build failed (exit %d): see above" % r.returncode)


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def _add(zf, records, arcname, data, mode=0o644):
    info = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)
    records.append(_record_line(arcname, data))


def _dist_info(version):
    return "%s-%s.dist-info" % (NAME, version)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    try:
        return _build_wheel(wheel_directory)
    except BuildError as e:
        sys.exit("pogo_build: error: %s" % e)  # one line in pip's output, no traceback


def _build_wheel(wheel_directory):
    version = _version()
    tag = _tag()
    wheel_name = "%s-%s-%s.whl" % (NAME, version, tag)
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "pogo")
        build_executable(exe, version)
        with open(exe, "rb") as f:
            binary = f.read()
        path = os.path.join(wheel_directory, wheel_name)
        records = []
        with zipfile.ZipFile(path, "w") as zf:
            pkg = os.path.join(ROOT, "python", "pogo")
            for name in sorted(os.listdir(pkg)):
                if name.endswith(".py"):
                    with open(os.path.join(pkg, name), "rb") as f:
                        _add(zf, records, "pogo/" + name, f.read())
            _add(zf, records, "pogo/_version.py", ("__version__ = %r\n" % version).encode())
            _add(zf, records, "pogo/_bin/pogo", binary, 0o755)
            di = _dist_info(version)
            _add(zf, records, di + "/METADATA", _metadata(version).encode())
            wheel = "Wheel-Version: 1.0\nGenerator: pogo_build\nRoot-Is-Purelib: false\nTag: %s\n" % tag
            _add(zf, records, di + "/WHEEL", wheel.encode())
            _add(zf, records, di + "/entry_points.txt", b"[console_scripts]\npogo = pogo.__main__:main\n")
            records.append(di + "/RECORD,,")
            info = zipfile.ZipInfo(di + "/RECORD", date_time=(2026, 1, 1, 0, 0, 0))
            zf.writestr(info, "\n".join(records) + "\n")
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    version = _version()
    di = os.path.join(metadata_directory, _dist_info(version))
    os.makedirs(di, exist_ok=True)
    with open(os.path.join(di, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata(version))
    with open(os.path.join(di, "WHEEL"), "w") as f:
        f.write("Wheel-Version: 1.0\nGenerator: pogo_build\nRoot-Is-Purelib: false\nTag: %s\n" % _tag())
    with open(os.path.join(di, "entry_points.txt"), "w") as f:
        f.write("[console_scripts]\npogo = pogo.__main__:main\n")
    return _dist_info(version)


# What an sdist leaves out of the tree.
_SKIP = {".git", ".venv", "bin", "dist", "build", "__pycache__", "bench/out"}


def build_sdist(sdist_directory, config_settings=None):
    version = _version()
    base = "%s-%s" % (NAME, version)
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for dirpath, dirnames, filenames in os.walk(ROOT):
            rel = os.path.relpath(dirpath, ROOT)
            dirnames[:] = sorted(d for d in dirnames if os.path.normpath(os.path.join(rel, d)) not in _SKIP and d not in _SKIP)
            for fn in sorted(filenames):
                if fn.endswith((".pyc", ".whl")):
                    continue
                full = os.path.join(dirpath, fn)
                tf.add(full, arcname=os.path.join(base, os.path.normpath(os.path.join(rel, fn))), recursive=False)
        pkg_info = _metadata(version).encode()
        info = tarfile.TarInfo(base + "/PKG-INFO")
        info.size = len(pkg_info)
        info.mtime = 1767225600
        tf.addfile(info, io.BytesIO(pkg_info))
    return name


def _main():
    # python packaging/pogo_build.py wheel DIR: the backend without pip.
    if len(sys.argv) != 3 or sys.argv[1] not in ("wheel", "sdist"):
        sys.exit("usage: pogo_build.py wheel|sdist DIR")
    os.makedirs(sys.argv[2], exist_ok=True)
    print((build_wheel if sys.argv[1] == "wheel" else build_sdist)(sys.argv[2]))


if __name__ == "__main__":
    _main()
