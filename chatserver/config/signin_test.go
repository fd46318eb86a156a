package config

import "time"

// The samples of the sign-in settings.
func init() {
	for v, s := range map[string]sample{
		EnvSignInUserFailures:   {value: "3", got: func(c *Config) any { return c.SignInUserFailures }, want: 3},
		EnvSignInAddrFailures:   {value: "0", got: func(c *Config) any { return c.SignInAddrFailures }, want: 0},
		EnvSignInFailureWindow:  {value: "1h", got: func(c *Config) any { return c.SignInFailureWindow }, want: time.Hour},
		EnvSignupsPerAddress:    {value: "5", got: func(c *Config) any { return c.SignupsPerAddress }, want: 5},
		EnvSignInHashWait:       {value: "500ms", got: func(c *Config) any { return c.SignInHashWait }, want: 500 * time.Millisecond},
		EnvSignInTrackedKeys:    {value: "5000", got: func(c *Config) any { return c.SignInTrackedKeys }, want: 5000},
		EnvPasswordRefuseCommon: {value: "true", got: func(c *Config) any { return c.PasswordRefuseCommon }, want: true},
	} {
		samples[v] = s
	}
}
