package config

import "strings"

func EnvKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

func EnvValue(kv string) string {
	_, v, _ := strings.Cut(kv, "=")
	return v
}
