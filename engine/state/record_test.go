package state

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/skiff-project/skiff/engine/config"
)

// fillEmpty sets every list and map reachable from v to an empty one (not
// nil), and gives lists of structs one element, filled the same way, so
// that the fields of their elements are reached too.
func fillEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillEmpty(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			fillEmpty(v.Index(0))
		} else {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
	}
}

// TestRecordKeepsEveryEmptyList: a container's record comes back from its
// JSON with every empty list and map still empty, none turned into nil:
// for several of them nil means "the defaults" (capabilities, pasta's
// options), and empty "none at all".
func TestRecordKeepsEveryEmptyList(t *testing.T) {
	var c config.ContainerConfig
	fillEmpty(reflect.ValueOf(&c).Elem())
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back config.ContainerConfig
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if lost := emptiesLost("ContainerConfig", reflect.ValueOf(c), reflect.ValueOf(back)); len(lost) > 0 {
		t.Fatalf("empty lists come back as nil (drop omitempty from them): %v", lost)
	}
	// And nil stays nil: the defaults stay the defaults.
	var none config.ContainerConfig
	data, _ = json.Marshal(none)
	back = config.ContainerConfig{}
	if err := json.Unmarshal(data, &back); err != nil || back.Security.Caps != nil || back.PastaOptions != nil {
		t.Fatalf("nil lists come back as %v %v (%v)", back.Security.Caps, back.PastaOptions, err)
	}
}

// emptiesLost lists the fields, by path, that are empty in want and nil in
// got.
func emptiesLost(path string, want, got reflect.Value) []string {
	switch want.Kind() {
	case reflect.Struct:
		var out []string
		for i := 0; i < want.NumField(); i++ {
			if want.Type().Field(i).IsExported() {
				out = append(out, emptiesLost(path+"."+want.Type().Field(i).Name, want.Field(i), got.Field(i))...)
			}
		}
		return out
	case reflect.Slice, reflect.Map:
		if !want.IsNil() && got.IsNil() {
			return []string{path}
		}
		if want.Kind() == reflect.Slice && want.Type().Elem().Kind() == reflect.Struct && got.Len() == want.Len() {
			var out []string
			for i := 0; i < want.Len(); i++ {
				out = append(out, emptiesLost(path+"[]", want.Index(i), got.Index(i))...)
			}
			return out
		}
	}
	return nil
}
