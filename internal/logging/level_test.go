package logging

import (
	"log/slog"
	"strings"
	"testing"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{in: "debug", want: slog.LevelDebug},
		{in: "info", want: slog.LevelInfo},
		{in: "warning", want: slog.LevelWarn},
		{in: "warn", want: slog.LevelWarn},
		{in: "error", want: slog.LevelError},
		{in: "critical", want: LevelCritical},
		{in: "DEBUG", want: slog.LevelDebug},
		{in: "Warning", want: slog.LevelWarn},
		{in: "CRITICAL", want: LevelCritical},
		{in: " info ", want: slog.LevelInfo},
		{in: "", wantErr: true},
		{in: "fatal", wantErr: true},
		{in: "trace", wantErr: true},
		{in: "10", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLevel(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseLevel(%q) = %v, want error", tt.in, got)
				}
				if !strings.HasPrefix(err.Error(), "logging: ") || !strings.Contains(err.Error(), "critical") {
					t.Errorf("ParseLevel(%q) error %q should say what is valid", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestLevelCritical(t *testing.T) {
	if LevelCritical != slog.LevelError+4 {
		t.Errorf("LevelCritical = %d, want slog.LevelError+4", LevelCritical)
	}
}

func TestParseLevelNamesRoundTrip(t *testing.T) {
	for _, name := range []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"} {
		l, err := ParseLevel(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := levelName(l); got != name {
			t.Errorf("levelName(ParseLevel(%q)) = %q", name, got)
		}
	}
}
