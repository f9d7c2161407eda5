//go:build race || asan

package server_test

// instrumented: the race detector makes sync.Pool drop items on purpose,
// and AddressSanitizer moves allocations to the heap, so allocation counts
// mean nothing under either.
const instrumented = true
