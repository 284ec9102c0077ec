package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newSystemCmd(g *globalOptions) *cobra.Command {
	c := newGroupCmd("system", "Manage skiff")
	c.AddCommand(newSystemDfCmd(g))
	return c
}

type diskUsageRow struct {
	Type, Size, Reclaimable string
	Total, Active           int
}

func newSystemDfCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "df [flags]",
		Short: "Show the disk space that images, containers and volumes use",
		Args:  exactArgs(0),
		RunE: action(g, func(c *cobra.Command, args []string) (formatOptions, error) {
			return formatOptions{format: format}, checkFormat(format)
		}, runSystemDf),
	}
	c.Flags().StringVar(&format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	return withStore(c)
}

func runSystemDf(ctx context.Context, g *globalOptions, o formatOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	usage, err := e.DiskUsage(ctx)
	if err != nil {
		return err
	}
	var rows []any
	for _, u := range usage {
		pct := 0
		if u.Size > 0 {
			pct = int(u.Reclaimable * 100 / u.Size)
		}
		rows = append(rows, diskUsageRow{Type: u.Type, Total: u.Total, Active: u.Active,
			Size: humanSize(u.Size), Reclaimable: fmt.Sprintf("%s (%d%%)", humanSize(u.Reclaimable), pct)})
	}
	return listFormat{format: o.format, defaultTable: "{{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"}.write(stdout, rows, usage)
}
