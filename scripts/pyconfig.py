"""Print the cgo flags pogo needs to embed the running Python.

Usage: python3 scripts/pyconfig.py cflags|ldflags|exe|version

Run with the interpreter pogo should link against (the python3 on PATH, or
$PYTHON). Works from inside a virtualenv: the flags point at the base
installation, whose libpython is found at run time through an rpath.
"""
import os
import sys
import sysconfig


def base_executable():
    exe = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(exe)


def main(what):
    cv = sysconfig.get_config_var
    if what == "cflags":
        print("-I" + cv("INCLUDEPY"))
    elif what == "ldflags":
        libdir = cv("LIBDIR")
        if not cv("Py_ENABLE_SHARED"):
            sys.exit("pyconfig: %s was built without --enable-shared; pogo needs libpython as a shared library" % base_executable())
        libs = " ".join(x for x in (cv("LIBS") or "", cv("SYSLIBS") or "") if x)
        print(f"-L{libdir} -lpython{cv('LDVERSION')} -Wl,-rpath,{libdir} {libs}".strip())
    elif what == "exe":
        print(base_executable())
    elif what == "version":
        print("%d.%d" % sys.version_info[:2])
    else:
        sys.exit("pyconfig: unknown query %r" % what)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
