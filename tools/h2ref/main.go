// Command h2ref serves "Hello, World!" with net/http over TLS (ALPN h2) and
// over h2c with prior knowledge: the reference scripts/h2spec.sh compares
// pogo's h2spec results with.
package main

//lint:file-ignore SA1019 the reference is net/http's HTTP/2 as x/net/http2 serves it (h2c included).

import (
	"flag"
	"log"
	"net/http"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func main() {
	tlsAddr := flag.String("tls", "127.0.0.1:9443", "TLS address")
	plainAddr := flag.String("h2c", "127.0.0.1:9080", "h2c address")
	cert := flag.String("cert", "", "certificate file")
	key := flag.String("key", "", "key file")
	flag.Parse()
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("Hello, World!\n"))
	})
	go func() {
		log.Fatal(http.ListenAndServe(*plainAddr, h2c.NewHandler(hello, &http2.Server{})))
	}()
	log.Fatal(http.ListenAndServeTLS(*tlsAddr, *cert, *key, hello))
}
