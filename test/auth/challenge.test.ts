// WWW-Authenticate parsing: the spec's and real registries' headers, and
// properties (fast-check): any input either parses or fails with a typed
// error, and what formatChallenges writes parses back to the same challenges.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  findChallenge,
  formatChallenges,
  lenientChallenge,
  parseChallengeHeaders,
  parseChallenges,
  type Challenge,
} from "../../src/auth/challenge.js";
import { isDrayError } from "../../src/errors.js";

describe("parseChallenges: known headers", () => {
  it("reads Docker Hub's Bearer challenge", () => {
    const [c] = parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    );
    assert.deepEqual(c, {
      scheme: "bearer",
      params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/alpine:pull" },
    });
  });

  it("reads an insufficient_scope answer with several scopes in one parameter", () => {
    const [c] = parseChallenges(
      'Bearer realm="https://r/token",service="s",scope="repository:a:pull,push repository:b:pull",error="insufficient_scope"',
    );
    assert.equal(c?.params.scope, "repository:a:pull,push repository:b:pull");
    assert.equal(c?.params.error, "insufficient_scope");
  });

  it("reads Basic with a realm, schemes and names case-insensitively, unquoted values, spaces around =", () => {
    assert.deepEqual(parseChallenges('BASIC Realm = "Registry Realm"'), [{ scheme: "basic", params: { realm: "Registry Realm" } }]);
    assert.deepEqual(parseChallenges("Bearer realm=https://x/token, service=svc"), [
      { scheme: "bearer", params: { realm: "https://x/token", service: "svc" } },
    ]);
  });

  it("reads several challenges in one header, with and without parameters, and token68", () => {
    const cs = parseChallenges('Negotiate abc+/==, Basic realm="x", Bearer realm="https://t", NTLM');
    assert.deepEqual(
      cs.map((c) => c.scheme),
      ["negotiate", "basic", "bearer", "ntlm"],
    );
    assert.equal(cs[0]?.token68, "abc+/==");
    assert.equal(findChallenge(cs, "Bearer")?.params.realm, "https://t");
  });

  it("unescapes quoted-pairs and keeps commas inside quotes", () => {
    const [c] = parseChallenges('Basic realm="a \\"quoted\\", \\\\ realm", charset="UTF-8"');
    assert.equal(c?.params.realm, 'a "quoted", \\ realm');
    assert.equal(c?.params.charset, "UTF-8");
  });

  it("reads `Basic realm=` as the token68 it is", () => {
    assert.deepEqual(parseChallenges("Basic realm="), [{ scheme: "basic", params: {}, token68: "realm=" }]);
  });

  it("keeps the first of a repeated parameter and tolerates empty list elements", () => {
    assert.deepEqual(parseChallenges(',, Basic realm="a", realm="b" ,,'), [{ scheme: "basic", params: { realm: "a" } }]);
  });

  for (const bad of ["", "   ", '"quoted"', 'Basic realm="unterminated', "Bearer realm=a b=c", "Basic =x"]) {
    it(`refuses ${JSON.stringify(bad)} with a typed error`, () => {
      assert.throws(
        () => parseChallenges(bad),
        (err: unknown) => isDrayError(err, "E_REGISTRY") && /WWW-Authenticate/.test(err.message),
      );
    });
  }
});

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");
const token = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });
const lowerToken = token.map((t) => t.toLowerCase());
// Quoted values may hold anything printable, quotes, backslashes, commas and = included.
const value = fc.string({ unit: "grapheme-ascii", maxLength: 30 });
const TOKEN68_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/".split("");
const token68 = fc
  .tuple(fc.string({ unit: fc.constantFrom(...TOKEN68_CHARS), minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 2 }))
  .map(([body, pad]) => body + "=".repeat(pad));

const challenge: fc.Arbitrary<Challenge> = fc
  .oneof(
    fc.record({
      scheme: lowerToken,
      params: fc.dictionary(lowerToken, value, { maxKeys: 5 }).map((d) => ({ ...d })),
    }),
    fc.record({ scheme: lowerToken, params: fc.constant({}), token68 }),
  )
  .map((c) => ({ ...c }) as Challenge);

describe("parseChallenges: properties", () => {
  it("never throws anything but a typed RegistryError, and never returns an empty list", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        try {
          const out = parseChallenges(text);
          assert.ok(out.length > 0);
          for (const c of out) assert.equal(c.scheme, c.scheme.toLowerCase());
        } catch (err) {
          assert.ok(isDrayError(err, "E_REGISTRY"), `threw ${String(err)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws anything but a typed error on header-like input built from the grammar's own characters", () => {
    const piece = fc.constantFrom("Bearer", "Basic", " ", ",", "=", '"', "\\", "realm", "abc==", "\t", "x");
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 30 }).map((a) => a.join("")),
        (text) => {
          try {
            parseChallenges(text);
          } catch (err) {
            assert.ok(isDrayError(err, "E_REGISTRY"), `threw ${String(err)}`);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("round-trips: parse(format(challenges)) equals the challenges", () => {
    fc.assert(
      fc.property(fc.array(challenge, { minLength: 1, maxLength: 4 }), (cs) => {
        assert.deepEqual(parseChallenges(formatChallenges(cs)), cs);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("lenient WWW-Authenticate fallback", () => {
  it("reads realm, service and scope where the strict grammar refuses the header", () => {
    const heard: string[] = [];
    const got = parseChallengeHeaders('Bearer realm="https://a.test/token" service="reg" scope="repository:x:pull"', (h) => heard.push(h));
    assert.deepEqual(got, [{ scheme: "bearer", params: { realm: "https://a.test/token", service: "reg", scope: "repository:x:pull" } }]);
    assert.equal(heard.length, 1);
    assert.deepEqual(lenientChallenge('Bearer realm="https://a.test/token'), {
      scheme: "bearer",
      params: { realm: "https://a.test/token" },
    });
    assert.equal(lenientChallenge("Bearer ,,,"), undefined);
    assert.throws(() => parseChallengeHeaders("Bearer ,,, =="));
  });
});
