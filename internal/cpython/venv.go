package cpython

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ProgramFor picks the python executable whose environment apps run in: the
// virtualenv venv, else $POGO_PYTHON (set by the pogo command pip
// installs: the Python it was installed for), else $VIRTUAL_ENV, else
// DefaultProgram. Python then sets up the virtualenv itself (sys.prefix,
// site-packages, .pth files) exactly as when venv/bin/python runs.
func ProgramFor(venv string) (string, error) {
	if p := os.Getenv("POGO_PYTHON"); venv == "" && p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$POGO_PYTHON: %w", err)
		}
		return p, nil
	}
	if venv == "" {
		venv = os.Getenv("VIRTUAL_ENV")
	}
	if venv == "" {
		return DefaultProgram, nil
	}
	venv, _ = filepath.Abs(venv)
	cfg, err := os.ReadFile(filepath.Join(venv, "pyvenv.cfg"))
	if err != nil {
		return "", fmt.Errorf("virtualenv %s: no pyvenv.cfg: not a virtualenv", venv)
	}
	built := BuildVersion()
	if v := venvVersion(string(cfg)); v != "" && v != built && !strings.HasPrefix(v, built+".") {
		return "", fmt.Errorf("virtualenv %s uses Python %s but pogo was built with Python %s", venv, v, built)
	}
	for _, name := range []string{"python3", "python"} {
		p := filepath.Join(venv, "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("virtualenv %s has no bin/python3", venv)
}

// venvVersion reads the Python version from a pyvenv.cfg.
func venvVersion(cfg string) string {
	sc := bufio.NewScanner(strings.NewReader(cfg))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "version", "version_info":
			return strings.TrimSpace(v)
		}
	}
	return ""
}
