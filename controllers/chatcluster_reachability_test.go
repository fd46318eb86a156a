package controllers

import (
	"context"
	"slices"
	"testing"
)

func TestAddressesOfAnExternalBackend(t *testing.T) {
	byName := map[string]*backend{}
	for _, b := range backends {
		byName[b.name] = b
	}
	cases := map[string]struct {
		backend string
		data    map[string]string
		want    []string
	}{
		"redis with a port":                  {"redis", map[string]string{"url": "redis://:pw@redis.example:6380/0"}, []string{"redis.example:6380"}},
		"redis over TLS without a port":      {"redis", map[string]string{"url": "rediss://redis.example"}, []string{"redis.example:6379"}},
		"mongodb with credentials and hosts": {"mongodb", map[string]string{"uri": "mongodb://u:p@a.example,b.example:27018/chat?tls=true"}, []string{"a.example:27017", "b.example:27018"}},
		"kafka brokers with spaces":          {"kafka", map[string]string{"brokers": " k0.example:9093 , k1.example "}, []string{"k0.example:9093", "k1.example:9092"}},
		"elasticsearch over https":           {"elasticsearch", map[string]string{"url": "https://es.example"}, []string{"es.example:443"}},
		"elasticsearch with a port":          {"elasticsearch", map[string]string{"url": "http://es.example:9200"}, []string{"es.example:9200"}},
		"an IPv6 address without a port":     {"kafka", map[string]string{"brokers": "[::1]"}, []string{"[::1]:9092"}},
		"a URL of another scheme gives none": {"redis", map[string]string{"url": "http://redis.example"}, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			data := map[string][]byte{}
			for k, v := range tc.data {
				data[k] = []byte(v)
			}
			addrs, err := byName[tc.backend].addresses(context.Background(), data)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range addrs {
				got = append(got, a.address)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("addresses = %v, want %v", got, tc.want)
			}
		})
	}
}
