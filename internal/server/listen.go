package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Listen opens a listener for each bind address: HOST:PORT, [::1]:PORT,
// :PORT, HOST (port 8000), or unix:PATH. backlog is passed to listen(2).
// A stale unix socket file is replaced; a live one is an error.
func Listen(binds []string, backlog int) ([]net.Listener, error) {
	var ls []net.Listener
	for _, b := range binds {
		l, err := listen(b, backlog)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func listen(bind string, backlog int) (net.Listener, error) {
	if path, ok := strings.CutPrefix(bind, "unix:"); ok {
		return listenUnix(path, backlog)
	}
	addr, err := resolveTCP(bind)
	if err != nil {
		return nil, err
	}
	family, sa := syscall.AF_INET, syscall.Sockaddr(nil)
	if ip4 := addr.IP.To4(); ip4 != nil {
		s := &syscall.SockaddrInet4{Port: addr.Port}
		copy(s.Addr[:], ip4)
		sa = s
	} else {
		family = syscall.AF_INET6
		s := &syscall.SockaddrInet6{Port: addr.Port}
		copy(s.Addr[:], addr.IP.To16())
		sa = s
	}
	l, err := listenSocket(family, sa, backlog, func(fd int) error {
		return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return nil, fmt.Errorf("server: cannot listen on %s: %w", bind, err)
	}
	return l, nil
}

// resolveTCP parses a TCP bind address the way gunicorn does.
func resolveTCP(bind string) (*net.TCPAddr, error) {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		// "HOST" alone, "[::1]" alone.
		host, port = strings.TrimSuffix(strings.TrimPrefix(bind, "["), "]"), "8000"
		if strings.Contains(host, ":") && !strings.HasPrefix(bind, "[") {
			return nil, fmt.Errorf("server: invalid bind address %q", bind)
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, fmt.Errorf("server: invalid port in bind address %q", bind)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("server: cannot resolve %q in bind address %q", host, bind)
		}
		ip = ips[0]
	}
	return &net.TCPAddr{IP: ip, Port: p}, nil
}

func listenUnix(path string, backlog int) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("server: cannot listen on unix:%s: file exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("server: cannot listen on unix:%s: address already in use", path)
		}
		os.Remove(path) // stale socket from a previous run
	}
	l, err := listenSocket(syscall.AF_UNIX, &syscall.SockaddrUnix{Name: path}, backlog, nil)
	if err != nil {
		return nil, fmt.Errorf("server: cannot listen on unix:%s: %w", path, err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	return l, nil
}

// listenSocket does socket, bind and listen itself so the backlog is ours
// (net.Listen always uses the system maximum).
func listenSocket(family int, sa syscall.Sockaddr, backlog int, setup func(fd int) error) (net.Listener, error) {
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer f.Close() // FileListener dups the descriptor
	if setup != nil {
		if err := setup(fd); err != nil {
			return nil, os.NewSyscallError("setsockopt", err)
		}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, errors.New("address already in use")
		}
		return nil, os.NewSyscallError("bind", err)
	}
	if backlog <= 0 {
		backlog = syscall.SOMAXCONN
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		return nil, os.NewSyscallError("listen", err)
	}
	return net.FileListener(f)
}
