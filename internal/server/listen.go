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
// :PORT, HOST (port 8000), unix:PATH, or fd://N (an inherited socket). backlog is passed to listen(2).
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
	if strings.HasPrefix(bind, "fd://") {
		return listenFD(bind)
	}
	addr, err := resolveTCP(bind)
	if err != nil {
		return nil, err
	}
	f, err := tcpSocket(addr, backlog, false)
	if err != nil {
		return nil, fmt.Errorf("server: cannot listen on %s: %w", bind, err)
	}
	return fileListener(f)
}

// tcpSocket opens a listening TCP socket on addr. With reusePort, other
// sockets with SO_REUSEPORT may share the address, and the kernel spreads
// new connections over them.
func tcpSocket(addr *net.TCPAddr, backlog int, reusePort bool) (*os.File, error) {
	family, sa := sockaddr(addr)
	return listenSocket(family, sa, backlog, func(fd int) error {
		if reusePort {
			if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, soReusePort, 1); err != nil {
				return err
			}
		}
		return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
}

func sockaddr(addr *net.TCPAddr) (family int, sa syscall.Sockaddr) {
	if ip4 := addr.IP.To4(); ip4 != nil {
		s := &syscall.SockaddrInet4{Port: addr.Port}
		copy(s.Addr[:], ip4)
		return syscall.AF_INET, s
	}
	s := &syscall.SockaddrInet6{Port: addr.Port}
	copy(s.Addr[:], addr.IP.To16())
	return syscall.AF_INET6, s
}

// soReusePort is Linux's SO_REUSEPORT, which package syscall lacks.
const soReusePort = 0xf

func fileListener(f *os.File) (net.Listener, error) {
	defer f.Close() // FileListener dups the descriptor
	return net.FileListener(f)
}

// listenFD takes over an inherited listening socket, fd://N (as from
// systemd socket activation, or a parent process).
func listenFD(bind string) (net.Listener, error) {
	fd, err := strconv.Atoi(strings.TrimPrefix(bind, "fd://"))
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("server: invalid bind address %q: want fd://N, N >= 3", bind)
	}
	if v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err != nil || v == 0 {
		return nil, fmt.Errorf("server: cannot listen on %s: not a listening socket", bind)
	}
	l, err := fileListener(os.NewFile(uintptr(fd), bind))
	if err != nil {
		return nil, fmt.Errorf("server: cannot listen on %s: %w", bind, err)
	}
	return l, nil
}

// Loopback reports whether only this machine can reach bind (an address
// as Listen takes it): a loopback address, a unix socket, or an inherited
// socket bound to either.
func Loopback(bind string) (bool, error) {
	if strings.HasPrefix(bind, "unix:") {
		return true, nil
	}
	if n, ok := strings.CutPrefix(bind, "fd://"); ok {
		fd, err := strconv.Atoi(n)
		if err != nil {
			return false, fmt.Errorf("server: invalid bind address %q: want fd://N, N >= 3", bind)
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			return false, fmt.Errorf("server: %s: %w", bind, err)
		}
		switch sa := sa.(type) {
		case *syscall.SockaddrInet4:
			return net.IP(sa.Addr[:]).IsLoopback(), nil
		case *syscall.SockaddrInet6:
			return net.IP(sa.Addr[:]).IsLoopback(), nil
		case *syscall.SockaddrUnix:
			return true, nil
		}
		return false, nil
	}
	addr, err := resolveTCP(bind)
	if err != nil {
		return false, err
	}
	return addr.IP.IsLoopback(), nil
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
	f, err := listenSocket(syscall.AF_UNIX, &syscall.SockaddrUnix{Name: path}, backlog, nil)
	if err != nil {
		return nil, fmt.Errorf("server: cannot listen on unix:%s: %w", path, err)
	}
	l, err := fileListener(f)
	if err != nil {
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	return l, nil
}

// listenSocket does socket, bind and listen itself so the backlog is ours
// (net.Listen always uses the system maximum).
func listenSocket(family int, sa syscall.Sockaddr, backlog int, setup func(fd int) error) (*os.File, error) {
	f, err := bindSocket(family, syscall.SOCK_STREAM, sa, setup)
	if err != nil {
		return nil, err
	}
	if backlog <= 0 {
		backlog = syscall.SOMAXCONN
	}
	if err := syscall.Listen(int(f.Fd()), backlog); err != nil {
		f.Close()
		return nil, os.NewSyscallError("listen", err)
	}
	return f, nil
}

// bindSocket makes a socket of sotype, calls setup on it, and binds it
// to sa.
func bindSocket(family, sotype int, sa syscall.Sockaddr, setup func(fd int) error) (*os.File, error) {
	fd, err := syscall.Socket(family, sotype|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	fail := func(err error) (*os.File, error) {
		f.Close()
		return nil, err
	}
	if setup != nil {
		if err := setup(fd); err != nil {
			return fail(os.NewSyscallError("setsockopt", err))
		}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fail(errors.New("address already in use"))
		}
		return fail(os.NewSyscallError("bind", err))
	}
	return f, nil
}

// udpSocket opens a UDP socket on addr, for QUIC. With reusePort it joins
// the others on the address: the kernel gives each flow (client address
// and port) to one of them, by a hash that holds while the group's
// sockets stay, so a QUIC connection's packets keep reaching the worker
// that owns it (Slots keep every slot's socket across its workers).
func udpSocket(addr *net.TCPAddr, reusePort bool) (*os.File, error) {
	family, sa := sockaddr(addr)
	return bindSocket(family, syscall.SOCK_DGRAM, sa, func(fd int) error {
		if reusePort {
			return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, soReusePort, 1)
		}
		return nil
	})
}

// ListenPackets opens a UDP socket on the address of each TCP listener
// among ls, for HTTP/3 beside it.
func ListenPackets(ls []net.Listener) ([]net.PacketConn, error) {
	var pcs []net.PacketConn
	for _, l := range ls {
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			continue
		}
		f, err := udpSocket(addr, false)
		if err == nil {
			var pc net.PacketConn
			pc, err = net.FilePacketConn(f)
			f.Close()
			if err == nil {
				pcs = append(pcs, pc)
				continue
			}
		}
		for _, pc := range pcs {
			pc.Close()
		}
		return nil, fmt.Errorf("server: cannot listen on UDP %s for HTTP/3: %w", addr, err)
	}
	return pcs, nil
}

// Slots opens the sockets of pogo's worker processes. Each worker slot
// gets its own socket for every TCP bind, all in one SO_REUSEPORT group,
// so the kernel spreads connections evenly over the workers even when
// they arrive in a burst; unix sockets and inherited ones (fd://N) cannot
// be grouped, so every slot gets a copy of the one socket.
type Slots struct {
	tcp     []*net.TCPAddr // resolved, with the port the first slot got
	binds   []string       // per TCP address, for errors
	backlog int
	shared  []net.Listener // unix and fd:// sockets, shared by all slots; closed (unix: unlinked) on Close
	addrs   []net.Addr     // in the order of the binds
	order   []int          // per bind: index into tcp (>= 0) or -1-index into shared
	slots   int            // opened so far
	udp     bool           // every slot also gets a UDP socket per TCP address, after the others
}

// NewSlots resolves binds and opens the shared (unix, fd://) sockets.
// The TCP ones open with the first slot (Open). With udp (HTTP/3), each
// slot also has a UDP socket on each TCP address, in one SO_REUSEPORT
// group per address.
func NewSlots(binds []string, backlog int, udp bool) (*Slots, error) {
	s := &Slots{backlog: backlog, udp: udp}
	for _, b := range binds {
		if strings.HasPrefix(b, "unix:") || strings.HasPrefix(b, "fd://") {
			l, err := listen(b, backlog)
			if err != nil {
				s.Close()
				return nil, err
			}
			s.order = append(s.order, -1-len(s.shared))
			s.shared = append(s.shared, l)
			s.addrs = append(s.addrs, l.Addr())
			continue
		}
		addr, err := resolveTCP(b)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.order = append(s.order, len(s.tcp))
		s.tcp = append(s.tcp, addr)
		s.binds = append(s.binds, b)
		s.addrs = append(s.addrs, addr)
	}
	return s, nil
}

// Open opens the sockets of one more slot, in the order of the binds. The
// first call also fixes the port of binds that asked for port 0, and
// fails if a TCP address is in use.
func (s *Slots) Open() ([]*os.File, error) {
	var files []*os.File
	fail := func(err error) ([]*os.File, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	for _, i := range s.order {
		if i < 0 {
			f, err := dupFile(s.shared[-1-i])
			if err != nil {
				return fail(err)
			}
			files = append(files, f)
			continue
		}
		addr := s.tcp[i]
		if s.slots == 0 && addr.Port != 0 {
			// A plain bind first: it fails if anyone listens there, even
			// with SO_REUSEPORT.
			probe, err := tcpSocket(addr, 1, false)
			if err != nil {
				return fail(fmt.Errorf("server: cannot listen on %s: %w", s.binds[i], err))
			}
			probe.Close()
		}
		f, err := tcpSocket(addr, s.backlog, true)
		if err != nil {
			return fail(fmt.Errorf("server: cannot listen on %s: %w", s.binds[i], err))
		}
		if addr.Port == 0 {
			// The later slots join the port the first one got.
			sa, err := syscall.Getsockname(int(f.Fd()))
			if err != nil {
				f.Close()
				return fail(os.NewSyscallError("getsockname", err))
			}
			switch sa := sa.(type) {
			case *syscall.SockaddrInet4:
				addr.Port = sa.Port
			case *syscall.SockaddrInet6:
				addr.Port = sa.Port
			}
		}
		files = append(files, f)
	}
	for _, addr := range s.tcp {
		if !s.udp {
			break
		}
		if s.slots == 0 {
			probe, err := udpSocket(addr, false) // as for TCP: in use fails
			if err != nil {
				return fail(fmt.Errorf("server: cannot listen on UDP %s for HTTP/3: %w", addr, err))
			}
			probe.Close()
		}
		f, err := udpSocket(addr, true)
		if err != nil {
			return fail(fmt.Errorf("server: cannot listen on UDP %s for HTTP/3: %w", addr, err))
		}
		files = append(files, f)
	}
	s.slots++
	return files, nil
}

// Addrs are the addresses listened on, in the order of the binds.
func (s *Slots) Addrs() []net.Addr { return s.addrs }

// CloseGates closes the gates (see gate.go) of the TCP sockets among a
// slot's files, as Open returned them: the shared ones stay open for the
// other slots, or for whoever passed them in.
func (s *Slots) CloseGates(files []*os.File) {
	for j, i := range s.order {
		if i >= 0 && j < len(files) {
			control(files[j], func(fd uintptr) { closeGate(fd) })
		}
	}
}

// dupFile returns a new descriptor for l's socket. Unlike l.File(), it
// does not switch the socket to blocking mode when a worker is started
// with it (exec calls Fd): the mode is the socket's, not the descriptor's,
// and a worker blocked in accept(2) on a blocking socket cannot be
// stopped.
func dupFile(l net.Listener) (*os.File, error) {
	rc, err := l.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd uintptr
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		nfd, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if errno != 0 {
		return nil, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", errno)
	}
	return os.NewFile(nfd, l.Addr().String()), nil
}

// Close closes the shared sockets (removing unix socket files). The
// slots' files are the caller's to close.
func (s *Slots) Close() {
	for _, l := range s.shared {
		l.Close()
	}
}
