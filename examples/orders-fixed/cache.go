package main

import (
	"container/list"
	"sync"
)

// orderCache is a least-recently-used cache of rendered orders with a fixed number of
// entries: at most 32 KiB per order, 512 entries hold at most 16 MiB.
type orderCache struct {
	mu      sync.Mutex
	max     int
	recency *list.List // front is the most recently used; values are *cacheEntry
	entries map[uint64]*list.Element
}

type cacheEntry struct {
	id   uint64
	body []byte
}

func newOrderCache(maxEntries int) *orderCache {
	return &orderCache{max: maxEntries, recency: list.New(), entries: make(map[uint64]*list.Element, maxEntries)}
}

// get returns the cached document of order id and marks it as recently used.
func (c *orderCache) get(id uint64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[id]
	if !ok {
		return nil, false
	}
	c.recency.MoveToFront(el)
	return el.Value.(*cacheEntry).body, true
}

// add stores a copy of the document of order id (body lives in a pooled buffer) and
// returns it, evicting the least recently used entry when the cache is full.
func (c *orderCache) add(id uint64, body []byte) []byte {
	kept := make([]byte, len(body))
	copy(kept, body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[id]; ok {
		el.Value.(*cacheEntry).body = kept
		c.recency.MoveToFront(el)
		return kept
	}
	c.entries[id] = c.recency.PushFront(&cacheEntry{id: id, body: kept})
	if c.recency.Len() > c.max {
		oldest := c.recency.Back()
		c.recency.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).id)
	}
	return kept
}

func (c *orderCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recency.Len()
}
