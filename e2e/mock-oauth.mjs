// A third-party OAuth 2.0 server (oauth2-mock-server) for crates/cli/tests/browser.rs, on
// 127.0.0.1 port 0. Prints one JSON line on stdout once it serves:
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT}
// and runs until its standard input closes or it is sent SIGTERM/SIGINT.
//
// On top of the package's endpoints (GET /authorize redirects straight back with a code,
// POST /token answers JWT access tokens and refresh tokens) it keeps a little bookkeeping so
// the test can check what reached it without our API ever showing a token:
// - a code is only exchanged once, and only if /authorize issued it (else 400 invalid_grant);
// - GET /userinfo with `Authorization: Bearer <token>` answers, for an access token this server
//   issued, {"sub", "issued_here": true, "client_id", "grant_type", "redirect_uri"}; any other
//   bearer gets 401 invalid_token.

import { OAuth2Server } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

/** The client id of an `Authorization: Basic` header, if any. */
function basicClientId(req) {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
  return decodeURIComponent(decoded.split(':')[0]);
}

/** Codes handed out by /authorize and not yet exchanged, with the redirect URI they went to. */
const pendingCodes = new Map();
/** Access tokens issued, with how they were obtained. */
const issued = new Map();

server.service.on('beforeAuthorizeRedirect', (redirect) => {
  const code = redirect.url.searchParams.get('code');
  if (code) {
    const target = new URL(redirect.url.href);
    target.search = '';
    pendingCodes.set(code, target.href);
  }
});

server.service.on('beforeResponse', (response, req) => {
  const body = req.body ?? {};
  if (body.grant_type === 'authorization_code') {
    const redirectUri = pendingCodes.get(body.code);
    pendingCodes.delete(body.code);
    if (redirectUri === undefined || redirectUri !== body.redirect_uri) {
      response.statusCode = 400;
      response.body = { error: 'invalid_grant', error_description: 'unknown, reused or misdirected code' };
      return;
    }
  }
  if (response.statusCode === 200 && response.body?.access_token) {
    issued.set(response.body.access_token, {
      client_id: basicClientId(req) ?? body.client_id ?? null,
      grant_type: body.grant_type,
      redirect_uri: body.redirect_uri ?? null,
    });
  }
});

server.service.on('beforeUserinfo', (response, req) => {
  const header = req.headers.authorization ?? '';
  const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
  const grant = issued.get(token);
  if (grant === undefined) {
    response.statusCode = 401;
    response.body = { error: 'invalid_token' };
    return;
  }
  response.body = { sub: 'johndoe', issued_here: true, ...grant };
});

await server.start(0, '127.0.0.1');
const { port } = server.address();
server.issuer.url = `http://127.0.0.1:${port}`;
process.stdout.write(`${JSON.stringify({ issuer: server.issuer.url, port })}\n`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await server.stop().catch(() => {});
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
