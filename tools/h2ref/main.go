// Command h2ref serves "Hello, World!" with net/http over TLS (ALPN h2) and
// over h2c with prior knowledge: the reference scripts/h2spec.sh compares
// pogo's h2spec results with.
package main

import (
	"flag"
	"log"
	"net/http"
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
		// net/http's own h2c (prior knowledge), beside HTTP/1.1.
		plain := &http.Server{Addr: *plainAddr, Handler: hello, Protocols: new(http.Protocols)}
		plain.Protocols.SetHTTP1(true)
		plain.Protocols.SetUnencryptedHTTP2(true)
		log.Fatal(plain.ListenAndServe())
	}()
	log.Fatal(http.ListenAndServeTLS(*tlsAddr, *cert, *key, hello))
}
