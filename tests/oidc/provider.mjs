// A FranceConnect-like or ProConnect-like OpenID provider for Guichet's tests.
//
// One provider per process, built on panva's oidc-provider (the engine FranceConnect's core and
// ProConnect's federation run). Usage: node tests/oidc/provider.mjs CONFIG.json
// The JSON file (written by tests/support/oidc_provider.py) holds: port, issuer, profile
// ("franceconnect" | "proconnect"), jwks (private JWKs), clients, accounts, and optional ttl,
// cookie_keys, pairwise_salt, acr_values. When listening it prints "READY <issuer>" on stdout.
//
// In front of the engine, a small middleware enforces what the real platforms enforce and the
// engine does not: required acr_values / state / nonce (with minimum lengths), prompt forced to
// "login consent" (FranceConnect), unknown authorize parameters rejected (ProConnect), required
// logout parameters. Refusals are 400 pages, never redirects.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as querystring from 'node:querystring';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = new URL(config.issuer);
const MOUNT = issuer.pathname.replace(/\/$/, ''); // "/api/v2"
const FC = config.profile === 'franceconnect';
if (!FC && config.profile !== 'proconnect') {
  throw new Error(`unknown profile ${config.profile}`);
}
if (!Number.isInteger(config.port) || config.port <= 0) {
  throw new Error('config.port must be a positive integer');
}

// ----- profiles ---------------------------------------------------------------------------------

const PIVOT = ['given_name', 'given_name_array', 'family_name', 'birthdate', 'gender', 'birthplace',
  'birthcountry'];

const FC_CLAIMS = {
  acr: null,
  amr: null,
  auth_time: null,
  iss: null,
  sid: null,
  openid: ['sub'],
  given_name: ['given_name', 'given_name_array'],
  family_name: ['family_name'],
  birthdate: ['birthdate'],
  gender: ['gender'],
  birthplace: ['birthplace'],
  birthcountry: ['birthcountry'],
  email: ['email'],
  preferred_username: ['preferred_username'],
  profile: ['given_name', 'given_name_array', 'family_name', 'birthdate', 'gender',
    'preferred_username'],
  birth: ['birthplace', 'birthcountry'],
  identite_pivot: PIVOT,
  idp_id: ['idp_id'],
  idp_birthdate: ['idp_birthdate'],
};

const PC_CLAIMS = {
  acr: null,
  amr: null,
  auth_time: null,
  iss: null,
  sid: null,
  openid: ['sub'],
  given_name: ['given_name'],
  usual_name: ['usual_name'],
  email: ['email'],
  uid: ['uid'],
  siret: ['siret'],
  siren: ['siren'],
  idp_id: ['idp_id'],
  organizational_unit: ['organizational_unit'],
  belonging_population: ['belonging_population'],
  phone: ['phone_number'],
  chorusdt: ['chorusdt'],
};

const PROFILES = {
  franceconnect: {
    claims: FC_CLAIMS,
    acrValues: ['eidas1', 'eidas2', 'eidas3'],
    subjectTypes: ['pairwise'],
    ttl: { AuthorizationCode: 30, AccessToken: 60, IdToken: 60, Session: 1800 },
    minNonce: 22,
    minState: 1,
    logoutRequires: ['id_token_hint'],
  },
  proconnect: {
    claims: PC_CLAIMS,
    acrValues: ['eidas0', 'eidas0-mfa', 'eidas1', 'eidas1-mfa', 'eidas2', 'eidas3',
      'https://proconnect.gouv.fr/assurance/certification-dirigeant'],
    subjectTypes: ['public'],
    ttl: { AuthorizationCode: 30, AccessToken: 60, IdToken: 60, Session: 12 * 3600 },
    minNonce: 32,
    minState: 32,
    logoutRequires: ['id_token_hint', 'state', 'post_logout_redirect_uri'],
  },
};

const profile = PROFILES[config.profile];
const ttl = { ...profile.ttl, ...(config.ttl || {}) };
const accounts = config.accounts || {};
const acrValues = config.acr_values || profile.acrValues;

// ProConnect answers Y000400 Bad Request to any authorize parameter outside this list.
const PC_AUTHORIZE_PARAMS = new Set(['response_type', 'client_id', 'redirect_uri', 'scope', 'state',
  'nonce', 'acr_values', 'claims', 'prompt', 'login_hint', 'idp_hint', 'max_age', 'code_challenge',
  'code_challenge_method', 'ui_locales', 'sp_hint']);

// ----- small HTML helpers -----------------------------------------------------------------------

const esc = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

const page = (title, body) => `<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><main><h1>${esc(title)}</h1>
${body}
</main></body></html>`;

const errorBody = (out) => Object.entries(out)
  .map(([key, value]) => `<pre><strong>${esc(key)}</strong>: ${esc(value)}</pre>`).join('\n');

function refuse(res, description, error = 'invalid_request') {
  const html = page('Requête refusée', errorBody({ error, error_description: description }));
  res.writeHead(400, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

// ----- the engine -------------------------------------------------------------------------------

class Account {
  constructor(accountId, claims) {
    this.accountId = accountId;
    this.profile = claims;
  }

  // The engine filters these by the granted scopes and claims (and computes pairwise subs).
  async claims() {
    return { ...this.profile, sub: this.accountId };
  }
}

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: config.jwks },
  cookies: { keys: config.cookie_keys || ['guichet-test-cookie-key'] },
  claims: profile.claims,
  acrValues,
  subjectTypes: profile.subjectTypes,
  responseTypes: ['code'],
  allowOmittingSingleRegisteredRedirectUri: false,
  extraParams: ['idp_hint', 'sp_hint'],
  scopes: ['openid'], // no offline_access: no refresh tokens, as on the real platforms
  clientBasedCORS: () => false,
  pkce: { required: () => false },
  routes: {
    authorization: '/authorize',
    token: '/token',
    userinfo: '/userinfo',
    end_session: '/session/end',
    jwks: '/jwks',
    revocation: '/token/revoke',
  },
  ttl: {
    AuthorizationCode: ttl.AuthorizationCode,
    AccessToken: ttl.AccessToken,
    IdToken: ttl.IdToken,
    Session: ttl.Session,
    Grant: ttl.Session,
    Interaction: ttl.Interaction || 600,
  },
  enabledJWA: {
    // HS256 is enabled only so that tests can register a client that gets HS256 ID tokens and
    // check that Guichet refuses them. oidc-provider 9 has no "none" signing algorithm at all.
    idTokenSigningAlgValues: ['ES256', 'RS256', 'HS256'],
    userinfoSigningAlgValues: ['ES256', 'RS256', 'HS256'],
  },
  features: {
    devInteractions: { enabled: false },
    jwtUserinfo: { enabled: true },
    claimsParameter: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: false },
    pushedAuthorizationRequests: { enabled: false },
    dPoP: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        // The engine's form carries the xsrf token and posts to /session/end/confirm; the
        // hidden "logout=yes" also ends the session here, as the real platforms do.
        const withLogout = form.replace('</form>',
          '<input type="hidden" name="logout" value="yes"/>'
          + '<button type="submit">Se déconnecter</button></form>');
        ctx.type = 'html';
        ctx.body = page('Déconnexion', `<p>Voulez-vous vous déconnecter de ${esc(ctx.host)} ?</p>\n${withLogout}`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.type = 'html';
        ctx.body = page('Déconnexion réussie', '<p>Vous êtes déconnecté.</p>');
      },
    },
  },
  interactions: {
    url: (ctx, interaction) => `${config.issuer}/interaction/${interaction.uid}`,
  },
  async findAccount(ctx, id) {
    const claims = accounts[id];
    return claims ? new Account(id, claims) : undefined;
  },
  async pairwiseIdentifier(ctx, accountId, client) {
    const sector = client.sectorIdentifier || new URL(client.redirectUris[0]).host;
    const salt = config.pairwise_salt || 'guichet-test-salt';
    return `${createHash('sha256').update(sector + accountId + salt).digest('hex')}v1`;
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Erreur', errorBody(out));
  },
});

// Errors the engine turns into a 500 page: make them visible in the process' stderr.
provider.on('server_error', (ctx, err) => {
  process.stderr.write(`provider error: ${ctx.method} ${ctx.path}: ${err.stack || err}\n`);
});

const handleProvider = provider.callback();

// ----- middleware: what FranceConnect / ProConnect enforce ---------------------------------------

function checkAuthorize(params) {
  if (!FC) {
    const unknown = Object.keys(params).filter((key) => !PC_AUTHORIZE_PARAMS.has(key));
    if (unknown.length) {
      return `Y000400 Bad Request: unknown parameter(s) ${unknown.join(', ')}`;
    }
  }
  for (const key of Object.keys(params)) {
    if (Array.isArray(params[key])) {
      return `parameter ${key} must not be repeated`;
    }
  }
  if (!params.acr_values) return 'acr_values is required';
  if (!params.state) return 'state is required';
  if (params.state.length < profile.minState) {
    return `state must be at least ${profile.minState} characters long`;
  }
  if (!params.nonce) return 'nonce is required';
  if (params.nonce.length < profile.minNonce) {
    return `nonce must be at least ${profile.minNonce} characters long`;
  }
  return undefined;
}

function checkEndSession(params) {
  for (const key of profile.logoutRequires) {
    if (!params[key]) return `${key} is required`;
  }
  return undefined;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return querystring.parse(Buffer.concat(chunks).toString('utf8'));
}

const isForm = (req) => (req.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded');

// ----- interactions: the login form ------------------------------------------------------------

function loginForm(uid, details, { account = '', acr, amr = 'pwd', error } = {}) {
  const requested = (details.params.acr_values || '').split(' ').filter(Boolean);
  const acrValue = acr || requested[0] || acrValues[0];
  const action = `${MOUNT}/interaction/${esc(uid)}`;
  const known = Object.keys(accounts).map((id) => `<li><code>${esc(id)}</code></li>`).join('');
  return page(FC ? 'Connexion FranceConnect (test)' : 'Connexion ProConnect (test)', `
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<p>Client : <code>${esc(details.params.client_id)}</code> — prompt : <code>${esc(details.prompt.name)}</code></p>
<form method="post" action="${action}/login">
  <label>Compte <input type="text" name="account" value="${esc(account)}" autofocus></label>
  <label>Niveau (acr) <input type="text" name="acr" value="${esc(acrValue)}"></label>
  <label>Méthode (amr) <input type="text" name="amr" value="${esc(amr)}"></label>
  <button type="submit">Se connecter</button>
</form>
<form method="post" action="${action}/abort">
  <button type="submit">Annuler</button>
</form>
<p>Comptes de test :</p><ul>${known}</ul>`);
}

function sendHtml(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function handleInteraction(req, res, rest) {
  const match = /^\/interaction\/([^/]+)(?:\/(login|abort))?$/.exec(rest);
  if (!match) {
    return sendHtml(res, 404, page('Introuvable', errorBody({ error: 'not_found' })));
  }
  const [, uid, action] = match;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    return refuse(res, `interaction introuvable ou expirée (${err.message})`, 'invalid_request');
  }
  if (details.uid !== uid) {
    return refuse(res, 'interaction mismatch');
  }

  if (!action) {
    if (req.method !== 'GET') return sendHtml(res, 405, page('Méthode non permise', ''));
    return sendHtml(res, 200, loginForm(uid, details));
  }
  if (req.method !== 'POST') return sendHtml(res, 405, page('Méthode non permise', ''));
  const form = isForm(req) ? await readForm(req) : {};

  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: "L'usager a annulé",
    }, { mergeWithLastSubmission: false });
  }

  const accountId = String(form.account || '').trim();
  const acr = String(form.acr || '').trim()
    || (details.params.acr_values || '').split(' ').filter(Boolean)[0] || acrValues[0];
  const amr = String(form.amr || '').trim() || 'pwd';
  if (!Object.hasOwn(accounts, accountId)) {
    return sendHtml(res, 200, loginForm(uid, details, {
      account: accountId, acr, amr, error: `Compte inconnu : « ${accountId} ».`,
    }));
  }

  // One submission completes both login and consent (FranceConnect forces prompt=login consent).
  const { params } = details;
  let grant;
  if (details.grantId) {
    grant = await provider.Grant.find(details.grantId);
    if (grant && grant.accountId !== accountId) grant = undefined;
  }
  grant ||= new provider.Grant({ accountId, clientId: params.client_id });
  if (params.scope) grant.addOIDCScope(params.scope);
  if (params.claims) {
    const requested = JSON.parse(params.claims);
    for (const target of ['id_token', 'userinfo']) {
      if (requested[target]) grant.addOIDCClaims(Object.keys(requested[target]));
    }
  }
  const grantId = await grant.save();

  return provider.interactionFinished(req, res, {
    login: { accountId, acr, amr: [amr] },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

// ----- the server -------------------------------------------------------------------------------

async function route(req, res) {
  const url = new URL(req.url, config.issuer);
  if (url.pathname !== MOUNT && !url.pathname.startsWith(`${MOUNT}/`)) {
    return sendHtml(res, 404, page('Introuvable', errorBody({ error: 'not_found' })));
  }
  const rest = url.pathname.slice(MOUNT.length) || '/';

  if (rest.startsWith('/interaction/')) {
    return handleInteraction(req, res, rest);
  }

  // Only GET reaches these two endpoints (the engine's enableHttpPostMethods stays off; a POST
  // gets its 404).
  if (req.method === 'GET' && (rest === '/authorize' || rest === '/session/end')) {
    const params = querystring.parse(url.search.slice(1));
    const reason = rest === '/authorize' ? checkAuthorize(params) : checkEndSession(params);
    if (reason) return refuse(res, reason);
    if (rest === '/authorize' && FC) {
      // FranceConnect overrides prompt on every request: no silent SSO.
      url.searchParams.set('prompt', 'login consent');
    }
  }

  // Mount: the engine routes on the path below the issuer, and derives its mount path from
  // req.originalUrl minus req.url.
  req.originalUrl = url.pathname + url.search;
  req.url = rest + url.search;
  return handleProvider(req, res);
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    process.stderr.write(`provider error: ${err.stack || err}\n`);
    if (!res.headersSent) {
      sendHtml(res, 500, page('Erreur', errorBody({ error: 'server_error', error_description: err.message })));
    } else {
      res.end();
    }
  });
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

// Static clients are validated lazily by the engine: load them now so that a bad client
// configuration fails at start-up with its reason, not in the middle of a test.
for (const client of config.clients) {
  try {
    if (!await provider.Client.find(client.client_id)) throw new Error('not found');
  } catch (err) {
    process.stderr.write(`invalid client ${client.client_id}: ${err.error_description || err.message}\n`);
    process.exit(2);
  }
}

server.listen(config.port, issuer.hostname, () => {
  process.stdout.write(`READY ${config.issuer}\n`);
});
