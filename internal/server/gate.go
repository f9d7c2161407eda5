package server

import (
	"context"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Closing a listening socket resets the connections waiting in its accept
// queue, and their clients have connected and may have sent a request
// already. So a listening socket is retired in two steps:
//
//  1. Its gate closes (closeGate): a socket filter drops the SYNs that
//     open new connections, so their clients retry and, once the socket
//     is closed, are refused; handshakes already under way still complete
//     and queue. Whoever owns the socket's life does it: the master for
//     its workers' sockets, the server itself when it runs alone, and no
//     one for an inherited socket (systemd keeps it for the next start).
//  2. Server.Shutdown accepts what is queued (drain), then closes it.

// gateFilter passes a TCP segment with ACK set and drops one without:
// the SYN of a new connection. A socket filter on a TCP socket sees the
// TCP header first; its flags are byte 13.
var gateFilter = []syscall.SockFilter{
	{Code: syscall.BPF_LD | syscall.BPF_B | syscall.BPF_ABS, K: 13},
	{Code: syscall.BPF_JMP | syscall.BPF_JSET | syscall.BPF_K, Jt: 1, K: 0x10},
	{Code: syscall.BPF_RET | syscall.BPF_K, K: 0},
	{Code: syscall.BPF_RET | syscall.BPF_K, K: 0xffffffff},
}

// closeGate attaches gateFilter to the TCP listening socket fd.
func closeGate(fd uintptr) error {
	prog := syscall.SockFprog{Len: uint16(len(gateFilter)), Filter: &gateFilter[0]}
	_, _, e := syscall.Syscall6(syscall.SYS_SETSOCKOPT, fd, syscall.SOL_SOCKET, syscall.SO_ATTACH_FILTER,
		uintptr(unsafe.Pointer(&prog)), unsafe.Sizeof(prog), 0)
	if e != 0 {
		return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", e)
	}
	return nil
}

// queued returns how many connections wait in the accept queue of the TCP
// listening socket fd (Linux reports it as tcpi_unacked of a listener).
func queued(fd uintptr) (int, error) {
	var ti syscall.TCPInfo
	n := uint32(unsafe.Sizeof(ti))
	_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
		uintptr(unsafe.Pointer(&ti)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return 0, os.NewSyscallError("getsockopt TCP_INFO", e)
	}
	return int(ti.Unacked), nil
}

// control runs fn on the descriptor of a TCP listener, and reports
// whether l is one.
func control(l any, fn func(fd uintptr)) bool {
	if _, ok := l.(*net.TCPListener); !ok {
		if _, ok := l.(*os.File); !ok {
			return false
		}
	}
	rc, err := l.(syscall.Conn).SyscallConn()
	if err != nil {
		return false
	}
	return rc.Control(fn) == nil
}

// CloseGates closes the gate of each TCP listener pogo opened itself
// (binds[i] is ls[i]'s bind address: fd://N ones are inherited and left
// alone), before Shutdown drains and closes them.
func CloseGates(binds []string, ls []net.Listener) {
	for i, l := range ls {
		if i < len(binds) && !strings.HasPrefix(binds[i], "fd://") {
			control(l, func(fd uintptr) { closeGate(fd) })
		}
	}
}

// drainTime bounds how long Shutdown waits for accept queues to empty: a
// socket whose gate is open (a worker being replaced shares it with its
// successor) may never be seen empty under load.
const drainTime = time.Second

// drain waits until the accept queues of ls are empty, or limit (at
// shutdown, drainTime) or ctx is over, while Serve goes on accepting.
// Listeners other than TCP ones (unix sockets) do not say how many
// connections wait.
func drain(ctx context.Context, ls []net.Listener, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		waiting := 0
		for _, l := range ls {
			control(l, func(fd uintptr) {
				n, _ := queued(fd)
				waiting += n
			})
		}
		if waiting == 0 || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}
