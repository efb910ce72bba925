package isnil

import (
	"fmt"
	"log/slog"
	"reflect"
)

// Value reports whether v is nil or holds a nil pointer, func, map, slice
// or channel.
func Value(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// Logger returns an error when l is a *slog.Logger without a handler: a
// zero slog.Logger{}, or one built with slog.New on a nil handler pointer,
// which panics on its first record. A nil l is fine (the packages default
// it to slog.Default()). The error names the field as "Logger".
func Logger(l *slog.Logger) error {
	if l == nil || !handlerMissing(l.Handler()) {
		return nil
	}
	what := "a zero slog.Logger"
	if h := l.Handler(); h != nil {
		what = fmt.Sprintf("built on a nil %T", h)
	}
	return fmt.Errorf("Logger has no handler (%s): build it with slog.New, or leave Logger nil for slog.Default()", what)
}

// handlerMissing reports whether h, a Logger's handler, is none: nil (a
// zero slog.Logger's), or a nil reference (see Reference).
func handlerMissing(h slog.Handler) bool { return h == nil || Reference(h) }

// Reference reports whether v is nil or a nil pointer, func or channel,
// whose methods would dereference, call or block on it. Unlike Value, a
// nil slice or map is not reported: it is an empty collection, which an
// implementation of an interface may well be (a handler that fans records
// out to none, a condition that requires all of none).
func Reference(v any) bool {
	if v == nil {
		return true
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice, reflect.Map:
		return false
	}
	return Value(v)
}
