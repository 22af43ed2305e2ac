package main

import "sync"

// responses caches every rendered order document, keyed by the request's query string.
// Rendering an order is the expensive part of a request, so it seemed a good idea.
var (
	responsesMu sync.RWMutex
	responses   = map[string][]byte{}
)

func cachedResponse(key string) ([]byte, bool) {
	responsesMu.RLock()
	defer responsesMu.RUnlock()
	body, ok := responses[key]
	return body, ok
}

// storeResponse keeps a copy of body, which lives in a pooled buffer, and returns it.
func storeResponse(key string, body []byte) []byte {
	kept := make([]byte, len(body))
	copy(kept, body)
	responsesMu.Lock()
	defer responsesMu.Unlock()
	responses[key] = kept
	return kept
}

func cachedEntries() int {
	responsesMu.RLock()
	defer responsesMu.RUnlock()
	return len(responses)
}
