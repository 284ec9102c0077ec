package config

import (
	"fmt"
	"regexp"
)

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CheckName refuses names docker refuses.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%w %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", ErrBadName, name)
	}
	return nil
}
