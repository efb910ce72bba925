// The items example page: sign in at the issuer (authorization code + PKCE),
// then call ItemService with the Connect protocol's JSON over fetch. When the
// issuer binds the token to a key (token_type DPoP), every call carries a
// DPoP proof (RFC 9449) signed with a WebCrypto P-256 key whose private half
// cannot be exported. See docs/browsers.md.
'use strict';

const SERVICE = '/items.v1.ItemService/';
const enc = new TextEncoder();
const dec = new TextDecoder();

// The session lives in memory only: a reload signs the person out.
// stepUp is the challenge of the last step-up refusal (acr_values and
// max_age to sign in again with), or null.
const session = { cfg: null, token: '', tokenType: '', subject: '', scope: '', acr: '', key: null, jwk: null, stepUp: null };

// ---- encodings ----

function b64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function b64decode(s) {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const b64urlJSON = (o) => b64url(enc.encode(JSON.stringify(o)));

function randomString(n) {
  const a = new Uint8Array(n);
  crypto.getRandomValues(a);
  return b64url(a);
}

async function sha256(s) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(s)));
}

// protoFields returns the length-delimited fields (wire type 2) of the
// protobuf message bytes, as [field number, bytes] pairs in order: enough
// to read google.rpc.ErrorInfo's reason (1), domain (2) and metadata (3,
// map entries of key 1 and value 2) without a protobuf library. It throws
// on a malformed message: a varint of more than 10 bytes, a field cut
// short (fixed-width ones too), a group or an unknown wire type.
function protoFields(bytes) {
  const out = [];
  let i = 0;
  const varint = () => {
    let x = 0, shift = 0, b;
    do {
      if (i >= bytes.length || shift > 63) throw new Error('bad varint');
      b = bytes[i++];
      x += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return x;
  };
  while (i < bytes.length) {
    const key = varint();
    const num = Math.floor(key / 8), wire = key % 8;
    const skip = (n) => {
      if (i + n > bytes.length) throw new Error('truncated field');
      i += n;
    };
    if (wire === 0) varint();
    else if (wire === 1) skip(8);
    else if (wire === 5) skip(4);
    else if (wire === 2) {
      const n = varint();
      if (i + n > bytes.length) throw new Error('truncated field');
      out.push([num, bytes.subarray(i, i + n)]);
      i += n;
    } else throw new Error('unsupported wire type');
  }
  return out;
}

// protoString returns the string of field number field in the protobuf
// message bytes, or ''. Of a field sent more than once the last wins, as
// protobuf parsers read a non-repeated field (the server's, other
// clients'), so that the page never reads another reason than they do.
function protoString(bytes, field) {
  let last = null;
  for (const [num, b] of protoFields(bytes)) if (num === field) last = b;
  return last ? dec.decode(last) : '';
}

// errorInfo returns the ErrorInfo reason and metadata (a Map: its keys
// are the server's, never an object's properties) of a Connect error's
// details: from "debug" when the server added it, else decoded from the
// protobuf. Details that are not a list of objects, or a malformed
// ErrorInfo, give no reason and no metadata: it never throws.
function errorInfo(details) {
  for (const d of Array.isArray(details) ? details : []) {
    if (!d || d.type !== 'google.rpc.ErrorInfo') continue;
    if (d.debug && typeof d.debug.reason === 'string' && d.debug.reason) {
      const md = d.debug.metadata && typeof d.debug.metadata === 'object' ? d.debug.metadata : {};
      // A map of strings in proto3 JSON: a value of another type is
      // malformed, left out rather than turned into text ("null").
      return { reason: d.debug.reason, metadata: new Map(Object.entries(md).filter(([, v]) => typeof v === 'string')) };
    }
    try {
      const bytes = b64decode(d.value || '');
      const metadata = new Map();
      for (const [num, entry] of protoFields(bytes)) {
        if (num === 3) metadata.set(protoString(entry, 1), protoString(entry, 2));
      }
      return { reason: protoString(bytes, 1), metadata };
    } catch (e) {
      break;
    }
  }
  return { reason: '', metadata: new Map() };
}

// errorReason returns the ErrorInfo reason of a Connect error's details.
const errorReason = (details) => errorInfo(details).reason;

// stepUpChallenge returns what a step-up refusal (RFC 9470: reason
// INSUFFICIENT_USER_AUTHENTICATION) asks the person to sign in again
// with, from its ErrorInfo metadata: acr_values (space-separated) and
// max_age (seconds), each '' when the rule sets none or the server sent
// a malformed one; null for any other refusal. With both '' (which
// grpcauth never sends) a sign-in again asks for nothing new, and render
// offers none (the Go client, client/calls.go, stepUpText, reads it
// alike). acr_values is taken up to 2048 characters, the most grpcauth
// lets a rule's acr_values take (a longer rule is invalid).
function stepUpChallenge(info) {
  if (info.reason !== 'INSUFFICIENT_USER_AUTHENTICATION') return null;
  const acr = info.metadata.get('acr_values') || '', age = info.metadata.get('max_age') || '';
  return {
    acrValues: acr.length <= 2048 && /^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/.test(acr) ? acr : '',
    maxAge: /^[0-9]{1,12}$/.test(age) ? age : '',
  };
}

// camel turns a Connect code ("permission_denied") into the gRPC name
// ("PermissionDenied").
const camel = (code) => code.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');

// ---- DPoP (RFC 9449) ----

async function dpopKey() {
  if (session.key) return;
  // Not extractable: the private key never leaves the browser's crypto.
  // The public half of a key pair is always exportable.
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const j = await crypto.subtle.exportKey('jwk', pair.publicKey);
  session.key = pair.privateKey;
  session.jwk = { kty: j.kty, crv: j.crv, x: j.x, y: j.y };
}

// dpopProof signs a proof for one request; with accessToken it carries ath,
// with nonce the server's nonce. It reads the session's key once, before
// anything is awaited when there is one: a sign-out meanwhile (which
// forgets the key) cannot leave the proof to be signed with no key.
async function dpopProof(htm, htu, accessToken, nonce) {
  if (!session.key) await dpopKey();
  const { key, jwk } = session;
  const payload = { jti: randomString(16), htm, htu, iat: Math.floor(Date.now() / 1000) };
  if (accessToken) payload.ath = b64url(await sha256(accessToken));
  if (nonce) payload.nonce = nonce;
  const input = b64urlJSON({ typ: 'dpop+jwt', alg: 'ES256', jwk }) + '.' + b64urlJSON(payload);
  // WebCrypto's ECDSA signature is r||s, 64 bytes: what ES256 wants.
  const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, enc.encode(input));
  return input + '.' + b64url(sig);
}

// ---- the call log ----

// MAX_SHOWN bounds how much of one string of a server's or the issuer's
// (a refusal's code, reason and message, an error's description, the
// token's subject) the call log shows and keeps: so many bytes of UTF-8,
// cut at a character, and a note of the whole length, as the Go client
// cuts them (display.MaxShown in internal/display, which the Go client's
// report uses; TestAppJS_MaxShownIsDisplayMaxShown keeps them equal). A
// server may send 4 MiB in each, which would flood the page and
// sessionStorage.
const MAX_SHOWN = 256;

// clip returns String(s) when its UTF-8 is at most MAX_SHOWN bytes long,
// and otherwise as many whole characters (code points, never half a
// surrogate pair) as fit in MAX_SHOWN bytes, then ' ... (N bytes in all)'.
function clip(s) {
  s = String(s);
  const total = enc.encode(s).length;
  if (total <= MAX_SHOWN) return s;
  let kept = '', bytes = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes > MAX_SHOWN) break;
    kept += ch;
  }
  return kept + ' ... (' + total + ' bytes in all)';
}

// The log survives the round trip to the issuer (sessionStorage), so it
// shows the calls of each user who signed in in this tab. who is the user
// the call was made as, by default the one signed in now. Each of the
// entry's strings is cut to MAX_SHOWN (clip).
function logCall(method, allowed, code, reason, message, who = session.subject) {
  const entry = { method, allowed, code: clip(code || ''), reason: clip(reason || ''), message: clip(message || ''), who: clip(who || '') };
  const saved = JSON.parse(sessionStorage.getItem('log') || '[]');
  saved.push(entry);
  sessionStorage.setItem('log', JSON.stringify(saved.slice(-50)));
  showEntry(entry);
}

function showEntry(e) {
  const li = document.createElement('li');
  li.className = e.allowed ? 'allowed' : 'refused';
  li.dataset.method = e.method;
  li.dataset.outcome = e.allowed ? 'allowed' : 'refused';
  li.dataset.code = e.code;
  li.dataset.reason = e.reason;
  const out = document.createElement('span');
  out.className = 'outcome';
  out.textContent = e.allowed ? 'allowed' : 'refused ' + e.code + (e.reason ? ' (' + e.reason + ')' : '');
  li.append(e.method + (e.who ? ' as ' + e.who : ' without a token') + ': ', out);
  if (e.message) li.append(': ' + e.message);
  document.getElementById('log').append(li);
}

// ---- sign-in ----

// signIn sends the person to the issuer's authorization endpoint. With
// stepUp (a refusal's stepUpChallenge) the request carries its acr_values
// and max_age (OIDC Core 3.1.2.1): the issuer signs the person in again at
// one of those classes, and the token carries the acr and auth_time the
// refused method's rule asks for.
async function signIn(stepUp) {
  const verifier = randomString(32); // 43 characters
  const st = randomString(16);
  sessionStorage.setItem('pkce', JSON.stringify({ verifier, state: st }));
  location.assign(await authorizationURL(stepUp, st, verifier));
}

// authorizationURL returns the authorization request for state and the
// PKCE verifier, at the configured authorization endpoint, with stepUp's
// acr_values and max_age if any: URLSearchParams encodes them, so what a
// refusal carries can neither add a parameter nor change where the
// browser goes.
async function authorizationURL(stepUp, state, verifier) {
  const cfg = session.cfg;
  const u = new URL(cfg.authorization_endpoint);
  const q = new URLSearchParams({
    response_type: 'code', client_id: cfg.client_id, redirect_uri: cfg.redirect_uri,
    scope: cfg.scope, state, code_challenge: b64url(await sha256(verifier)),
    code_challenge_method: 'S256',
  });
  if (stepUp && stepUp.acrValues) q.set('acr_values', stepUp.acrValues);
  if (stepUp && stepUp.maxAge) q.set('max_age', stepUp.maxAge);
  u.search = q.toString();
  return u.toString();
}

// finishSignIn handles the redirect back from the issuer.
// init has taken params out of the address bar and saved, the sign-in's
// state and verifier, out of sessionStorage.
async function finishSignIn(params, saved) {
  const cfg = session.cfg;
  // Check state first, for error answers too: otherwise any link to the
  // page could put its own text in the call log (RFC 6749, 4.1.2.1 sends
  // state back with errors). Then iss (RFC 9207, 2.4): it must name the
  // issuer, and an issuer that says it always sends iss must have sent it.
  const issOK = params.has('iss') ? params.get('iss') === cfg.issuer : !cfg.authorization_response_iss_parameter_supported;
  if (!saved || params.get('state') !== saved.state || !issOK) {
    logCall('sign-in', false, 'invalid_state', '', 'the answer does not match a sign-in this page started');
    return;
  }
  if (params.has('error')) {
    logCall('sign-in', false, params.get('error'), '', params.get('error_description'));
    return;
  }
  const body = new URLSearchParams({
    grant_type: 'authorization_code', client_id: cfg.client_id, code: params.get('code'),
    redirect_uri: cfg.redirect_uri, code_verifier: saved.verifier,
  });
  // Offer a DPoP key: an issuer that binds tokens answers token_type DPoP,
  // one that does not ignores the header and answers Bearer. One that
  // requires a nonce (Okta; the development issuer with DEV_DPOP_NONCES)
  // answers use_dpop_nonce with it in DPoP-Nonce, without using the code
  // up: retry once with it (RFC 9449, section 8).
  let resp, tr;
  try {
    let nonce = '';
    for (let attempt = 0; attempt < 2; attempt++) {
      const headers = { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: await dpopProof('POST', cfg.token_endpoint, '', nonce) };
      resp = await fetch(cfg.token_endpoint, { method: 'POST', headers, body });
      tr = await resp.json();
      nonce = resp.headers.get('DPoP-Nonce') || '';
      if (resp.status !== 400 || tr.error !== 'use_dpop_nonce' || !nonce) break;
    }
  } catch (e) {
    logCall('sign-in', false, 'network', '', String(e));
    return;
  }
  if (!resp.ok) {
    logCall('sign-in', false, tr.error || String(resp.status), '', tr.error_description);
    return;
  }
  // An issuer that ignored the DPoP key answers a bearer token: usable,
  // but by anyone who copies it, so render says so where the person sees
  // it (#bearer-warning). A token of a type the page does not know is not
  // used at all (RFC 6749, section 7.1).
  const tokenType = String(tr.token_type || '').toLowerCase();
  if (tokenType !== 'dpop' && tokenType !== 'bearer') {
    // logCall cuts the issuer's token_type with the rest of the message
    // (clip: at a character, never half of a surrogate pair).
    logCall('sign-in', false, 'unsupported_token_type', '', 'the issuer answered a token of a type this page does not know: ' + String(tr.token_type || '(none)'));
    return;
  }
  session.token = tr.access_token;
  session.tokenType = tokenType === 'dpop' ? 'DPoP' : 'Bearer';
  session.scope = tr.scope || '';
  // For display only: the server, not the page, verifies the token.
  try {
    const claims = JSON.parse(dec.decode(b64decode(tr.access_token.split('.')[1])));
    session.subject = String(claims.sub || '');
    session.acr = typeof claims.acr === 'string' ? claims.acr : '';
  } catch (e) {
    session.subject = '(unknown)';
  }
  render();
}

// signOut forgets the token and the DPoP key, and takes off the page the
// items read with them: the next person at this tab sees none of them,
// nor the answer to a call still under way (call).
function signOut() {
  Object.assign(session, { token: '', tokenType: '', subject: '', scope: '', acr: '', key: null, jwk: null, stepUp: null });
  showItems([]);
  render();
}

function render() {
  const who = document.getElementById('who');
  who.textContent = session.token
    ? 'Signed in as ' + session.subject + ' (scopes: ' + (session.scope || 'none') + '; ' + session.tokenType + ' token' +
      (session.acr ? '; acr ' + session.acr : '') + ')'
    : 'Not signed in.';
  who.dataset.subject = session.subject;
  who.dataset.tokenType = session.tokenType;
  who.dataset.acr = session.acr;
  // The sign-in offered a DPoP key: a bearer token means the issuer did
  // not bind the token to it.
  document.getElementById('bearer-warning').hidden = session.tokenType !== 'Bearer';
  document.getElementById('signin').hidden = !!session.token;
  document.getElementById('signout').hidden = !session.token;
  const su = session.stepUp;
  document.getElementById('stepup').hidden = !su;
  // A refusal that names neither acr_values nor max_age (or only
  // malformed ones) is reported, with no sign-in offered: one without
  // them would get a token like the refused one.
  document.getElementById('stepup-signin').hidden = !canStepUp(su);
  if (su) {
    const wants = [];
    if (su.acrValues) wants.push('acr ' + su.acrValues.split(' ').join(' or '));
    if (su.maxAge) wants.push('signed in at most ' + su.maxAge + ' s ago');
    document.getElementById('stepup-text').textContent = wants.length
      ? 'The server asks for a stronger or more recent sign-in: ' + wants.join(', ') + '.'
      : 'The server asks for a stronger or more recent sign-in, but names no acr_values or max_age ' +
        'a sign-in could ask for: signing in again would not change its answer.';
  }
}

// canStepUp reports whether su, a stepUpChallenge, names something to sign
// in again with.
const canStepUp = (su) => !!(su && (su.acrValues || su.maxAge));

// ---- calls ----

// CONNECT_JSON are the headers of a unary Connect request with a JSON body.
const CONNECT_JSON = { 'Content-Type': 'application/json', 'Connect-Protocol-Version': '1' };

// call sends one unary Connect request and logs its outcome; it returns the
// response message, or null when refused or when the session that sent it
// has ended (signed out) before the answer came. A call whose DPoP proof
// was still being signed when the person signed out is not sent: it is
// logged as Canceled. onRefused, if given, gets a refusal's errorInfo,
// when the session that sent the call is still the page's.
async function call(method, message, onRefused) {
  const path = SERVICE + method;
  const token = session.token, who = session.subject;
  const headers = { ...CONNECT_JSON };
  if (token) {
    headers.Authorization = session.tokenType + ' ' + token;
    if (session.tokenType === 'DPoP') {
      headers.DPoP = await dpopProof('POST', location.origin + path, token);
      if (session.token !== token) {
        logCall(method, false, 'Canceled', '', 'signed out before the call was sent', who);
        return null;
      }
    }
  }
  let resp, text;
  try {
    resp = await fetch(path, { method: 'POST', headers, body: JSON.stringify(message) });
    text = await resp.text();
  } catch (e) {
    logCall(method, false, 'network', '', String(e), who);
    return null;
  }
  let body = {};
  try { body = JSON.parse(text); } catch (e) { /* not JSON: shown by status */ }
  if (resp.ok) {
    logCall(method, true, '', '', '', who);
    return session.token === token ? body : null;
  }
  // A refusal's body is the server's, or a proxy's: read only a Connect
  // error's fields of the types they have, by HTTP status otherwise.
  const err = body && typeof body === 'object' ? body : {};
  const code = typeof err.code === 'string' && err.code ? err.code : 'http_' + resp.status;
  const info = errorInfo(err.details);
  logCall(method, false, camel(code), info.reason, typeof err.message === 'string' ? err.message : '', who);
  if (onRefused && session.token === token) onRefused(info);
  return null;
}

// purge calls PurgeItems. Its rule asks for a recent multi-factor sign-in
// (step-up, RFC 9470): a refusal for that shows what the server asks for
// and offers to sign in again with it (signIn), after which purging again
// is allowed; one that names nothing to ask for is shown without the
// offer (render).
async function purge() {
  const r = await call('PurgeItems', {}, (info) => {
    session.stepUp = stepUpChallenge(info);
    render();
  });
  if (r) {
    session.stepUp = null;
    showItems([]);
    render();
  }
}

function showItems(items) {
  const tbody = document.querySelector('#items tbody');
  tbody.replaceChildren();
  for (const it of items) addRow(it);
}

function addRow(it) {
  const tr = document.createElement('tr');
  tr.dataset.id = it.id;
  for (const v of [it.id, it.name, it.createdBy || '']) {
    const td = document.createElement('td');
    td.textContent = v;
    tr.append(td);
  }
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'delete';
  del.textContent = 'Delete';
  del.addEventListener('click', async () => {
    if (await call('DeleteItem', { id: it.id })) tr.remove();
  });
  const td = document.createElement('td');
  td.append(del);
  tr.append(td);
  document.querySelector('#items tbody').append(tr);
}

// ---- the rules ----

// needs says what a method's rule (a MethodInfo of GetServerInfo, in
// proto3 JSON) asks of a caller, its parts separated by "; ": the scopes,
// the any-of sets, a condition, step-up, a DPoP- or certificate-bound
// token, and last whether the method is in dry run, which lets any valid
// token through (a call without one is still refused) and only logs what
// the rule would refuse; of a public method, which dry run leaves
// unchanged, it says both that it is public and that it is in dry run,
// which relaxes nothing there. The Go client (client/rules.go, needs) says
// it in the same words.
function needs(m) {
  const parts = [];
  if (m.denied) {
    parts.push('denied: the server has no usable rule');
  } else if (m.public) {
    parts.push('nothing: public');
  } else {
    if ((m.scopes || []).length) parts.push(m.scopes.join(' + '));
    if ((m.anyOf || []).length) parts.push('one of ' + m.anyOf.map((s) => (s.scopes || []).join(' + ')).join(' or '));
    if (!parts.length) parts.push('any valid token');
    if (m.conditional) parts.push('a condition on the request');
    if ((m.acrValues || []).length) parts.push('step-up: acr ' + m.acrValues.join(' or '));
    // An int64: a string in proto3 JSON, absent when 0.
    if (m.maxAgeSeconds && String(m.maxAgeSeconds) !== '0') parts.push('signed in at most ' + m.maxAgeSeconds + ' s ago');
    if (m.requireDpop) parts.push('a DPoP-bound token');
    if (m.requireCertificateBinding) parts.push('a certificate-bound token');
  }
  if (m.dryRun && m.public && !m.denied) parts.push('dry run: nothing to relax on a public method');
  else if (m.dryRun) parts.push('dry run: any valid token passes, refusals only logged');
  return parts.join('; ');
}

// showRules fills the rules table from GetServerInfo, which is public: it
// is asked without a token, and not logged among the calls, which show
// the decisions of the signed-in users.
async function showRules() {
  const tbody = document.querySelector('#rules tbody');
  const row = (method, text) => {
    const tr = document.createElement('tr');
    tr.dataset.method = method;
    for (const v of [method, text]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    tbody.append(tr);
  };
  try {
    const resp = await fetch(SERVICE + 'GetServerInfo', { method: 'POST', headers: CONNECT_JSON, body: '{}' });
    if (!resp.ok) throw new Error('GetServerInfo answered ' + resp.status);
    const info = await resp.json();
    for (const m of info.methods || []) row((m.name || '').split('/').pop(), needs(m));
  } catch (e) {
    row('', 'the rules could not be read: ' + String(e));
  }
}

async function init() {
  // An answer from the issuer (its code and state) leaves the address bar
  // and the history, and the sign-in's verifier sessionStorage, before
  // anything is awaited: whatever fails next, they do not stay behind.
  const params = new URLSearchParams(location.search);
  const answered = params.has('code') || params.has('error');
  let saved = null;
  if (answered) {
    history.replaceState(null, '', location.pathname);
    saved = JSON.parse(sessionStorage.getItem('pkce') || 'null');
    sessionStorage.removeItem('pkce');
  }
  for (const e of JSON.parse(sessionStorage.getItem('log') || '[]')) showEntry(e);
  session.cfg = await (await fetch('/config.json')).json();
  const signin = document.getElementById('signin');
  signin.addEventListener('click', () => signIn());
  document.getElementById('stepup-signin').addEventListener('click', () => {
    if (canStepUp(session.stepUp)) signIn(session.stepUp);
  });
  if (!session.cfg.authorization_endpoint) {
    // A real issuer needs the page registered as a client there first.
    signin.disabled = true;
    signin.textContent = 'Sign-in needs the development issuer';
  }
  document.getElementById('signout').addEventListener('click', signOut);
  document.getElementById('list').addEventListener('click', async () => {
    const r = await call('ListItems', {});
    if (r) showItems(r.items || []);
  });
  document.getElementById('purge').addEventListener('click', purge);
  document.getElementById('create-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const r = await call('CreateItem', { name: document.getElementById('name').value });
    if (r && r.item) addRow(r.item);
  });
  if (answered) await finishSignIn(params, saved);
  await showRules();
  render();
  document.body.dataset.ready = 'true';
}

init().catch((e) => logCall('page', false, 'error', '', String(e)));
