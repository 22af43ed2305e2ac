// Command orders serves order documents over HTTP.
//
// This is the version that got OOM-killed in production. Every problem in it is
// deliberate and is explained in README.md; examples/orders-fixed is its corrected twin.
package main

import (
	"log"
	"net/http"
	_ "net/http/pprof" // profiles on the DefaultServeMux, i.e. on the public port
	"os"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	addr := os.Getenv("ADDR") + ":" + port

	// Simulated call to the inventory service; 0 in tests, tens of ms in production.
	inventoryLatency, _ := time.ParseDuration(os.Getenv("INVENTORY_LATENCY"))

	accessLog := make(chan string, 1024)
	go logRequests(accessLog)

	http.HandleFunc("/orders", ordersHandler(inventoryLatency, accessLog))
	http.HandleFunc("/healthz", healthz)
	http.HandleFunc("/readyz", healthz)
	http.HandleFunc("/metrics", metricsHandler)

	log.Printf("orders listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}

// logRequests batches access-log lines so that a busy server writes one line a second.
func logRequests(lines <-chan string) {
	served := 0
	last := ""
	for {
		select {
		case line := <-lines:
			served++
			last = line
		case <-time.After(time.Second):
			if served > 0 {
				log.Printf("served %d requests, last %s", served, last)
				served = 0
			}
		}
	}
}
