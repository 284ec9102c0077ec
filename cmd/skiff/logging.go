package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/sirupsen/logrus"
)

// logrusToSlog sends what the storage and image libraries log through
// logrus to slog, so that nothing reaches the terminal as a raw
// "time=… level=error" line beside skiff's one-line error. Their messages
// are details: an error they log is returned to skiff as well, and their
// warnings (an incomplete layer cleaned up after a crash, say) are routine
// recovery. Both show from --log-level info on; debug and trace from debug.
type logrusToSlog struct{}

func (logrusToSlog) Levels() []logrus.Level { return logrus.AllLevels }

func (logrusToSlog) Fire(entry *logrus.Entry) error {
	level := slog.LevelInfo
	if entry.Level >= logrus.DebugLevel {
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if !slog.Default().Enabled(ctx, level) {
		return nil
	}
	attrs := make([]any, 0, 2+2*len(entry.Data))
	attrs = append(attrs, "source", "library", "library-level", entry.Level.String())
	for k, v := range entry.Data {
		attrs = append(attrs, k, v)
	}
	slog.Log(ctx, level, entry.Message, attrs...)
	return nil
}

// routeLibraryLogs silences logrus's own output and routes its entries to
// slog at level.
func routeLibraryLogs(level slog.Level) {
	logrus.SetOutput(io.Discard)
	logrus.StandardLogger().ReplaceHooks(logrus.LevelHooks{})
	logrus.AddHook(logrusToSlog{})
	switch {
	case level <= slog.LevelDebug:
		logrus.SetLevel(logrus.TraceLevel)
	case level <= slog.LevelInfo:
		logrus.SetLevel(logrus.InfoLevel)
	default:
		// Nothing would be shown: spare the libraries the formatting.
		logrus.SetLevel(logrus.PanicLevel)
	}
}
