package storage

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"github.com/vbatts/tar-split/archive/tar"
	"github.com/vbatts/tar-split/tar/asm"
	tsstorage "github.com/vbatts/tar-split/tar/storage"
	drivers "go.podman.io/storage/drivers"
	"go.podman.io/storage/pkg/archive"
	"go.podman.io/storage/pkg/chrootarchive"
	"go.podman.io/storage/pkg/tarlog"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// streamDiffer extracts one layer blob, as it arrives, into the staging
// directory the store hands it. On the way it computes what the store
// records for a layer: both digests, the uncompressed size, the owners used,
// and the tar-split data that lets the layer be exported byte for byte.
type streamDiffer struct {
	ctx  context.Context
	blob io.Reader
}

func (d *streamDiffer) Close() error { return nil }

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// ctxReader stops a stream once the pull is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (d *streamDiffer) ApplyDiff(dest string, opts *archive.TarOptions, dopts *drivers.DifferOptions) (out drivers.DriverWithDifferOutput, retErr error) {
	compressed := digest.Canonical.Digester()
	input := io.TeeReader(ctxReader{d.ctx, d.blob}, compressed.Hash())
	decompressed, err := archive.DecompressStream(input)
	if err != nil {
		return out, err
	}
	defer decompressed.Close()

	tsFile, err := os.CreateTemp(dopts.StagingDirectory, "tar-split-")
	if err != nil {
		return out, err
	}
	defer func() {
		if retErr != nil {
			tsFile.Close()
		}
	}()
	uids, gids := map[uint32]struct{}{}, map[uint32]struct{}{}
	idLog, err := tarlog.NewLogger(func(h *tar.Header) {
		if !strings.HasPrefix(path.Base(h.Name), archive.WhiteoutPrefix) {
			uids[uint32(h.Uid)] = struct{}{}
			gids[uint32(h.Gid)] = struct{}{}
		}
	})
	if err != nil {
		return out, err
	}
	uncompressed := digest.Canonical.Digester()
	size := &countingWriter{}
	payload, done, err := asm.NewInputTarStreamWithDone(
		io.TeeReader(decompressed, io.MultiWriter(uncompressed.Hash(), size, idLog)),
		tsstorage.NewJSONPacker(tsFile), tsstorage.NewDiscardFilePutter())
	if err != nil {
		idLog.Close()
		return out, err
	}
	err = chrootarchive.UntarUncompressed(payload, dest, opts)
	if err == nil {
		// Trailing padding after the end-of-archive blocks.
		_, err = io.Copy(io.Discard, payload)
	}
	payload.Close()
	if doneErr := <-done; err == nil {
		err = doneErr
	}
	if closeErr := idLog.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		// The compressed stream may continue past the end of the tar data.
		_, err = io.Copy(io.Discard, input)
	}
	if err != nil {
		return out, err
	}
	if _, err := tsFile.Seek(0, io.SeekStart); err != nil {
		return out, err
	}
	out.TarSplit = tsFile
	out.CompressedDigest = compressed.Digest()
	out.UncompressedDigest = uncompressed.Digest()
	out.Size = size.n
	out.UIDs, out.GIDs = sortedIDs(uids), sortedIDs(gids)
	return out, nil
}

func sortedIDs(m map[uint32]struct{}) []uint32 {
	out := make([]uint32, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
