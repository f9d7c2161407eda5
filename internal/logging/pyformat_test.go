package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestSetFormat(t *testing.T) {
	var out bytes.Buffer
	h := NewHandler(&out, slog.LevelDebug)
	if err := h.SetFormat("%(asctime)s %(levelname)-8s %(name)s %(process)d [%(levelno)03d] %(message)s %%", "%d/%b/%Y:%H:%M:%S"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(h).With("worker", 3)
	r := slog.NewRecord(time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC), slog.LevelWarn, "Worker asks to be replaced", 0)
	r.AddAttrs(slog.String("traceback", "Traceback (most recent call last):\n  x\n"))
	log.Handler().Handle(context.Background(), r)
	want := "07/Dec/2026:01:02:03 WARNING  gunicorn.error " + h.pid + " [030] Worker asks to be replaced worker=3 %\nTraceback (most recent call last):\n  x\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}

	out.Reset()
	h.SetFormat("%(asctime)s|%(message)r", "")
	slog.New(h).Info("hi")
	if got := out.String(); !strings.HasSuffix(got, `|"hi"`+"\n") || !strings.Contains(got, ",") {
		t.Errorf("default datefmt and %%r: %q", got)
	}
	if err := h.SetFormat("%(clientip)s %(message)s", ""); err == nil {
		t.Error("an attribute pogo's records lack: no error")
	}
}

func TestPyDateLayout(t *testing.T) {
	ts := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for in, want := range map[string]string{
		"%Y-%m-%d %H:%M:%S %z": "2026-01-02 15:04:05 +0000",
		"%d/%b/%Y %I%p":        "02/Jan/2026 03PM",
		"%%Y":                  "%Y",
	} {
		if got := ts.Format(pyDateLayout(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
