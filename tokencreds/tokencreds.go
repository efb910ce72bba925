package tokencreds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/internal/ascii"
	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/httpheader"
	"github.com/grpcauth/grpcauth/internal/localpeer"
	"github.com/grpcauth/grpcauth/internal/panictext"
	"github.com/grpcauth/grpcauth/internal/redact"
)

// ErrInsecureTransport is the cause of a refusal to send a token over a
// connection that has no transport security and leaves this host. The call
// fails with codes.Unauthenticated and this error's text, and errors.Is
// finds it in the call's error.
var ErrInsecureTransport = errors.New("tokencreds: refusing to send an access token over a connection without transport security to another host")

// ErrNoToken is the cause of a call failing because the TokenSource
// returned a token with an empty access token, or no token and no error.
var ErrNoToken = errors.New("tokencreds: the token source returned an empty access token")

// ErrMalformedToken is the cause of a call failing because the TokenSource
// returned an access token with a byte outside visible ASCII (0x21-0x7E):
// a space, a control character such as a trailing newline, or non-ASCII
// text. No authorization scheme carries one (RFC 6750's b64token and RFC
// 9449's token68 are visible ASCII without space); grpc-go refuses to
// send a control character or non-ASCII text in metadata (failing every
// call with codes.Internal), and a server refuses a token with a space.
// Credentials do not keep such a token, and treat it as a failure of the
// source (codes.Unauthenticated with this error's text, which never quotes
// the token, and the backoff of GetRequestMetadata), so that the source is
// asked again after the backoff rather than the token sent until it
// expires.
var ErrMalformedToken = errors.New("tokencreds: the token source returned an access token with characters an authorization header cannot carry")

// ErrUnsupportedTokenType is the cause of a call failing because
// Credentials made by New got a token whose token_type is neither Bearer
// (in any case, or empty) nor DPoP (see ErrDPoPToken), such as "mac" or
// "N_A": a server that takes OAuth 2.0 tokens in gRPC metadata takes
// them as Bearer (grpcauth, RFC 6750) or DPoP, and would refuse the
// token under any other scheme. Credentials do not keep such a token, and
// treat it as a failure of the source (codes.Unauthenticated with this
// error's text, and the backoff of GetRequestMetadata); the error wrapping
// it quotes the token_type.
var ErrUnsupportedTokenType = errors.New("tokencreds: the token source returned a token whose type is neither Bearer nor DPoP")

// ErrExpiredToken is the cause of a call failing because the TokenSource
// returned a token whose expiry had passed when it answered (a token
// endpoint's negative expires_in, a source handing out a stale token):
// every server would refuse it. Credentials do not keep such a token, and
// treat it as a failure of the source (codes.Unauthenticated, and the
// backoff of GetRequestMetadata), so that the source is not asked on every
// call.
var ErrExpiredToken = errors.New("tokencreds: the token source returned a token that has already expired")

// ErrAuthorizationInMetadata is the cause of a refusal to put a token on
// a call whose context already carries authorization metadata (set with
// metadata.AppendToOutgoingContext or NewOutgoingContext, or forwarded
// from an incoming call): the call would carry two values, and a server
// that takes the first would run it with the credentials' token rather
// than the one the caller meant to send. The call fails with
// codes.Internal and this error's text, and errors.Is finds it in the
// call's error.
var ErrAuthorizationInMetadata = errors.New("tokencreds: the call's metadata already carries authorization; the credentials would send a second value")

// ErrDPoPInMetadata is the cause of a refusal, by Credentials from
// NewDPoP, to put a proof on a call whose context already carries dpop
// metadata (set with metadata.AppendToOutgoingContext or
// NewOutgoingContext, or forwarded from an incoming call): the call would
// carry two proofs (the credentials' first), which RFC 9449 (section 4.3,
// item 1) has a server refuse (grpcauth does, DPOP_PROOF_INVALID), so the
// call would fail there with Unauthenticated, as if its token or proof
// were bad. The call fails with codes.Internal and
// this error's text, before the token source is asked, and errors.Is
// finds it in the call's error. Credentials from New, which send no
// proof, leave such metadata alone.
var ErrDPoPInMetadata = errors.New("tokencreds: the call's metadata already carries dpop; the credentials would send a second proof")

// errNilCredentials is the cause of every call of a nil *Credentials
// failing with codes.Internal.
var errNilCredentials = errors.New("tokencreds: nil *Credentials")

// errNoSource is the cause of every call of Credentials without a
// TokenSource (New(nil), or a zero Credentials) failing with
// codes.Internal.
var errNoSource = errors.New("tokencreds: Credentials without a TokenSource")

// Credentials puts "authorization: <type> <access token>" (usually
// "Bearer ...") from a TokenSource on every call. It is safe for concurrent
// use if its TokenSource is (those of golang.org/x/oauth2 are).
// A nil *Credentials sends nothing: GetRequestMetadata fails every call
// with codes.Internal ("tokencreds: nil *Credentials"), and its other
// methods do not panic; nor do those of a zero Credentials, which fail
// every call as New(nil)'s do. Do not copy a Credentials: a copy shares
// the original's state, and go vet reports it (see noCopy).
type Credentials struct {
	// noCopy has go vet report a copy of a Credentials (see noCopy).
	_ noCopy
	// credRef is all of the state, behind two pointers: see credRef.
	*credRef
}

// noCopy, a field of size zero in Credentials and DPoPTransport, has go
// vet's copylocks check report a copy of one (c2 := *c, a parameter or
// field holding one by value), as sync's own noCopy does for
// sync.WaitGroup: vet takes a type whose pointer has Lock and Unlock
// methods for a lock, which must not be copied. A copy would share the
// state behind the pointer (a token, the servers' nonces), so that it works,
// but only as the original: it is a second name for one client, not a
// second client. The field is first, so that it adds no padding at the end
// of the struct (a field of size zero at the end does). Its methods do
// nothing and are not promoted (the field is blank).
type noCopy struct{}

// Lock does nothing: see noCopy.
func (*noCopy) Lock() {}

// Unlock does nothing: see noCopy.
func (*noCopy) Unlock() {}

// credRef holds the pointer to Credentials' state, a second pointer so
// that fmt never walks the state. Given a verb a pointer does not take
// (%s, %q, %d), fmt prints the pointer dereferenced, with %v, without
// calling any method where it walks an unexported field: a program's
// struct holding a *Credentials in an unexported field has it print the
// Credentials, and one holding a Credentials by value (a copy of *New(ts),
// which shares its state) has it print the pointer Credentials holds. Had
// that been the state's, it would print the fields below, which are a
// TokenSource holding a secret by value and the servers' nonces, read
// without their lock (a data race, and a fatal error on the map); the
// second pointer, printed with %v under the first, is one address.
type credRef struct{ *credState }

// credState is the state of Credentials, behind two pointers (see
// credRef).
type credState struct {
	ts oauth2.TokenSource

	isDPoP bool         // made by NewDPoP
	signer *dpop.Signer // NewDPoP's
	nonces nonceMap     // the servers' latest DPoP nonces, by authority

	// last is a copy of the TokenSource's latest token if it has an
	// expiry (nil if that has none), without a monotonic reading in its
	// expiry (answer): calls reuse it while it is fresh (see kept)
	// without asking the source (or starting a goroutine to ask it), and
	// while the source is asked for the next one or fails, until it
	// expires.
	last atomic.Pointer[kept]

	now func() time.Time // time.Now; tests inject a clock

	// fetchWait is how long calls wait for one TokenSource call before
	// they fail instead (maxFetchWait if zero); tests shorten it.
	fetchWait time.Duration
	// logger logs a panic of the TokenSource (slog.Default() if nil);
	// tests inject one.
	logger *slog.Logger

	mu    sync.Mutex
	fetch *fetch // the TokenSource call in flight; nil when none
	// failed is the latest TokenSource error, if the latest call failed:
	// until retryAt, calls fail with it without asking the source again.
	// failures counts the failed calls in a row.
	failed   error
	retryAt  time.Time
	failures int
}

// kept is a token the calls reuse, and when its first half of life ends.
type kept struct {
	*oauth2.Token
	// halfLife is when the token was received plus half the time it had
	// left. Until then calls reuse it without asking the source, also when
	// oauth2.Token.Valid reports it expired: a margin
	// (oauth2.ReuseTokenSourceWithExpiry's, or oauth2's 10 s) as long as
	// the token's life or longer would otherwise have every call ask the
	// source, and a caching source, whose token is in the same margin,
	// send a token request for each. Like the expiry, it has no monotonic
	// reading: after a suspend of the host, past the token's expiry, the
	// monotonic clock would still find it before its half-life.
	halfLife time.Time
}

// fresh reports whether calls may send k without asking the source for
// the next token: oauth2.Token.Valid, or before its half-life, and in
// either case before its expiry (a negative margin of
// oauth2.ReuseTokenSourceWithExpiry makes Valid report an expired token
// valid).
func (k *kept) fresh(now time.Time) bool {
	return k != nil && now.Before(k.Expiry) && (k.Valid() || now.Before(k.halfLife))
}

// fetch is one call of the TokenSource, shared by the calls that wait for
// it.
type fetch struct {
	done  chan struct{} // closed when tok and err are set
	tok   *oauth2.Token
	err   error
	late  chan struct{} // closed when the fetch has run for fetchWait
	timer *time.Timer   // closes late
}

// maxFetchWait is how long calls wait for one TokenSource call (see
// GetRequestMetadata): a token endpoint that answers does so well within
// it, and an HTTP client's timeout (10 s in the docs' examples) ends the
// request first.
const maxFetchWait = time.Minute

// errSourceHung is the error of the calls that come while the TokenSource
// has been asked for longer than maxFetchWait without answering.
var errSourceHung = fmt.Errorf("tokencreds: the TokenSource has not answered for %v", maxFetchWait)

var _ credentials.PerRPCCredentials = (*Credentials)(nil)

// New returns Credentials that take tokens from ts. A token with an expiry
// is reused until shortly before it expires (but for at least half its
// life) without asking ts, then ts is asked in the background while calls
// still send it until it expires (see GetRequestMetadata); a source whose
// tokens carry no expiry is asked on every call, so it should cache them
// itself. Install them with grpc.WithPerRPCCredentials, or per call with
// grpc.PerRPCCredentials, not both: grpc-go applies both, the
// connection's first, so the call goes out with two authorization values
// (and, from NewDPoP's, two proofs), which grpcauth refuses
// (Unauthenticated, ACCESS_TOKEN_INVALID). grpc-go hands both the same
// context, so neither can see the other and refuse the call before it is
// sent. Give credentials per call only on a connection without any. They
// send a token as "Bearer <token>" if its
// token_type is Bearer in any case, or empty (RFC 6749, section 7.1;
// oauth2.Token.Type). Any other type fails the call with
// codes.Unauthenticated, as a failure of ts (the token is not kept): a
// DPoP-bound one (token_type DPoP), which needs a proof per call, with
// ErrDPoPToken (use NewDPoP), and any other ("mac", "N_A") with
// ErrUnsupportedTokenType, rather than send it under a scheme the server
// would refuse.
func New(ts oauth2.TokenSource) *Credentials {
	return &Credentials{credRef: &credRef{&credState{ts: ts, now: time.Now}}}
}

// GetRequestMetadata returns the authorization header for a call, taking a
// token from the TokenSource. It sends the token only when the call's
// connection has transport security (an AuthInfo reporting
// credentials.PrivacyAndIntegrity, as TLS and ALTS do; a
// credentials.TLSInfo, or an AuthInfo type embedding one, only with
// State.HandshakeComplete, as grpc-go hands it over; an AuthInfo whose
// GetCommonAuthInfo panics, such as one embedding a nil pointer, has
// none) or its remote
// address is on this host (see grpcauth.TransportSecureOrLocal for the
// exact rule; the address is the connection's own, not the target name).
// Otherwise, or when the context carries no connection information (the
// method called outside a gRPC call), the call fails with
// codes.Unauthenticated and ErrInsecureTransport's text, and the
// TokenSource is not asked.
//
// A TokenSource error fails the call with a code that follows its cause,
// so that a retry policy (retryableStatusCodes UNAVAILABLE) retries an
// outage and not a misconfiguration:
//   - codes.Unavailable (retryable) when the token endpoint could not be
//     reached or did not answer in time (a timeout before the response's
//     headers, as an http.Client's, or context.DeadlineExceeded of the
//     source's own context; a refused, reset or closed connection or a
//     DNS failure: a *net.OpError, *net.DNSError, io.EOF or
//     io.ErrUnexpectedEOF in the *url.Error that golang.org/x/oauth2's
//     Config and clientcredentials return for a failed request; an HTTP/2
//     stream reset, GOAWAY or lost connection, a keep-alive connection
//     the endpoint closed as the request went out, and an HTTP proxy's
//     refusal of the CONNECT with HTTP 408, 429, 500, 502, 503 or 504,
//     which net/http reports by their text alone; another net.Error of a
//     custom source), or answered an *oauth2.RetrieveError
//     with HTTP 408, 429 or 5xx, or with the error code
//     temporarily_unavailable or server_error;
//   - codes.Unauthenticated (fix the client's configuration; grpc-go's own
//     credentials/oauth fails every token error so) for any
//     other *oauth2.RetrieveError (an RFC 6749 section 5.2 error response
//     such as invalid_client, invalid_grant or unauthorized_client, or
//     another 4xx), for any other *url.Error: a token URL that does not
//     parse, has no host or a scheme net/http does not speak, a redirect
//     the HTTP client's CheckRedirect refused (or net/http's default,
//     after 10), a TLS certificate of the token endpoint that does not
//     verify (the endpoint is not known to be the real one, and a retry
//     meets the same certificate; the backoff below still asks again
//     later) and a TLS handshake that fails otherwise (an https token URL
//     of a plaintext endpoint, a TLS alert such as a required client
//     certificate), for context.Canceled (the source's own context, which
//     stays cancelled: a source made with a request's context), for any
//     other error (a panic of the TokenSource, which runs on a goroutine
//     of its own and is logged with its stack at slog.LevelError through
//     slog.Default(), its runtime.Goexit, and an error whose chain holds a
//     nil pointer that panics when examined, such as a (*url.Error)(nil)
//     returned by mistake, which is logged so too, included), for a token
//     without an access token (ErrNoToken), one whose access token an authorization
//     value cannot carry (ErrMalformedToken) or one that has already expired
//     (ErrExpiredToken), for Credentials from New, for a token whose
//     token_type is DPoP (ErrDPoPToken) or neither Bearer nor DPoP
//     (ErrUnsupportedTokenType), for Credentials from NewDPoP, for a
//     token whose token_type is not DPoP (ErrNotDPoPToken, also when a
//     DPoPTransport refused the token response), and for a DPoPTransport's
//     refusal to send a token request in plaintext (ErrInsecureTokenEndpoint)
//     or redirected to another origin (ErrCrossOriginRedirect).
//     That includes a transport failure the
//     source reports as text only, without wrapping it: golang.org/x/oauth2
//     does so for a failure or timeout while reading the response body,
//     and its jwt package for every transport failure.
//
// A call whose context already carries authorization metadata (its own,
// or an incoming call's forwarded) fails with codes.Internal and
// ErrAuthorizationInMetadata's text, without asking the TokenSource: it
// would carry two values, and a server taking the first would not use the
// one the caller meant.
//
// Credentials without a TokenSource (New(nil)) fail every call with
// codes.Internal, as does a nil *Credentials ("tokencreds: nil
// *Credentials"), and so does a DPoPTransport's failure to sign the proof
// of a token request (no signer, a KMS failure), which is not sent, and a
// nil *DPoPTransport's request, also unsent ("tokencreds: nil
// *DPoPTransport"). A
// token request whose own context (the source's, or the http.Client's
// Timeout) ends while a KMS or HSM key signs its proof is not such a
// failure: it fails, unsent, as that context's end fails it while it is
// sent (codes.Unavailable past a deadline, codes.Unauthenticated for a
// cancelled source context, both followed by the backoff below).
//
// The status message and the error's text are short and fixed: they name
// at most the HTTP status and the OAuth error code, never the cause's
// text, which may hold the token endpoint's response body or an internal
// address (a service that returns the error from its own handler passes
// the message on to its callers). errors.Is and errors.As see the cause
// (errors.As(err, &retrieveErr) gives the *oauth2.RetrieveError) for a
// local log; a failed token request's *url.Error without the user info of
// its URL (and, for a token URL with user info that does not parse,
// without url.Parse's reason, which may quote a piece of the password;
// a "#" in the password, which hides the "@" from url.Parse's error, is
// caught when the URL then ends in a port that is not a number),
// also where a custom source wrapped it in errors of its own or named its
// URL in another error of the tree: each error whose text holds the user
// info, or that wraps one replaced so, is replaced by one whose text has
// it cut out and that wraps the same errors, cleaned so. errors.Is still
// finds every error of the source's but the *url.Error (a replaced one by
// its identity and its Is method), and errors.As every one but a replaced
// one, whose Unwrap would lead back to the user info. A tree of more than
// 100 errors is withheld whole (a fixed error in its place); user info
// that no *url.Error reachable through Unwrap carries is beyond reach.
// The code and message are chosen from the source's error as it is.
// This holds whether the credentials were installed on the connection or
// on the call: grpc-go passes a status error on as it is (it would make a
// plain error Unauthenticated on the connection and Internal on the call).
//
// The TokenSource has no context, and may block (a token endpoint that
// does not answer, with clientcredentials' default HTTP client, which has
// no timeout), so GetRequestMetadata waits for it only as long as ctx
// lasts: when the call's deadline passes or the call is cancelled first,
// it fails with codes.DeadlineExceeded or codes.Canceled, its error
// wrapping the context's (errors.Is finds context.DeadlineExceeded or
// context.Canceled). That is not a failure of the TokenSource: no backoff
// follows, and the TokenSource call goes on in the background (a token
// request whose proof a KMS key is still signing included), and its
// answer is kept for the next calls. Concurrent calls wait for that one
// call rather than each asking the TokenSource: however long a source
// hangs, at most one goroutine per Credentials waits for it. Calls wait
// for one TokenSource call at most a minute, also those without a
// deadline: from then until it answers, calls fail at once with
// codes.Unavailable ("tokencreds: the token endpoint did not answer in
// time") without asking the source again, unless a token whose expiry has
// not passed yet can be sent. A caching
// source (oauth2.ReuseTokenSource) keeps the token it then gets for later
// calls. A token with an expiry is reused, without asking the source,
// until shortly before it expires (oauth2.Token.Valid: 10 s, or the margin
// oauth2.ReuseTokenSourceWithExpiry gave it), as oauth2.ReuseTokenSource
// would, but at least for the first half of the life it had left when the
// source returned it: a margin as long as the token's life or longer
// would otherwise have every call ask the source, and a caching source
// (whose token is in the same margin) send a token request for each. A
// token without an expiry is asked for again on every call. No token is
// sent past its expiry as valid, whatever its margin (a negative one of
// oauth2.ReuseTokenSourceWithExpiry makes oauth2.Token.Valid report it
// valid for longer). A token whose expiry has passed when the source
// returns it (a negative expires_in) fails the calls with
// codes.Unauthenticated and ErrExpiredToken, as a failure of the source
// (not kept; see the backoff below). In the margin before a token's
// expiry the source is asked in the background, as grpc-go's call
// credentials refresh under gRFC A97: calls do not wait for it, but send
// the token they have until the source answers or the token's expiry
// has passed.
//
// After the TokenSource fails, calls fail at once with the same code and
// message, without asking it, until a backoff delay has passed (as gRFC
// A97 and A83 have grpc-go's own call credentials do): 1 s after the
// first failure, 1.6 times longer after each further failure in a row, at
// most 120 s, each ±20 % at random (grpc-go's backoff.DefaultConfig).
// After a 429 or 503 response of the token endpoint
// (*oauth2.RetrieveError) with a Retry-After header (delta-seconds, or an
// HTTP-date read by the credentials' clock), or a 429 without Retry-After
// but with Okta's X-Rate-Limit-Reset (the Unix time its rate-limit window
// resets; 10^12 or more is read as milliseconds), the delay is at least
// that long, up to 120 s, the backoff's longest (a longer one counts as
// 120 s, so that no answer stops a client for longer than an outage
// would); a value that does not parse, is negative or has passed is
// ignored. A Retry-After that is there decides: beside one that is
// ignored, an X-Rate-Limit-Reset is not read either.
// The first call after the delay asks the source again, shared as above;
// a success ends the backoff. So an outage of the token endpoint costs it
// one request per delay, not one per call, and a retry policy gets
// through it only with a retry after the delay. A token with an expiry
// that has not passed yet is still sent when the source fails: a failed
// refresh in the margin before the expiry does not stop calls that have a
// good token.
//
// A local address is only the first hop: a plaintext HTTP CONNECT proxy on
// this host would carry the token on in clear text. So a loopback peer
// whose port is that of the HTTPS proxy the environment names for the
// call's authority (HTTPS_PROXY and NO_PROXY, through
// http.ProxyFromEnvironment: the proxy grpc-go connects through unless
// given grpc.WithNoProxy or a custom dialer) is not local, and the call
// fails with ErrInsecureTransport. A proxy a custom dialer connects
// through is not recognised: use TLS when a proxy is involved.
//
// Credentials from NewDPoP send "authorization: DPoP <access token>" and a
// new proof in the dpop metadata instead; see NewDPoP. A call whose context
// already carries authorization metadata fails with
// ErrAuthorizationInMetadata, and, with Credentials from NewDPoP, one
// whose context carries dpop metadata fails with ErrDPoPInMetadata: each
// would go out with two values.
func (c *Credentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	if c == nil {
		return nil, &tokenError{codes.Internal, errNilCredentials.Error(), errNilCredentials}
	}
	if c.credRef == nil { // a zero Credentials, not made by New or NewDPoP
		return nil, &tokenError{codes.Internal, errNoSource.Error(), errNoSource}
	}
	if !safeConnection(ctx, uri) {
		return nil, &tokenError{codes.Unauthenticated, ErrInsecureTransport.Error(), ErrInsecureTransport}
	}
	if len(metadata.ValueFromOutgoingContext(ctx, "authorization")) > 0 {
		return nil, &tokenError{codes.Internal, ErrAuthorizationInMetadata.Error(), ErrAuthorizationInMetadata}
	}
	if c.isDPoP && len(metadata.ValueFromOutgoingContext(ctx, mdDPoP)) > 0 {
		return nil, &tokenError{codes.Internal, ErrDPoPInMetadata.Error(), ErrDPoPInMetadata}
	}
	if c.ts == nil {
		return nil, &tokenError{codes.Internal, errNoSource.Error(), errNoSource}
	}
	tok, err := c.token(ctx)
	if err != nil {
		return nil, err
	}
	if c.isDPoP {
		return c.dpopMetadata(ctx, tok, uri)
	}
	return map[string]string{"authorization": "Bearer " + tok.AccessToken}, nil // answer let no other type through
}

// token returns the latest token while it is valid, or, until it expires,
// while the TokenSource is asked for the next one or fails; otherwise the
// TokenSource's answer, its latest error during the backoff after a
// failure, or ctx's end as a status error if that comes first; see
// GetRequestMetadata. A token it returns has an access token.
func (c *Credentials) token(ctx context.Context) (*oauth2.Token, error) {
	if k := c.last.Load(); k.fresh(c.now()) {
		return k.Token, nil
	}
	c.mu.Lock()
	f := c.fetch
	if f == nil {
		if c.failed != nil && c.now().Before(c.retryAt) {
			err := c.failed
			c.mu.Unlock()
			return c.unexpiredOr(err)
		}
		f = &fetch{done: make(chan struct{}), late: make(chan struct{})}
		wait := c.fetchWait
		if wait <= 0 {
			wait = maxFetchWait
		}
		f.timer = time.AfterFunc(wait, func() { close(f.late) })
		c.fetch = f
		go c.run(f)
	}
	c.mu.Unlock()
	if t := c.unexpired(); t != nil {
		return t, nil // in the margin before its expiry: f refreshes it in the background
	}
	select {
	case <-f.done:
	case <-f.late:
		select {
		case <-f.done: // answered as it became late
		default:
			return c.unexpiredOr(errSourceHung)
		}
	case <-ctx.Done():
		return nil, contextEnded(ctx.Err(), ctx.Err())
	}
	if f.err != nil {
		return c.unexpiredOr(f.err)
	}
	return f.tok, nil
}

// unexpiredOr returns the latest token if its expiry has not passed yet,
// and otherwise the TokenSource's error err as the call's status error.
func (c *Credentials) unexpiredOr(err error) (*oauth2.Token, error) {
	if t := c.unexpired(); t != nil {
		return t, nil
	}
	return nil, sourceFailure(err)
}

// unexpired returns the latest token if its expiry has not passed yet,
// and otherwise nil.
func (c *Credentials) unexpired() *oauth2.Token {
	if k := c.last.Load(); k != nil && c.now().Before(k.Expiry) {
		return k.Token
	}
	return nil
}

// run calls the TokenSource for f, and starts or ends the backoff. Calls
// that arrive once it has answered start a new fetch, or, after a failure,
// get its error until the backoff delay has passed. f is answered whatever
// becomes of the source: one that ends the goroutine (runtime.Goexit, as a
// test's fake calling t.FailNow does) fails it with errSourceExited rather
// than leave it, and every call after it, waiting for ever.
func (c *Credentials) run(f *fetch) {
	tok, err := (*oauth2.Token)(nil), errSourceExited
	defer func() { c.answer(f, tok, err) }()
	tok, err = c.askSource()
}

// typeError returns an error if tok's token_type is not the one the
// credentials send: DPoP for NewDPoP's (ErrNotDPoPToken), Bearer for New's
// (RFC 6749, section 7.1: compared without regard to case; an empty
// token_type is Bearer, as oauth2.Token.Type has it), which refuse a
// DPoP-bound token (ErrDPoPToken) and any other type (wrapping
// ErrUnsupportedTokenType); nil if it is.
func (c *Credentials) typeError(tok *oauth2.Token) error {
	switch typ := tok.Type(); {
	case c.isDPoP && !strings.EqualFold(typ, "DPoP"):
		return ErrNotDPoPToken
	case c.isDPoP || typ == "Bearer":
		return nil
	case strings.EqualFold(typ, "DPoP"):
		return ErrDPoPToken
	default:
		return fmt.Errorf("%w: %q", ErrUnsupportedTokenType, endpoint.Clip(typ, maxTokenTypeText))
	}
}

// maxTokenTypeText bounds how much of a token_type an error quotes.
const maxTokenTypeText = 64

// errSourceExited is the error of a fetch whose TokenSource ended the
// goroutine it ran on instead of returning.
var errSourceExited = errors.New("tokencreds: the TokenSource ended its goroutine without returning")

// answer ends the fetch f with the TokenSource's answer tok, err (see run).
func (c *Credentials) answer(f *fetch, tok *oauth2.Token, err error) {
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = ErrNoToken
	}
	if err == nil && !ascii.IsVChars(tok.AccessToken) {
		err = ErrMalformedToken // not kept: sent, it would fail every call until its expiry
	}
	if err == nil {
		err = c.typeError(tok) // not kept: a source that fixes its tokens' type later is asked again
	}
	received := c.now().Round(0) // by the wall clock, as the expiry (below)
	if err == nil && !tok.Expiry.IsZero() && !received.Before(tok.Expiry.Round(0)) {
		err = ErrExpiredToken // not kept: sent, or asked for again on every call, it would fail every call
	}
	if err == nil {
		// A copy: calls read it while the source may change its own
		// (oauth2.ReuseTokenSource sets the margin on the token its
		// source returns, which may be the one it returned before).
		// Its expiry loses its monotonic reading, so that calls compare
		// it with the clock by the wall clock, as oauth2.Token.Valid
		// does: Go compares two times that both have one (as an oauth2
		// source's time.Now plus expires_in and time.Now do) by that
		// alone, and the monotonic clock stands still while the host is
		// suspended, so a token whose expiry passed during a suspend
		// would still be sent while the source is asked or fails.
		cp := *tok
		cp.Expiry = cp.Expiry.Round(0)
		tok = &cp
	}
	f.timer.Stop()
	c.mu.Lock()
	// The token is kept as the fetch ends, under the same lock: a call
	// that has seen it (and returned it, in the margin before the last
	// one's expiry) never finds the fetch still running afterwards, and
	// so never waits for it and gets the token it answered with by an
	// older reading of the clock, however far the clock has moved.
	if err == nil {
		// A token without an expiry is not kept, and ends the reuse of
		// an earlier one, which calls would otherwise send in its place.
		if tok.Expiry.IsZero() {
			c.last.Store(nil)
		} else {
			c.last.Store(&kept{tok, received.Add(tok.Expiry.Sub(received) / 2)})
		}
	}
	c.fetch = nil
	if err != nil {
		c.failures++
		now := c.now()
		c.failed, c.retryAt = err, now.Add(max(backoffDelay(c.failures), retryAfter(err, now)))
	} else {
		c.failed, c.failures = nil, 0
	}
	c.mu.Unlock()
	f.tok, f.err = tok, err
	close(f.done)
}

// askSource calls the TokenSource, turning a panic, which no caller could
// recover on this goroutine, into its error, and logging its value and
// stack: the calls fail with a fixed message, and the bug would otherwise
// go unseen. Its error is classified here first, as answer and the calls
// will classify it (retryAfter, sourceFailure), so that a panic doing so is
// handled so too: a nil pointer in the error's chain (a (*url.Error)(nil)
// the source returns by mistake, whose Unwrap dereferences it) would
// otherwise panic on answer's goroutine, ending the program, or on the
// calls'.
func (c *Credentials) askSource() (tok *oauth2.Token, err error) {
	defer func() {
		if r := recover(); r != nil {
			text := panictext.Text(r, endpoint.MaxErrorText) // the TokenSource chose its size
			tok, err = nil, fmt.Errorf("tokencreds: the TokenSource panicked: %s", text)
			c.logPanic(text, debug.Stack())
		}
	}()
	tok, err = c.ts.Token()
	if err != nil {
		_, _ = retryAfter(err, c.now()), sourceFailure(err)
	}
	return tok, err
}

// logPanic logs the TokenSource's panic, whose value is text
// (panictext.Text: bounded, and made without calling the value's methods
// again) and which happened at stack. A second panic while it is logged
// (the handler) is dropped: no caller could recover it on this goroutine.
func (c *Credentials) logPanic(text string, stack []byte) {
	defer func() { _ = recover() }()
	logger := c.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Error("tokencreds: panic recovered in the TokenSource; the calls waiting for it use the cached token while it has not expired, and fail with codes.Unauthenticated without one",
		slog.String("panic", text), slog.String("stack", string(stack)))
}

// backoffConfig is grpc-go's default connection backoff, copied once so that
// a change to the variable elsewhere does not race with a call.
var backoffConfig = backoff.DefaultConfig

// backoffDelay is how long calls get the error of the TokenSource's
// failures-th failure in a row (1 for the first) without asking it again.
func backoffDelay(failures int) time.Duration {
	cfg := backoffConfig
	d := float64(cfg.BaseDelay)
	for i := 1; i < failures && d < float64(cfg.MaxDelay); i++ {
		d *= cfg.Multiplier
	}
	d = min(d, float64(cfg.MaxDelay))
	return time.Duration(d * (1 + cfg.Jitter*(rand.Float64()*2-1)))
}

// maxRetryAfter caps how long a token endpoint's Retry-After holds the
// TokenSource back: the backoff's own longest delay (120 s), so that an
// endpoint, or whoever answers in its place, cannot stop a client from
// asking for a token for longer than an outage would.
const maxRetryAfter = 120 * time.Second

// retryAfter is how long the token endpoint's 429 or 503 response, in err
// (an *oauth2.RetrieveError), asks the TokenSource to wait, read against
// now as httpheader.Wait reads it (Retry-After: delta-seconds or an
// HTTP-date; or a 429's X-Rate-Limit-Reset) and at most maxRetryAfter; 0
// for another error or status, no such header, or one that is
// unparsable, negative or in the past.
func retryAfter(err error, now time.Time) time.Duration {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re == nil || re.Response == nil {
		return 0
	}
	d, _ := httpheader.Wait(re.Response, now)
	return min(d, maxRetryAfter)
}

// tokenError is a failure to put a token on the call, as the gRPC status
// error the call fails with: msg is its fixed text and status message, err
// its cause, which errors.Is and errors.As still see through.
type tokenError struct {
	code codes.Code
	msg  string
	err  error
}

func (e *tokenError) Error() string { return e.msg }

func (e *tokenError) Unwrap() error { return e.err }

// GRPCStatus returns the status grpc-go fails the call with.
func (e *tokenError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }

// contextEnded is the status error of a call whose context ended, err
// its Err, while GetRequestMetadata waited (for the TokenSource, or for a
// KMS or HSM key signing the call's proof): the code and message grpc-go
// gives a context error (codes.DeadlineExceeded or codes.Canceled), and
// cause, which wraps err, as its cause. It is not a failure of the
// TokenSource: no backoff follows.
func contextEnded(err, cause error) *tokenError {
	st := status.FromContextError(err)
	return &tokenError{st.Code(), st.Message(), cause}
}

// sourceFailure is the TokenSource's error err as the call's status error;
// see GetRequestMetadata for the codes. It is classified as the source
// returned it, and its cause is err without user info (withoutUserInfo),
// for every code, a DPoPTransport's refusals included.
func sourceFailure(err error) error {
	te := classify(err)
	te.err = withoutUserInfo(err)
	return te
}

// classify is sourceFailure's status error for err, with err as its cause.
func classify(err error) *tokenError {
	var ue *url.Error
	for _, fixed := range []error{errProof, errNilTransport} { // a DPoPTransport's, in a *url.Error: the request was not sent
		if errors.Is(err, fixed) {
			return &tokenError{codes.Internal, fixed.Error(), err}
		}
	}
	for _, fixed := range []error{ErrNoToken, ErrMalformedToken, ErrExpiredToken, ErrNotDPoPToken, ErrDPoPToken, ErrUnsupportedTokenType, ErrInsecureTokenEndpoint, ErrCrossOriginRedirect} {
		if errors.Is(err, fixed) { // maybe from a DPoPTransport, in a *url.Error
			return &tokenError{codes.Unauthenticated, fixed.Error(), err}
		}
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re != nil {
		httpStatus := 0
		if re.Response != nil {
			httpStatus = re.Response.StatusCode
		}
		code := codes.Unauthenticated
		msg := "tokencreds: the token endpoint refused the token request"
		if httpStatus == http.StatusRequestTimeout || httpStatus == http.StatusTooManyRequests || httpStatus >= 500 && httpStatus <= 599 ||
			re.ErrorCode == "temporarily_unavailable" || re.ErrorCode == "server_error" {
			code, msg = codes.Unavailable, "tokencreds: the token endpoint is unavailable"
		}
		if ec := oauthErrorCode(re.ErrorCode); ec != "" {
			msg += ": " + ec
		}
		if httpStatus != 0 {
			msg += fmt.Sprintf(" (HTTP %d)", httpStatus)
		}
		return &tokenError{code, msg, err}
	}
	var ne net.Error
	isNet := errors.As(err, &ne)
	switch {
	case errors.Is(err, context.Canceled):
		// Only the source's own context (x/oauth2 passes it to the HTTP
		// client) is cancelled here, and it stays so: a source made with a
		// request's context, not an outage.
		return &tokenError{codes.Unauthenticated, "tokencreds: the token source's context is cancelled", err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errSourceHung) || isNet && ne.Timeout():
		return &tokenError{codes.Unavailable, "tokencreds: the token endpoint did not answer in time", err}
	case errors.As(err, &ue) && ue != nil:
		// Every failure of net/http's Client (and of url.Parse) is a
		// *url.Error, which is a net.Error: only a network failure in it
		// is an outage.
		return requestFailure(err, ue)
	case isNet:
		return &tokenError{codes.Unavailable, "tokencreds: the token endpoint is unreachable", err}
	}
	return &tokenError{codes.Unauthenticated, "tokencreds: the token source failed", err}
}

// withoutUserInfo returns err with the user info of every *url.Error in its
// tree (through Unwrap() error and Unwrap() []error) cut out: url.Parse's
// error repeats the URL whole, password and all, and a refused redirect's
// names the Location the endpoint sent as it is. golang.org/x/oauth2
// returns a failed token request's *url.Error as it is; a custom
// TokenSource may wrap it in errors of its own, or name the URL in
// another error of the tree. Each such *url.Error is replaced by a copy
// without the user info, and url.Parse's reason by errUserInfoURL: it
// quotes what did not parse, which may be the password or a piece of it
// (a "/" in the password ends the authority, and the rest of the password
// is then an "invalid port"; see userInfoOf). Each other
// error whose text holds one of those secrets (the user info as the URL
// holds it, decoded or encoded again, the password, url.Parse's reason),
// or that wraps an error replaced so, is replaced by a scrubbedError. An
// error without such a *url.Error in its tree is returned as it is; one
// whose tree holds more than maxTreeErrors errors is replaced by
// errTreeWithheld, since a secret could lie in the part not examined.
// The cause is there for a local log.
func withoutUserInfo(err error) error {
	tree, whole := errorTree(err)
	if !whole {
		return errTreeWithheld
	}
	var secrets []string
	for _, n := range tree {
		if ue, ok := n.err.(*url.Error); ok {
			secrets = append(secrets, userInfoTexts(ue)...)
		}
	}
	if len(secrets) == 0 {
		return err
	}
	return withoutTexts(tree, secrets, "…")
}

// withoutTexts returns the error at the root of tree (errorTree's, whole)
// with each of secrets, as it is and in each form endpoint.RedactSecrets
// seeks (%q-quoted, JSON-escaped, percent-encoded), replaced by mark in
// the text of every error of the tree, clipped
// then to endpoint.MaxErrorText bytes, as the introspection verifier and
// the key set clip theirs (a server chooses the length of a line net/http
// quotes, and a cleaned text would otherwise keep up to 64 KiB of it): each
// *url.Error whose URL holds one, or that wraps an error replaced so, by a
// copy with the URL so cleaned (and url.Parse's reason withheld, as
// withoutUserInfo says), and each other error whose text holds one, or
// that wraps one replaced so, by a scrubbedError (so too an error whose
// text is longer than endpoint.MaxErrorText, or whose URL is). An error
// none of whose tree holds one, and none of whose texts is that long, is
// returned as it is.
func withoutTexts(tree []treeError, secrets []string, mark string) error {
	without := func(s string) string {
		return endpoint.Clip(endpoint.RedactSecrets(s, secrets, mark), endpoint.MaxErrorText)
	}
	// A wrapped error comes after its wrapper: clean it first.
	clean, replaced := make([]error, len(tree)), make([]bool, len(tree))
	for i := len(tree) - 1; i >= 0; i-- {
		n := tree[i]
		var wrapped []error
		for _, k := range n.wrapped {
			wrapped = append(wrapped, clean[k])
			replaced[i] = replaced[i] || replaced[k]
		}
		if ue, ok := n.err.(*url.Error); ok {
			c := &url.Error{Op: ue.Op, URL: without(ue.URL)}
			if len(wrapped) > 0 {
				c.Err = wrapped[0]
			}
			reasonWithheld := ue.Op == "parse" && userInfoOf(ue) != ""
			if reasonWithheld {
				c.Err = errUserInfoURL
			}
			if replaced[i] = replaced[i] || c.URL != ue.URL || reasonWithheld; replaced[i] {
				clean[i] = c
			} else {
				clean[i] = ue
			}
			continue
		}
		text := n.err.Error()
		if cut := without(text); replaced[i] || cut != text {
			clean[i], replaced[i] = &scrubbedError{text: cut, orig: n.err, wrapped: wrapped}, true
		} else {
			clean[i] = n.err
		}
	}
	return clean[0]
}

// maxTreeErrors bounds how many errors of a TokenSource error's tree
// withoutUserInfo examines.
const maxTreeErrors = 100

// errTreeWithheld is withoutUserInfo's error for a TokenSource error whose
// tree is too large to examine for user info.
var errTreeWithheld = errors.New("tokencreds: the token source's error withheld (its tree of errors is too large to remove user info or secrets from)")

// treeError is an error of a tree errorTree read, and the indexes in the
// tree of the non-nil errors it wraps.
type treeError struct {
	err     error
	wrapped []int
}

// errorTree returns the errors of err's tree (err and those it wraps,
// through Unwrap() error and Unwrap() []error), each before those it
// wraps, and whether that is all of them: it stops at maxTreeErrors, so
// that a tree however deep or wide costs a bounded time and memory. A nil
// pointer in the tree panics here as in classify's errors.Is, which
// askSource recovers.
func errorTree(err error) (tree []treeError, whole bool) {
	var add func(e error) int
	add = func(e error) int {
		if len(tree) == maxTreeErrors {
			return -1
		}
		i := len(tree)
		tree = append(tree, treeError{err: e})
		var wrapped []error
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			wrapped = []error{u.Unwrap()}
		case interface{ Unwrap() []error }:
			wrapped = u.Unwrap()
		}
		for _, w := range wrapped {
			if w == nil {
				continue
			}
			k := add(w)
			if k < 0 {
				return -1
			}
			tree[i].wrapped = append(tree[i].wrapped, k)
		}
		return i
	}
	return tree, add(err) >= 0
}

// userInfoTexts returns the texts of ue that give away the user info of
// its URL (userInfoOf), none if it has none: the user info as the URL holds it,
// decoded, encoded again as net/url prints a URL, the password decoded
// (withoutTexts cuts each also in every other form endpoint.RedactSecrets
// seeks: %q-quoted, as *url.Error's text quotes its URL, JSON-escaped and
// percent-encoded), and url.Parse's reason when ue is its error (see
// withoutUserInfo).
func userInfoTexts(ue *url.Error) []string {
	info := userInfoOf(ue)
	if info == "" {
		return nil
	}
	texts := []string{info}
	if dec, err := url.PathUnescape(info); err == nil {
		again := url.User(dec).String()
		if user, password, ok := strings.Cut(dec, ":"); ok {
			texts = append(texts, password)
			again = url.UserPassword(user, password).String()
		}
		texts = append(texts, dec, again)
	}
	if ue.Op == "parse" && ue.Err != nil {
		texts = append(texts, ue.Err.Error())
	}
	return slices.DeleteFunc(texts, func(s string) bool { return s == "" })
}

// userInfoOf returns the user info of ue's URL (redact.UserInfoOf), or,
// for url.Parse's error of a URL in which no user info shows, the whole URL
// after its "//": url.Parse cuts the URL at its first "#" before it parses
// it, so a "#" in a password hides the "@", and the error names the user
// name and the password's start as a host and a port that does not parse
// ("https://svc:pa" of "https://svc:pa#ss@auth.example"), and what follows
// a "/" in the password before the "#" as a path. No rule tells such a
// piece of a password from a URL that is merely wrong (a password may hold
// ":", "/" and "%" too), so a URL that does not parse keeps only its
// scheme, and url.Parse's reason is withheld (see withoutUserInfo): it is
// a configuration to fix, and the configuration shows what is wrong.
func userInfoOf(ue *url.Error) string {
	info := redact.UserInfoOf(ue.URL)
	_, rest, ok := strings.Cut(ue.URL, "//")
	if info != "" || ue.Op != "parse" || !ok {
		return info
	}
	return rest
}

// scrubbedError is an error of a TokenSource error's tree whose text held
// user info, or that wraps one replaced so, in its place (see
// withoutUserInfo): its text without the user info, wrapping the same
// errors with theirs removed. errors.Is finds orig, by identity or its Is
// method; errors.As does not, since orig's Unwrap leads back to the user
// info.
type scrubbedError struct {
	text    string
	orig    error
	wrapped []error
}

func (e *scrubbedError) Error() string { return e.text }

func (e *scrubbedError) Unwrap() []error { return e.wrapped }

// Is reports whether target is the error e replaced, or one its Is method
// matches.
func (e *scrubbedError) Is(target error) bool {
	if target != nil && reflect.TypeOf(target).Comparable() && e.orig == target {
		return true
	}
	is, ok := e.orig.(interface{ Is(error) bool })
	return ok && is.Is(target)
}

// Timeout reports whether the error e replaced is a timeout, as
// url.Error's Timeout asks the error it wraps (net.Error).
func (e *scrubbedError) Timeout() bool {
	t, ok := e.orig.(interface{ Timeout() bool })
	return ok && t.Timeout()
}

// unscrubbed returns the error err replaced when err is a scrubbedError,
// and err otherwise: for classify to decide on, never to be returned.
func unscrubbed(err error) error {
	if s, ok := err.(*scrubbedError); ok {
		return s.orig
	}
	return err
}

// errUserInfoURL is the reason withoutUserInfo gives for a token URL that
// does not parse.
var errUserInfoURL = errors.New("tokencreds: the URL does not parse (url.Parse's reason withheld: it may quote a password)")

// requestFailure is the status error of the TokenSource's error err, whose
// *url.Error ue is a token request's failure that did not time out (see
// GetRequestMetadata): codes.Unavailable for a failure of the network (a
// refused, reset or closed connection, a keep-alive connection closed as
// the request went out, an HTTP/2 stream reset or GOAWAY, a DNS failure, a
// proxy's refusal of the CONNECT with 502 or another status of an outage:
// see connectionFailure), which a later attempt may not meet, and
// codes.Unauthenticated
// for one that every attempt meets until the client's configuration or
// the endpoint's certificate changes: a TLS certificate that does not
// verify or another failed TLS handshake, a token URL that does not parse,
// has no host or a scheme net/http does not speak, a redirect the
// client's CheckRedirect refused (net/http's default after 10), and
// anything else net/http reports without a network error. The status
// messages are fixed: ue's text names the URL, and may hold its query.
func requestFailure(err error, ue *url.Error) *tokenError {
	var (
		cve      *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		roots    x509.SystemRootsError
		record   tls.RecordHeaderError
		op       *net.OpError
		dns      *net.DNSError
	)
	cause := unscrubbed(ue.Err) // decided on as it was, not as redacted
	switch {
	case ue.Op == "parse":
		return &tokenError{codes.Unauthenticated, "tokencreds: the token URL does not parse", err}
	case errors.As(cause, &cve) || errors.As(cause, &unknown) || errors.As(cause, &hostname) || errors.As(cause, &invalid) || errors.As(cause, &roots):
		return &tokenError{codes.Unauthenticated, "tokencreds: the token endpoint's TLS certificate did not verify", err}
	case errors.As(cause, &record) || errors.Is(cause, http.ErrSchemeMismatch) ||
		errors.As(cause, &op) && (op.Op == "remote error" || op.Op == "local error"): // crypto/tls's alerts
		return &tokenError{codes.Unauthenticated, "tokencreds: the TLS handshake with the token endpoint failed", err}
	case errors.As(cause, &op) || errors.As(cause, &dns) ||
		errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) || errors.Is(cause, net.ErrClosed) ||
		connectionFailure(cause):
		return &tokenError{codes.Unavailable, "tokencreds: the token endpoint is unreachable", err}
	}
	return &tokenError{codes.Unauthenticated, "tokencreds: the HTTP client refused the token request", err}
}

// connectionFailure reports whether err is one of the failures of the
// connection that net/http reports with unexported types or a bare text,
// which a later attempt may not meet: a stream the endpoint reset over
// HTTP/2 (RST_STREAM, "stream error: …"), a GOAWAY, a lost or closed
// HTTP/2 connection ("http2: …"); a keep-alive connection the endpoint
// (or a load balancer's idle timeout) closed as the token request went
// out, which net/http retries for an idempotent request only, not for the
// token request's POST ("http: server closed idle connection"); and a
// proxy's refusal of the CONNECT to an https token endpoint with a status
// of an outage (408, 429, 500, 502, 503, 504), which net/http reports as
// the status text alone ("Bad Gateway"). Their texts are the only thing
// net/http exports of them. Any other refusal of the proxy (407 Proxy
// Authentication Required, 403, 501: no CONNECT) is a matter of the
// client's configuration.
func connectionFailure(err error) bool {
	msg := err.Error()
	if strings.HasPrefix(msg, "http2: ") || strings.HasPrefix(msg, "stream error: ") || msg == "http: server closed idle connection" {
		return true
	}
	for _, code := range []int{http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout} {
		if msg == http.StatusText(code) {
			return true
		}
	}
	return false
}

// oauthErrorCode returns an RFC 6749 error code for a status message: c if
// it looks like one (such as invalid_client), and "" otherwise, so that
// whatever else an endpoint put there stays out of the message.
func oauthErrorCode(c string) string {
	if len(c) > 64 {
		return ""
	}
	for _, r := range c {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '-' && r != '.' {
			return ""
		}
	}
	return c
}

// RequireTransportSecurity returns false, so that grpc-go lets the
// credentials be used on a plaintext connection at all. GetRequestMetadata
// enforces the real rule for each call, with the connection's address in
// hand.
func (c *Credentials) RequireTransportSecurity() bool { return false }

// safeConnection reports whether the call in ctx, whose audience URI
// grpc-go passes as uri, runs on a connection that may carry a token:
// secure, or local and not to the environment's proxy.
func safeConnection(ctx context.Context, uri []string) bool {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok {
		return false
	}
	if localpeer.Secure(ri.AuthInfo) {
		return true
	}
	p, ok := peer.FromContext(ctx)
	return ok && p != nil && localpeer.IsLocal(p.Addr) && !toProxy(p.Addr, uri)
}

// proxyFromEnvironment is the proxy grpc-go dials for a target (its
// delegating resolver asks http.ProxyFromEnvironment for "https://" and
// the target); tests replace it.
var proxyFromEnvironment = http.ProxyFromEnvironment

// toProxy reports whether addr, a local peer, is the HTTPS proxy that the
// environment (HTTPS_PROXY, NO_PROXY) names for the call's authority: the
// port of the proxy's URL (443 if it has none, as grpc-go's DNS resolver
// takes it). grpc-go connects so, unless grpc.WithNoProxy or a custom
// dialer is given, to a target the proxy covers, and the proxy carries the
// plaintext on to that target's host.
func toProxy(addr net.Addr, uri []string) bool {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || len(uri) == 0 {
		return false // grpc-go dials its proxy over TCP
	}
	authority := authorityOf(uri[0])
	if authority == "" {
		return false
	}
	u, err := proxyFromEnvironment(&http.Request{URL: &url.URL{Scheme: "https", Host: authority}})
	if err != nil || u == nil {
		return false // grpc-go does not connect with a malformed proxy URL
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return port == strconv.Itoa(tcp.Port)
}
