package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// pogoProc is a running pogo child process.
type pogoProc struct {
	cmd  *exec.Cmd
	addr string // HOST:PORT from the banner; immutable after startPogo

	exited chan struct{} // closed when the process has exited
	err    error         // what cmd.Wait returned; read only after exited is closed
}

// bannerRE finds the first plain-HTTP address in pogo's banner, "... listening
// on http://127.0.0.1:PORT, 8 threads, ...".
var bannerRE = regexp.MustCompile(`listening on .*?http://([^\s,]+)`)

// startPogo runs path with "-b 127.0.0.1:0" and args, copies its stderr to
// stderr with a "pogo| " prefix, and returns once the banner has named the
// address it listens on.
func startPogo(ctx context.Context, path string, args []string, stdout, stderr io.Writer) (*pogoProc, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	cmd := exec.Command(path, append([]string{"-b", "127.0.0.1:0"}, args...)...)
	cmd.Stdout = stdout
	cmd.Stderr = pw
	// If soak dies, pogo goes with it rather than holding the port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("soak: start pogo: %w", err)
	}
	p := &pogoProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()

	addrc := make(chan string, 1) // the scanner sends the first address found
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintf(stderr, "pogo| %s\n", sc.Bytes())
			if m := bannerRE.FindSubmatch(sc.Bytes()); m != nil {
				select {
				case addrc <- string(m[1]):
				default:
				}
			}
		}
		io.Copy(stderr, pr) // after an overlong line; keeps pogo from blocking
	}()

	select {
	case p.addr = <-addrc:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("soak: pogo exited before listening: %w", p.err)
	case <-ctx.Done():
		p.kill()
		return nil, fmt.Errorf("soak: waiting for pogo's banner: %w", context.Cause(ctx))
	}
}

// waitReady returns once a request to addr succeeds.
func waitReady(ctx context.Context, addr string) error {
	for {
		c := &client{addr: addr}
		err := c.get(ctx)
		c.close()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("soak: waiting for pogo to answer (last error: %v): %w", err, context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for pogo to exit with status 0. If ctx ends
// first it kills pogo.
func (p *pogoProc) stop(ctx context.Context) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("soak: SIGTERM pogo: %w", err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			return fmt.Errorf("soak: pogo after SIGTERM: %w", p.err)
		}
		return nil
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("soak: pogo still running after SIGTERM: %w", context.Cause(ctx))
	}
}

// kill kills pogo if it is still running and waits for it to exit.
func (p *pogoProc) kill() {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// rss returns pogo's resident set size in bytes.
func (p *pogoProc) rss() (int64, error) { return p.status("VmRSS") }

func (p *pogoProc) status(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("soak: %w", err)
	}
	n, err := statusField(b, field)
	if err != nil {
		return 0, fmt.Errorf("soak: /proc/%d/status: %w", p.cmd.Process.Pid, err)
	}
	return n, nil
}

// statusField returns a "Field:   1234 kB" line of /proc/PID/status in bytes.
func statusField(status []byte, field string) (int64, error) {
	for line := range bytes.Lines(status) {
		v, ok := bytes.CutPrefix(line, []byte(field+":"))
		if !ok {
			continue
		}
		v, ok = bytes.CutSuffix(bytes.TrimSpace(v), []byte(" kB"))
		if !ok {
			return 0, fmt.Errorf("%s: no kB unit in %q", field, line)
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		return n << 10, nil
	}
	return 0, errors.New(field + ": not found")
}
