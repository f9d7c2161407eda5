"""python -m pogo ARGS: run the pogo command installed with this package."""
import os
import sys


def command():
    """The pogo executable of this installation: in the package, next to
    this file (pogo/_bin/pogo)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bin", "pogo")


def main():
    exe = command()
    if not os.access(exe, os.X_OK):
        sys.exit("pogo: %s is missing: reinstall pogo (pip install --force-reinstall pogo)" % exe)
    # The server runs this environment's Python: the one running now.
    env = dict(os.environ)
    env.setdefault("POGO_PYTHON", sys.executable)
    os.execve(exe, [exe] + sys.argv[1:], env)


if __name__ == "__main__":
    main()
