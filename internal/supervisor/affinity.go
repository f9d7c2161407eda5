package supervisor

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"
)

// Affinity is Options.CPUAffinity: when worker slots are bound to CPUs.
type Affinity string

const (
	// AffinityAuto binds them when the workers are as many as the CPUs
	// the master may run on, one to each. Unbound, on a machine where
	// another process group takes CPU too (the kernel's autogroups put
	// each session in one), a worker's threads were scheduled late again
	// and again: Flask /json under -w 2 on 2 CPUs beside wrk had a p99 of
	// 224 ms, bound 10 ms; hello 10 ms against 1.9 ms.
	AffinityAuto Affinity = ""
	AffinityOn   Affinity = "on"
	AffinityOff  Affinity = "off"
)

// cpuMask is a Linux cpu_set_t for up to 1024 CPUs.
type cpuMask [16]uint64

func (m *cpuMask) cpus() []int {
	var out []int
	for i, w := range m {
		for b := range 64 {
			if w&(1<<b) != 0 {
				out = append(out, i*64+b)
			}
		}
	}
	return out
}

// affinity reads the calling thread's CPU mask (tid 0), or tid's.
func affinity(tid int) (cpuMask, error) {
	var m cpuMask
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, uintptr(tid), unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
	if e != 0 {
		return m, os.NewSyscallError("sched_getaffinity", e)
	}
	return m, nil
}

func setAffinity(m *cpuMask) error {
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(*m), uintptr(unsafe.Pointer(m)))
	if e != 0 {
		return os.NewSyscallError("sched_setaffinity", e)
	}
	return nil
}

// startOn starts cmd bound to one CPU. The mask is set on the thread that
// forks, for the moment of the fork, so that the child and every thread
// it makes (the Go runtime's first ones too) inherit it; binding the
// child's pid afterwards would miss the threads it had already started.
func startOn(cmd *exec.Cmd, cpu int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := affinity(0)
	if err != nil {
		return err
	}
	var one cpuMask
	one[cpu/64] = 1 << (cpu % 64)
	if err := setAffinity(&one); err != nil {
		return err
	}
	err = cmd.Start()
	if rerr := setAffinity(&old); rerr != nil && err == nil {
		// The thread cannot get its mask back: it must not run other
		// goroutines. Locked and not unlocked, it exits with this one.
		runtime.LockOSThread()
		return rerr
	}
	return err
}
