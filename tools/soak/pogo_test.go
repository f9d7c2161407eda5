package main

import "testing"

func TestBannerRE(t *testing.T) {
	tests := []struct {
		line, want string
	}{
		{"[2026-11-22 01:37:22 +0000] [1] [INFO] pogo dev, Python 3.11.7 (/usr/bin/python3), listening on http://127.0.0.1:32819, 8 threads, pid 1", "127.0.0.1:32819"},
		{"pogo dev, Python 3.12 (x), listening on unix:/tmp/s http://127.0.0.1:80 http://[::1]:81, 1 threads, pid 2", "127.0.0.1:80"},
		{"pogo dev, Python 3.12 (x), listening on https://127.0.0.1:443, 1 threads, pid 2", ""},
		{"Shutdown complete", ""},
	}
	for _, tt := range tests {
		got := ""
		if m := bannerRE.FindStringSubmatch(tt.line); m != nil {
			got = m[1]
		}
		if got != tt.want {
			t.Errorf("bannerRE in %q = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestStatusField(t *testing.T) {
	status := "Name:\tpogo\nVmHWM:\t   30000 kB\nVmRSS:\t   27560 kB\nRssAnon:\t   10000 kB\n"
	tests := []struct {
		status, field string
		want          int64
		wantErr       bool
	}{
		{status, "VmRSS", 27560 << 10, false},
		{status, "VmHWM", 30000 << 10, false},
		{status, "VmSwap", 0, true},
		{"VmRSS:\t12 MB\n", "VmRSS", 0, true},
		{"VmRSS:\tx kB\n", "VmRSS", 0, true},
	}
	for _, tt := range tests {
		got, err := statusField([]byte(tt.status), tt.field)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("statusField(%q, %q) = %d, %v; want %d, error %v", tt.status, tt.field, got, err, tt.want, tt.wantErr)
		}
	}
}
