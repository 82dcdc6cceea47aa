// Command baseline is the reference point of the ingest benchmarks: a bare net/http
// server that reads each POSTed body, decodes it as JSON (one object or an array, or
// NDJSON lines) and answers 202 with the count. It stores nothing, so its requests/s is
// the ceiling that HTTP and JSON decoding alone allow on the machine.
//
//	go run ./scripts/bench/baseline --listen 127.0.0.1:8099
//
// Any path accepts POST; pair it with warroom bench ingest --url http://127.0.0.1:8099.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8099", "listen address (keep it on loopback)")
	flag.Parse()
	srv := &http.Server{Addr: *listen, Handler: http.HandlerFunc(handle)}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		srv.Close()
	}()
	log.Printf("baseline listening on %s", *listen)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

func handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n, err := decode(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"accepted":%d,"alert_ids":[],"rejected":[],"duplicates":0}`+"\n", n)
}

// decode parses body as a JSON array, a JSON object or NDJSON and counts the elements.
func decode(body []byte) (int, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var items []map[string]any
		err := json.Unmarshal(body, &items)
		return len(items), err
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var item map[string]any
		if err := json.Unmarshal(sc.Bytes(), &item); err != nil {
			return n, fmt.Errorf("line %d: %w", n+1, err)
		}
		n++
	}
	return n, sc.Err()
}
