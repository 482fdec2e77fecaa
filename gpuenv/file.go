package gpuenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/difftrain/gpusmoke/evidence"
)

// Read loads a facts file. Its one-line errors name the file and, for a wrong type, the field.
func Read(path string) (*Facts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("read %s: empty file", path)
	}
	var f Facts
	if err := json.Unmarshal(b, &f); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			line, col := evidence.Position(b, syn.Offset)
			return nil, fmt.Errorf("read %s: line %d, column %d: %w", path, line, col, err)
		case errors.As(err, &typ) && typ.Field == "":
			return nil, fmt.Errorf("read %s: want a JSON object, got %s", path, typ.Value)
		case errors.As(err, &typ):
			return nil, fmt.Errorf("read %s: field %s: %s is not %s", path, typ.Field, typ.Value, typ.Type)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if f.SchemaVersion != SchemaVersion {
		var probe struct {
			V *int `json:"schema_version"`
		}
		if json.Unmarshal(b, &probe) == nil && probe.V == nil {
			return nil, fmt.Errorf("read %s: schema_version is missing, this build reads %d", path, SchemaVersion)
		}
		return nil, fmt.Errorf("read %s: schema_version is %d, this build reads %d", path, f.SchemaVersion, SchemaVersion)
	}
	return &f, nil
}
