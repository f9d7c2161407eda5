package cli_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pogoserver/pogo/internal/testutil"
)

// TestMaxMemory: a worker whose memory passes --max-memory is replaced
// gracefully under load, with no request lost, and the log says why; one
// that is over it once loaded is kept (a replacement would be as big), and
// says so.
func TestMaxMemory(t *testing.T) {
	t.Parallel()
	// What a worker of this binary (race or ASan builds are bigger) uses
	// once loaded: the limit is set 48 MB above it.
	s := startWorkers(t, 1, pogo("-b", "127.0.0.1:0", "--max-memory", "1", "leak_app:app"))
	s.waitLog(t, "over --max-memory 1 MB: it will not be replaced for its memory", 1)
	loaded := 0
	for _, pid := range workerPIDs(s.stderr.String()) {
		loaded = residentMB(t, pid)
	}
	s.stop(t)

	limit := loaded + 48
	s = startWorkers(t, 1, pogo("-b", "127.0.0.1:0", "--max-memory", strconv.Itoa(limit), "leak_app:app"))
	first := strconv.Itoa(workerPIDs(s.stderr.String())[1])
	load := testutil.StartLoad(s.hostPort(t), "/leak", 8)
	s.waitLog(t, "over --max-memory "+strconv.Itoa(limit)+" MB", 1)
	load.Await(t, timeout, "answers from the replacement", func(r *testutil.LoadResult) bool {
		for pid, n := range r.ByPID {
			if pid != first && n >= 20 {
				return true
			}
		}
		return false
	})
	s.waitLog(t, ") stopped", 1) // the first worker, once it finished
	r := load.Stop()
	noFailures(t, r)
	logs := s.stderr.String()
	if !strings.Contains(logs, "Worker 1 asks to be replaced: it uses") {
		t.Errorf("the log does not say which worker asked to be replaced and why")
	}
	t.Logf("--max-memory %d MB (loaded: %d MB) under load: %d ok, by worker %v", limit, loaded, r.OK, r.ByPID)
}

// residentMB reads the resident memory of process pid, in MiB.
func residentMB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := strconv.Atoi(strings.Fields(string(b))[1])
	if err != nil {
		t.Fatal(err)
	}
	return pages * os.Getpagesize() >> 20
}
