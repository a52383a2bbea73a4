package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/reddot-dev/reddot/auth"
)

// configOnly parses the shared settings plus a command's own flags.
func configOnly(fs *flag.FlagSet, args []string) (*Config, error) {
	return loadConfig(fs, args, os.Getenv)
}

func runToken(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("token", stderr)
	user := fs.String("user", "", "subscriber user id (the token's sub)")
	topics := fs.String("topics", "", "comma-separated private topic grants (* suffix wildcard)")
	publish := fs.String("publish", "", "comma-separated topics the holder may publish to")
	ttl := fs.Duration("ttl", time.Hour, "lifetime; 0 for no expiry")
	c, err := configOnly(fs, args)
	if err != nil {
		return fail(stderr, err)
	}
	if *user == "" {
		return fail(stderr, fmt.Errorf("--user is required"))
	}
	if c.JWTSecret == "" {
		if c.JWTSecret, err = secretFile(c.DataDir, "jwt-secret", false); err != nil {
			return fail(stderr, err)
		}
	}
	tok, err := auth.Mint([]byte(c.JWTSecret), auth.Claims{
		User: *user, Topics: splitComma(*topics), Publish: splitComma(*publish), TTL: *ttl,
	}, time.Now())
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
