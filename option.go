package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/panictext"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// ErrUnreadableOption reports a (grpcauth.v1.method) or
// (grpcauth.v1.service) option that is present but cannot be read as this
// version's grpcauthv1.Rule: another extension uses grpcauth's field
// number (resolved in its place, or visible beside it so that the value
// cannot be attributed), Go code for grpcauth/v1/auth.proto was generated a
// second time into another package, the option's bytes are not a Rule,
// the rule has fields this version does not know, or the descriptor's
// options do not decode at all (a proto3 string option that is not UTF-8,
// on which protobuf-go panics); or Config.Descriptors failed to resolve
// the method's service (an error not wrapping protoregistry.NotFound, see
// DescriptorResolver), so its options could not be read for that call. It
// wraps ErrInvalidRule: the method is
// denied (it never falls through to a wider rule), and Check reports it.
// A call with a valid token is refused with codes.PermissionDenied
// (ReasonMethodNotConfigured; one without a token, CREDENTIALS_MISSING),
// except for the resolver's failure, which is no invalid rule but an
// outage: codes.Unavailable with ReasonRulesUnavailable, with or without
// a token, and not relaxed by dry run.
// protobuf-go panics only on the first read of such options, so New reads
// the options of every service and method in Config.Descriptors (when it
// lists its files, as *protoregistry.Files does) to be that reader; code
// that reads them before New takes the panic instead, and grpcauth then
// sees partial options. docs/proto-options.md explains each cause and its
// fix.
var ErrUnreadableOption = fmt.Errorf("%w: unreadable option", ErrInvalidRule)

// authProto is the path of the file that declares grpcauth's options.
const authProto = "grpcauth/v1/auth.proto"

// ruleOption reads the rule extension xt (grpcauthv1.E_Method or
// E_Service) from the options of d. It returns nil, nil when the option is
// absent, and an error wrapping ErrUnreadableOption when it is present but
// cannot be trusted as grpcauth's rule. Options decoded without
// grpcauth's extension types carry the option as a dynamicpb message or as
// unknown bytes; both are read, so a rule is never mistaken for a missing
// one; nor are options that do not decode (see options). ctx bounds the
// wait for the other reads of options under way (see options).
func ruleOption(ctx context.Context, d protoreflect.Descriptor, xt protoreflect.ExtensionType) (*grpcauthv1.Rule, error) {
	opts, err := options(ctx, d)
	if err != nil || opts == nil {
		return nil, err
	}
	m := opts.ProtoReflect()
	if !m.IsValid() {
		return nil, nil
	}
	want := xt.TypeDescriptor()
	var (
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	)
	m.Range(func(f protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		if f.IsExtension() && f.Number() == want.Number() {
			fd, v = f, val
			return false
		}
		return true
	})
	var raw [][]byte
	if fd == nil {
		if raw, err = unknownField(m.GetUnknown(), want.Number()); err != nil || raw == nil {
			return nil, err
		}
	}
	// The option is present. Its value can be attributed to grpcauth only
	// when grpcauth's is the one extension with its number that the file
	// could have set.
	f := d.ParentFile()
	var visible []protoreflect.FileDescriptor
	if f != nil {
		visible = visibleFiles(f)
		if x := rivalExtension(visible, want); x != nil {
			return nil, fmt.Errorf("%w: %q can use two extensions numbered %d on %s, %s and %s (declared in %q), so the option's value cannot be attributed; give %[6]s a different number (docs/extension-number.md)",
				ErrUnreadableOption, f.Path(), want.Number(), want.ContainingMessage().FullName(), want.FullName(), x.FullName(), filePath(x))
		}
	}
	var r *grpcauthv1.Rule
	if fd != nil {
		r, err = resolvedRule(fd, v, want)
	} else {
		r, err = unresolvedRule(f, visible, raw, want)
	}
	if err == nil {
		err = onlyKnownFields(r, want)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// undecodable holds the errors of the descriptors whose options panicked
// when read, by file path and full name. protobuf-go decodes a generated
// descriptor's options on first use and panics when they do not decode
// (say a proto3 string option that is not UTF-8, which protoc 3.21
// compiles with only a logged error); every later read returns, without
// the panic, what was decoded before the failure, in which grpcauth's
// option may be missing. Reads of a descriptor's options are serialised
// (see attempts), so that no read sees those partial options before the
// panicking one is recorded; reads of other descriptors' options do not
// wait for it, so that a descriptor whose Options does not return (a
// resolver's own) holds up only the reads of its own.
//
// The failures of a resolver's own code (its descriptor's Options panics,
// or ends its goroutine, rather than protobuf-go's decoding of options),
// which a resolver that describes any name a caller sends may make up
// without end, are kept only up to maxResolverBuilds of them, and only
// under a name (path and full name) of at most maxUnbuiltName bytes: past
// that, the failure is not remembered, and the next read of the
// descriptor's options tries again (and is denied again, as the
// resolver's code fails afresh). A failure in protobuf-go's own
// descriptors (errPartialOptions: its decoding of options panics on the
// first read only, and every later read returns partial options) is
// always kept, as is one of a resolver's descriptor that wraps them; there
// are no more of these than the options protobuf-go decodes. A panic in
// protobuf-go's descriptors counts as such only when the next read
// returns the options (partialOptions keeps them): one that panics again
// (a resolver's descriptor calling into protobuf-go's wrongly) is the
// resolver's own failure, and kept within the bound.
var undecodable = attempts[undecodableKey]{bounded: func(key undecodableKey, failure error) (int, bool) {
	if errors.Is(failure, errPartialOptions) {
		return 0, false
	}
	return len(key.path) + len(key.name), true
}, maxBounded: maxResolverBuilds}

// errPartialOptions is wrapped by the error of a read of options that
// panicked in protobuf-go's descriptors (protobufDescriptors) and whose
// next read returned the options (partialOptions keeps them): protobuf-go's
// decoding of options panics on the first read only, and every later read
// returns what was decoded before the failure.
var errPartialOptions = errors.New("protobuf-go returns partial options from now on")

// protobufDescriptors prefixes the names of the functions of protobuf-go's
// own descriptors, among them the one that decodes a descriptor's options
// on their first read (a function literal in
// (*Builder).optionsUnmarshaler, named after the function it is inlined
// in).
const protobufDescriptors = "google.golang.org/protobuf/internal/filedesc."

// undecodableKey names a descriptor in undecodable: a key of two strings
// the descriptor already holds, so that New, reading every option again,
// allocates nothing per descriptor.
type undecodableKey struct{ path, name string }

// options returns the options of d, or an error wrapping
// ErrUnreadableOption when reading them panics, or panicked before in
// this process: the method is then denied, rather than falling through to
// a wider rule as it would if its option read as absent.
//
// Options read while another read of options is under way, and never
// read before with none under way (completeOptions), may be partial
// without a sign: protobuf-go's decoding of them may have failed in the
// other read, whose panic grpcauth records only once it reaches
// readOptions (a resolver's descriptor may hold it on the way). options
// then waits, until every read under way as d's returned has ended
// (optionReads.wait: none begun since), or until ctx ends, and asks
// partialOptions again: options a read recorded as failed meanwhile are
// denied as every read of them is, and the others are complete (kept so
// in completeOptions). A ctx that ends first fails the read with an error
// wrapping errWaitEnded and ctx's error, which is not kept: the call is
// refused as one whose context ended (methodPlan.ended), and the next
// read tries again. ctx bounds, too, the wait for another read of d's own
// options under way (undecodable: one at a time per descriptor), which
// fails the read the same way, so that a descriptor whose Options does not
// return holds only the read in it. New, which reads every option only
// to be their first reader (readOptionsFirst), passes noWait: a read of
// the same options under way is that first reader.
func options(ctx context.Context, d protoreflect.Descriptor) (opts protoreflect.ProtoMessage, err error) {
	key := undecodableKey{filePath(d), string(d.FullName())}
	var last uint64
	err = undecodable.do(ctx, key, errOptionsExited, func() (err error) {
		opts, last, err = readOptions(d)
		return err
	})
	if err != nil || last == 0 {
		return opts, err
	}
	// Waited for outside undecodable.do: the reads of d's options by
	// other calls do not wait on this one's wait.
	if err := optionReads.wait(ctx, last); err != nil {
		return nil, fmt.Errorf("%w (another read of options, whose failed decoding would leave these partial, was under way: %w): the options of %s (in %q)",
			errWaitEnded, err, clipLogged(string(d.FullName())), clipLogged(filePath(d)))
	}
	if text, ok := partialOptions.of(opts); ok {
		return nil, undecodableError(d, text)
	}
	optionsComplete(opts, true)
	return opts, nil
}

// noWait is a context that has ended: options given it does not wait for
// the other reads under way (see options).
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// optionReads holds the reads of options (readOptions) in their
// descriptor's Options: each from before it calls Options until Options
// returns, or, when it panics, until the failed decoding is recorded
// (partialOptions.add), or recording it failed to return (a resolver's
// descriptor that ends the goroutine as it is read again). A read that
// returned decoded nothing that failed.
var optionReads readsUnderWay

// readsUnderWay numbers the reads of options, and holds those under way,
// so that a read that returned while others were under way can wait for
// those to end (wait), not for the reads begun after it.
type readsUnderWay struct {
	// mu orders begins and ends, so that end sees the number of the read
	// begun last and the reads left under way at one instant.
	mu    sync.Mutex
	last  uint64           // the number of the read begun last
	reads underWay[uint64] // the reads under way, by number
}

// begin records a read begun and returns its number.
func (r *readsUnderWay) begin() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last++
	// A number of its own: no read is under way on it, so begin neither
	// waits nor fails.
	_ = r.reads.begin(context.Background(), r.last)
	return r.last
}

// end records the end of read n, and returns the number of the read begun
// last and whether no other read is under way.
func (r *readsUnderWay) end(n uint64) (last uint64, alone bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.reads.end(n) == 0
}

// wait returns once no read numbered last or less is under way, or ctx's
// error once ctx ends. The reads begun since do not hold it up, so that
// reads that keep coming (a busy server's first calls) cannot make it
// wait for good.
func (r *readsUnderWay) wait(ctx context.Context, last uint64) error {
	return r.reads.wait(ctx, func(n uint64) bool { return n <= last })
}

// underWay returns the number of reads under way.
func (r *readsUnderWay) underWay() int {
	return r.reads.len()
}

// completeOptions holds options messages, by identity, that a read
// returned while no other read was under way, or after those under way
// ended (options), and that partialOptions did not hold then: no
// decoding of them can have failed unrecorded (a read whose decoding
// fails records it before it ends), so a later read that races another
// returns them complete, without waiting. It keeps at most
// maxCompleteOptions (a custom resolver may build options afresh for
// every name a caller sends); past that, such reads are not kept, and
// wait each time.
var completeOptions = struct {
	sync.Mutex
	m map[protoreflect.ProtoMessage]struct{}
}{}

// maxCompleteOptions bounds completeOptions.
const maxCompleteOptions = 1 << 14

// optionsComplete reports whether completeOptions holds opts, adding it
// first when add.
func optionsComplete(opts protoreflect.ProtoMessage, add bool) bool {
	if !byPointer(opts) {
		// No options (a nil message: a descriptor without options, whose
		// Options decodes nothing), or options partialOptions never holds
		// either (a map lookup could panic).
		return true
	}
	completeOptions.Lock()
	defer completeOptions.Unlock()
	if _, ok := completeOptions.m[opts]; ok || !add {
		return ok
	}
	if len(completeOptions.m) < maxCompleteOptions {
		if completeOptions.m == nil {
			completeOptions.m = make(map[protoreflect.ProtoMessage]struct{})
		}
		completeOptions.m[opts] = struct{}{}
	}
	return true
}

// errOptionsExited is kept in undecodable for a read of options that did
// not return (see attempts), and is the error of one whose panic recover
// sees no value of (readOptions).
var errOptionsExited = fmt.Errorf("%w: reading a descriptor's options did not return (the resolver's descriptor ended its goroutine, panicked with nil under GODEBUG=panicnil=1, or panicked as its panic was reported), so it is denied; fix the resolver", ErrUnreadableOption)

// readOptions returns the options of d, or an error wrapping
// ErrUnreadableOption when reading them panics, or when they are options
// protobuf-go failed to decode before (partialOptions), which d shares
// with the descriptor first read (a resolver's descriptor that wraps a
// generated one under another name).
//
// last, when not 0, says that the options returned may be partial: other
// reads were in their descriptor's Options (or recording its panic) as
// d's returned, and the options were never read complete (see options);
// it is the number of the read begun last then, which options waits for
// with every read under way before it.
func readOptions(d protoreflect.Descriptor) (_ protoreflect.ProtoMessage, last uint64, err error) {
	n := optionReads.begin()
	returned := false
	// Deferred first, so run last: once the failure is recorded (below),
	// and also when recording it does not return (the re-read of d's
	// options in partialOptions.add ends the goroutine, say), rather than
	// leaving the read under way for good, for every later read that
	// waits (options) to wait on.
	defer func() {
		if !returned {
			optionReads.end(n)
		}
	}()
	defer func() {
		v := recover()
		if v == nil {
			if !returned {
				// No value, yet Options did not return: the goroutine
				// ends (runtime.Goexit), or a panic(nil) under
				// GODEBUG=panicnil=1, which recover stopped. That read
				// failed, rather than read as no options (a wider
				// rule).
				err = errOptionsExited
			}
			return
		}
		text := panictext.Text(v, endpoint.MaxErrorText)
		err = undecodableError(d, text)
		if panickedIn(func(fn string) bool { return strings.HasPrefix(fn, protobufDescriptors) }) && partialOptions.add(d, text) {
			err = leftPartial{err}
		}
	}()
	opts := d.Options()
	returned = true
	// Ended before partialOptions is asked: a read that has left its
	// Options since, panicking, recorded its failure first.
	last, alone := optionReads.end(n)
	if text, ok := partialOptions.of(opts); ok {
		// Kept in undecodable within its bound only: the name may be
		// any a caller sends, and partialOptions answers again.
		return nil, 0, undecodableError(d, text)
	}
	if optionsComplete(opts, alone) {
		return opts, 0, nil
	}
	return opts, last, nil
}

// undecodableError is the error of d, whose options do not decode, with
// the panic's text.
func undecodableError(d protoreflect.Descriptor, text string) error {
	return fmt.Errorf("%w: the options of %s (in %q) do not decode: %s; fix the option in the .proto (a string that is not valid UTF-8, say) and generate its code again",
		ErrUnreadableOption, clipLogged(string(d.FullName())), clipLogged(filePath(d)), text)
}

// partialOptions holds the options messages that protobuf-go failed to
// decode (errPartialOptions), with the text of the panic, so that a read
// that returns one of them, through another descriptor than the one whose
// read panicked (a resolver's descriptor that wraps a generated one under
// another name, kept under another key in undecodable), is refused too:
// protobuf-go panics on the first read only, and returns the partial
// options to every later one. It holds one entry per descriptor of
// protobuf-go's whose options do not decode, at most.
var partialOptions optionsSet

// optionsSet is a set of options messages, by identity, with a text each.
type optionsSet struct {
	mu   sync.Mutex
	opts map[protoreflect.ProtoMessage]string
	// gen counts the messages added (0: none, and a read of options takes
	// no lock). What was built from options read before an add may hold
	// the message added, read partial in the gap between protobuf-go's
	// failed decoding and the add, under another descriptor than the one
	// whose read panicked: a plan, or a service's option read, records gen
	// as it starts, and is not kept once gen moved on (methodPlan.gen).
	gen atomic.Uint64
}

// add reads the options of d again, after a read panicked in protobuf-go's
// descriptors, and keeps the message returned with text, reporting
// whether it did. It does not when the read panics again (or returns no
// message Go can compare): then the panic was no failed decoding of
// options, which panics on the first read only, but one that repeats (a
// resolver's descriptor that calls into protobuf-go's wrongly, say a zero
// descriptor of its type), and every later read fails afresh.
func (s *optionsSet) add(d protoreflect.Descriptor, text string) (kept bool) {
	defer func() { _ = recover() }() // d's own code may panic again: nothing to keep
	opts := d.Options()
	if !byPointer(opts) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts == nil {
		s.opts = make(map[protoreflect.ProtoMessage]string)
	}
	if _, ok := s.opts[opts]; !ok {
		s.opts[opts] = text
		s.gen.Add(1)
	}
	return true
}

// of returns the text kept with opts, if s holds it.
func (s *optionsSet) of(opts protoreflect.ProtoMessage) (string, bool) {
	if s.gen.Load() == 0 || !byPointer(opts) {
		return "", false // none kept, or opts never is (a map lookup could panic)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	text, ok := s.opts[opts]
	return text, ok
}

// byPointer reports whether opts is a non-nil pointer, as protobuf-go's
// options messages are: a key Go can compare.
func byPointer(opts protoreflect.ProtoMessage) bool {
	v := reflect.ValueOf(opts)
	return v.Kind() == reflect.Pointer && !v.IsNil()
}

// attempts runs one attempt at a time per key (concurrent callers of do
// with a key wait for its attempt under way, each until its context ends;
// callers with other keys do not), and keeps, by key, the error of an
// attempt that failed, which every later do with the key returns instead
// of trying again: for builds, a file protobuf-go failed to build is left
// locked, and for undecodable, options that panicked read as partial
// options from then on. A key whose attempt succeeded is forgotten, so
// that descriptors a resolver makes afresh do not pile up.
//
// A key that bounded reports a name size for (given the key and its
// failure) is kept failed only while at most maxBounded such keys are, and
// only when its name is at most maxUnbuiltName bytes long: past that, its
// failure is returned to the attempt's caller and forgotten, and the next
// do with the key tries again (see builds).
type attempts[K comparable] struct {
	// running holds the keys whose attempt is under way.
	running underWay[K]
	// mu guards errs and nBounded.
	mu   sync.Mutex
	errs map[K]error // the failures kept
	// bounded, when not nil, reports whether a failure is one of those
	// kept within maxBounded (see keep).
	bounded func(K, error) (nameSize int, ok bool)
	// maxBounded is the most failures of bounded keys kept; nBounded
	// counts them (a failed key is never attempted again, so never
	// counted twice).
	maxBounded, nBounded int
}

// do returns the error kept for key, or, when none is, that of attempt,
// which it calls without a lock held (it is the resolver's code) and
// keeps when not nil (and keep allows). An attempt that does not return
// normally (the resolver's runtime.Goexit, or a panic its own recover does
// not contain) is kept as failed with exited, rather than left under way
// for every later caller with key to wait on for good. A failure not kept
// is not left under way either: the callers waiting on the attempt, and
// later ones, each attempt again.
//
// A caller that finds key's attempt under way waits for it until ctx
// ends, and then returns an error wrapping errWaitEnded and ctx's error,
// which is not kept: an attempt that does not return (a resolver's
// descriptor whose Options or Methods hangs) holds each caller only as
// long as its ctx lasts, and holds one goroutine, the attempt's own.
func (t *attempts[K]) do(ctx context.Context, key K, exited error, attempt func() error) (err error) {
	if err := t.kept(key); err != nil {
		return err
	}
	if err := t.running.begin(ctx, key); err != nil {
		return fmt.Errorf("%w (another attempt was under way): %w", errWaitEnded, err)
	}
	// Deferred first, so run last: once the failure is kept (below), so
	// that the callers it releases find it.
	defer t.running.end(key)
	if err := t.kept(key); err != nil {
		return err // the attempt waited for failed
	}
	returned := false
	defer func() {
		if !returned {
			t.keep(key, exited)
		} else if err != nil {
			t.keep(key, err)
		}
	}()
	err = attempt()
	returned = true
	return err
}

// kept returns the failure kept for key, or nil.
func (t *attempts[K]) kept(key K) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.errs[key]
}

// keep keeps failure, of key, unless bounded says it is one of a bounded
// kind and the bound is full or the key's name too long.
func (t *attempts[K]) keep(key K, failure error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bounded != nil {
		if size, ok := t.bounded(key, failure); ok {
			if size > maxUnbuiltName || t.nBounded >= t.maxBounded {
				return
			}
			t.nBounded++
		}
	}
	if t.errs == nil {
		t.errs = make(map[K]error)
	}
	t.errs[key] = failure
}

// fileLister is a DescriptorResolver that lists its files, as
// *protoregistry.Files does.
type fileLister interface {
	RangeFiles(func(protoreflect.FileDescriptor) bool)
}

// readOptionsFirst reads the options of every service and method in r,
// when r lists its files, so that grpcauth is the first to read them:
// protobuf-go panics only on the first read of options that do not
// decode, and later readers get the partial options without a sign of the
// failure. Read now, in New, the failure is recorded (see options), and
// code that reads the same options later (server reflection under a
// recovery interceptor, a validation library) cannot turn them into
// partial options that grpcauth would take for complete. Options read
// before New by other code are beyond its reach: docs/proto-options.md.
// It fails only on a file protobuf-go cannot build (see methods). It is
// not bounded: where another goroutine's build of a service's methods is
// under way (a call's, Check's or Requirement's, of any Authenticator:
// builds is the process's), it waits for that build to end, as New takes
// no context (Config.DescriptorTimeout says so).
func readOptionsFirst(r DescriptorResolver) error {
	l, ok := r.(fileLister)
	if !ok {
		return nil
	}
	// Collect, then read: reading options resolves extensions in
	// protoregistry.GlobalTypes, whose lock RangeFiles of GlobalFiles
	// holds while it calls back.
	var services []protoreflect.ServiceDescriptor
	l.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		for i := range f.Services().Len() {
			services = append(services, f.Services().Get(i))
		}
		return true
	})
	for _, sd := range services {
		ms, err := methods(context.Background(), sd)
		if err != nil {
			return err
		}
		_, _ = options(noWait, sd)
		for i := range ms.Len() {
			_, _ = options(noWait, ms.Get(i))
		}
	}
	return nil
}

// builds holds, by file (buildKey), the errors of the files protobuf-go
// could not build (see methods): every later use of such a file would
// block. Those of a resolver's own descriptors (kept by a made-up
// service's name, by the path of a file Go cannot compare, or by a file of
// the resolver's own type), which a resolver that describes any name a
// caller sends may make up without end, are kept only up to
// maxResolverBuilds of them, and only under a name of at most
// maxUnbuiltName bytes: past that, a failed build is not remembered, and
// the service's next call builds it again (see methods). Those of
// protobuf-go's own files, which its failed build leaves locked, are
// always kept, and so are those of a resolver's own descriptors whose build
// failed in protobuf-go's build of a file (errLeftLocked): building them
// again would block for good. There are no more of these than files
// protobuf-go builds lazily (generated code's), as that build fails once
// per file; later builds of the file block rather than fail.
var builds = attempts[any]{bounded: func(key any, failure error) (int, bool) {
	if errors.Is(failure, errLeftLocked) {
		return 0, false
	}
	return resolverBuild(key)
}, maxBounded: maxResolverBuilds}

// errLeftLocked is wrapped by the error of a build that failed in
// protobuf-go's lazy build of a file (filedesc's File.lazyInitOnce), which
// leaves the file's lock held: any later use of the file blocks.
var errLeftLocked = errors.New("protobuf-go left the file locked")

// protobufFileInit is the function in which protobuf-go builds a file
// lazily, holding its lock, which a panic there leaves held.
const protobufFileInit = "google.golang.org/protobuf/internal/filedesc.(*File).lazyInitOnce"

// panickedIn reports whether the panic being recovered (called in the
// deferred function that recovers it) went through a function whose name
// matches: the frames of the panicking goroutine are still on the stack.
func panickedIn(matches func(function string) bool) bool {
	pcs := make([]uintptr, 256)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if matches(f.Function) {
			return true
		}
		if !more {
			return false
		}
	}
}

// maxResolverBuilds is the most failed builds of a resolver's own
// descriptors builds keeps.
const maxResolverBuilds = 256

// namedBuild keys builds by name: a file's path, or a service's name.
type namedBuild struct {
	path    string
	service protoreflect.FullName
}

// resolverFile keys builds by a file of a type of the resolver's own that
// Go can compare, with the size of its path.
type resolverFile struct {
	file     protoreflect.FileDescriptor
	pathSize int
}

// protobufFile is the type of protobuf-go's own file descriptors.
var protobufFile = reflect.TypeOf(grpcauthv1.File_grpcauth_v1_auth_proto)

// resolverBuild returns the size of the name a key of builds holds, when
// it is a resolver's own descriptor's (bounded in builds), or false for a
// file of protobuf-go's.
func resolverBuild(key any) (int, bool) {
	switch k := key.(type) {
	case namedBuild:
		return len(k.path) + len(k.service), true // one of the two is ""
	case resolverFile:
		return k.pathSize, true
	}
	return 0, false
}

// buildKey returns the key of sd's file in builds: the file itself (in a
// resolverFile for a file of a type of the resolver's own), or, for a
// file Go cannot compare (a resolver's own type, a struct holding a
// slice, by value), which would panic as a key, its path; and for a
// made-up service (no file), the service's name, so that a resolver that
// makes its descriptors afresh keeps one failed build per service rather
// than one per call. Either way the failure of a build is kept (for a
// resolver's own descriptors, up to a bound: see builds), and not followed
// by another that blocks for good (such a descriptor may wrap
// protobuf-go's).
func buildKey(sd protoreflect.ServiceDescriptor) any {
	f := sd.ParentFile()
	switch {
	case f == nil:
		return namedBuild{service: sd.FullName()}
	case !sameDescriptor(f, f):
		return namedBuild{path: f.Path()}
	case reflect.TypeOf(f) == protobufFile:
		return f
	default:
		return resolverFile{f, len(f.Path())}
	}
}

// methods returns the methods of sd, making protobuf-go build the rest of
// sd's file (its lazy initialisation) outside options' recover. Building
// panics when the file cannot be built (a default value that does not
// parse, as when generated code of an imported file lost the enum value
// named), and leaves the file locked: every later use of it blocks.
// Recovered by options, that panic would pass for options that do not
// decode, and the next use would block; unrecovered (findRule on a
// method's first call, with a resolver New does not walk), it would leave
// the interceptor, and the next call would block. methods returns it as
// an error naming the file instead (its path and the service's name
// clipped to 256 bytes, as a resolver may make them up from the name a
// caller sent), and remembers it, so that the file is never used again.
// Concurrent first uses of a file wait for one build, so that none waits
// on the lock a failed build left held; uses of other files do not wait
// for it, so that a build that does not return (a file that other code
// left locked, or a resolver's Methods that hangs) holds up only the uses
// of its file, each until its ctx ends: methods then returns an error
// wrapping errWaitEnded and ctx's error, which is not kept (the caller's
// plan is its own, methodPlan.ended). A made-up service, or
// a file Go cannot compare, is kept by name (buildKey). A build that does
// not return normally (the resolver's descriptor calls runtime.Goexit, or
// panics again while its panic is reported) is kept as failed too
// (errBuildExited), not left under way.
//
// What is kept of a resolver's own descriptors is bounded (builds): a
// failure past maxResolverBuilds of them, or under a name longer than
// maxUnbuiltName, is not remembered, and the service's next call builds
// it again. That is safe for a descriptor that fails afresh each time (a
// resolver's made-up service whose Methods panics, or ends its goroutine,
// again). A failure that panicked in protobuf-go's build of a file (a
// resolver's descriptor that wraps a generated one protobuf-go cannot
// build), which leaves the file locked, is kept past that bound instead
// (errLeftLocked), as building it again would block for good. A different
// descriptor of the resolver's (another key) that wraps the same file
// still blocks on its first build; so does any use of it outside grpcauth.
func methods(ctx context.Context, sd protoreflect.ServiceDescriptor) (ms protoreflect.MethodDescriptors, err error) {
	err = builds.do(ctx, buildKey(sd), errBuildExited, func() (err error) {
		ms, err = buildFile(sd)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ms, nil
}

// errBuildExited is kept in builds for a build that did not return (see
// attempts): it names no file, as the resolver's code that reports one
// may be what failed.
var errBuildExited = errors.New("grpcauth: Config.Descriptors: building a service's methods did not return (the resolver's descriptor ended its goroutine, panicked with nil under GODEBUG=panicnil=1, or panicked as its panic was reported), so its methods are denied; fix the resolver")

// buildFile returns the methods of sd, building its file, or the panic of
// protobuf-go that cannot build it.
func buildFile(sd protoreflect.ServiceDescriptor) (_ protoreflect.MethodDescriptors, err error) {
	returned := false
	defer func() {
		v := recover()
		if v == nil && !returned {
			// A panic(nil) under GODEBUG=panicnil=1, which recover
			// stopped, or the goroutine ends: no methods to use.
			err = errBuildExited
		}
		if v != nil {
			locked := panickedIn(func(fn string) bool { return fn == protobufFileInit })
			err = fmt.Errorf("grpcauth: Config.Descriptors: protobuf-go cannot build %q (declaring %s), and any use of it blocks from now on: %s; fix the .proto and generate its code again, or stop linking it",
				clipLogged(filePath(sd)), clipLogged(string(sd.FullName())), panictext.Text(v, endpoint.MaxErrorText))
			if locked {
				err = leftLocked{err}
			}
		}
	}()
	ms := sd.Methods()
	ms.Len()
	returned = true
	return ms, nil
}

// leftLocked is the error of a build that left protobuf-go's file locked
// (errLeftLocked); its text is that of the error it holds.
type leftLocked struct{ error }

func (e leftLocked) Unwrap() []error { return []error{e.error, errLeftLocked} }

// leftPartial is the error of a read of options that panicked in
// protobuf-go's decoding of them (errPartialOptions); its text is that
// of the error it holds.
type leftPartial struct{ error }

func (e leftPartial) Unwrap() []error { return []error{e.error, errPartialOptions} }

// resolvedRule reads the extension field fd, set to v, that sits at the
// number of want.
func resolvedRule(fd protoreflect.FieldDescriptor, v protoreflect.Value, want protoreflect.ExtensionTypeDescriptor) (*grpcauthv1.Rule, error) {
	if fd.FullName() != want.FullName() || fd.Message() == nil || fd.Message().FullName() != want.Message().FullName() {
		return nil, fmt.Errorf("%w: field %d of %s is the extension %s declared in %q, not %s: two options share grpcauth's extension number; give the other one a different number (docs/extension-number.md)",
			ErrUnreadableOption, fd.Number(), fd.ContainingMessage().FullName(), fd.FullName(), filePath(fd), want.FullName())
	}
	switch x := v.Message().Interface().(type) {
	case *grpcauthv1.Rule:
		return x, nil
	case *dynamicpb.Message:
		// Options decoded with a dynamic resolver (e.g. descriptors loaded
		// from a FileDescriptorSet): the same message, untyped.
		b, err := proto.Marshal(x)
		if err == nil {
			r := new(grpcauthv1.Rule)
			if err = proto.Unmarshal(b, r); err == nil {
				return r, nil
			}
		}
		return nil, fmt.Errorf("%w: %s does not decode as %s: %v", ErrUnreadableOption, fd.FullName(), want.Message().FullName(), err)
	default:
		return nil, fmt.Errorf("%w: %s holds a Rule of Go package %q, not of %q: Go code for %s was generated a second time, into another package; generate code only for your own .proto files, which then import %[4]q (docs/proto-options.md)",
			ErrUnreadableOption, fd.FullName(), goPackage(x), goPackage(&grpcauthv1.Rule{}), authProto)
	}
}

// unknownField returns the payloads of every occurrence of field num in
// the unknown bytes b, or nil when there is none.
func unknownField(b protoreflect.RawFields, num protowire.Number) ([][]byte, error) {
	var vals [][]byte
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, fmt.Errorf("%w: malformed unknown fields: %v", ErrUnreadableOption, protowire.ParseError(l))
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return nil, fmt.Errorf("%w: malformed unknown fields: %v", ErrUnreadableOption, protowire.ParseError(l))
		}
		if n == num {
			if typ != protowire.BytesType {
				return nil, fmt.Errorf("%w: unparsed field %d has wire type %d, not a message: another option uses grpcauth's extension number (docs/extension-number.md)", ErrUnreadableOption, num, typ)
			}
			v, _ := protowire.ConsumeBytes(b)
			vals = append(vals, v)
		}
		b = b[l:]
	}
	return vals, nil
}

// unresolvedRule parses the unparsed payloads raw of field want.Number()
// of an options message in file f, which can see the files visible. They
// are trusted to be grpcauth's rule only when f can see
// grpcauth/v1/auth.proto (and no rival extension, checked by the caller).
func unresolvedRule(f protoreflect.FileDescriptor, visible []protoreflect.FileDescriptor, raw [][]byte, want protoreflect.ExtensionTypeDescriptor) (*grpcauthv1.Rule, error) {
	if !slices.ContainsFunc(visible, func(v protoreflect.FileDescriptor) bool { return v.Path() == authProto }) {
		return nil, fmt.Errorf("%w: options in %q carry an unparsed field %d, but the file does not import %s, so it is some other extension: give that extension a different number (docs/extension-number.md)",
			ErrUnreadableOption, filePath(f), want.Number(), authProto)
	}
	r := new(grpcauthv1.Rule)
	for _, b := range raw {
		// Repeated occurrences of a message field merge, as in a parser.
		if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("%w: unparsed %s does not decode as %s: %v", ErrUnreadableOption, want.FullName(), want.Message().FullName(), err)
		}
	}
	return r, nil
}

// visibleFiles returns f and every file whose declarations f may use: its
// imports, and the files those import publicly, at any depth of public
// imports.
func visibleFiles(f protoreflect.FileDescriptor) []protoreflect.FileDescriptor {
	files := []protoreflect.FileDescriptor{f}
	seen := map[string]bool{f.Path(): true}
	var visit func(f protoreflect.FileDescriptor, publicOnly bool)
	visit = func(f protoreflect.FileDescriptor, publicOnly bool) {
		imports := f.Imports()
		for i := range imports.Len() {
			imp := imports.Get(i)
			if (publicOnly && !imp.IsPublic) || seen[imp.Path()] {
				continue
			}
			seen[imp.Path()] = true
			files = append(files, imp.FileDescriptor)
			visit(imp.FileDescriptor, true)
		}
	}
	visit(f, false)
	return files
}

// rivalExtension returns an extension declared in files, other than want,
// with want's number on want's options message, or nil. protoc (3.21) only
// warns about such a pair; an option value at that number could then be
// either.
func rivalExtension(files []protoreflect.FileDescriptor, want protoreflect.ExtensionTypeDescriptor) protoreflect.ExtensionDescriptor {
	for _, f := range files {
		if x := rivalIn(f.Extensions(), f.Messages(), want); x != nil {
			return x
		}
	}
	return nil
}

// rivalIn searches the extensions xs and those nested in the messages ms.
func rivalIn(xs protoreflect.ExtensionDescriptors, ms protoreflect.MessageDescriptors, want protoreflect.ExtensionTypeDescriptor) protoreflect.ExtensionDescriptor {
	for i := range xs.Len() {
		x := xs.Get(i)
		if x.Number() == want.Number() && x.ContainingMessage().FullName() == want.ContainingMessage().FullName() && x.FullName() != want.FullName() {
			return x
		}
	}
	for i := range ms.Len() {
		m := ms.Get(i)
		if x := rivalIn(m.Extensions(), m.Messages(), want); x != nil {
			return x
		}
	}
	return nil
}

// onlyKnownFields fails when r was decoded from a newer auth.proto with
// fields this version would silently ignore: ignoring a condition could
// open a method that the rule's author meant to restrict.
func onlyKnownFields(r *grpcauthv1.Rule, want protoreflect.ExtensionTypeDescriptor) error {
	if hasUnknownFields(r) {
		return fmt.Errorf("%w: %s has fields this version of grpcauth does not know; upgrade github.com/grpcauth/grpcauth to the version whose %s the .proto was compiled against",
			ErrUnreadableOption, want.FullName(), authProto)
	}
	return nil
}

// hasUnknownFields reports whether r, or one of its any_of sets, holds
// fields this version of grpcauthv1.Rule does not declare.
func hasUnknownFields(r *grpcauthv1.Rule) bool {
	unknown := len(r.ProtoReflect().GetUnknown()) > 0
	for _, set := range r.GetAnyOf() {
		unknown = unknown || len(set.ProtoReflect().GetUnknown()) > 0
	}
	return unknown
}

// filePath is the path of the file that declares d, or "?" when unknown.
func filePath(d protoreflect.Descriptor) string {
	if d == nil || d.ParentFile() == nil {
		return "?"
	}
	return d.ParentFile().Path()
}

// goPackage is the Go import path that declares the type of m.
func goPackage(m proto.Message) string {
	t := reflect.TypeOf(m)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath()
}
