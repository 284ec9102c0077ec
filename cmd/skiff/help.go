package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// defaultsSaidOnce keeps the help of every command from saying a flag's
// default twice: where a flag's usage already tells its default in words
// ("(default: the container's --stop-timeout, else 10)"), pflag's own
// "(default 10)" is left out. pflag prints it unless the flag's DefValue
// is its type's zero value, which nothing else reads.
func defaultsSaidOnce(c *cobra.Command) {
	quiet := func(f *pflag.Flag) {
		if strings.Contains(f.Usage, "(default") {
			f.DefValue = zeroDefValue(f.Value.Type())
		}
	}
	c.LocalFlags().VisitAll(quiet)
	c.PersistentFlags().VisitAll(quiet)
	c.Flags().VisitAll(quiet)
	for _, sub := range c.Commands() {
		defaultsSaidOnce(sub)
	}
}

// zeroDefValue is the DefValue pflag takes for "no default" of a type.
func zeroDefValue(typ string) string {
	switch {
	case typ == "bool":
		return "false"
	case typ == "duration":
		return "0s"
	case strings.HasSuffix(typ, "Slice") || strings.HasSuffix(typ, "Array"):
		return "[]"
	case strings.HasPrefix(typ, "int"), strings.HasPrefix(typ, "uint"), strings.HasPrefix(typ, "float"):
		return "0"
	}
	return ""
}
