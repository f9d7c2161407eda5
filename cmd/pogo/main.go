// Command pogo serves a Python WSGI application: see internal/cli.
package main

import (
	"context"
	"os"

	"github.com/pogoserver/pogo/internal/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
