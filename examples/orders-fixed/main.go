// Command orders serves order documents over HTTP.
//
// The corrected twin of examples/orders: a bounded cache, server timeouts, profiles on
// loopback only, and a graceful shutdown that Kubernetes can drain. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		log.Printf("orders: %v", err)
		os.Exit(1)
	}
}

// config is read from the environment once, at start-up.
type config struct {
	addr             string        // listen address of the public server
	pprofAddr        string        // loopback-only address of the profiling server
	cacheEntries     int           // bound of the order cache, in entries
	drainDelay       time.Duration // time between failing readiness and closing the listener
	inventoryLatency time.Duration // simulated stock lookup per uncached order
}

func loadConfig() (config, error) {
	cfg := config{
		addr:      os.Getenv("ADDR") + ":" + envOr("PORT", "8080"),
		pprofAddr: "127.0.0.1:" + envOr("PPROF_PORT", "6060"),
	}
	var err error
	if cfg.cacheEntries, err = strconv.Atoi(envOr("CACHE_MAX_ENTRIES", "512")); err != nil || cfg.cacheEntries < 1 {
		return cfg, fmt.Errorf("CACHE_MAX_ENTRIES must be a positive integer")
	}
	// DRAIN_DELAY is 5s in the Deployment; 0 by default so that local runs stop at once.
	if cfg.drainDelay, err = time.ParseDuration(envOr("DRAIN_DELAY", "0s")); err != nil {
		return cfg, fmt.Errorf("DRAIN_DELAY: %w", err)
	}
	if cfg.inventoryLatency, err = time.ParseDuration(envOr("INVENTORY_LATENCY", "0s")); err != nil {
		return cfg, fmt.Errorf("INVENTORY_LATENCY: %w", err)
	}
	return cfg, nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func run() error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	var ready atomic.Bool
	accessLog := make(chan string, 1024)
	go logRequests(ctx, accessLog)
	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           newMux(newOrderCache(cfg.cacheEntries), cfg.inventoryLatency, &ready, accessLog),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	// Listen before reporting ready, so that a taken port fails the start, not the first request.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	pprofSrv := newPprofServer(cfg.pprofAddr)
	go func() {
		// Profiles are a convenience: a taken port is logged, not fatal.
		if err := pprofSrv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("pprof on %s: %v", cfg.pprofAddr, err)
		}
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	ready.Store(true)
	log.Printf("orders listening on %s", ln.Addr())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stop() // a second SIGTERM or Ctrl-C now kills at once

	// Fail readiness first and keep serving while endpoints are removed everywhere,
	// then stop accepting and wait for in-flight requests, within the grace period.
	ready.Store(false)
	log.Printf("SIGTERM: not ready, draining for %s", cfg.drainDelay)
	time.Sleep(cfg.drainDelay)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer pprofSrv.Shutdown(shutdownCtx)
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Printf("drained, exiting")
	return nil
}

// newPprofServer serves the profiling endpoints on loopback only: reach them with
// `kubectl port-forward` or from the pod itself, never through the Service.
func newPprofServer(addr string) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No WriteTimeout: a CPU profile or trace streams for as long as asked.
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}

// logRequests batches access-log lines so that a busy server writes one line a second.
func logRequests(ctx context.Context, lines <-chan string) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	served, last := 0, ""
	for {
		select {
		case <-ctx.Done():
			return
		case line := <-lines:
			served++
			last = line
		case <-ticker.C:
			if served > 0 {
				log.Printf("served %d requests, last %s", served, last)
				served = 0
			}
		}
	}
}
