package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"go.podman.io/image/v5/docker/reference"

	"github.com/skiff-project/skiff/storage"
)

// imageRow is one line of `images`; its fields are what --format sees.
type imageRow struct {
	ID           string    `json:"Id"`
	Repository   string    `json:"Repository"`
	Tag          string    `json:"Tag"`
	Digest       string    `json:"Digest"`
	CreatedAt    string    `json:"CreatedAt"`
	CreatedSince string    `json:"CreatedSince"`
	Created      time.Time `json:"Created"`
	Size         string    `json:"Size"`
	VirtualSize  int64     `json:"VirtualSize"`
	Names        []string  `json:"Names"`
	Dangling     bool      `json:"Dangling"`
}

var imageTitles = map[string]string{"ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT"}

func humanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

func since(t time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return units.HumanDuration(time.Since(t)) + " ago"
}

func splitName(name string) (repo, tag string) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name, "<none>"
	}
	repo = named.Name()
	tag = "<none>"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	return repo, tag
}

func imageRows(list []storage.ImageSummary, noTrunc bool) []imageRow {
	var rows []imageRow
	for _, s := range list {
		id := s.ID
		if !noTrunc {
			id = id[:12]
		} else {
			id = "sha256:" + id
		}
		base := imageRow{
			ID: id, Digest: s.Digest.String(), Created: s.Created,
			CreatedAt: s.Created.Format("2006-01-02 15:04:05 -0700 MST"), CreatedSince: since(s.Created),
			Size: humanSize(s.Size), VirtualSize: s.Size, Names: s.Names, Dangling: s.Dangling,
		}
		if len(s.Names) == 0 {
			base.Repository, base.Tag = "<none>", "<none>"
			if len(s.Repos) > 0 {
				base.Repository = s.Repos[0]
			}
			rows = append(rows, base)
			continue
		}
		for _, n := range s.Names {
			r := base
			r.Repository, r.Tag = splitName(n)
			rows = append(rows, r)
		}
	}
	return rows
}

// imagesOptions are images' options.
type imagesOptions struct {
	storage.ListOptions
	quiet, digests, noTrunc, noHeading bool
	format                             string
}

func newImagesCmd(g *globalOptions, use string) *cobra.Command {
	var f imagesOptions
	c := &cobra.Command{
		Use:     use + " [flags] [REPOSITORY[:TAG]]",
		Aliases: aliasesFor(use),
		Short:   "List images in local storage",
		Args:    rangeArgs(0, 1),
		RunE: action(g, func(c *cobra.Command, args []string) (imagesOptions, error) {
			o := f
			if err := storage.ParseImageFilters(o.Filters); err != nil {
				return o, usagef("%v", err)
			}
			if err := checkFormat(o.format); err != nil {
				return o, err
			}
			if len(args) == 1 {
				o.Name = args[0]
			}
			return o, nil
		}, runImages),
	}
	fs := c.Flags()
	fs.BoolVarP(&f.All, "all", "a", false, "show all images, intermediate ones too")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "print only image ids")
	fs.BoolVar(&f.digests, "digests", false, "show digests")
	fs.BoolVar(&f.noTrunc, "no-trunc", false, "do not truncate ids")
	fs.BoolVarP(&f.noHeading, "noheading", "n", false, "do not print column headings")
	fs.StringArrayVarP(&f.Filters, "filter", "f", nil, "filter output: reference=PATTERN, dangling=true|false, label=KEY[=VALUE]")
	fs.StringVar(&f.format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func runImages(ctx context.Context, g *globalOptions, o imagesOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	list, err := e.ListImages(ctx, o.ListOptions)
	if err != nil {
		return err
	}
	if o.quiet {
		seen := map[string]bool{}
		for _, s := range list {
			id := s.ID[:12]
			if o.noTrunc {
				id = "sha256:" + s.ID
			}
			if !seen[id] {
				seen[id] = true
				fmt.Fprintln(stdout, id)
			}
		}
		return nil
	}
	rows := imageRows(list, o.noTrunc)
	table := "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	if o.digests {
		table = "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	}
	anyRows := make([]any, len(rows))
	for i := range rows {
		anyRows[i] = rows[i]
	}
	return listFormat{format: o.format, defaultTable: table, titles: imageTitles, noHeader: o.noHeading}.write(stdout, anyRows, imageRows(list, true))
}

func aliasesFor(use string) []string {
	switch use {
	case "ls":
		return []string{"list"}
	case "rm":
		return []string{"remove"}
	}
	return nil
}
