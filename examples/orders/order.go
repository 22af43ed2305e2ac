package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Order is the document GET /orders returns: a customer and 40–160 line items,
// which makes 8–32 KiB of JSON depending on the id.
type Order struct {
	ID         uint64     `json:"id"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	Currency   string     `json:"currency"`
	Customer   Customer   `json:"customer"`
	Lines      []LineItem `json:"lines"`
	TotalCents int64      `json:"total_cents"`
}

// Customer is who placed the order.
type Customer struct {
	ID      uint64 `json:"id"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	Address string `json:"address"`
}

// LineItem is one product line of an order; prices are in cents.
type LineItem struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	Warehouse      string `json:"warehouse"`
	Note           string `json:"note"`
}

var (
	products   = []string{"espresso beans 1kg", "burr grinder", "milk jug 600ml", "paper filters x100", "descaler", "tamper 58mm", "knock box", "scale 0.1g"}
	warehouses = []string{"ams-1", "fra-2", "lon-1", "par-3"}
	statuses   = []string{"placed", "paid", "packed", "shipped", "delivered"}
)

// renderOrder writes the JSON document of order id to w. The same id always gives the
// same document, as if it came from the database.
func renderOrder(w io.Writer, id uint64) error {
	rng := rand.New(rand.NewPCG(id, 0x6f72646572))
	lines := make([]LineItem, 40+id%121)
	var total int64
	for i := range lines {
		product := products[rng.IntN(len(products))]
		item := LineItem{
			SKU:            fmt.Sprintf("SKU-%08d-%03d", rng.IntN(100_000_000), i),
			Name:           product,
			Quantity:       1 + rng.IntN(5),
			UnitPriceCents: 199 + rng.Int64N(20_000),
			Warehouse:      warehouses[rng.IntN(len(warehouses))],
			Note:           fmt.Sprintf("pick from aisle %d, shelf %d; gift wrap: %t; ref %x", rng.IntN(40), rng.IntN(12), rng.IntN(4) == 0, rng.Uint64()),
		}
		total += item.UnitPriceCents * int64(item.Quantity)
		lines[i] = item
	}
	customer := rng.Uint64N(1_000_000)
	order := Order{
		ID:        id,
		Status:    statuses[rng.IntN(len(statuses))],
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(id) * time.Minute),
		Currency:  "EUR",
		Customer: Customer{
			ID:      customer,
			Name:    fmt.Sprintf("Customer %d", customer),
			Email:   fmt.Sprintf("customer%d@example.com", customer),
			Address: fmt.Sprintf("%d Canal Street, %05d Amsterdam", 1+rng.IntN(300), rng.IntN(100_000)),
		},
		Lines:      lines,
		TotalCents: total,
	}
	return json.NewEncoder(w).Encode(order)
}
