package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestResultLineFields checks that a -json line has exactly the fields the
// comparison tables read, in their order, and numbers as numbers.
func TestResultLineFields(t *testing.T) {
	want := []string{"system", "scenario", "subs", "pubs", "conns", "window_s", "sends", "delivered", "sends_per_s",
		"delivered_per_s", "lat_p50_ms", "lat_p99_ms", "ack_p50_ms", "ack_p99_ms", "srv_cpu_s", "gen_cpu_s",
		"srv_cpu_s_per_m_delivered", "rss_kib_per_conn", "connects_per_s", "errors", "load_avg"}
	line := appendJSONLine(nil, result{System: "s", Scenario: "max", SrvCPUSPerMDel: 1.5})
	if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", line)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		v, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		if _, isNumber := v.(json.Number); isNumber == (len(keys) <= 2) {
			t.Errorf("%s is %T", keys[len(keys)-1], v)
		}
	}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("fields\n %v\nwant\n %v", keys, want)
	}
}

func TestRound(t *testing.T) {
	tests := map[string]struct {
		v, want  float64
		decimals int
	}{
		"to three decimals":     {1.23456, 1.235, 3},
		"to one":                {138929.14, 138929.1, 1},
		"not a number is 0":     {math.NaN(), 0, 3},
		"an infinity is 0 too":  {math.Inf(1), 0, 3},
		"a per-million of none": {perMillion(2.5, 0), 0, 3},
		"a per-million of some": {perMillion(2.5, 500000), 5, 3},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := round(tt.v, tt.decimals); got != tt.want {
				t.Errorf("round(%v, %d) = %v, want %v", tt.v, tt.decimals, got, tt.want)
			}
		})
	}
}
