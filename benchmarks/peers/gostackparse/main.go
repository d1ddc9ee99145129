// Command gostackparse times DataDog/gostackparse on a goroutine dump: the peer for
// benchmarks/goroutines.py. Prints JSON: goroutines, seconds, MiB/s.
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"time"

	"github.com/DataDog/gostackparse"
)

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	t := time.Now()
	gs, _ := gostackparse.Parse(bytes.NewReader(data))
	s := time.Since(t).Seconds()
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"goroutines": len(gs), "seconds": s, "MiBps": float64(len(data)) / s / (1 << 20),
	})
}
