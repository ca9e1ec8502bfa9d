package app

import (
	"fmt"

	"github.com/go-logr/logr"

	"github.com/ballast-dev/ballast/redact"
)

// redactingLogger returns l with every message, error and string or error value
// passed through redact.String, so that no log line of the controller (its own,
// controller-runtime's, client-go's) shows a credential, whoever wrote it.
func redactingLogger(l logr.Logger) logr.Logger {
	return logr.New(&redactingSink{sink: l.GetSink()})
}

type redactingSink struct {
	sink logr.LogSink
}

var _ logr.CallDepthLogSink = (*redactingSink)(nil)

func (s *redactingSink) Init(info logr.RuntimeInfo) {
	// One more frame: this sink's own method.
	info.CallDepth++
	s.sink.Init(info)
}

func (s *redactingSink) Enabled(level int) bool { return s.sink.Enabled(level) }

func (s *redactingSink) Info(level int, msg string, kv ...any) {
	s.sink.Info(level, redact.String(msg), redactValues(kv)...)
}

func (s *redactingSink) Error(err error, msg string, kv ...any) {
	s.sink.Error(redact.Error(err), redact.String(msg), redactValues(kv)...)
}

func (s *redactingSink) WithValues(kv ...any) logr.LogSink {
	return &redactingSink{sink: s.sink.WithValues(redactValues(kv)...)}
}

func (s *redactingSink) WithName(name string) logr.LogSink {
	return &redactingSink{sink: s.sink.WithName(name)}
}

func (s *redactingSink) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := s.sink.(logr.CallDepthLogSink); ok {
		return &redactingSink{sink: cd.WithCallDepth(depth)}
	}
	return s
}

// redactValues redacts the values (never the keys) of key-value pairs that are
// strings, errors or fmt.Stringers; other values (numbers, objects) are kept.
func redactValues(kv []any) []any {
	out := make([]any, len(kv))
	copy(out, kv)
	for i := 1; i < len(out); i += 2 {
		switch v := out[i].(type) {
		case string:
			out[i] = redact.String(v)
		case error:
			out[i] = redact.Error(v)
		case fmt.Stringer:
			if s := v.String(); redact.String(s) != s {
				out[i] = redact.String(s)
			}
		}
	}
	return out
}
