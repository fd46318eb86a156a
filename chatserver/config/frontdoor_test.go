package config

import (
	"syscall"
	"testing"
	"time"
)

// The samples of the HTTP front door's settings.
func init() {
	for v, s := range map[string]sample{
		EnvReadHeaderTimeout:            {value: "2s", got: func(c *Config) any { return c.ReadHeaderTimeout }, want: 2 * time.Second},
		EnvReadTimeout:                  {value: "5s", got: func(c *Config) any { return c.ReadTimeout }, want: 5 * time.Second},
		EnvIdleTimeout:                  {value: "2m", got: func(c *Config) any { return c.IdleTimeout }, want: 2 * time.Minute},
		EnvHandshakeTimeout:             {value: "3s", got: func(c *Config) any { return c.HandshakeTimeout }, want: 3 * time.Second},
		EnvMaxHeaderBytes:               {value: "8192", got: func(c *Config) any { return c.MaxHeaderBytes }, want: 8192},
		EnvMaxBodyBytes:                 {value: "4096", got: func(c *Config) any { return c.MaxBodyBytes }, want: 4096},
		EnvMaxConnectionsPerAddress:     {value: "512", got: func(c *Config) any { return c.MaxConnectionsPerAddress }, want: 512},
		EnvMaxUnauthenticatedPerAddress: {value: "8", got: func(c *Config) any { return c.MaxUnauthenticatedPerAddress }, want: 8},
		EnvMaxSocketsPerUser:            {value: "4", got: func(c *Config) any { return c.MaxSocketsPerUser }, want: 4},
		EnvMaxSocketsPerAddress:         {value: "1000", got: func(c *Config) any { return c.MaxSocketsPerAddress }, want: 1000},
	} {
		samples[v] = s
	}
}

func TestUnauthenticatedConnectionsPerAddressAreCappedAtAQuarterOfTheOpenFilesByDefault(t *testing.T) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	c := defaults(t)
	if want := int(l.Cur) / 4; c.MaxUnauthenticatedPerAddress != want || want == 0 {
		t.Fatalf("default cap %d with an open-file limit of %d; want %d", c.MaxUnauthenticatedPerAddress, l.Cur, want)
	}
}
