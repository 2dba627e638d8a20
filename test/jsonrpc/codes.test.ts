import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EdgeHmac, MAX_CODE_LIFETIME_SECONDS } from '../../src/jsonrpc/edge-hmac.js';
import { parseResource, tarballResource } from '../../src/jsonrpc/resources.js';
import { accountIdFromToken } from '../../src/jsonrpc/account-token.js';
import { RPC_ERRORS, RpcError } from '../../src/jsonrpc/protocol.js';
import { unsignedJwt } from './support.js';

const NOW = 1_800_000_000;
const secret = Buffer.alloc(32, 7);

describe('edge HMAC codes', () => {
  let clock = NOW;
  const hmac = new EdgeHmac(
    () => secret,
    () => clock,
  );
  const resource = tarballResource('api-hello');

  it('carries its expiry in clear and checks for the resource it was minted for', () => {
    const code = hmac.mint(resource, NOW + 60);
    assert.match(code, /^1800000060\.[A-Za-z0-9_-]{43}$/);
    assert.equal(hmac.check(code, resource), 'ok');
    assert.equal(hmac.check(code, tarballResource('api-hello2')), 'invalid');
    assert.equal(hmac.check(code, tarballResource('other-hello')), 'invalid');
  });

  it('refuses a code whose expiry was moved, whose MAC was changed, or that is malformed', () => {
    const code = hmac.mint(resource, NOW + 60);
    const [, mac] = code.split('.') as [string, string];
    assert.equal(hmac.check(`${NOW + 3600}.${mac}`, resource), 'invalid');
    const flipped = (mac.startsWith('A') ? 'B' : 'A') + mac.slice(1);
    assert.equal(hmac.check(`${NOW + 60}.${flipped}`, resource), 'invalid');
    // One spelling per code: the last character's unused low bits may not vary.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(mac.slice(-1));
    for (let bits = 1; bits < 4; bits++) {
      const variant = mac.slice(0, -1) + (alphabet[last ^ bits] ?? '');
      assert.equal(hmac.check(`${NOW + 60}.${variant}`, resource), 'invalid', variant);
    }
    for (const bad of [
      '',
      'x',
      `${NOW + 60}`,
      `${NOW + 60}.`,
      `${NOW + 60}.${mac}=`,
      `0${NOW + 60}.${mac}`,
      `-1.${mac}`,
      `${code}.x`,
    ]) {
      assert.equal(hmac.check(bad, resource), 'malformed', bad);
    }
  });

  it('reads as expired only once genuine, and only from its expiry on', () => {
    const code = hmac.mint(resource, NOW + 60);
    clock = NOW + 59;
    assert.equal(hmac.check(code, resource), 'ok');
    clock = NOW + 60;
    assert.equal(hmac.check(code, resource), 'expired');
    clock = NOW;
  });

  it('depends on the node secret: another node does not accept the code', () => {
    const other = new EdgeHmac(
      () => Buffer.alloc(32, 8),
      () => NOW,
    );
    assert.equal(other.check(hmac.mint(resource, NOW + 60), resource), 'invalid');
  });

  it('caps code lifetimes at 7 days', () => {
    assert.equal(MAX_CODE_LIFETIME_SECONDS, 604_800);
  });
});

describe('HMAC resources', () => {
  it('reads the tarball resource, raw or percent-encoded, to one canonical form', () => {
    assert.deepEqual(parseResource('/mcm/v1/images/api-hello/tarball'), {
      kind: 'image-tarball',
      imageId: 'api-hello',
    });
    const id = 'api-localhost:5000/team/hello';
    assert.equal(parseResource(tarballResource(id))?.imageId, id);
    assert.equal(parseResource(`/mcm/v1/images/${id}/tarball`)?.imageId, id);
  });

  it('refuses anything else', () => {
    for (const bad of [
      '',
      '/mcm/v1/images//tarball',
      '/mcm/v1/images/api-x',
      '/mcm/v1/mims/api-x',
      '/mcm/v1/images/api-x/tarball?hmac=1',
      '/mcm/v1/images/api-x/tarball/',
      'http://host/mcm/v1/images/api-x/tarball',
      '/mcm/v1/images/%E0%A4%A/tarball',
      '/mcm/v1/images/a%0Ab/tarball',
      `/mcm/v1/images/${'x'.repeat(300)}/tarball`,
    ]) {
      assert.equal(parseResource(bad), undefined, bad);
    }
  });
});

describe('account tokens (decoded, not verified)', () => {
  function refusal(token: unknown): string {
    try {
      accountIdFromToken(token, NOW);
    } catch (err) {
      assert.ok(err instanceof RpcError);
      assert.equal(err.code, RPC_ERRORS.INVALID_PARAMS);
      return err.message;
    }
    assert.fail('the token was accepted');
  }

  it('takes the account id from the sub claim', () => {
    assert.equal(accountIdFromToken(unsignedJwt({ sub: 'acct-123' }), NOW), 'acct-123');
    assert.equal(accountIdFromToken(unsignedJwt({ sub: 'auth0|42', exp: NOW + 1 }), NOW), 'auth0|42');
  });

  it('refuses what is not a JWT, has no usable sub, or has expired', () => {
    assert.match(refusal(undefined), /JWT string/);
    assert.match(refusal(42), /JWT string/);
    assert.match(refusal(''), /JWT string/);
    assert.match(refusal('abc'), /not a JWT/);
    assert.match(refusal('a.b'), /not a JWT/);
    assert.match(refusal('a+b.c.d'), /not a JWT/);
    assert.match(refusal('x'.repeat(20_000)), /longer than/);
    const b64 = (v: string): string => Buffer.from(v).toString('base64url');
    assert.match(refusal(`${b64('nope')}.${b64('{}')}.s`), /header is not base64url-encoded JSON/);
    assert.match(refusal(`${b64('{}')}.${b64('{}')}.s`), /no "alg"/);
    assert.match(refusal(`${b64('{"alg":"none"}')}.${b64('[1]')}.s`), /payload is not a JSON object/);
    assert.match(refusal(unsignedJwt({})), /no usable "sub"/);
    assert.match(refusal(unsignedJwt({ sub: 7 })), /no usable "sub"/);
    assert.match(refusal(unsignedJwt({ sub: 'has space' })), /no usable "sub"/);
    assert.match(refusal(unsignedJwt({ sub: 'a\nb' })), /no usable "sub"/);
    assert.match(refusal(unsignedJwt({ sub: 'x'.repeat(201) })), /no usable "sub"/);
    assert.match(refusal(unsignedJwt({ sub: 'a', exp: NOW })), /expired/);
    assert.match(refusal(unsignedJwt({ sub: 'a', exp: 'soon' })), /"exp" is not a number/);
  });
});
