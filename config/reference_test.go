package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// yamlKeys lists the YAML keys of a struct type, following inline fields.
func yamlKeys(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" {
			out = append(out, yamlKeys(f.Type)...)
			continue
		}
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// TestReferenceMatchesStructs keeps the configuration reference from drifting: every
// top-level key of Config, and every key of the sections the README documents key by
// key, is in the README's table and in config.example.yaml.
func TestReferenceMatchesStructs(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range yamlKeys(reflect.TypeOf(Config{})) {
		if !strings.Contains(string(readme), "| `"+k) && !strings.Contains(string(readme), "`"+k+"`, `") {
			t.Errorf("README's configuration table lacks the key %s", k)
		}
		if !strings.Contains(string(example), "\n"+k+":") {
			t.Errorf("config.example.yaml lacks the key %s", k)
		}
	}
	for section, typ := range map[string]reflect.Type{"ingest": reflect.TypeOf(Ingest{}), "correlation": reflect.TypeOf(Correlation{})} {
		for _, k := range yamlKeys(typ) {
			if !strings.Contains(string(readme), "`"+section+"."+k+"`") {
				t.Errorf("README's configuration table lacks %s.%s", section, k)
			}
			if !strings.Contains(string(example), "  "+k+":") {
				t.Errorf("config.example.yaml lacks %s.%s", section, k)
			}
		}
	}
}
