package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ensureDataDir creates dir and proves it is writable.
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir %s is not usable: %v", dir, err)
	}
	probe := filepath.Join(dir, ".write-test")
	if err := os.WriteFile(probe, []byte("ok"), 0o600); err != nil {
		return fmt.Errorf("data dir %s is not writable: %v", dir, err)
	}
	return os.Remove(probe)
}

// secretFile returns the secret kept in dir/name, creating it on first use.
func secretFile(dir, name string, create bool) (string, error) {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("cannot read %s: %v", path, err)
	}
	if !create {
		return "", fmt.Errorf("%s does not exist yet: start `reddot serve` once or configure the secret", path)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	s := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("cannot write %s: %v", path, err)
	}
	return s, nil
}

// resolveSecrets fills the JWT secret and API keys from the data dir when
// they are not configured.
func resolveSecrets(c *Config, create bool) (generatedKey bool, err error) {
	if c.JWTSecret == "" && c.PublicKeyFile == "" && c.JWKSFile == "" {
		if c.JWTSecret, err = secretFile(c.DataDir, "jwt-secret", create); err != nil {
			return false, err
		}
	}
	if len(c.APIKeys) == 0 {
		k, err := secretFile(c.DataDir, "api-key", create)
		if err != nil {
			return false, err
		}
		c.APIKeys = []string{k}
		generatedKey = true
	}
	return generatedKey, nil
}
