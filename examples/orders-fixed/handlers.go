package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// renderBuffers are reused between requests: the cache keeps its own copy of each body.
var renderBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// newMux routes the public endpoints. Profiles are not here: see newPprofServer.
func newMux(cache *orderCache, inventoryLatency time.Duration, ready *atomic.Bool, accessLog chan<- string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/orders", ordersHandler(cache, inventoryLatency, accessLog))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok") // liveness: the process can serve; says nothing about dependencies
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/metrics", metricsHandler(cache))
	return mux
}

// ordersHandler serves GET /orders?id=N. The cache key is the parsed id, not the raw
// query, so `?id=1&x=2` cannot mint new entries.
func ordersHandler(cache *orderCache, inventoryLatency time.Duration, accessLog chan<- string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
		if err != nil {
			http.Error(w, "id must be a non-negative integer", http.StatusBadRequest)
			return
		}
		body, ok := cache.get(id)
		if !ok {
			if err := lookupInventory(r, inventoryLatency); err != nil {
				return // the client went away
			}
			buf := renderBuffers.Get().(*bytes.Buffer)
			defer renderBuffers.Put(buf)
			buf.Reset()
			if err := renderOrder(buf, id); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			body = cache.add(id, buf.Bytes())
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
		select {
		case accessLog <- r.Method + " " + r.URL.RequestURI():
		default: // never hold a request up for logging
		}
	}
}

// lookupInventory stands in for the stock service call, abandoned if the client leaves.
func lookupInventory(r *http.Request, latency time.Duration) error {
	timer := time.NewTimer(latency)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}

// metricsHandler writes the Prometheus text exposition format by hand
// (client_golang would need a module download).
func metricsHandler(cache *orderCache) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		metric(w, "go_goroutines", "gauge", "Number of goroutines that currently exist.", int64(runtime.NumGoroutine()))
		metric(w, "go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and still in use.", int64(ms.HeapAlloc))
		metric(w, "go_memstats_heap_inuse_bytes", "gauge", "Number of heap bytes that are in use.", int64(ms.HeapInuse))
		metric(w, "go_gc_cycles_total", "counter", "Number of completed GC cycles.", int64(ms.NumGC))
		metric(w, "go_gc_gomemlimit_bytes", "gauge", "Go runtime memory limit (GOMEMLIMIT) in bytes.", debug.SetMemoryLimit(-1))
		metric(w, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", residentBytes())
		metric(w, "orders_cache_entries", "gauge", "Number of rendered orders held in the order cache.", int64(cache.len()))
	}
}

func metric(w http.ResponseWriter, name, kind, help string, value int64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, kind, name, value)
}

// residentBytes is the process's RSS from /proc/self/statm (second field, in pages).
func residentBytes() int64 {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(statm))
	if len(fields) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}
