//go:build !race && !asan

package server_test

const instrumented = false
